//! `m2f bundle`: assembles the directory `m2f generate` loads (the default one is the
//! repository's `weights/`): GNPFA, the denoiser (stored as f16), the Whisper encoder
//! converted from CTranslate2, the emotion prompts' sentence embeddings, and
//! `media2face.json`. The bundle is built and loaded in a staging directory inside `--out`
//! first; only then are its parts moved into place, so a failure leaves `--out` as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Args;
use conditioning::convert_ct2_encoder;
use conditioning::Ct2Model;
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use m2f_dataset::AudioFeatures;
use m2f_synth::{style_sentence, Emotion, Intensity};
use media2face::BundleManifest;
use rand::SeedableRng;

/// Sentences drawn per emotion × intensity: their mean embedding is the prompt's.
const SENTENCES_PER_PROMPT: usize = 64;

/// How the denoiser's config names the Whisper model, whichever machine trained it.
const WHISPER_DIR_NAME: &str = "$M2F_WHISPER_CT2_DIR";

#[derive(Args)]
pub struct BundleArgs {
    /// A trained GNPFA checkpoint directory (with its image encoders).
    #[arg(long)]
    gnpfa: PathBuf,
    /// A trained denoiser checkpoint (a run's best/), trained on Whisper features.
    #[arg(long)]
    denoiser: PathBuf,
    /// The CTranslate2 Whisper tiny.en model (the directory holding model.bin) whose
    /// encoder made the denoiser's training features: checked against the denoiser.
    #[arg(long)]
    whisper_ct2: PathBuf,
    /// The sentence encoder the denoiser's text style was trained with (all-MiniLM-L6-v2).
    #[arg(long)]
    text_encoder: PathBuf,
    /// Output directory (created; the bundle's parts in it are replaced, other files kept).
    #[arg(short, long)]
    out: PathBuf,
    /// The s_A requests get by default, as measured for this denoiser (`m2f eval --split
    /// val`); with --style-guidance. Without both: the paper's 2.5 and 1.5.
    #[arg(long, requires = "style_guidance")]
    audio_guidance: Option<f64>,
    /// The s_P requests get by default; with --audio-guidance.
    #[arg(long, requires = "audio_guidance")]
    style_guidance: Option<f64>,
    /// The DDIM steps the scales were measured at (default 25); with the scales.
    #[arg(long, requires = "audio_guidance")]
    steps: Option<usize>,
}

