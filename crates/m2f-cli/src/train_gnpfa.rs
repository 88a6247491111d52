//! `m2f train gnpfa`: trains the geometry VAE and blendshape bridge in the synthetic world.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use gnpfa::data::{Frame, FrameSet, TrainData};
use gnpfa::{evaluate, GnpfaConfig, TrainOptions};
use m2f_mesh::{arkit_rig, FaceTemplate, Rig};
use m2f_synth::clip::Clip;
use m2f_synth::dataset::Manifest;
use m2f_synth::identity::IdentityParams;
use m2f_synth::voices::Split;
use m2f_synth::world::WorldConfig;

#[derive(Args)]
pub struct GnpfaArgs {
    /// Synthetic dataset (from `m2f synth`): its world seed and identity splits are used, and
    /// frames of its training clips are mixed into the batches.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory: last/, best/ (checkpoints), train_log.jsonl.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    steps: u64,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 200)]
    warmup_steps: u64,
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    #[arg(long, default_value_t = 500)]
    val_every: u64,
    /// Training seed (batches, noise, initialisation order).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// World seed when no --data is given.
    #[arg(long, default_value_t = 1)]
    world_seed: u64,
    /// Identity pool size when no --data is given.
    #[arg(long, default_value_t = 400)]
    identities: u32,
    /// Most training clips to read from --data.
    #[arg(long, default_value_t = 200)]
    max_clips: usize,
    /// Keep every n-th frame of the clips read.
    #[arg(long, default_value_t = 3)]
    frame_stride: usize,
    /// Fraction of each batch drawn from clip frames (when --data is given).
    #[arg(long, default_value_t = 0.5)]
    frame_fraction: f32,
    /// Expression latent size.
    #[arg(long, default_value_t = 64)]
    latent_dim: usize,
    /// Identity code size of the decoder (0: decoder ignores the neutral).
    #[arg(long, default_value_t = 32)]
    identity_dim: usize,
    /// Weight of the KL term (sum over latent dims) against the per-coordinate MSE.
    #[arg(long, default_value_t = 1e-6)]
    kl_weight: f64,
    /// Comma-separated hidden widths of the decoder.
    #[arg(long, default_value = "256,512")]
    decoder_hidden: String,
    /// Comma-separated hidden widths of the encoder.
    #[arg(long, default_value = "512,256")]
    encoder_hidden: String,
    /// Frames for the final evaluation on test identities.
    #[arg(long, default_value_t = 2000)]
    eval_frames: usize,
    /// Start afresh even when OUT/last exists.
    #[arg(long)]
    no_resume: bool,
}

fn widths(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|x| {
            x.trim()
                .parse::<usize>()
                .with_context(|| format!("bad width {x:?} in {s:?}"))
        })
        .collect()
}

/// Reads up to `max_clips` clips, keeping every `stride`-th frame, into `frames`.
fn read_frames(
    dirs: &[PathBuf],
    max_clips: usize,
    stride: usize,
    template: &FaceTemplate,
    frames: &mut FrameSet,
) -> Result<()> {
    for dir in dirs.iter().take(max_clips) {
        let clip = Clip::read(dir).with_context(|| format!("reading {}", dir.display()))?;
        let nv = clip.num_vertices();
        if nv != template.mesh.num_vertices() {
            bail!(
                "{}: clip has {nv} vertices, expected {}",
                dir.display(),
                template.mesh.num_vertices()
            );
        }
        let neutral: Vec<f32> = clip.neutral.iter().flatten().copied().collect();
        frames.neutrals.push(neutral);
        let n = frames.neutrals.len() - 1;
        for t in (0..clip.num_frames()).step_by(stride) {
            let displacement = clip
                .frame(t)
                .iter()
                .zip(&clip.neutral)
                .flat_map(|(v, n)| [v[0] - n[0], v[1] - n[1], v[2] - n[2]])
                .collect();
            frames.frames.push(Frame {
                neutral: n,
                weights: clip.weights(t).to_vec(),
                displacement,
            });
        }
    }
    Ok(())
}

