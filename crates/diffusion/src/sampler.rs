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
use crate::window_plan::WindowPlan;

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
    /// Seed of the initial noise (and of η's and the keyframes' noise).
    pub seed: u64,
    /// Frames by which neighbouring windows overlap on audio longer than one window
    /// (`None`: a quarter window).
    pub overlap: Option<usize>,
    /// Windows denoised in one batch: bounds memory on long audio (all windows are still
    /// blended at every step).
    pub windows_per_batch: usize,
}

impl Default for SamplerOptions {
    /// 25 steps, η = 0, the paper's scales s_A = 2.5 and s_P = 1.5, seed 0, quarter-window
    /// overlaps, 8 windows per batch.
    fn default() -> Self {
        Self {
            steps: 25,
            eta: 0.0,
            audio_guidance: 2.5,
            style_guidance: 1.5,
            seed: 0,
            overlap: None,
            windows_per_batch: 8,
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

/// A frame whose expression latent and/or head pose is fixed (an edit): the sampler
/// inpaints the rest around it (RePaint: the known part of X_t is replaced by the keyframe
/// noised to the same step).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyframe {
    /// The frame (0-based).
    pub frame: usize,
    /// z at that frame, e.g. GNPFA's `E_exp` latent of a face image [latent_dim].
    pub latent: Option<Vec<f32>>,
    /// θ at that frame [pose_dim].
    pub pose: Option<Vec<f32>>,
}

/// Cross-attention keys and values of every window are kept across steps while they take at
/// most this many bytes; beyond (very long audio) each batch recomputes its own, so memory
/// does not grow with length.
const KV_CACHE_BYTES: usize = 256 << 20;

impl DiffusionModel {
    /// Samples motion for `audio` [frames, audio_dim] (one feature vector per animation
    /// frame, any length) in the style `style`.
    ///
    /// # Errors
    /// As [`DiffusionModel::sample_edited`].
    pub fn sample(&self, audio: &[f32], style: &Style, opts: &SamplerOptions) -> Result<Motion> {
        self.sample_edited(audio, style, &[], opts)
    }

    /// Samples motion for `audio` [frames, audio_dim] of any length in the style `style`,
    /// with the frames of `keyframes` fixed. Audio longer than a window is cut into windows
    /// overlapping by `opts.overlap` frames, denoised together (in batches of at most
    /// `opts.windows_per_batch` windows) and blended in the overlaps at every step.
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] naming the input for audio of the wrong width, a style of
    /// the wrong width or of a kind the model does not take, a keyframe outside the clip or of
    /// the wrong width, or options out of range.
    pub fn sample_edited(
        &self,
        audio: &[f32],
        style: &Style,
        keyframes: &[Keyframe],
        opts: &SamplerOptions,
    ) -> Result<Motion> {
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
        let total = audio.len() / cfg.audio_dim;
        let overlap = opts.overlap.unwrap_or(cfg.window / 4);
        let plan = WindowPlan::new(total, cfg.window, overlap)?;
        let style_row = self.style_row(style)?;
        let (known_mask, known) = self.keyframe_rows(keyframes, total)?;
        let terms = guidance_terms(style, opts);
        let g = terms.len();
        let conditions: Vec<Conditions> = terms.iter().map(|(c, _)| *c).collect();
        let (c, f, l) = (cfg.motion_dim(), cfg.audio_dim, plan.len);
        let chunks: Vec<&[usize]> = plan.starts.chunks(opts.windows_per_batch.max(1)).collect();
        // Memory keys and values per batch of windows, computed once when they fit.
        let kv_bytes = plan.starts.len()
            * cfg.num_layers
            * 2
            * (l + 2)
            * cfg.hidden_size
            * std::mem::size_of::<f32>();
        let memory_of = |starts: &[usize]| -> Result<Vec<crate::attention::KeyValues>> {
            let rows: Vec<f32> = starts
                .iter()
                .flat_map(|&s| audio[s * f..(s + l) * f].iter().copied())
                .collect();
            let a = Tensor::from_vec(rows, (starts.len(), l, f), &device)?;
            let style_t = match &style_row {
                Some((_, v)) => {
                    Some(Tensor::from_slice(v, (1, v.len()), &device)?.repeat((starts.len(), 1))?)
                }
                None => None,
            };
            let input = match (&style_row, &style_t) {
                (Some((true, _)), Some(t)) => StyleInput::Text(t),
                (Some((false, _)), Some(t)) => StyleInput::Image(t),
                _ => StyleInput::None,
            };
            let memory = self.denoiser.memory(&a, input)?;
            Ok(self.denoiser.memory_key_values(&memory)?)
        };
        let cached: Option<Vec<Vec<crate::attention::KeyValues>>> = if kv_bytes <= KV_CACHE_BYTES {
            Some(
                chunks
                    .iter()
                    .map(|ch| memory_of(ch))
                    .collect::<Result<_>>()?,
            )
        } else {
            None
        };
        let bias_of = |windows: usize| -> Result<Tensor> {
            let per_branch: Vec<Conditions> = conditions
                .iter()
                .flat_map(|c| std::iter::repeat_n(*c, windows))
                .collect();
            Ok(cross_attention_bias(
                l,
                &per_branch,
                cfg.audio_radius,
                &device,
            )?)
        };
        let full_bias = bias_of(chunks[0].len())?;
        let weights: Vec<f32> = terms.iter().map(|(_, w)| *w as f32).collect();

        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut normal = |len: usize| -> Vec<f32> {
            (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
        };
        let taus = ddim_timesteps(opts.steps, cfg.diffusion_steps);
        let mut x = normal(total * c);
        let noised_known = |x: &mut [f32], ab: f64, eps: &[f32]| {
            for i in 0..x.len() {
                if known_mask[i] > 0.0 {
                    x[i] = (ab.sqrt() * known[i] as f64 + (1.0 - ab).sqrt() * eps[i] as f64) as f32;
                }
            }
        };
        if keyframes.iter().any(|_| true) {
            let eps = normal(total * c);
            noised_known(&mut x, self.schedule.alpha_bar(Some(taus[0])), &eps);
        }
        let mut x0 = vec![0f32; total * c];
        for (step, &t) in taus.iter().enumerate() {
            let mut acc = vec![0f32; total * c];
            let mut norm = vec![0f32; total];
            for (k, starts) in chunks.iter().enumerate() {
                let wc = starts.len();
                let rows: Vec<f32> = (0..g)
                    .flat_map(|_| starts.iter())
                    .flat_map(|&s| x[s * c..(s + l) * c].iter().copied())
                    .collect();
                let batch = Tensor::from_vec(rows, (g * wc, l, c), &device)?;
                let recomputed;
                let kv = match &cached {
                    Some(all) => &all[k],
                    None => {
                        recomputed = memory_of(starts)?;
                        &recomputed
                    }
                };
                let bias = if wc == chunks[0].len() {
                    full_bias.clone()
                } else {
                    bias_of(wc)?
                };
                let pred = self
                    .denoiser
                    .forward(&batch, &[t as u32], kv, &bias, None)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let per_window = l * c;
                for (j, &s) in starts.iter().enumerate() {
                    let blend =
                        &plan.weights[plan.starts.iter().position(|&x| x == s).unwrap_or(0)];
                    for p in 0..l {
                        let wgt = blend[p];
                        norm[s + p] += wgt;
                        for ch in 0..c {
                            let mut v = 0f32;
                            for (b, w) in weights.iter().enumerate() {
                                v += w * pred[(b * wc + j) * per_window + p * c + ch];
                            }
                            acc[(s + p) * c + ch] += wgt * v;
                        }
                    }
                }
            }
            for i in 0..total {
                for ch in 0..c {
                    let m = known_mask[i * c + ch];
                    let v = acc[i * c + ch] / norm[i];
                    x0[i * c + ch] = m * known[i * c + ch] + (1.0 - m) * v;
                }
            }
            let Some(&t_prev) = taus.get(step + 1) else {
                break;
            };
            let ab = self.schedule.alpha_bar(Some(t));
            let ab_prev = self.schedule.alpha_bar(Some(t_prev));
            let sigma =
                opts.eta * ((1.0 - ab_prev) / (1.0 - ab)).sqrt() * (1.0 - ab / ab_prev).sqrt();
            let dir = (1.0 - ab_prev - sigma * sigma).max(0.0).sqrt();
            let fresh = if sigma > 0.0 {
                normal(total * c)
            } else {
                Vec::new()
            };
            for i in 0..x.len() {
                let eps = (x[i] as f64 - ab.sqrt() * x0[i] as f64) / (1.0 - ab).sqrt();
                let mut v = ab_prev.sqrt() * x0[i] as f64 + dir * eps;
                if sigma > 0.0 {
                    v += sigma * fresh[i] as f64;
                }
                x[i] = v as f32;
            }
            if !keyframes.is_empty() {
                let eps = normal(total * c);
                noised_known(&mut x, ab_prev, &eps);
            }
        }
        self.config.motion_stats.denormalise(&mut x0);
        Ok(Motion {
            fps: cfg.fps,
            latent_dim: cfg.latent_dim,
            pose_dim: cfg.pose_dim,
            data: x0,
        })
    }

    /// The style prompt checked against the model: (is text, values), or `None`.
    fn style_row<'s>(&self, style: &'s Style) -> Result<Option<(bool, &'s [f32])>> {
        let cfg = self.denoiser.config();
        let (what, v, dim, is_text) = match style {
            Style::None => return Ok(None),
            Style::Text(v) => ("text style", v, cfg.text_style_dim, true),
            Style::Image(v) => ("image style", v, cfg.image_style_dim, false),
        };
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
        if v.iter().any(|x| !x.is_finite()) {
            return Err(DiffusionError::invalid(what, "holds a non-finite value"));
        }
        Ok(Some((is_text, v)))
    }

    /// The keyframes as a per-value mask and normalised values, both [total, Z + 6].
    fn keyframe_rows(&self, keyframes: &[Keyframe], total: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let cfg = self.denoiser.config();
        let c = cfg.motion_dim();
        let mut mask = vec![0f32; total * c];
        let mut values = vec![0f32; total * c];
        let stats = &self.config.motion_stats;
        for k in keyframes {
            if k.frame >= total {
                return Err(DiffusionError::invalid(
                    format!("keyframe at frame {}", k.frame),
                    format!("the clip has {total} frames (0 to {})", total - 1),
                ));
            }
            let parts = [
                ("latent", &k.latent, 0, cfg.latent_dim),
                ("pose", &k.pose, cfg.latent_dim, cfg.pose_dim),
            ];
            for (what, part, offset, dim) in parts {
                let Some(v) = part else { continue };
                if v.len() != dim || v.iter().any(|x| !x.is_finite()) {
                    return Err(DiffusionError::invalid(
                        format!("keyframe at frame {}: {what}", k.frame),
                        format!("{} values, expected {dim} finite ones", v.len()),
                    ));
                }
                for (j, x) in v.iter().enumerate() {
                    let ch = offset + j;
                    mask[k.frame * c + ch] = 1.0;
                    values[k.frame * c + ch] = (x - stats.mean[ch]) / stats.std[ch];
                }
            }
        }
        Ok((mask, values))
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