pub fn run(a: BundleArgs) -> Result<()> {
    let dev = Device::Cpu;
    let model = diffusion::DiffusionModel::load(&a.denoiser, &dev)
        .with_context(|| format!("loading the denoiser {}", a.denoiser.display()))?;
    let spec = &model.config.audio_features;
    let (kind, rest) = spec.split_once(':').unwrap_or(("", ""));
    if kind != "whisper" {
        bail!(
            "{}: trained on {spec:?} features; the bundle's audio encoder is Whisper",
            a.denoiser.display()
        );
    }
    // The features must be the ones the denoiser learned from: the same weights and window
    // policy, whatever the model's directory was called.
    let policy = rest.rsplit_once('#').map_or("padded", |(_, p)| p);
    let ct2_spec = format!("whisper:{}#{policy}", a.whisper_ct2.display());
    let info = AudioFeatures::load(&ct2_spec, &dev)
        .with_context(|| format!("loading Whisper from {}", a.whisper_ct2.display()))?
        .info()
        .clone();
    let trained_hash = model
        .config
        .audio_features_key
        .rsplit('-')
        .next()
        .unwrap_or("");
    if trained_hash != info.config_hash {
        bail!(
            "{}: its features come from the encoder keyed {:?}; {} is {:?}",
            a.denoiser.display(),
            model.config.audio_features_key,
            a.whisper_ct2.display(),
            info.key()
        );
    }
    gnpfa::Gnpfa::load(&a.gnpfa).with_context(|| format!("loading {}", a.gnpfa.display()))?;
    let ct2 = Ct2Model::read(&a.whisper_ct2)
        .with_context(|| format!("reading {}", a.whisper_ct2.display()))?;
    let whisper = convert_ct2_encoder(&ct2, &a.whisper_ct2.display().to_string())?;
    let text = SentenceEncoder::load(&ModelSource::local(&a.text_encoder), &dev)
        .with_context(|| format!("loading the sentence encoder {}", a.text_encoder.display()))?;

    let manifest = BundleManifest {
        format: media2face::BUNDLE_FORMAT.into(),
        format_version: 1,
        gnpfa: "gnpfa".into(),
        denoiser: "diffusion".into(),
        audio_encoder: "whisper-tiny.en".into(),
        emotions: "emotions.safetensors".into(),
        text_encoder: "sentence-transformers/all-MiniLM-L6-v2".into(),
        guidance: match (a.audio_guidance, a.style_guidance) {
            (Some(audio), Some(style)) => Some(media2face::Guidance {
                audio,
                style,
                steps: a.steps,
            }),
            _ => None,
        },
    };
    if let Some(g) = manifest.guidance {
        diffusion::SamplerOptions {
            steps: g.steps_or_default(),
            audio_guidance: g.audio,
            style_guidance: g.style,
            ..diffusion::SamplerOptions::default()
        }
        .validate(model.config.model.diffusion_steps)?;
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let staging = a
        .out
        .join(format!(".bundle-staging-{}", std::process::id()));
    let built = (|| -> Result<()> {
        std::fs::create_dir_all(&staging)?;
        copy_dir_files(&a.gnpfa, &staging.join(&manifest.gnpfa))?;
        let denoiser_dir = staging.join(&manifest.denoiser);
        write_denoiser_weights_f16(&a.denoiser, &denoiser_dir)?;
        write_denoiser_config(&a.denoiser, &a.whisper_ct2, &denoiser_dir)?;
        whisper
            .write(&staging.join(&manifest.audio_encoder))
            .context("writing the Whisper encoder")?;
        write_emotions(&text, &staging.join(&manifest.emotions))?;
        manifest.write(&staging)?;
        // The bundle must load as `m2f generate` loads it.
        media2face::Media2Face::from_dir(&staging).context("loading the new bundle")?;
        Ok(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    for part in [
        &manifest.gnpfa,
        &manifest.denoiser,
        &manifest.audio_encoder,
        &manifest.emotions,
    ] {
        replace(&staging.join(part), &a.out.join(part))?;
    }
    replace(
        &staging.join(media2face::MANIFEST_FILE),
        &a.out.join(media2face::MANIFEST_FILE),
    )?;
    std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    println!("wrote the bundle {}", a.out.display());
    Ok(())
}

/// Moves `from` (a file or directory) to `to`, replacing what is there.
fn replace(from: &Path, to: &Path) -> Result<()> {
    if to.is_dir() {
        let old = to.with_extension("replaced");
        std::fs::rename(to, &old).with_context(|| format!("moving {}", to.display()))?;
        std::fs::rename(from, to).with_context(|| format!("writing {}", to.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        std::fs::rename(from, to).with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(())
}

/// Copies every file of directory `from` (its checkpoint, evaluations and training logs)
/// into `to` (created).
fn copy_dir_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let src = entry?.path();
        if src.is_file() {
            let dst = to.join(src.file_name().unwrap_or_default());
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// Writes `tensors` to `path` readable by everyone (safetensors writes files private).
fn save_public(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(tensors, path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(path)
        .and_then(|f| m2f_mesh::publish_permissions(&f, false))
        .with_context(|| format!("setting the permissions of {}", path.display()))
}

/// The denoiser's weights stored as f16 (loaded back as f32): half the size, and on the
/// shipped clip no vertex of any frame moves more than 0.033 mm (mean 0.0004 mm) over three
/// seeds (`docs/generate.md`).
fn write_denoiser_weights_f16(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let src = from.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&src, &Device::Cpu)
        .with_context(|| format!("reading {}", src.display()))?;
    let half = tensors
        .into_iter()
        .map(|(name, t)| match t.dtype() {
            DType::F32 => Ok((name, t.to_dtype(DType::F16)?)),
            _ => Ok((name, t)),
        })
        .collect::<candle_core::Result<HashMap<String, Tensor>>>()?;
    save_public(&half, &to.join("model.safetensors"))
}

/// The denoiser's config.json with the Whisper model's directory written as
/// `$M2F_WHISPER_CT2_DIR` (the bundle carries the encoder itself; the name only records what
/// the features were made with, and the directory was the training machine's).
fn write_denoiser_config(from: &Path, whisper_ct2: &Path, to: &Path) -> Result<()> {
    let src = from.join("config.json");
    let text =
        std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", src.display()))?;
    let old = config["audio_features"].as_str().unwrap_or("").to_string();
    let dir = old.strip_prefix("whisper:").unwrap_or("");
    let dir = dir.rsplit_once('#').map_or(dir, |(d, _)| d).to_string();
    if !dir.is_empty() {
        let option = old
            .rsplit_once('#')
            .map(|(_, o)| format!("#{o}"))
            .unwrap_or_default();
        config["audio_features"] = format!("whisper:{WHISPER_DIR_NAME}{option}").into();
        // The training command names the same directory; only a full path is replaced.
        let mut spellings = vec![dir.clone()];
        if let Ok(c) = whisper_ct2.canonicalize() {
            spellings.push(c.display().to_string());
        }
        if let Some(cmd) = config["provenance"]["command"].as_str() {
            let mut cmd = cmd.to_string();
            for s in spellings
                .iter()
                .filter(|s| s.len() > 1 && s.starts_with('/'))
            {
                cmd = cmd.replace(s.trim_end_matches('/'), WHISPER_DIR_NAME);
            }
            config["provenance"]["command"] = cmd.into();
        }
    }
    let text = serde_json::to_string_pretty(&config)? + "\n";
    let dst = to.join("config.json");
    std::fs::write(&dst, text).with_context(|| format!("writing {}", dst.display()))?;
    Ok(())
}

/// The emotion prompts: for each emotion × intensity the mean of the embeddings of
/// sentences drawn as the synthetic world draws them, made unit length again as each
/// sentence's is.
fn write_emotions(text: &SentenceEncoder, path: &Path) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for emotion in Emotion::ALL {
        for intensity in Intensity::ALL {
            let sentences: Vec<String> = (0..SENTENCES_PER_PROMPT)
                .map(|_| style_sentence(emotion, intensity, &mut rng))
                .collect();
            let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
            let mean = text.embed_batch(&refs)?.mean(0)?;
            let norm = mean.sqr()?.sum_all()?.sqrt()?;
            let level = match intensity {
                Intensity::Low => "low",
                Intensity::Medium => "medium",
                Intensity::High => "high",
            };
            tensors.insert(
                format!("{}/{level}", emotion.name()),
                mean.broadcast_div(&norm)?,
            );
        }
    }
    save_public(&tensors, path)
}
