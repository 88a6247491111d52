//! `m2f eval`: a model bundle against the mean face, the GNPFA-encoded truth and any other
//! denoisers (the regression baseline, other audio encoders) on the test clips of a
//! synthetic dataset.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use diffusion::SamplerOptions;
use indicatif::{ProgressBar, ProgressStyle};
use m2f_eval::{Candidate, DenoiserCandidate, EvalOptions, GnpfaTruth, MeanFace};
use m2f_synth::Intensity;
use m2f_synth::Split;
use media2face::Media2Face;

use crate::device_arg::DeviceArgs;

#[derive(Args)]
pub struct EvalArgs {
    /// The model bundle to judge (as `m2f generate --model` takes; default: the repository's
    /// weights/). Its GNPFA decodes every candidate's motion and its emotion embeddings are
    /// the prompts.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// An `m2f synth` dataset: its test split (unseen voices, sentences, identities) is the
    /// test set, its training split trains the emotion classifier.
    #[arg(long, required_unless_present = "recordings")]
    data: Option<PathBuf>,
    /// Real recordings with aligned phones (NAME.wav + NAME.phones, as
    /// tools/fetch_real_speech.py writes them): lip closure and opening of every denoiser,
    /// decoded on the bundle's face.
    #[arg(long)]
    recordings: Option<PathBuf>,
    /// The regression baseline: a denoiser checkpoint trained with `m2f train diffusion
    /// --objective regression` on the same data.
    #[arg(long)]
    regression: Option<PathBuf>,
    /// More denoiser checkpoints to judge beside the bundle, as NAME=DIR (repeatable); each
    /// with the audio encoder its config names.
    #[arg(long, value_parser = parse_named)]
    denoiser: Vec<(String, PathBuf)>,
    /// Judge only these candidates, by their names in the tables (comma-separated:
    /// media2face, regression, the --denoiser names, "mean face", "truth through GNPFA");
    /// default all. The bundle still decodes every candidate.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Test clips (the first of the split).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..))]
    clips: u64,
    /// The split judged: `test` (reported numbers) or `val` (for choosing settings, such
    /// as the guidance scales, without looking at the test clips).
    #[arg(long, default_value = "test", value_parser = parse_split)]
    split: Split,
    /// Only clips spoken by these engines (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Samples per clip for diversity.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Clips generated under each of the 8 emotion prompts for prompt following.
    #[arg(long, default_value_t = 12)]
    prompt_clips: usize,
    /// Training clips the emotion classifier learns from.
    #[arg(long, default_value_t = 400)]
    classifier_clips: usize,
    /// DDIM steps (default: the bundle's).
    #[arg(long)]
    steps: Option<usize>,
    /// s_A (default: the bundle's).
    #[arg(long)]
    audio_guidance: Option<f64>,
    /// s_P (default: the bundle's).
    #[arg(long)]
    style_guidance: Option<f64>,
    /// Also write the tables to this Markdown file, and the numbers beside it as JSON (x.md →
    /// x.json; other names get .json appended).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "test" => Ok(Split::Test),
        "val" => Ok(Split::Val),
        _ => Err(format!("{s:?}: expected test or val")),
    }
}

fn parse_named(s: &str) -> Result<(String, PathBuf), String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=DIR"))?;
    Ok((name.to_string(), PathBuf::from(dir)))
}

