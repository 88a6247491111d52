//! Guided DDIM sampling (Song et al.) of the denoiser: any number of steps, η for
//! stochasticity, the three-term classifier-free guidance of Media2Face Eq. 9
//! (X̂⁰ = (1 − s_A − s_P)·G(X_t) + s_A·G(X_t, A) + s_P·G(X_t, A, P)) with the terms run as
//! one batch, and the memory's keys and values computed once per sampling.

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::checkpoint::DiffusionModel;
use crate::conditioning_mask::{cross_attention_bias, Conditions};
use crate::denoiser::StyleInput;
use crate::error::{DiffusionError, Result};

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerOptions {
    /// DDIM steps (1..=T).
    pub steps: usize,
    /// DDIM's η: 0 deterministic given the initial noise, 1 as stochastic as DDPM.
    pub eta: f64,
    /// s_A: the audio guidance scale.
    pub audio_guidance: f64,
    /// s_P: the style guidance scale.
    pub style_guidance: f64,
    /// Seed of the initial noise (and of η's noise).
    pub seed: u64,
}

impl Default for SamplerOptions {
    /// 25 steps, η = 0, the paper's scales s_A = 2.5 and s_P = 1.5, seed 0.
    fn default() -> Self {
        Self {
            steps: 25,
            eta: 0.0,
            audio_guidance: 2.5,
            style_guidance: 1.5,
            seed: 0,
        }
    }
}

/// A style prompt as the denoiser takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// No prompt: the style term of the guidance is dropped.
    None,
    /// A sentence embedding of a text prompt [text_style_dim].
    Text(Vec<f32>),
    /// A face image's GNPFA expression latent [image_style_dim].
    Image(Vec<f32>),
}

/// Sampled motion: per frame the expression latent z and the head pose θ, denormalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Motion {
    /// Frames per second.
    pub fps: f32,
    /// Z.
    pub latent_dim: usize,
    /// Width of θ (6: axis-angle rotation, translation).
    pub pose_dim: usize,
    /// [frames, Z + pose_dim]: z then θ per frame.
    pub data: Vec<f32>,
}

impl Motion {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.data.len() / (self.latent_dim + self.pose_dim).max(1)
    }

    /// z of frame `i`.
    pub fn latent(&self, i: usize) -> &[f32] {
        let d = self.latent_dim + self.pose_dim;
        &self.data[i * d..i * d + self.latent_dim]
    }

    /// θ of frame `i`.
    pub fn pose(&self, i: usize) -> &[f32] {
        let d = self.latent_dim + self.pose_dim;
        &self.data[i * d + self.latent_dim..(i + 1) * d]
    }
}

/// The DDIM timesteps for `steps` of T: evenly spaced from T − 1 down to 0.
pub fn ddim_timesteps(steps: usize, t: usize) -> Vec<usize> {
    if steps <= 1 {
        return vec![t - 1];
    }
    (0..steps)
        .map(|i| {
            let x = (t - 1) as f64 * (steps - 1 - i) as f64 / (steps - 1) as f64;
            x.round() as usize
        })
        .collect()
}

impl SamplerOptions {
    /// Checks the options against a model of `t` diffusion steps; the error names the option.
    pub fn validate(&self, t: usize) -> Result<()> {
        if self.steps == 0 || self.steps > t {
            return Err(DiffusionError::invalid(
                "steps",
                format!(
                    "{} (expected 1 to {t}, the model's diffusion steps)",
                    self.steps
                ),
            ));
        }
        for (name, v) in [
            ("eta", self.eta),
            ("audio guidance", self.audio_guidance),
            ("style guidance", self.style_guidance),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(DiffusionError::invalid(
                    name,
                    format!("{v} (expected a finite number ≥ 0)"),
                ));
            }
        }
        Ok(())
    }
}

/// The guidance terms with a non-zero weight: (conditions, weight) per prediction.
fn guidance_terms(style: &Style, o: &SamplerOptions) -> Vec<(Conditions, f64)> {
    let (s_a, s_p) = match style {
        Style::None => (o.audio_guidance, 0.0),
        _ => (o.audio_guidance, o.style_guidance),
    };
    [
        (Conditions::NONE, 1.0 - s_a - s_p),
        (Conditions::AUDIO, s_a),
        (Conditions::AUDIO_STYLE, s_p),
    ]
    .into_iter()
    .filter(|(_, w)| *w != 0.0)
    .collect()
}

