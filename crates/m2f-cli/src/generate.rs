//! `m2f generate`: speech to a talking face with the default (or a given) model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use media2face::{Intensity, Media2Face, Prompt, Request};

use crate::spinner::spinner;

#[derive(Args)]
pub struct GenerateArgs {
    /// The speech: WAV, FLAC, MP3, Ogg/Vorbis or M4A.
    audio: PathBuf,
    /// Output: .glb (ARKit morph targets, for Blender and three.js), .json (fps, head poses,
    /// ARKit weights, vertices), .csv (ARKit weights as Live Link Face writes them), .npz (the
    /// same arrays for numpy.load), or a directory ending in / (one OBJ per frame).
    #[arg(short, long)]
    out: PathBuf,
    /// A style in words, e.g. "a very happy person talking" (needs the sentence encoder:
    /// $M2F_MINILM_DIR or the Hugging Face cache).
    #[arg(long, conflicts_with = "emotion")]
    text: Option<String>,
    /// An emotion the model knows (the default model: neutral, happy, sad, angry, surprised,
    /// disgusted, fearful, contempt); needs nothing but the model.
    #[arg(long)]
    emotion: Option<String>,
    /// How strongly the emotion shows.
    #[arg(long, default_value = "medium")]
    intensity: Intensity,
    /// A face crop whose expression the animation takes on (96 × 96 pixels for the default
    /// model, framed as GNPFA's crop camera frames the face).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Fix the expression of a frame to a face crop's: FRAME:FACE.png (repeatable).
    #[arg(long, value_parser = parse_keyframe)]
    keyframe: Vec<(usize, PathBuf)>,
    /// Seed of the sampler: the same input and seed give the same animation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// DDIM steps (default: the bundle's, measured with its scales). The default gives a
    /// committed, lively sample; 2 with a little audio guidance give nearly the model's mean
    /// motion: lower lip error, a stiller face, faster (docs/generate.md, "Lip accuracy or a
    /// lively face").
    #[arg(long)]
    steps: Option<usize>,
    /// How strongly the audio steers the motion (s_A of Media2Face Eq. 9; default: the
    /// bundle's). With no prompt, 1 is the plain audio-conditioned prediction and 0 ignores
    /// the audio; with a prompt, s_A 0 and s_P 1 is the plain prediction from both.
    #[arg(long)]
    audio_guidance: Option<f64>,
    /// How strongly the prompt steers the style (s_P of Media2Face Eq. 9; default: the
    /// bundle's).
    #[arg(long)]
    style_guidance: Option<f64>,
    /// Also render a preview: .mp4 (with the speech; needs ffmpeg), .gif or .png.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// The model bundle directory (default: $M2F_WEIGHTS, else the repository's weights/).
    #[arg(long)]
    model: Option<PathBuf>,
}

fn parse_keyframe(s: &str) -> Result<(usize, PathBuf), String> {
    let (frame, path) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected FRAME:FACE.png, e.g. 30:smile.png"))?;
    let frame = frame
        .parse()
        .map_err(|_| format!("{frame:?} is not a frame number"))?;
    Ok((frame, PathBuf::from(path)))
}

fn read_image(path: &PathBuf) -> Result<image::RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("reading the face image {}", path.display()))?
        .to_rgb8())
}

