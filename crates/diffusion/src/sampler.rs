//! Guided DDIM sampling (Song et al.) of the denoiser: any number of steps, η for
//! stochasticity, the three-term classifier-free guidance of Media2Face Eq. 9
//! (X̂⁰ = (1 − s_A − s_P)·G(X_t) + s_A·G(X_t, A) + s_P·G(X_t, A, P)) with the terms run as
//! one batch, and the memory's keys and values computed once per sampling.

use std::collections::HashMap;

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::attention::KeyValues;
use crate::checkpoint::DiffusionModel;
use crate::conditioning_mask::{cross_attention_bias, Conditions};
use crate::config::Objective;
use crate::denoiser::StyleInput;
use crate::error::{DiffusionError, Result};
use crate::style_track::{style_masks, StyleSpan};
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
    /// Frames over which one style prompt fades into the next (`sample_styled`).
    pub style_ramp: usize,
    /// Frames on each side of a keyframe over which its edit fades out.
    pub keyframe_radius: usize,
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
            style_ramp: 15,
            keyframe_radius: 10,
        }
    }
}

/// A style prompt as the denoiser takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// No prompt: the style term of the guidance is dropped.
    None,
    /// A sentence embedding of a text prompt `[text_style_dim]`.
    Text(Vec<f32>),
    /// A face image's GNPFA expression latent `[image_style_dim]`.
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

/// A frame whose expression latent and/or head pose is fixed (an edit): the sampler
/// inpaints the rest around it, RePaint-style: at every step the known part of X_t is the
/// keyframe noised to that step, and the prediction X̂⁰ takes the edit with a gradient mask
/// over `keyframe_radius` frames on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyframe {
    /// The frame (0-based).
    pub frame: usize,
    /// z at that frame, e.g. GNPFA's `E_exp` latent of a face image `[latent_dim]`.
    pub latent: Option<Vec<f32>>,
    /// θ at that frame `[pose_dim]`.
    pub pose: Option<Vec<f32>>,
}

/// Puts the keyframes into the prediction X̂⁰ [total, C]: each known value's difference from
/// the prediction at its frame is added to the frames within `radius` with a raised-cosine
/// weight (differences of neighbouring keyframes averaged by their weights), then the known
/// values are set exactly. The edit so reaches the next step's X_t as a smooth change that
/// the network carries on, rather than a one-frame jump.
fn blend_keyframes(x0: &mut [f32], mask: &[f32], known: &[f32], c: usize, radius: usize) {
    if !mask.iter().any(|&m| m > 0.0) {
        return;
    }
    let total = x0.len() / c;
    let radius = radius.min(total);
    let mut num = vec![0f32; x0.len()];
    let mut den = vec![0f32; x0.len()];
    for f in 0..total {
        for ch in 0..c {
            if mask[f * c + ch] <= 0.0 {
                continue;
            }
            let delta = known[f * c + ch] - x0[f * c + ch];
            let (lo, hi) = (f.saturating_sub(radius), (f + radius).min(total - 1));
            for i in lo..=hi {
                let d = i.abs_diff(f) as f32 / (radius + 1) as f32;
                let w = 0.5 * (1.0 + (std::f32::consts::PI * d).cos());
                num[i * c + ch] += w * delta;
                den[i * c + ch] += w;
            }
        }
    }
    for i in 0..x0.len() {
        if mask[i] > 0.0 {
            x0[i] = known[i];
        } else if den[i] > 0.0 {
            x0[i] += num[i] / den[i].max(1.0);
        }
    }
}

/// Predictions that share a memory layout: each entry is a window and the prompt whose style
/// token its memory holds; every entry gets every branch (query row `branch · entries + e`).
struct Group {
    entries: Vec<(usize, Option<usize>)>,
    branches: Vec<Conditions>,
}

/// Cross-attention keys and values of every window are kept across steps while they take at
/// most this many bytes; beyond (very long audio) each batch recomputes its own, so memory
/// does not grow with length.
const KV_CACHE_BYTES: usize = 64 << 20;

impl DiffusionModel {
    /// Samples motion for `audio` [frames, audio_dim] (one feature vector per animation
    /// frame, any length) in the style `style`.
    ///
    /// # Errors
    /// As [`DiffusionModel::sample_styled`].
    pub fn sample(&self, audio: &[f32], style: &Style, opts: &SamplerOptions) -> Result<Motion> {
        self.sample_edited(audio, style, &[], opts)
    }

