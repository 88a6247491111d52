//! `m2f extract synth`: one part of a synthetic dataset → training records (m2f-dataset).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::device_arg::DeviceArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use m2f_dataset::{
    extract_synthetic, load_gnpfa, AudioFeatures, Dataset, ExtractOptions, ShardSpec, ShardStore,
    SyntheticSource,
};

#[derive(Args)]
pub struct ExtractArgs {
    #[command(subcommand)]
    source: ExtractSource,
}

#[derive(Subcommand)]
enum ExtractSource {
    /// Clips of an `m2f synth` dataset: latents from GNPFA's E_geo over the true vertices.
    Synth(SynthArgs),
    /// After every part has run: compute the training split's normalisation statistics and
    /// store them as SHARDS/stats.json.
    Stats {
        /// The shards (directory or URL).
        #[arg(long)]
        out: String,
    },
}

/// Exit status when some clips failed (listed in failures/) and the others were extracted:
/// distinct from 1 (nothing done), so batch engines can tell a deterministic per-clip failure
/// from a crash worth retrying.
pub const EXIT_SOME_CLIPS_FAILED: i32 = 3;

#[derive(Args)]
struct SynthArgs {
    /// The synthetic dataset (from `m2f synth --out DIR`).
    #[arg(long)]
    data: PathBuf,
    /// The GNPFA checkpoint whose latent space the records live in.
    #[arg(long, default_value = "weights/gnpfa")]
    gnpfa: PathBuf,
    /// Also store audio features of this encoder beside each record:
    /// `whisper:DIR_OR_HUB_REPO[@REVISION][#padded|#exact]` (an HF Whisper checkpoint, or a
    /// directory with a CTranslate2 `model.bin`) or
    /// `wav2vec2:DIR_OR_HUB_REPO[@REVISION][#LAYER]`.
    #[arg(long)]
    audio_features: Option<String>,
    /// Augmented variants per clip, besides the clip as spoken.
    #[arg(long, default_value_t = 0)]
    variants: u32,
    /// Seed of the augmentation recipes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which part of the source manifest this job extracts: INDEX/COUNT, 0-based.
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Output: a directory, or a URL (file://, s3://, gs://, az:// with the matching feature).
    #[arg(long)]
    out: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: ExtractArgs) -> Result<()> {
    match args.source {
        ExtractSource::Synth(a) => synth(a),
        ExtractSource::Stats { out } => stats(&out),
    }
}

fn stats(out: &str) -> Result<()> {
    let store = ShardStore::open(out)?;
    let mut dataset = Dataset::open(store, None)?;
    dataset.store_stats()?;
    let s = dataset.stats();
    println!(
        "{}/stats.json: {} training records, {} frames, {} dimensions (GNPFA {})",
        out,
        s.records,
        s.frames,
        s.mean.len(),
        dataset.gnpfa()
    );
    Ok(())
}

fn synth(args: SynthArgs) -> Result<()> {
    let shard: ShardSpec = args.shard.parse()?;
    if let Some(jobs) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global()
            .context("setting up worker threads")?;
    }
    if args.out.starts_with("memory://") {
        bail!("--out memory:// would vanish when m2f exits: give a directory or a bucket URL");
    }
    // The output first: an unreachable store is reported before any model is loaded.
    let store = ShardStore::open(&args.out)?;
    let source = SyntheticSource::open(&args.data)
        .with_context(|| format!("opening the synthetic dataset {}", args.data.display()))?;
    let device = args.device.device()?;
    let (gnpfa, fingerprint) = load_gnpfa(&args.gnpfa, &device)
        .with_context(|| format!("loading GNPFA from {}", args.gnpfa.display()))?;
    let features = args
        .audio_features
        .as_deref()
        .map(|spec| AudioFeatures::load(spec, &device))
        .transpose()?;
    let opts = ExtractOptions {
        shard,
        variants: args.variants,
        seed: args.seed,
        ..ExtractOptions::default()
    };
    let part_clips = (0..source.clips().len())
        .filter(|&p| shard.contains(p))
        .count() as u64;
    let bar = ProgressBar::new(part_clips);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    let report = extract_synthetic(
        &source,
        &gnpfa,
        &fingerprint,
        features.as_ref(),
        &store,
        &opts,
        |outcome| {
            if let Some(reason) = &outcome.failure {
                let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{n} failed"));
                bar.println(format!("{}: {reason}", outcome.clip));
            }
            bar.inc(1);
        },
    )
    .with_context(|| format!("extracting part {shard} into {}", store.name()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "part {shard}: {} clips → {} records ({} written, {} already there), {} feature files, \
         {} frames in {seconds:.1} s: {:.1} clips/min, {:.0} frames/s; GNPFA {fingerprint}",
        report.clips,
        report.lines.len(),
        report.written,
        report.skipped,
        report.features_written,
        report.frames,
        report.clips as f64 / seconds * 60.0,
        report.frames as f64 / seconds,
    );
    if !report.failures.is_empty() {
        eprintln!(
            "{} of {} clips failed (listed in {}/failures/{}.jsonl); the others were extracted",
            report.failures.len(),
            report.clips,
            store.name(),
            shard.stem()
        );
        std::process::exit(EXIT_SOME_CLIPS_FAILED);
    }
    Ok(())
}
