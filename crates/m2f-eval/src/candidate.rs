//! What is judged: the model under test and the baselines beside it. Each candidate turns a
//! test clip into expression latents and head poses; the evaluation decodes every one of
//! them through the same GNPFA decoder on the clip's own neutral face, so the candidates
//! differ only in the motion they make.

use std::path::Path;

use candle_core::Device;
use conditioning::AudioEncoder;
use diffusion::{DiffusionModel, MotionStats, SamplerOptions, Style};
use gnpfa::Gnpfa;
use m2f_dataset::{AudioFeatures, JointLogMel};

use crate::error::{EvalError, Result};
use crate::test_set::EvalClip;

/// The motion a candidate made for a clip, one row per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// GNPFA expression latents `[T][Z]`.
    pub latents: Vec<Vec<f32>>,
    /// Head poses `[T]`: axis-angle radians, translation metres.
    pub poses: Vec<[f32; 6]>,
}

/// A way of making motion for test clips.
pub trait Candidate: Send + Sync {
    /// Its name in the report.
    fn name(&self) -> &str;
    /// Whether the seed changes its output (diversity is measured only then).
    fn stochastic(&self) -> bool;
    /// Whether it follows a style prompt (prompt following is measured only then).
    fn takes_prompts(&self) -> bool;
    /// What makes motion for `clip`, with the per-clip work (audio features, encodings)
    /// done once.
    ///
    /// # Errors
    /// An encoder that fails on the clip.
    fn prepare<'a>(&'a self, clip: &'a EvalClip) -> Result<Box<dyn ClipGenerator + 'a>>;
}

/// Motion for one prepared clip.
pub trait ClipGenerator {
    /// The motion under the text-style embedding `style`, from `seed`.
    ///
    /// # Errors
    /// A style of the wrong width, or a model that fails.
    fn generate(&self, style: &[f32], seed: u64) -> Result<Generated>;
}

/// Per-frame audio features [T × D] of a clip's samples at `fps`.
type FeatureFn<'m> = Box<dyn Fn(&[f32], f64) -> Result<Vec<f32>> + Send + Sync + 'm>;

/// A trained denoiser (diffusion or regression) with the audio encoder it was trained on.
pub struct DenoiserCandidate<'m> {
    name: String,
    model: Held<'m, DiffusionModel>,
    features: FeatureFn<'m>,
    options: SamplerOptions,
}

enum Held<'m, T> {
    Borrowed(&'m T),
    Owned(Box<T>),
}

impl<T> Held<'_, T> {
    fn get(&self) -> &T {
        match self {
            Held::Borrowed(t) => t,
            Held::Owned(t) => t,
        }
    }
}

impl<'m> DenoiserCandidate<'m> {
    /// The denoiser of a loaded bundle, sampled with `options`.
    pub fn of_bundle(
        name: &str,
        bundle: &'m media2face::Media2Face,
        options: SamplerOptions,
    ) -> Self {
        let encoder = bundle.audio_encoder();
        Self {
            name: name.to_string(),
            model: Held::Borrowed(bundle.denoiser()),
            features: Box::new(move |audio, fps| {
                Ok(encoder
                    .encode(audio, fps)?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            }),
            options,
        }
    }

    /// A denoiser checkpoint directory and the audio encoder its `config.json` names: the
    /// log-mel encoder stored with it, or the frozen encoder of its `audio_features` spec
    /// (`$VAR` in it read from the environment, as `m2f bundle` writes it).
    ///
    /// # Errors
    /// A checkpoint or encoder that does not load.
    pub fn load(
        name: &str,
        dir: &Path,
        device: &Device,
        options: SamplerOptions,
    ) -> Result<DenoiserCandidate<'static>> {
        let model = DiffusionModel::load(dir, device)?;
        let features: FeatureFn<'static> = if model.config.audio_encoder.is_some() {
            let encoder = JointLogMel::load(dir, device)?;
            Box::new(move |audio, fps| {
                Ok(encoder
                    .encode(audio, fps)?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            })
        } else {
            let spec = expand_env(&model.config.audio_features).map_err(|var| {
                EvalError::invalid(
                    format!("{}: audio_features", dir.display()),
                    format!(
                        "{:?} names ${var}, which is not set",
                        model.config.audio_features
                    ),
                )
            })?;
            let encoder = AudioFeatures::load(&spec, device)?;
            if encoder.info().key() != model.config.audio_features_key {
                return Err(EvalError::invalid(
                    format!("{}: audio_features", dir.display()),
                    format!(
                        "{spec} gives features {}, the denoiser was trained on {}",
                        encoder.info().key(),
                        model.config.audio_features_key
                    ),
                ));
            }
            Box::new(move |audio, fps| Ok(encoder.compute(audio, fps)?))
        };
        Ok(DenoiserCandidate {
            name: name.to_string(),
            model: Held::Owned(Box::new(model)),
            features,
            options,
        })
    }
}