    /// [`DiffusionModel::sample`] with the frames of `keyframes` fixed.
    ///
    /// # Errors
    /// As [`DiffusionModel::sample_styled`].
    pub fn sample_edited(
        &self,
        audio: &[f32],
        style: &Style,
        keyframes: &[Keyframe],
        opts: &SamplerOptions,
    ) -> Result<Motion> {
        let frames = audio.len() / self.denoiser.config().audio_dim.max(1);
        let spans = match style {
            Style::None => Vec::new(),
            s => vec![StyleSpan {
                style: s.clone(),
                frames: 0..frames.max(1),
            }],
        };
        self.sample_styled(audio, &spans, keyframes, opts)
    }

    /// Samples motion for `audio` [frames, audio_dim] of any length with a style that changes
    /// over time (`styles`: prompts over frame ranges, cross-faded over `opts.style_ramp`
    /// frames; frames no prompt covers get no style term) and the frames of `keyframes`
    /// fixed.
    ///
    /// Audio longer than a window is cut into windows overlapping by `opts.overlap` frames,
    /// denoised together (in batches of at most `opts.windows_per_batch` windows) and blended
    /// in the overlaps at every step. With one prompt, the guidance terms of a window run as
    /// one batch over one copy of its memory; with several, the style term runs once per
    /// prompt that reaches the window.
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] naming the input for audio of the wrong width, a style of
    /// the wrong width or of a kind the model does not take, a style span or keyframe
    /// outside the clip or of the wrong width, or options out of range.
    pub fn sample_styled(
        &self,
        audio: &[f32],
        styles: &[StyleSpan],
        keyframes: &[Keyframe],
        opts: &SamplerOptions,
    ) -> Result<Motion> {
        self.sample_with_progress(audio, styles, keyframes, opts, &mut |_, _| {})
    }

    /// [`DiffusionModel::sample_styled`] that calls `progress(done, total)` as it goes:
    /// `done` of its `total` = `opts.steps` denoising steps finished (for a progress bar on
    /// long audio).
    ///
    /// # Errors
    /// As [`DiffusionModel::sample_styled`].
    pub fn sample_with_progress(
        &self,
        audio: &[f32],
        styles: &[StyleSpan],
        keyframes: &[Keyframe],
        opts: &SamplerOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Motion> {
        let cfg = self.denoiser.config();
        let device = self.device().clone();
        opts.validate(cfg.diffusion_steps)?;
        // The regression baseline predicts in one pass with every condition: one step from
        // X_t = 0, its only prediction G(X_t, A, P).
        let regression = cfg.objective == Objective::Regression;
        let one_pass = SamplerOptions {
            steps: 1,
            eta: 0.0,
            audio_guidance: 0.0,
            style_guidance: 1.0,
            ..*opts
        };
        let opts = if regression { &one_pass } else { opts };
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
        let prompts: Vec<(bool, &[f32])> = styles
            .iter()
            .map(|s| self.style_row(&s.style))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|p| {
                p.ok_or_else(|| {
                    DiffusionError::invalid(
                        "style span",
                        "Style::None in a span (leave the frames uncovered instead)",
                    )
                })
            })
            .collect::<Result<_>>()?;
        let masks = style_masks(styles, total, opts.style_ramp)?;
        let (known_mask, known) = self.keyframe_rows(keyframes, total)?;
        let (c, f, l) = (cfg.motion_dim(), cfg.audio_dim, plan.len);
        let (s_a, s_p) = (opts.audio_guidance as f32, opts.style_guidance as f32);
        let cover: Vec<f32> = (0..total)
            .map(|i| masks.iter().map(|m| m[i]).sum())
            .collect();
        if regression && cover.iter().any(|&w| (w - 1.0).abs() > 1e-6) {
            return Err(DiffusionError::invalid(
                "style spans",
                "a regression model was trained with a style on every frame: give prompts that cover the whole clip",
            ));
        }

        // Each batch of windows runs its predictions in groups that share a memory layout:
        // entries (window, prompt) and the branches every entry gets.
        let per_batch = opts.windows_per_batch.max(1);
        let batches: Vec<Vec<usize>> = (0..plan.starts.len())
            .collect::<Vec<_>>()
            .chunks(per_batch)
            .map(|c| c.to_vec())
            .collect();
        let reaches = |k: usize, w: usize| {
            let s = plan.starts[w];
            masks[k][s..s + l].iter().any(|&m| m > 0.0)
        };
        let none_needed = (0..total).any(|i| 1.0 - s_a - s_p * cover[i] != 0.0);
        let groups_of = |windows: &[usize]| -> Vec<Group> {
            let mut plain = Vec::new();
            if none_needed {
                plain.push(Conditions::NONE);
            }
            if s_a != 0.0 {
                plain.push(Conditions::AUDIO);
            }
            let single = prompts.len() == 1;
            let mut groups = Vec::new();
            if single && s_p != 0.0 {
                let mut branches = plain;
                branches.push(Conditions::AUDIO_STYLE);
                groups.push(Group {
                    entries: windows.iter().map(|&w| (w, Some(0))).collect(),
                    branches,
                });
                return groups;
            }
            if !plain.is_empty() {
                groups.push(Group {
                    entries: windows.iter().map(|&w| (w, None)).collect(),
                    branches: plain,
                });
            }
            if s_p != 0.0 {
                let entries: Vec<(usize, Option<usize>)> = windows
                    .iter()
                    .flat_map(|&w| {
                        (0..prompts.len())
                            .filter(move |&k| reaches(k, w))
                            .map(move |k| (w, Some(k)))
                    })
                    .collect();
                if !entries.is_empty() {
                    groups.push(Group {
                        entries,
                        branches: vec![Conditions::AUDIO_STYLE],
                    });
                }
            }
            groups
        };
        let plans: Vec<Vec<Group>> = batches.iter().map(|b| groups_of(b)).collect();
        // What each prediction sees does not change across steps: one bias per group shape,
        // built once (groups of the same branches and size share it).
        let mut bias_by_shape: HashMap<(Vec<Conditions>, usize), Tensor> = HashMap::new();
        let biases: Vec<Vec<Tensor>> = plans
            .iter()
            .map(|groups| {
                groups
                    .iter()
                    .map(|g| {
                        let key = (g.branches.clone(), g.entries.len());
                        if let Some(t) = bias_by_shape.get(&key) {
                            return Ok(t.clone());
                        }
                        let conds: Vec<Conditions> = g
                            .branches
                            .iter()
                            .flat_map(|c| std::iter::repeat_n(*c, g.entries.len()))
                            .collect();
                        let t = cross_attention_bias(l, &conds, cfg.audio_radius, &device)?;
                        bias_by_shape.insert(key, t.clone());
                        Ok(t)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let memory_of = |entries: &[(usize, Option<usize>)]| -> Result<Vec<KeyValues>> {
            let rows: Vec<f32> = entries
                .iter()
                .flat_map(|&(w, _)| {
                    let s = plan.starts[w];
                    audio[s * f..(s + l) * f].iter().copied()
                })
                .collect();
            let a = Tensor::from_vec(rows, (entries.len(), l, f), &device)?;
            let rows_of = |text: bool, dim: usize| -> Result<Tensor> {
                let v: Vec<f32> = entries
                    .iter()
                    .flat_map(|&(_, k)| match k.map(|k| prompts[k]) {
                        Some((t, v)) if t == text => v.to_vec(),
                        _ => vec![0.0; dim],
                    })
                    .collect();
                Ok(Tensor::from_vec(v, (entries.len(), dim), &device)?)
            };
            let kinds: Vec<Option<bool>> = entries
                .iter()
                .map(|&(_, k)| k.map(|k| prompts[k].0))
                .collect();
            let memory = if kinds.iter().all(|k| k.is_none()) {
                self.denoiser.memory(&a, StyleInput::None)?
            } else if kinds.iter().all(|k| *k != Some(false)) {
                self.denoiser
                    .memory(&a, StyleInput::Text(&rows_of(true, cfg.text_style_dim)?))?
            } else if kinds.iter().all(|k| *k != Some(true)) {
                self.denoiser
                    .memory(&a, StyleInput::Image(&rows_of(false, cfg.image_style_dim)?))?
            } else {
                let is_text: Vec<f32> = kinds
                    .iter()
                    .map(|k| if *k == Some(true) { 1.0 } else { 0.0 })
                    .collect();
                let is_text = Tensor::from_vec(is_text, entries.len(), &device)?;
                self.denoiser.memory(
                    &a,
                    StyleInput::Mixed {
                        text: &rows_of(true, cfg.text_style_dim)?,
                        image: &rows_of(false, cfg.image_style_dim)?,
                        is_text: &is_text,
                    },
                )?
            };
            Ok(self.denoiser.memory_key_values(&memory)?)
        };
        let entries_total: usize = plans.iter().flatten().map(|g| g.entries.len()).sum();
        let kv_bytes = entries_total * cfg.num_layers * 2 * (l + 2) * cfg.hidden_size * 4;
        let cached: Option<Vec<Vec<Vec<KeyValues>>>> = if kv_bytes <= KV_CACHE_BYTES {
            Some(
                plans
                    .iter()
                    .map(|gs| {
                        gs.iter()
                            .map(|g| memory_of(&g.entries))
                            .collect::<Result<_>>()
                    })
                    .collect::<Result<_>>()?,
            )
        } else {
            None
        };

        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut normal = |len: usize| -> Vec<f32> {
            (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
        };
        let taus = ddim_timesteps(opts.steps, cfg.diffusion_steps);
        let mut x = match regression {
            true => vec![0.0; total * c],
            false => normal(total * c),
        };
        let noised_known = |x: &mut [f32], ab: f64, eps: &[f32]| {
            for i in 0..x.len() {
                if known_mask[i] > 0.0 {
                    x[i] = (ab.sqrt() * known[i] as f64 + (1.0 - ab).sqrt() * eps[i] as f64) as f32;
                }
            }
        };
        // The regression baseline only ever saw X_t = 0: its keyframes are pinned on the
        // output alone.
        if !keyframes.is_empty() && !regression {
            let eps = normal(total * c);
            noised_known(&mut x, self.schedule.alpha_bar(Some(taus[0])), &eps);
        }
        let mut x0 = vec![0f32; total * c];
        for (step, &t) in taus.iter().enumerate() {
            progress(step, taus.len());
            let mut acc = vec![0f32; total * c];
            let mut norm = vec![0f32; total];
            for (b, groups) in plans.iter().enumerate() {
                // x̂⁰ of each window of the batch, guided: Σ over predictions of weight · G.
                let mut guided = vec![0f32; batches[b].len() * l * c];
                for (gi, group) in groups.iter().enumerate() {
                    let bm = group.entries.len();
                    let g = group.branches.len();
                    // One copy of each window's noisy motion: the branches share it.
                    let rows: Vec<f32> = group
                        .entries
                        .iter()
                        .flat_map(|&(w, _)| {
                            let s = plan.starts[w];
                            x[s * c..(s + l) * c].iter().copied()
                        })
                        .collect();
                    let input = Tensor::from_vec(rows, (bm, l, c), &device)?;
                    let recomputed;
                    let kv = match &cached {
                        Some(all) => &all[b][gi],
                        None => {
                            recomputed = memory_of(&group.entries)?;
                            &recomputed
                        }
                    };
                    let pred = self
                        .denoiser
                        .forward_branches(&input, g, &[t as u32], kv, &biases[b][gi], None)?
                        .flatten_all()?
                        .to_vec1::<f32>()?;
                    for (bi, branch) in group.branches.iter().enumerate() {
                        for (e, &(w, k)) in group.entries.iter().enumerate() {
                            // Batches are consecutive windows: w's place in its batch.
                            let j = w - batches[b][0];
                            let s = plan.starts[w];
                            let row = &pred[(bi * bm + e) * l * c..(bi * bm + e + 1) * l * c];
                            for p in 0..l {
                                let i = s + p;
                                let weight = match (*branch, k) {
                                    (Conditions::NONE, _) => 1.0 - s_a - s_p * cover[i],
                                    (Conditions::AUDIO, _) => s_a,
                                    (_, Some(k)) => s_p * masks[k][i],
                                    (_, None) => 0.0,
                                };
                                if weight == 0.0 {
                                    continue;
                                }
                                let out = &mut guided[(j * l + p) * c..(j * l + p + 1) * c];
                                for (o, v) in out.iter_mut().zip(&row[p * c..(p + 1) * c]) {
                                    *o += weight * v;
                                }
                            }
                        }
                    }
                }
                for (j, &w) in batches[b].iter().enumerate() {
                    let s = plan.starts[w];
                    for p in 0..l {
                        let blend = plan.weights[w][p];
                        norm[s + p] += blend;
                        for ch in 0..c {
                            acc[(s + p) * c + ch] += blend * guided[(j * l + p) * c + ch];
                        }
                    }
                }
            }
            for i in 0..total {
                for ch in 0..c {
                    x0[i * c + ch] = acc[i * c + ch] / norm[i];
                }
            }
            blend_keyframes(&mut x0, &known_mask, &known, c, opts.keyframe_radius);
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
        progress(taus.len(), taus.len());
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
    fn timesteps_span_the_schedule_and_options_are_checked() {
        assert_eq!(ddim_timesteps(1, 500), vec![499]);
        let t = ddim_timesteps(25, 500);
        assert_eq!((t[0], t[24], t.len()), (499, 0, 25));
        assert!(t.windows(2).all(|w| w[0] > w[1]));
        let o = SamplerOptions::default();
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