pub fn run(a: GenerateArgs) -> Result<()> {
    if !a.audio.is_file() {
        bail!("{}: no such audio file", a.audio.display());
    }
    // Refuse output paths before minutes of work, not after.
    media2face::check_output_paths(&a.out, a.preview.as_deref())?;
    let bar = spinner("loading the model");
    let model = match &a.model {
        Some(dir) => Media2Face::from_dir(dir),
        None => Media2Face::new(),
    }
    .context("loading the model")?;
    bar.finish_and_clear();
    // Eq. 9 weighs G(X_t) by 1 − s_A − s_P, G(X_t, A) by s_A and G(X_t, A, P) by s_P, and
    // the style term drops with no prompt. Under a total weight of 1 on the two terms that
    // hear the audio, the rest goes to the unconditional prediction, which ignores it: the
    // lips are damped towards an idle face (at 0, they do not listen at all). Legal, but far
    // more often a misreading of "little guidance", such as a prompted setting used without
    // its prompt.
    let prompted = a.text.is_some() || a.emotion.is_some() || a.image.is_some();
    let audio_weight = a.audio_guidance.unwrap_or(model.guidance().audio)
        + if prompted {
            a.style_guidance.unwrap_or(model.guidance().style)
        } else {
            0.0
        };
    if audio_weight < 1.0 {
        let how = if audio_weight <= 0.0 {
            "will not follow the audio".to_string()
        } else {
            format!(
                "will follow the audio only {:.0} % as strongly as the plain prediction",
                100.0 * audio_weight
            )
        };
        let plain = if prompted {
            "--audio-guidance 0 --style-guidance 1".to_string()
        } else {
            match a.audio_guidance {
                // The prompted lip-first setting's s_A used without its prompt.
                Some(s) if s > 0.0 => {
                    format!(
                        "--audio-guidance 1, and {} adds {s} of guidance to it",
                        1.0 + s
                    )
                }
                _ => "--audio-guidance 1".to_string(),
            }
        };
        eprintln!(
            "warning: with these scales and {}, the face {how} (the plain audio-conditioned \
             prediction is {plain})",
            if prompted { "a prompt" } else { "no prompt" },
        );
    }
    let mut request = Request::from_file(&a.audio).seed(a.seed);
    if let Some(n) = a.steps {
        request = request.steps(n);
    }
    if let Some(s) = a.audio_guidance {
        request = request.audio_guidance(s);
    }
    if let Some(s) = a.style_guidance {
        request = request.style_guidance(s);
    }
    if let Some(text) = a.text {
        request = request.prompt(Prompt::Text(text));
    }
    if let Some(name) = a.emotion {
        request = request.prompt(Prompt::Emotion {
            name,
            intensity: a.intensity,
        });
    }
    if let Some(path) = &a.image {
        request = request.prompt(Prompt::Image(read_image(path)?));
    }
    for (frame, path) in &a.keyframe {
        request = request.keyframe(*frame, read_image(path)?);
    }
    let bar = ProgressBar::new(a.steps.unwrap_or(model.guidance().steps_or_default()) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} denoising steps {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("({})", a.audio.display()));
    let started = Instant::now();
    let animation = model.generate_with_progress(&request, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if animation.concealed_audio_seconds > 0.0 {
        eprintln!(
            "warning: {} has corrupt stretches; {:.3} s of it were replaced by silence so the \
             rest keeps its timing",
            a.audio.display(),
            animation.concealed_audio_seconds
        );
    }
    animation
        .save(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "wrote {} ({} frames, {:.2} s of speech at {} fps) in {seconds:.1} s ({:.2} × real time); \
         ARKit weights from the {} ({:.2} mm from the decoded faces; the other: {:.2} mm)",
        a.out.display(),
        animation.frames(),
        animation.duration(),
        animation.fps,
        seconds / animation.duration().max(1e-3) as f64,
        match animation.arkit_fit.used {
            media2face::ArkitSource::Solver => "rig solver",
            media2face::ArkitSource::Bridge => "GNPFA bridge M′",
        },
        animation
            .arkit_fit
            .solver_mm
            .min(animation.arkit_fit.bridge_mm),
        animation
            .arkit_fit
            .solver_mm
            .max(animation.arkit_fit.bridge_mm),
    );
    if let Some(preview) = &a.preview {
        let bar = spinner(&format!("rendering {}", preview.display()));
        animation
            .preview(preview, 320)
            .with_context(|| format!("writing the preview {}", preview.display()))?;
        bar.finish_and_clear();
        println!("wrote {}", preview.display());
    }
    Ok(())
}
