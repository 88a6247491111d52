//! `m2f extract synth` and `m2f extract video`: one part of a synthetic dataset or of a manifest
//! of talking-head videos → training records (m2f-dataset).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::device_arg::DeviceArgs;
use crate::spinner::spinner;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use m2f_dataset::{
    extract_synthetic, extract_videos, load_gnpfa, write_record_previews, AudioFeatures,
    ClipOutcome, Dataset, ExtractOptions, ExtractReport, FacePath, MotionOptions, ShardSpec,
    ShardStore, SyntheticSource, VideoExtractOptions, VideoManifest,
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
    /// Talking-head videos listed in a JSON-lines manifest (video files, frame folders or
    /// MediaPipe landmark files): faces tracked with MediaPipe's models in-process, then
    /// latents from GNPFA's E_geo and head poses (docs/tracking.md).
    Video(VideoArgs),
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

#[derive(Args)]
struct VideoArgs {
    /// The manifest: one JSON object per line with `id` and `video` (or `landmarks`, or
    /// `frames` + `fps` + `audio`) and optional labels; paths relative to the manifest.
    #[arg(long)]
    manifest: PathBuf,
    /// The GNPFA checkpoint whose latent space the records live in.
    #[arg(long, default_value = "weights/gnpfa")]
    gnpfa: PathBuf,
    /// The folder with MediaPipe's face_detection_short_range.tflite and face_landmark.tflite
    /// (default: $M2F_MEDIAPIPE_DIR, else ~/.cache/media2face/models/mediapipe-face-mesh).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Also store audio features of this encoder beside each record, as for `extract synth`:
    /// `whisper:DIR_OR_HUB_REPO[@REVISION][#padded|#exact]` or
    /// `wav2vec2:DIR_OR_HUB_REPO[@REVISION][#LAYER]`.
    #[arg(long)]
    audio_features: Option<String>,
    /// What reads each frame's expression and rotation: `landmarks` (MediaPipe's points through
    /// GNPFA's E_geo; its model was trained on photographs) or `image` (GNPFA's image encoders
    /// on a crop of each frame; trained on the synthetic world's renders).
    #[arg(long, value_enum, default_value_t = PathArg::Landmarks)]
    path: PathArg,
    /// How a neutral is estimated from a clip's own frames (a clip without `neutral_frame`,
    /// and the clips that `neutral_clip` names): the median face of this share of its frames,
    /// those with the lips closest together (1 takes every frame).
    #[arg(long, default_value_t = MotionOptions::default().rest_fraction)]
    rest_fraction: f32,
    /// Which part of the manifest this job extracts: INDEX/COUNT, 0-based.
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Output: a directory, or a URL (file://, s3://, gs://, az:// with the matching feature).
    #[arg(long)]
    out: String,
    /// Worker threads (default: all cores); clips are tracked one per thread.
    #[arg(long)]
    jobs: Option<usize>,
    /// Also write `DIR/<clip id>.mp4` for each clip of this part: its frames beside the face its
    /// record holds (decoded through GNPFA, posed by its head pose), with its audio. Needs
    /// ffmpeg.
    #[arg(long, value_name = "DIR")]
    preview: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PathArg {
    Landmarks,
    Image,
}

pub fn run(args: ExtractArgs) -> Result<()> {
    match args.source {
        ExtractSource::Synth(a) => synth(a),
        ExtractSource::Video(a) => video(a),
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
    let store = open_output(args.jobs, &args.out)?;
    let source = SyntheticSource::open(&args.data)
        .with_context(|| format!("opening the synthetic dataset {}", args.data.display()))?;
    let device = args.device.device()?;
    let (gnpfa, fingerprint, features) =
        load_models(&args.gnpfa, args.audio_features.as_deref(), &device)?;
    let opts = ExtractOptions {
        shard,
        variants: args.variants,
        seed: args.seed,
        ..ExtractOptions::default()
    };
    let clips = source.clips().len();
    let report = run_part(clips, shard, &store, &fingerprint, |on_clip| {
        extract_synthetic(
            &source,
            &gnpfa,
            &fingerprint,
            features.as_ref(),
            &store,
            &opts,
            on_clip,
        )
    })?;
    exit_on_failures(&report, shard, &store)
}

fn models_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    let dir = given
        .or_else(m2f_tracker::default_models_dir)
        .context("neither M2F_MEDIAPIPE_DIR nor HOME is set: give --models")?;
    if !dir.join(m2f_tracker::LANDMARK_FILE).is_file()
        || !dir.join(m2f_tracker::DETECTOR_FILE).is_file()
    {
        bail!(
            "{} does not hold {} and {}: {}",
            dir.display(),
            m2f_tracker::DETECTOR_FILE,
            m2f_tracker::LANDMARK_FILE,
            m2f_tracker::MODELS_HINT
        );
    }
    Ok(dir)
}

fn video(args: VideoArgs) -> Result<()> {
    let shard: ShardSpec = args.shard.parse()?;
    let motion = MotionOptions {
        rest_fraction: args.rest_fraction,
        ..MotionOptions::default()
    };
    motion.validate().context("--rest-fraction")?;
    // Refuse a preview that cannot be written before the extraction, not after it.
    if let Some(dir) = &args.preview {
        if !m2f_mesh::ffmpeg_available() {
            bail!("--preview writes MP4 files with ffmpeg, which is not installed");
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--preview: making the directory {}", dir.display()))?;
    }
    let store = open_output(args.jobs, &args.out)?;
    let manifest = VideoManifest::read(&args.manifest)?;
    let models = models_dir(args.models)?;
    // The tracker runs on the CPU; so do GNPFA and the audio encoder beside it.
    let (gnpfa, fingerprint, features) = load_models(
        &args.gnpfa,
        args.audio_features.as_deref(),
        &candle_core::Device::Cpu,
    )?;
    let opts = VideoExtractOptions {
        shard,
        models,
        motion,
        path: match args.path {
            PathArg::Landmarks => FacePath::Landmarks,
            PathArg::Image => FacePath::Image,
        },
    };
    let clips = manifest.entries.len();
    let report = run_part(clips, shard, &store, &fingerprint, |on_clip| {
        extract_videos(
            &manifest,
            &gnpfa,
            &fingerprint,
            features.as_ref(),
            &store,
            &opts,
            on_clip,
        )
    })?;
    let mut previews_failed = 0;
    if let Some(dir) = &args.preview {
        let bar = spinner(&format!("rendering previews into {}", dir.display()));
        let done = write_record_previews(&gnpfa, &manifest, &store, &report, dir, PREVIEW_SIZE);
        bar.finish_and_clear();
        let done = done.with_context(|| format!("writing previews into {}", dir.display()))?;
        for failure in &done.failures {
            eprintln!("{}: no preview: {}", failure.clip, failure.reason);
        }
        println!("wrote {} previews into {}", done.written, dir.display());
        previews_failed = done.failures.len();
    }
    exit_on_failures(&report, shard, &store)?;
    if previews_failed > 0 {
        bail!("{previews_failed} previews could not be made (above); the records were written");
    }
    Ok(())
}

/// Height of `--preview`'s frames: enough to see the mouth, small enough to render quickly.
const PREVIEW_SIZE: u32 = 256;

/// GNPFA (with its fingerprint) and, when asked for, the audio encoder whose features are
/// stored beside each record.
fn load_models(
    gnpfa: &std::path::Path,
    audio_features: Option<&str>,
    device: &candle_core::Device,
) -> Result<(gnpfa::Gnpfa, String, Option<AudioFeatures>)> {
    let (model, fingerprint) = load_gnpfa(gnpfa, device)
        .with_context(|| format!("loading GNPFA from {}", gnpfa.display()))?;
    let features = audio_features
        .map(|spec| AudioFeatures::load(spec, device))
        .transpose()?;
    Ok((model, fingerprint, features))
}

/// Sets the worker threads and opens the output, first: an unreachable store is reported
/// before any model is loaded.
fn open_output(jobs: Option<usize>, out: &str) -> Result<ShardStore> {
    if let Some(jobs) = jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global()
            .context("setting up worker threads")?;
    }
    if out.starts_with("memory://") {
        bail!("--out memory:// would vanish when m2f exits: give a directory or a bucket URL");
    }
    Ok(ShardStore::open(out)?)
}

/// Runs one part's extraction (`extract` gets the per-clip callback) with a progress bar over
/// the part's clips of `clips`, then prints the summary.
fn run_part(
    clips: usize,
    shard: ShardSpec,
    store: &ShardStore,
    fingerprint: &str,
    extract: impl FnOnce(&(dyn Fn(&ClipOutcome) + Sync)) -> m2f_dataset::Result<ExtractReport>,
) -> Result<ExtractReport> {
    let part_clips = (0..clips).filter(|&p| shard.contains(p)).count() as u64;
    let bar = progress_bar(part_clips);
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    let report = extract(&|outcome| on_clip(&bar, &failed, outcome))
        .with_context(|| format!("extracting part {shard} into {}", store.name()))?;
    bar.finish_and_clear();
    summarise(&report, shard, fingerprint, started.elapsed().as_secs_f64());
    Ok(report)
}

fn progress_bar(clips: u64) -> ProgressBar {
    let bar = ProgressBar::new(clips);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn on_clip(bar: &ProgressBar, failed: &AtomicU64, outcome: &ClipOutcome) {
    if let Some(reason) = &outcome.failure {
        let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
        bar.set_message(format!("{n} failed"));
        let line = format!("{}: {reason}", outcome.clip);
        // A bar that is not drawn (output not a terminal: a batch job's log) drops its lines.
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    }
    bar.inc(1);
}

/// Prints the part's summary.
fn summarise(report: &ExtractReport, shard: ShardSpec, fingerprint: &str, seconds: f64) {
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
}

/// Exits with [`EXIT_SOME_CLIPS_FAILED`], saying where the failures are listed, when some clips
/// failed.
fn exit_on_failures(report: &ExtractReport, shard: ShardSpec, store: &ShardStore) -> Result<()> {
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