impl DiffusionModel {
    /// Samples motion for `audio` [frames, audio_dim] (one feature vector per animation
    /// frame, at most one window) in the style `style`.
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] naming the input for audio of the wrong width or length,
    /// a style of the wrong width or of a kind the model does not take, or options out of
    /// range.
    pub fn sample(&self, audio: &[f32], style: &Style, opts: &SamplerOptions) -> Result<Motion> {
        let cfg = self.denoiser.config();
        let device = self.device().clone();
        opts.validate(cfg.diffusion_steps)?;
        if audio.is_empty() || audio.len() % cfg.audio_dim != 0 {
            return Err(DiffusionError::invalid(
                "audio features",
                format!(
                    "{} values is not a whole number of frames of width {} (the model's audio_dim)",
                    audio.len(),
                    cfg.audio_dim
                ),
            ));
        }
        let n = audio.len() / cfg.audio_dim;
        if n > cfg.window {
            return Err(DiffusionError::invalid(
                "audio features",
                format!("{n} frames, more than one window of {}", cfg.window),
            ));
        }
        let audio = Tensor::from_slice(audio, (1, n, cfg.audio_dim), &device)?;
        let style_tensor = match style {
            Style::None => None,
            Style::Text(v) => Some(("text style", v, cfg.text_style_dim)),
            Style::Image(v) => Some(("image style", v, cfg.image_style_dim)),
        }
        .map(|(what, v, dim)| {
            if dim == 0 || v.len() != dim {
                return Err(DiffusionError::invalid(
                    what,
                    format!(
                        "{} values; this model takes {dim} ({})",
                        v.len(),
                        if dim == 0 {
                            "no such prompts"
                        } else {
                            "its width"
                        }
                    ),
                ));
            }
            Ok(Tensor::from_slice(v, (1, dim), &device)?)
        })
        .transpose()?;
        let style_input = match (style, &style_tensor) {
            (Style::Text(_), Some(t)) => StyleInput::Text(t),
            (Style::Image(_), Some(t)) => StyleInput::Image(t),
            _ => StyleInput::None,
        };
        let memory = self.denoiser.memory(&audio, style_input)?;
        let kv = self.denoiser.memory_key_values(&memory)?;
        let terms = guidance_terms(style, opts);
        let conditions: Vec<Conditions> = terms.iter().map(|(c, _)| *c).collect();
        let cross = cross_attention_bias(n, &conditions, cfg.audio_radius, &device)?;
        let weights: Vec<f32> = terms.iter().map(|(_, w)| *w as f32).collect();
        let weights = Tensor::from_vec(weights, (terms.len(), 1, 1), &device)?;
        let c = cfg.motion_dim();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut normal = |len: usize| -> Result<Tensor> {
            let v: Vec<f32> = (0..len).map(|_| StandardNormal.sample(&mut rng)).collect();
            Ok(Tensor::from_vec(v, (1, n, c), &device)?)
        };
        let mut x = normal(n * c)?;
        let taus = ddim_timesteps(opts.steps, cfg.diffusion_steps);
        let g = terms.len();
        let mut x0 = x.clone();
        for (i, &t) in taus.iter().enumerate() {
            let batch = x.broadcast_as((g, n, c))?.contiguous()?;
            let predictions = self
                .denoiser
                .forward(&batch, &[t as u32], &kv, &cross, None)?;
            x0 = predictions.broadcast_mul(&weights)?.sum_keepdim(0)?;
            let Some(&t_prev) = taus.get(i + 1) else {
                break;
            };
            let ab = self.schedule.alpha_bar(Some(t));
            let ab_prev = self.schedule.alpha_bar(Some(t_prev));
            let eps = ((&x - (&x0 * ab.sqrt())?)? / (1.0 - ab).sqrt())?;
            let sigma =
                opts.eta * ((1.0 - ab_prev) / (1.0 - ab)).sqrt() * (1.0 - ab / ab_prev).sqrt();
            let dir = (1.0 - ab_prev - sigma * sigma).max(0.0).sqrt();
            x = ((&x0 * ab_prev.sqrt())? + (eps * dir)?)?;
            if sigma > 0.0 {
                x = (x + (normal(n * c)? * sigma)?)?;
            }
        }
        let mut data = x0.flatten_all()?.to_vec1::<f32>()?;
        self.config.motion_stats.denormalise(&mut data);
        Ok(Motion {
            fps: cfg.fps,
            latent_dim: cfg.latent_dim,
            pose_dim: cfg.pose_dim,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timesteps_span_the_schedule_and_guidance_drops_zero_terms() {
        assert_eq!(ddim_timesteps(1, 500), vec![499]);
        let t = ddim_timesteps(25, 500);
        assert_eq!((t[0], t[24], t.len()), (499, 0, 25));
        assert!(t.windows(2).all(|w| w[0] > w[1]));
        let o = SamplerOptions::default();
        let terms = guidance_terms(&Style::Text(vec![]), &o);
        let w: Vec<f64> = terms.iter().map(|t| t.1).collect();
        assert_eq!(w, vec![-3.0, 2.5, 1.5]);
        let one = SamplerOptions {
            audio_guidance: 1.0,
            ..o
        };
        assert_eq!(
            guidance_terms(&Style::None, &one),
            vec![(Conditions::AUDIO, 1.0)]
        );
        assert!(SamplerOptions { steps: 0, ..o }.validate(500).is_err());
        assert!(SamplerOptions {
            audio_guidance: f64::NAN,
            ..o
        }
        .validate(500)
        .is_err());
        assert!(SamplerOptions {
            style_guidance: -1.0,
            ..o
        }
        .validate(500)
        .is_err());
    }
}
