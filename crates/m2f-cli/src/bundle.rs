//! `m2f bundle`: assembles the directory `m2f generate` loads (the default one is the
//! repository's `weights/`): GNPFA, the denoiser, the Whisper encoder converted from
//! CTranslate2, the emotion prompts' sentence embeddings, and `media2face.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Args;
use conditioning::ctranslate2::Ct2Model;
use conditioning::sentence::SentenceEncoder;
use conditioning::weights::ModelSource;
use conditioning::whisper::convert_ct2_encoder;
use m2f_synth::emotion::{style_sentence, Emotion, Intensity};
use media2face::BundleManifest;
use rand::SeedableRng;

/// Sentences drawn per emotion × intensity: their mean embedding is the prompt's.
const SENTENCES_PER_PROMPT: usize = 64;

#[derive(Args)]
pub struct BundleArgs {
    /// A trained GNPFA checkpoint directory (with its image encoders).
    #[arg(long)]
    gnpfa: PathBuf,
    /// A trained denoiser checkpoint (a run's best/), trained on Whisper features.
    #[arg(long)]
    denoiser: PathBuf,
    /// The CTranslate2 Whisper tiny.en model (the directory holding model.bin) whose
    /// encoder made the denoiser's training features.
    #[arg(long)]
    whisper_ct2: PathBuf,
    /// The sentence encoder the denoiser's text style was trained with (all-MiniLM-L6-v2).
    #[arg(long)]
    text_encoder: PathBuf,
    /// Output directory (created; the parts are replaced).
    #[arg(short, long)]
    out: PathBuf,
}

/// Copies `files` from `from` to `to` (created), unless they are the same directory.
fn copy_files(from: &Path, to: &Path, files: &[&str]) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    if from.canonicalize().ok() == to.canonicalize().ok() {
        return Ok(());
    }
    for f in files {
        let (src, dst) = (from.join(f), to.join(f));
        let tmp = to.join(format!(".{f}.tmp"));
        std::fs::copy(&src, &tmp).with_context(|| format!("copying {}", src.display()))?;
        std::fs::rename(&tmp, &dst).with_context(|| format!("writing {}", dst.display()))?;
    }
    Ok(())
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
    let (dst, tmp) = (
        to.join("model.safetensors"),
        to.join(".model.safetensors.tmp"),
    );
    candle_core::safetensors::save(&half, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)
        .and_then(|f| m2f_mesh::publish_permissions(&f, false))
        .with_context(|| format!("setting the permissions of {}", tmp.display()))?;
    std::fs::rename(&tmp, &dst).with_context(|| format!("writing {}", dst.display()))?;
    Ok(())
}

/// The denoiser's config.json with the Whisper model's directory, wherever it was on the
/// machine that trained it, written as `$M2F_WHISPER_CT2_DIR` (the bundle carries the
/// encoder itself; the name only records what the features were made with).
fn write_denoiser_config(a: &BundleArgs, dir: &Path) -> Result<()> {
    let src = a.denoiser.join("config.json");
    let mut text =
        std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
    let mut spellings = vec![a.whisper_ct2.display().to_string()];
    if let Ok(c) = a.whisper_ct2.canonicalize() {
        spellings.push(c.display().to_string());
    }
    for s in spellings.iter().filter(|s| !s.is_empty()) {
        text = text.replace(s.trim_end_matches('/'), "$M2F_WHISPER_CT2_DIR");
    }
    let dst = dir.join("config.json");
    let tmp = dir.join(".config.json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &dst).with_context(|| format!("writing {}", dst.display()))?;
    Ok(())
}

pub fn run(a: BundleArgs) -> Result<()> {
    let dev = Device::Cpu;
    let checkpoint = ["config.json", "model.safetensors"];
    // Every part must load before anything is written.
    gnpfa::Gnpfa::load(&a.gnpfa).with_context(|| format!("loading {}", a.gnpfa.display()))?;
    let model = diffusion::DiffusionModel::load(&a.denoiser, &dev)
        .with_context(|| format!("loading {}", a.denoiser.display()))?;
    let kind = model.config.audio_features.split(':').next().unwrap_or("");
    if kind != "whisper" {
        bail!(
            "{}: trained on {:?} features; the bundle's audio encoder is Whisper",
            a.denoiser.display(),
            model.config.audio_features
        );
    }
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
    };
    copy_files(&a.gnpfa, &a.out.join(&manifest.gnpfa), &checkpoint)?;
    write_denoiser_weights_f16(&a.denoiser, &a.out.join(&manifest.denoiser))?;
    write_denoiser_config(&a, &a.out.join(&manifest.denoiser))?;
    whisper
        .write(&a.out.join(&manifest.audio_encoder))
        .with_context(|| format!("writing the Whisper encoder into {}", a.out.display()))?;

    // The emotion prompts: the mean of the embeddings of sentences drawn as the synthetic
    // world draws its style sentences, made unit length again as each sentence's is.
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
    let path = a.out.join(&manifest.emotions);
    let tmp = a.out.join(".emotions.safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    // safetensors writes the file private; the bundle is for everyone to read.
    std::fs::File::open(&tmp)
        .and_then(|f| m2f_mesh::publish_permissions(&f, false))
        .with_context(|| format!("setting the permissions of {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    manifest.write(&a.out)?;
    // The bundle must load as `m2f generate` loads it.
    media2face::Media2Face::from_dir(&a.out)
        .with_context(|| format!("loading the new bundle {}", a.out.display()))?;
    println!("wrote the bundle {}", a.out.display());
    Ok(())
}