/// `s` with each `$NAME` (letters, digits, `_`) replaced by the environment's value; the
/// error is the first name that is not set.
fn expand_env(s: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        out.push_str(&std::env::var(name).map_err(|_| name.to_string())?);
        rest = &after[end..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Candidate for DenoiserCandidate<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stochastic(&self) -> bool {
        self.model.get().config.model.objective == diffusion::Objective::Diffusion
    }

    fn takes_prompts(&self) -> bool {
        self.model.get().config.model.text_style_dim > 0
    }

    fn prepare<'a>(&'a self, clip: &'a EvalClip) -> Result<Box<dyn ClipGenerator + 'a>> {
        let features = self.features_for(
            &clip.audio,
            clip.fps,
            clip.num_frames(),
            &format!("clip {}", clip.id),
        )?;
        Ok(Box::new(PreparedDenoiser {
            candidate: self,
            features,
        }))
    }
}

impl DenoiserCandidate<'_> {
    /// Animation frames per second of the denoiser.
    pub fn fps(&self) -> f32 {
        self.model.get().config.model.fps
    }

    /// The denoiser's audio features [frames × D] of 16 kHz `audio`, fitted to `frames`
    /// animation frames at `fps` (`what` names the audio in errors).
    ///
    /// # Errors
    /// An encoder failure, or features whose length is more than two frames off.
    pub fn features_for(
        &self,
        audio: &[f32],
        fps: f32,
        frames: usize,
        what: &str,
    ) -> Result<Vec<f32>> {
        let dim = self.model.get().config.model.audio_dim;
        let mut features = (self.features)(audio, fps as f64)?;
        let got = features.len() / dim.max(1);
        // Encoders round the audio's length to frames: up to two frames more or fewer than
        // the animation are padded or cut. Anything else is a mismatch.
        if got.abs_diff(frames) > 2 || got == 0 {
            return Err(EvalError::invalid(
                format!("audio features of {what}"),
                format!("{got} frames for {frames} frames of animation"),
            ));
        }
        while features.len() < frames * dim {
            let last = features[features.len() - dim..].to_vec();
            features.extend(last);
        }
        features.truncate(frames * dim);
        Ok(features)
    }

    /// Motion for `features` (from [`DenoiserCandidate::features_for`]) under the text-style
    /// embedding `style`, from `seed`.
    ///
    /// # Errors
    /// A style of the wrong width, or a sampler failure.
    pub fn sample(&self, features: &[f32], style: &[f32], seed: u64) -> Result<Generated> {
        let options = SamplerOptions {
            seed,
            ..self.options
        };
        let m = self
            .model
            .get()
            .sample(features, &Style::Text(style.to_vec()), &options)?;
        Ok(Generated {
            latents: (0..m.frames()).map(|i| m.latent(i).to_vec()).collect(),
            poses: (0..m.frames())
                .map(|i| {
                    let p = m.pose(i);
                    [p[0], p[1], p[2], p[3], p[4], p[5]]
                })
                .collect(),
        })
    }
}

