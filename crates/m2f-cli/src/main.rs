//! `m2f`: the media2face command line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use m2f_synth::write_clip_preview;
use m2f_synth::write_dataset;
use m2f_synth::WorldConfig;
use m2f_synth::{Engine, Speech};

mod bundle;
mod convert;
mod device_arg;
mod eval;
mod extract;
mod generate;
mod inspect;
mod report;
mod spinner;
mod train_diffusion;
mod train_gnpfa;
mod train_gnpfa_image;
mod world_data;

#[derive(Parser)]
#[command(
    name = "m2f",
    version,
    about = "Speech to 3D facial animation (Media2Face)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Speech → a talking face: `m2f generate speech.wav -o face.glb [--emotion happy]
    /// [--preview face.mp4]`.
    Generate(generate::GenerateArgs),
    /// Assemble a model directory for `m2f generate` from trained parts.
    Bundle(bundle::BundleArgs),
    /// Judge a model on held-out test clips against the mean face, the truth and baselines:
    /// `m2f eval --checkpoint weights --data SYNTH_DIR`.
    Eval(eval::EvalArgs),
    /// Generate synthetic talking-face clips (or preview one with `m2f synth preview`).
    Synth(SynthArgs),
    /// Train a model (`m2f train gnpfa --data DIR --out DIR`).
    Train(TrainArgs),
    /// Turn a dataset into training records (`m2f extract synth --data DIR --out SHARDS`).
    Extract(extract::ExtractArgs),
    /// Convert another engine's checkpoint (`m2f convert whisper-ct2 model.bin --out DIR`).
    Convert(convert::ConvertArgs),
    /// Print what a checkpoint directory holds; fails clearly on a damaged one.
    Inspect {
        /// The checkpoint directory (config.json + model.safetensors).
        dir: PathBuf,
    },
}

#[derive(Args)]
struct TrainArgs {
    #[command(subcommand)]
    model: TrainModel,
}

#[derive(Subcommand)]
enum TrainModel {
    /// The GNPFA geometry VAE and blendshape bridge.
    Gnpfa(train_gnpfa::GnpfaArgs),
    /// GNPFA's image encoders E_exp / E_pose, over a trained (frozen) GNPFA geometry.
    GnpfaImage(train_gnpfa_image::GnpfaImageArgs),
    /// The Media2Face denoiser, on shards from `m2f extract synth` with audio features.
    Diffusion(train_diffusion::DiffusionArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SynthArgs {
    #[command(subcommand)]
    action: Option<SynthAction>,
    #[command(flatten)]
    generate: GenerateArgs,
}

#[derive(Subcommand)]
enum SynthAction {
    /// Render a clip to a video (.mp4, with audio, needs ffmpeg), an animated .gif, a .png, or
    /// export it as a .glb animation.
    Preview {
        /// The clip directory (DIR/clips/clip_0000000).
        clip: PathBuf,
        /// Output file: .mp4, .gif, .png or .glb.
        #[arg(short, long)]
        out: PathBuf,
        /// Frame size in pixels (square), 16 to 2048.
        #[arg(long, default_value_t = 320, value_parser = clap::value_parser!(u32).range(16..=2048))]
        size: u32,
    },
}

#[derive(Args)]
struct GenerateArgs {
    /// Number of clips.
    #[arg(long, default_value_t = 10)]
    clips: u64,
    /// Dataset seed: the same seed gives byte-identical clips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (clips go to OUT/clips, the manifest to OUT/manifest.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Size of the identity pool that the train/val/test splits are cut from.
    #[arg(long, default_value_t = 400)]
    identities: u32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Also render the first clip to this file (.mp4 with audio, .gif or .png).
    #[arg(long)]
    preview: Option<PathBuf>,
    /// Speech engines to speak with, comma-separated: espeak-ng, flite. With both (the
    /// default) Flite speaks about 35 % of the clips; each engine named must be installed
    /// (libespeak-ng1, libflite1). The choice is part of the dataset's settings.
    #[arg(long, value_delimiter = ',', default_value = "espeak-ng,flite", value_parser = parse_engine)]
    engines: Vec<Engine>,
}

fn parse_engine(s: &str) -> Result<Engine, String> {
    s.parse::<Engine>().map_err(|e| e.to_string())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Synth(args) => match args.action {
            Some(SynthAction::Preview { clip, out, size }) => {
                write_clip_preview(&clip, &out, size)
                    .with_context(|| format!("previewing {}", clip.display()))?;
                println!("wrote {}", out.display());
                Ok(())
            }
            None => synth(args.generate),
        },
        Command::Train(args) => match args.model {
            TrainModel::Gnpfa(a) => train_gnpfa::run(a),
            TrainModel::GnpfaImage(a) => train_gnpfa_image::run(a),
            TrainModel::Diffusion(a) => train_diffusion::run(a),
        },
        Command::Generate(args) => generate::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Inspect { dir } => inspect::run(&dir),
    }
}

fn synth(args: GenerateArgs) -> Result<()> {
    let Some(out) = args.out else {
        bail!("--out DIR is required: where to write the clips");
    };
    if args.clips == 0 {
        bail!("--clips must be at least 1");
    }
    if let Some(jobs) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global()
            .context("setting up worker threads")?;
    }
    let mut engines = args.engines;
    engines.sort_unstable();
    engines.dedup();
    // Every engine asked for must load: a missing libflite is an error with the install hint,
    // never a quiet fall-back to espeak-ng alone.
    let speech = Speech::load(&engines)?;
    let config = WorldConfig {
        seed: args.seed,
        identities: args.identities,
        engines,
        ..WorldConfig::default()
    };
    let bar = ProgressBar::new(args.clips);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let frames = AtomicU64::new(0);
    let started = Instant::now();
    let manifest = write_dataset(&out, &config, args.clips, &speech, |entry| {
        frames.fetch_add(entry.num_frames as u64, Ordering::Relaxed);
        bar.inc(1);
    })
    .with_context(|| format!("writing the dataset to {}", out.display()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let audio_seconds = frames.load(Ordering::Relaxed) as f64 / config.fps as f64;
    let count = |s| manifest.clips.iter().filter(|c| c.split == s).count();
    use m2f_synth::Split;
    println!(
        "wrote {} clips ({:.1} s of speech) to {} in {:.1} s: {:.1} clips/s; train {}, val {}, test {}",
        manifest.clips.len(),
        audio_seconds,
        out.display(),
        seconds,
        manifest.clips.len() as f64 / seconds,
        count(Split::Train),
        count(Split::Val),
        count(Split::Test),
    );
    if let Some(preview) = args.preview {
        let first = out.join("clips").join(&manifest.clips[0].id);
        write_clip_preview(&first, &preview, 320)
            .with_context(|| format!("previewing {}", first.display()))?;
        println!(
            "wrote a preview of {} to {}",
            manifest.clips[0].id,
            preview.display()
        );
    }
    Ok(())
}