fn rigs(world: &WorldConfig, template: &FaceTemplate, split: Split) -> Result<Vec<Rig>> {
    let mut out = Vec::new();
    for id in 0..world.identities {
        if world.identity_split(id) != split {
            continue;
        }
        let neutral = IdentityParams::sample(world.seed, id).neutral(template)?;
        out.push(arkit_rig(&neutral, &template.regions)?);
    }
    Ok(out)
}

pub fn run(a: GnpfaArgs) -> Result<()> {
    if a.frame_stride == 0 {
        bail!("--frame-stride must be at least 1");
    }
    let template = FaceTemplate::mediapipe();
    let mut world = WorldConfig {
        seed: a.world_seed,
        identities: a.identities,
        ..WorldConfig::default()
    };
    let mut frames = FrameSet::default();
    let mut description = format!(
        "synthetic world seed {} with {} identities; random sparse ARKit weights",
        world.seed, world.identities
    );
    if let Some(root) = &a.data {
        let manifest = Manifest::read(root)
            .with_context(|| format!("reading the dataset at {}", root.display()))?;
        world = manifest.config.clone();
        let dirs = manifest.clip_dirs(root, Split::Train);
        read_frames(&dirs, a.max_clips, a.frame_stride, &template, &mut frames)?;
        description = format!(
            "{} (world seed {}, {} identities): random sparse ARKit weights on train identities + {} frames of {} train clips (every {} frame)",
            root.display(),
            world.seed,
            world.identities,
            frames.frames.len(),
            dirs.len().min(a.max_clips),
            a.frame_stride
        );
    }
    let train = rigs(&world, &template, Split::Train)?;
    let val = rigs(&world, &template, Split::Val)?;
    let test = rigs(&world, &template, Split::Test)?;
    eprintln!(
        "identities: {} train, {} val, {} test; {} clip frames",
        train.len(),
        val.len(),
        test.len(),
        frames.frames.len()
    );
    let config = GnpfaConfig {
        latent_dim: a.latent_dim,
        identity_dim: a.identity_dim,
        kl_weight: a.kl_weight,
        decoder_hidden: widths(&a.decoder_hidden)?,
        encoder_hidden: widths(&a.encoder_hidden)?,
        ..GnpfaConfig::default()
    };
    let data = TrainData {
        train,
        val,
        frames,
        frame_fraction: a.frame_fraction,
        description,
    };
    let opts = TrainOptions {
        steps: a.steps,
        batch_size: a.batch_size,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        grad_clip: a.grad_clip,
        val_every: a.val_every,
        seed: a.seed,
        out: a.out.clone(),
        resume: !a.no_resume,
        progress: true,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        ..TrainOptions::default()
    };
    let device = candle_core::Device::Cpu;
    let (_, _, report) = gnpfa::train(&config, template, &data, &opts, &device)?;
    println!(
        "trained steps {}..{} in {:.1} s; best validation score {:?} mm",
        report.start_step, report.final_step, report.seconds, report.best_val_score_mm
    );
    let best_dir = a.out.join("best");
    let best =
        gnpfa::Gnpfa::load(&best_dir).with_context(|| format!("loading {}", best_dir.display()))?;
    if test.len() >= 2 {
        let eval = evaluate(&best, &test, a.eval_frames, a.seed ^ 0x7e57)?;
        let json = serde_json::to_string_pretty(&eval)?;
        let path = best_dir.join("eval.json");
        std::fs::write(&path, json.clone() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("held-out test identities ({} frames):\n{json}", eval.frames);
    }
    if let Some(root) = &a.data {
        let manifest = Manifest::read(root)?;
        let mut clips = FrameSet::default();
        let dirs = manifest.clip_dirs(root, Split::Test);
        read_frames(&dirs, a.max_clips, 1, &best.template, &mut clips)?;
        if !clips.frames.is_empty() {
            let eval = gnpfa::eval::evaluate_frames(&best, &clips)?;
            let json = serde_json::to_string_pretty(&eval)?;
            let path = best_dir.join("eval_test_clips.json");
            std::fs::write(&path, json.clone() + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "test-split clips (speech and emotion, {} clips, every frame):\n{json}",
                dirs.len().min(a.max_clips)
            );
        }
    }
    Ok(())
}