struct PreparedDenoiser<'a> {
    candidate: &'a DenoiserCandidate<'a>,
    features: Vec<f32>,
}

impl ClipGenerator for PreparedDenoiser<'_> {
    fn generate(&self, style: &[f32], seed: u64) -> Result<Generated> {
        self.candidate.sample(&self.features, style, seed)
    }
}

/// The mean face: every frame the mean latent and head pose of the training data (the
/// statistics stored with a denoiser). What a model scores without listening.
pub struct MeanFace {
    latent: Vec<f32>,
    pose: [f32; 6],
}

impl MeanFace {
    /// The mean of the training motion `stats` (latents of width `latent_dim`, then the pose).
    ///
    /// # Errors
    /// Statistics of another width.
    pub fn from_stats(stats: &MotionStats, latent_dim: usize) -> Result<Self> {
        if stats.mean.len() != latent_dim + 6 {
            return Err(EvalError::invalid(
                "motion statistics",
                format!("width {}, expected {} + 6", stats.mean.len(), latent_dim),
            ));
        }
        let p = &stats.mean[latent_dim..];
        Ok(Self {
            latent: stats.mean[..latent_dim].to_vec(),
            pose: [p[0], p[1], p[2], p[3], p[4], p[5]],
        })
    }
}

impl Candidate for MeanFace {
    fn name(&self) -> &str {
        "mean face"
    }

    fn stochastic(&self) -> bool {
        false
    }

    fn takes_prompts(&self) -> bool {
        false
    }

    fn prepare<'a>(&'a self, clip: &'a EvalClip) -> Result<Box<dyn ClipGenerator + 'a>> {
        Ok(Box::new(Fixed(Generated {
            latents: vec![self.latent.clone(); clip.num_frames()],
            poses: vec![self.pose; clip.num_frames()],
        })))
    }
}

/// The ceiling: the true faces re-encoded by GNPFA's `E_geo` (what the best denoiser could
/// reach through this latent space) and the true head poses.
pub struct GnpfaTruth<'m> {
    gnpfa: &'m Gnpfa,
}

impl<'m> GnpfaTruth<'m> {
    /// The truth through `gnpfa`.
    pub fn new(gnpfa: &'m Gnpfa) -> Self {
        Self { gnpfa }
    }
}

impl Candidate for GnpfaTruth<'_> {
    fn name(&self) -> &str {
        "truth through GNPFA"
    }

    fn stochastic(&self) -> bool {
        false
    }

    fn takes_prompts(&self) -> bool {
        false
    }

    fn prepare<'a>(&'a self, clip: &'a EvalClip) -> Result<Box<dyn ClipGenerator + 'a>> {
        let frames: Vec<&[[f32; 3]]> = clip.frames.iter().map(Vec::as_slice).collect();
        Ok(Box::new(Fixed(Generated {
            latents: self.gnpfa.encode_frames(&clip.neutral, &frames)?,
            poses: clip.head_pose.clone(),
        })))
    }
}

/// The same motion whatever the style and seed.
struct Fixed(Generated);

impl ClipGenerator for Fixed {
    fn generate(&self, _style: &[f32], _seed: u64) -> Result<Generated> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_from_the_environment() {
        std::env::set_var("M2F_EVAL_TEST_DIR", "/models/w");
        assert_eq!(
            expand_env("whisper:$M2F_EVAL_TEST_DIR#exact").unwrap(),
            "whisper:/models/w#exact"
        );
        assert_eq!(expand_env("log-mel").unwrap(), "log-mel");
        assert_eq!(
            expand_env("x:$M2F_EVAL_NOT_SET_ANYWHERE/a").unwrap_err(),
            "M2F_EVAL_NOT_SET_ANYWHERE"
        );
    }
}