pub fn run(a: EvalArgs) -> Result<()> {
    if let Some(out) = &a.out {
        // The numbers go beside the tables as OUT.json: OUT must be another file.
        if out.extension().is_some_and(|e| e == "json") {
            bail!(
                "--out {}: give the Markdown file (e.g. report.md); the numbers are written beside it as .json",
                out.display()
            );
        }
        // Made before the evaluation, not found missing after minutes of it.
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("--out {}: creating {}", out.display(), parent.display())
            })?;
        }
    }
    let device = a.device.device()?;
    let dir = match &a.checkpoint {
        Some(d) => d.clone(),
        None => media2face::default_dir()?,
    };
    let bundle = Media2Face::from_dir_on(&dir, &device)
        .with_context(|| format!("loading the model bundle {}", dir.display()))?;
    let guidance = bundle.guidance();
    let sampler = SamplerOptions {
        steps: a.steps.unwrap_or(guidance.steps_or_default()),
        audio_guidance: a.audio_guidance.unwrap_or(guidance.audio),
        style_guidance: a.style_guidance.unwrap_or(guidance.style),
        ..SamplerOptions::default()
    };
    sampler.validate(bundle.denoiser().config.model.diffusion_steps)?;
    let options = EvalOptions {
        seeds: a.seeds.max(1),
        prompt_clips: a.prompt_clips,
        prompt_intensity: Intensity::High,
    };
    let gnpfa = bundle.gnpfa();
    let cfg = &bundle.denoiser().config;
    let mean = MeanFace::from_stats(&cfg.motion_stats, cfg.model.latent_dim)?;
    let truth = GnpfaTruth::new(gnpfa);
    let model = DenoiserCandidate::of_bundle("media2face", &bundle, sampler);
    let mut others = Vec::new();
    if let Some(d) = &a.regression {
        others.push(
            DenoiserCandidate::load("regression", d, &device, sampler)
                .with_context(|| format!("loading the regression baseline {}", d.display()))?,
        );
    }
    for (name, d) in &a.denoiser {
        others.push(
            DenoiserCandidate::load(name, d, &device, sampler)
                .with_context(|| format!("loading the denoiser {name} from {}", d.display()))?,
        );
    }
    let names: Vec<&str> = [model.name(), mean.name(), truth.name()]
        .into_iter()
        .chain(others.iter().map(|c| c.name()))
        .collect();
    if let Some(unknown) = a.only.iter().find(|n| !names.contains(&n.as_str())) {
        bail!(
            "--only {unknown:?}: no such candidate; this run has {}",
            names.join(", ")
        );
    }
    let judged = |name: &str| a.only.is_empty() || a.only.iter().any(|n| n == name);
    let mut markdown = String::new();
    let mut json = serde_json::Map::new();
    // Only denoisers are judged on real recordings (the baselines need a clip's truth).
    let named: Vec<(&str, &DenoiserCandidate)> = std::iter::once(&model)
        .chain(&others)
        .filter(|c| judged(c.name()))
        .map(|c| (c.name(), c))
        .collect();
    if let Some(dir) = a.recordings.as_ref().filter(|_| !named.is_empty()) {
        let recordings = m2f_eval::read_recordings(dir)
            .with_context(|| format!("reading the recordings {}", dir.display()))?;
        eprintln!("{} recordings from {}", recordings.len(), dir.display());
        let neutral = bundle.emotion_embedding("neutral", media2face::Intensity::Medium)?;
        let report = m2f_eval::evaluate_recordings(
            &named,
            &recordings,
            gnpfa,
            &bundle.face().mesh.vertices,
            neutral,
        )?;
        markdown.push_str(&format!(
            "Real recordings ({}), neutral prompt, seed 0:\n\n{}\n",
            dir.display(),
            report.to_markdown()
        ));
        json.insert("recordings".into(), serde_json::to_value(&report)?);
    }
    let Some(data) = &a.data else {
        return finish(&a, &markdown, json);
    };
    let mut candidates: Vec<&dyn Candidate> = vec![&model];
    candidates.extend(others.iter().map(|c| c as &dyn Candidate));
    candidates.push(&mean);
    candidates.push(&truth);
    candidates.retain(|c| judged(c.name()));

    eprintln!("reading the {} clips of {}", a.split.name(), data.display());
    let clips = m2f_eval::read_split(data, a.split, Some(a.clips as usize), &a.engines)
        .with_context(|| format!("reading the {} split of {}", a.split.name(), data.display()))?;
    if clips.is_empty() {
        bail!(
            "{} has no {} clips{}",
            data.display(),
            a.split.name(),
            match a.engines.is_empty() {
                true => String::new(),
                false => format!(" spoken by {}", a.engines.join(", ")),
            }
        );
    }
    eprintln!(
        "training the emotion classifier on {} training clips' true latents",
        a.classifier_clips
    );
    let classifier = m2f_eval::fit_on_training_split(data, gnpfa, a.classifier_clips)
        .context("training the emotion classifier")?;
    let style = |e: m2f_synth::Emotion, i: Intensity| -> m2f_eval::Result<Vec<f32>> {
        let intensity = match i {
            Intensity::Low => media2face::Intensity::Low,
            Intensity::Medium => media2face::Intensity::Medium,
            Intensity::High => media2face::Intensity::High,
        };
        Ok(bundle.emotion_embedding(e.name(), intensity)?.to_vec())
    };
    let bar = ProgressBar::new(clips.len() as u64).with_style(
        ProgressStyle::with_template(
            "{msg} {bar:30} {pos}/{len} clips [{elapsed_precise} < {eta}]",
        )
        .expect("a valid template"),
    );
    bar.set_message("evaluating");
    let report = m2f_eval::evaluate(
        &candidates,
        &clips,
        gnpfa,
        &style,
        &classifier,
        &options,
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    markdown.push_str(&report.to_markdown());
    json.insert("synthetic".into(), serde_json::to_value(&report)?);
    finish(&a, &markdown, json)
}

/// Prints the tables and writes them (and the numbers as JSON) where `--out` says.
fn finish(
    a: &EvalArgs,
    markdown: &str,
    json: serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    println!("{markdown}");
    if let Some(out) = &a.out {
        let command = crate::report::command_line();
        let text = format!("Measured with `{command}`.\n\n{markdown}");
        crate::report::write_replacing(out, text.as_bytes())?;
        let path = crate::report::json_beside(out);
        crate::report::write_replacing(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
        eprintln!("wrote {} and {}", out.display(), path.display());
    }
    Ok(())
}
