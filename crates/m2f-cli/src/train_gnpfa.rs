//! `m2f train gnpfa`: trains the geometry VAE and blendshape bridge in the synthetic world.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gnpfa::{evaluate, GnpfaConfig, TrainOptions};
use m2f_mesh::FaceTemplate;

use crate::device_arg::DeviceArgs;
use crate::report::write_report;
use crate::world_data::DataArgs;

#[derive(Args)]
pub struct GnpfaArgs {
    #[command(flatten)]
    data: DataArgs,
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
    /// Fine-tune: start the VAE and bridge from this checkpoint instead of the seeded initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
    /// End this sitting after this step (resumable: run the same command again to continue).
    #[arg(long)]
    stop_after: Option<u64>,
    #[command(flatten)]
    device: DeviceArgs,
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

pub fn run(a: GnpfaArgs) -> Result<()> {
    let template = FaceTemplate::mediapipe();
    let world = a.data.load(&template, a.frame_stride)?;
    let config = GnpfaConfig {
        latent_dim: a.latent_dim,
        identity_dim: a.identity_dim,
        kl_weight: a.kl_weight,
        decoder_hidden: widths(&a.decoder_hidden)?,
        encoder_hidden: widths(&a.encoder_hidden)?,
        ..GnpfaConfig::default()
    };
    let (data, test) = world.split(a.frame_fraction);
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
        command: crate::report::command_line(),
        init: a.init.clone(),
        stop_after: a.stop_after,
        ..TrainOptions::default()
    };
    let device = a.device.device()?;
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
        let title = format!("held-out test identities ({} frames)", eval.frames);
        write_report(&best_dir.join("eval.json"), &title, &eval)?;
    }
    let (clips, clip_count) = a.data.test_frames(&best.template)?;
    if !clips.frames.is_empty() {
        let eval = gnpfa::evaluate_frames(&best, &clips)?;
        let title =
            format!("test-split clips (speech and emotion, {clip_count} clips, every frame)");
        write_report(&best_dir.join("eval_test_clips.json"), &title, &eval)?;
    }
    Ok(())
}
