//! Training the denoiser (`m2f train diffusion`): windows from a [`WindowSource`], a random
//! diffusion step and noise per window, the style drawn per window from its text label or
//! an image latent, random hiding of the style and of audio + style (so one network gives
//! all three guidance terms), and the losses of [`crate::losses`], through the shared loop
//! of `m2f-train` (AdamW, warm-up + cosine, clipping, EMA, validation, exact resume).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use m2f_train::{named_vars, run, Schedule, StepLoss, Trainee};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{save_checkpoint, CheckpointConfig, Provenance, FORMAT, FORMAT_VERSION};
use crate::conditioning_mask::{padded_cross_attention_bias, padding_bias, Conditions};
use crate::config::{DenoiserConfig, Objective};
use crate::denoiser::{Denoiser, StyleInput};
use crate::error::{DiffusionError, Result};
use crate::joint_audio::{JointAudioEncoder, JointAudioEncoderBuilder, AUDIO_ENCODER_PREFIX};
use crate::loss::{losses, LossWeights};
use crate::noise_schedule::NoiseSchedule;
use crate::warm_start::{warm_start, WarmStart};
use crate::windows::{TrainingWindows, WindowSource};

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffusionTrainOptions {
    /// Optimiser steps of the whole run.
    pub steps: u64,
    /// Windows per step.
    pub batch_size: usize,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm limit (0: none).
    pub grad_clip: f64,
    /// Decay of the EMA weights that are validated and saved (`None`: no EMA).
    pub ema_decay: Option<f64>,
    /// Validate and checkpoint every this many steps.
    pub val_every: u64,
    /// Write a log line every this many steps.
    pub log_every: u64,
    /// Seed of the initialisation, diffusion steps, noise, masking and style draws.
    pub seed: u64,
    /// The loss weights.
    pub loss: LossWeights,
    /// Probability that a window's style is hidden (audio kept): trains G(X_t, A).
    pub style_drop: f64,
    /// Probability that a window's audio and style are both hidden: trains G(X_t).
    pub condition_drop: f64,
    /// Probability that a window's style comes from its image latent rather than its text
    /// label (when the denoiser takes both).
    pub image_style_fraction: f64,
    /// Share of the windows whose diffusion step is drawn from the last tenth of the
    /// schedule (pure noise and nearly so) rather than uniformly: sampling starts there, and a
    /// uniform draw gives those steps a tenth of the training.
    #[serde(default)]
    pub high_noise_fraction: f64,
    /// Output directory: `last/`, `best/`, `train_log.jsonl`, `resume.safetensors`.
    pub out: PathBuf,
    /// Continue the run in `out` when there is one.
    pub resume: bool,
    /// End this sitting after this step (resumable).
    pub stop_after: Option<u64>,
    /// Show a progress line.
    pub progress: bool,
    /// The command line, for provenance.
    pub command: String,
    /// The sentence encoder that made the text-style embeddings, recorded in the checkpoint.
    pub text_encoder: Option<String>,
    /// Start from this checkpoint's weights instead of a seeded initialisation (fine-tuning,
    /// or a denoiser started from the regression baseline): it must hold a network of this
    /// run's architecture (the objective may differ) on the same audio features. Read only
    /// when the run starts; a resume continues from its own state.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

impl Default for DiffusionTrainOptions {
    fn default() -> Self {
        Self {
            steps: 20_000,
            batch_size: 16,
            lr: 2e-4,
            min_lr: 1e-5,
            warmup_steps: 500,
            weight_decay: 0.01,
            grad_clip: 1.0,
            ema_decay: Some(0.999),
            val_every: 500,
            log_every: 50,
            seed: 0,
            loss: LossWeights::default(),
            style_drop: 0.1,
            condition_drop: 0.1,
            image_style_fraction: 0.3,
            high_noise_fraction: 0.0,
            out: PathBuf::from("runs/diffusion"),
            resume: true,
            stop_after: None,
            progress: true,
            command: String::new(),
            text_encoder: None,
            init_from: None,
        }
    }
}

impl DiffusionTrainOptions {
    /// Checks the options; the error names the option.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [
            ("style_drop", self.style_drop),
            ("condition_drop", self.condition_drop),
            ("image_style_fraction", self.image_style_fraction),
            ("high_noise_fraction", self.high_noise_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(DiffusionError::invalid(
                    name,
                    format!("{p} is not a probability"),
                ));
            }
        }
        if self.style_drop + self.condition_drop > 1.0 {
            return Err(DiffusionError::invalid(
                "style_drop + condition_drop",
                "more than 1",
            ));
        }
        if self.batch_size == 0 || self.steps == 0 {
            return Err(DiffusionError::invalid(
                "training options",
                "steps and batch size must be positive",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(DiffusionError::invalid("lr", format!("{}", self.lr)));
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffusionTrainReport {
    /// The step this sitting started at.
    pub start_step: u64,
    /// The step it ended at.
    pub final_step: u64,
    /// Wall time of this sitting.
    pub seconds: f64,
    /// Best validation loss of the run.
    pub best_val_loss: Option<f64>,
    /// The total loss of the last logged step.
    pub last_loss: f64,
}

/// The random choices of one training step, drawn from (seed, step).
struct StepDraws {
    timesteps: Vec<u32>,
    noise: Vec<f32>,
    conditions: Vec<Conditions>,
    is_text: Vec<f32>,
}

fn draw(
    cfg: &DenoiserConfig,
    opts: &DiffusionTrainOptions,
    rng: &mut ChaCha8Rng,
    batch: usize,
    frames: usize,
) -> StepDraws {
    let t_max = cfg.diffusion_steps as u32;
    let regression = cfg.objective == Objective::Regression;
    // The regression baseline always sees the last step (its input is then the mean of
    // pure noise) and every condition: it has one prediction, not three.
    // The last tenth of the schedule, for the windows drawn there.
    let high = t_max - (t_max / 10).max(1);
    let timesteps = (0..batch)
        .map(|_| match regression {
            true => t_max - 1,
            // Drawn as before when unused, so that runs without it stay as they were.
            false if opts.high_noise_fraction == 0.0 => rng.random_range(0..t_max),
            false => match rng.random::<f64>() < opts.high_noise_fraction {
                true => rng.random_range(high..t_max),
                false => rng.random_range(0..t_max),
            },
        })
        .collect();
    let noise = (0..batch * frames * cfg.motion_dim())
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let conditions = (0..batch)
        .map(|_| {
            let u: f64 = rng.random();
            if regression {
                Conditions::AUDIO_STYLE
            } else if u < opts.condition_drop {
                Conditions::NONE
            } else if u < opts.condition_drop + opts.style_drop {
                Conditions::AUDIO
            } else {
                Conditions::AUDIO_STYLE
            }
        })
        .collect();
    let is_text = (0..batch)
        .map(|_| {
            let text = match (cfg.text_style_dim > 0, cfg.image_style_dim > 0) {
                (true, true) => rng.random::<f64>() >= opts.image_style_fraction,
                (t, _) => t,
            };
            if text {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    StepDraws {
        timesteps,
        noise,
        conditions,
        is_text,
    }
}

/// The loss terms of `windows` under the random choices `draws`; `audio_encoder` turns the
/// windows' samples into features when it trains with the denoiser.
pub(crate) fn window_losses(
    model: &Denoiser,
    audio_encoder: Option<&dyn JointAudioEncoder>,
    schedule: &NoiseSchedule,
    windows: &TrainingWindows,
    draws_rng: &mut ChaCha8Rng,
    opts: &DiffusionTrainOptions,
    device: &Device,
) -> Result<crate::loss::Losses> {
    let cfg = model.config();
    let (b, n) = (windows.batch, windows.frames);
    match (audio_encoder.is_some(), windows.audio_samples > 0) {
        (true, false) => {
            return Err(DiffusionError::invalid(
                "training windows: audio",
                "features, but the audio encoder trains with the denoiser and needs samples",
            ))
        }
        (false, true) => {
            return Err(DiffusionError::invalid(
                "training windows: audio",
                "samples, but no audio encoder trains with the denoiser",
            ))
        }
        _ => {}
    }
    let mut w = windows.to_tensors(cfg, device)?;
    if let Some(encoder) = audio_encoder {
        w.audio = encoder.forward(&windows.audio, b, n, cfg.fps as f64)?;
    }
    let d = draw(cfg, opts, draws_rng, b, n);
    let coef = |f: &dyn Fn(f64) -> f64| -> Result<Tensor> {
        let v: Vec<f32> = d
            .timesteps
            .iter()
            .map(|&t| f(schedule.alpha_bar(Some(t as usize))) as f32)
            .collect();
        Ok(Tensor::from_vec(v, (b, 1, 1), device)?)
    };
    let signal = coef(&|a| a.sqrt())?;
    let noise_scale = coef(&|a| (1.0 - a).sqrt())?;
    let noise = Tensor::from_vec(d.noise, (b, n, cfg.motion_dim()), device)?;
    let x_t = match cfg.objective {
        Objective::Diffusion => {
            (w.motion.broadcast_mul(&signal)? + noise.broadcast_mul(&noise_scale)?)?
        }
        Objective::Regression => w.motion.zeros_like()?,
    };
    let is_text = Tensor::from_vec(d.is_text, b, device)?;
    let style = match (&w.text_style, &w.image_style) {
        (Some(text), Some(image)) => StyleInput::Mixed {
            text,
            image,
            is_text: &is_text,
        },
        (Some(text), None) => StyleInput::Text(text),
        (None, Some(image)) => StyleInput::Image(image),
        (None, None) => StyleInput::None,
    };
    let memory = model.memory(&w.audio, style)?;
    let kv = model.memory_key_values(&memory)?;
    let cross = padded_cross_attention_bias(
        n,
        &d.conditions,
        cfg.audio_radius,
        Some(&windows.mask),
        device,
    )?;
    let pad = padding_bias(&windows.mask, b, n, device)?;
    let predicted = model.forward(&x_t, &d.timesteps, &kv, &cross, pad.as_ref())?;
    Ok(losses(&predicted, &w.motion, &w.mask, opts.loss)?)
}

/// The denoiser as a [`Trainee`].
struct DiffusionRun<'a> {
    model: Denoiser,
    audio_encoder: Option<Box<dyn JointAudioEncoder>>,
    varmap: VarMap,
    schedule: NoiseSchedule,
    source: &'a mut dyn WindowSource,
    validation: Vec<TrainingWindows>,
    opts: &'a DiffusionTrainOptions,
    config: CheckpointConfig,
    warm_start: Option<WarmStart>,
    device: Device,
}

/// Seeds of the step draws and of validation, apart from the source's own.
const STEP_STREAM: u64 = 0x5eed_d1ff;
const VAL_STREAM: u64 = 0x5eed_0a11;

impl Trainee for DiffusionRun<'_> {
    type Error = DiffusionError;

    fn loss(&mut self, step: u64) -> Result<StepLoss> {
        let cfg = self.model.config();
        let windows = self
            .source
            .train_batch(step, self.opts.batch_size, cfg.window)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed ^ STEP_STREAM);
        rng.set_stream(step);
        let l = window_losses(
            &self.model,
            self.audio_encoder.as_deref(),
            &self.schedule,
            &windows,
            &mut rng,
            self.opts,
            &self.device,
        )?;
        Ok(StepLoss {
            total: l.total,
            terms: vec![
                ("simple", l.simple),
                ("velocity", l.velocity),
                ("smoothness", l.smoothness),
            ],
        })
    }

    fn validate(&mut self, _step: u64) -> Result<Option<(f64, serde_json::Value)>> {
        if self.validation.is_empty() {
            return Ok(None);
        }
        // Fixed draws (the same every validation), all conditions on, no style drop.
        let opts = DiffusionTrainOptions {
            style_drop: 0.0,
            condition_drop: 0.0,
            high_noise_fraction: 0.0,
            ..self.opts.clone()
        };
        let (mut simple, mut velocity, mut count) = (0.0, 0.0, 0.0);
        for (i, windows) in self.validation.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed ^ VAL_STREAM);
            rng.set_stream(i as u64);
            let l = window_losses(
                &self.model,
                self.audio_encoder.as_deref(),
                &self.schedule,
                windows,
                &mut rng,
                &opts,
                &self.device,
            )?;
            let w = windows.batch as f64;
            simple += l.simple.to_scalar::<f32>()? as f64 * w;
            velocity += l.velocity.to_scalar::<f32>()? as f64 * w;
            count += w;
        }
        let (simple, velocity) = (simple / count, velocity / count);
        Ok(Some((
            simple + velocity,
            serde_json::json!({ "simple": simple, "velocity": velocity, "windows": count }),
        )))
    }

    fn save(&self, dir: &Path, step: u64, seconds: f64, score: Option<f64>) -> Result<()> {
        let mut config = self.config.clone();
        config.provenance.step = step;
        config.provenance.train_seconds = seconds;
        config.provenance.val_loss = score;
        save_checkpoint(dir, &config, &self.varmap)
    }

    fn identity(&self) -> serde_json::Value {
        let mut identity = serde_json::json!({
            "model": self.model.config(),
            "audio_encoder": self.config.audio_encoder,
            "data": self.config.provenance.data,
            "seed": self.opts.seed,
            "batch_size": self.opts.batch_size,
            "loss": self.opts.loss,
            "masking": [self.opts.style_drop, self.opts.condition_drop, self.opts.image_style_fraction],
        });
        // Only present when used, so that runs started before these options existed resume.
        if self.opts.high_noise_fraction > 0.0 {
            identity["high_noise_fraction"] = serde_json::json!(self.opts.high_noise_fraction);
        }
        if let Some(w) = &self.warm_start {
            identity["init_from"] =
                serde_json::json!({ "weights_sha256": w.weights_sha256, "step": w.step });
        }
        identity
    }

    fn message(&self, terms: &serde_json::Map<String, serde_json::Value>) -> String {
        let get = |k: &str| terms.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        format!(
            "simple {:.4}, velocity {:.4}",
            get("simple"),
            get("velocity")
        )
    }
}

/// A fresh denoiser with its variables in a new `VarMap`, initialised from `seed`.
pub fn init_denoiser(
    cfg: &DenoiserConfig,
    device: &Device,
    seed: u64,
) -> Result<(Denoiser, VarMap)> {
    cfg.validate("denoiser config")?;
    let varmap = VarMap::new();
    let model = Denoiser::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    m2f_train::init_linear_uniform(&varmap, seed)?;
    Ok((model, varmap))
}

/// Trains a denoiser of architecture `cfg` on `source`'s precomputed audio features, writing
/// checkpoints under `opts.out`.
pub fn train(
    cfg: &DenoiserConfig,
    source: &mut dyn WindowSource,
    opts: &DiffusionTrainOptions,
    device: &Device,
) -> Result<(Denoiser, VarMap, DiffusionTrainReport)> {
    train_inner(cfg, None, source, opts, device)
}

/// Trains a denoiser of architecture `cfg` together with the audio encoder `build` makes
/// (its variables under `audio_encoder.`), on `source`'s audio samples.
///
/// # Errors
/// As [`train`]; [`DiffusionError::Invalid`] when the encoder's feature width is not the
/// denoiser's `audio_dim`, or the source gives features rather than samples.
pub fn train_with_audio_encoder(
    cfg: &DenoiserConfig,
    build: JointAudioEncoderBuilder,
    source: &mut dyn WindowSource,
    opts: &DiffusionTrainOptions,
    device: &Device,
) -> Result<(Denoiser, VarMap, DiffusionTrainReport)> {
    train_inner(cfg, Some(build), source, opts, device)
}

fn train_inner(
    cfg: &DenoiserConfig,
    build: Option<JointAudioEncoderBuilder>,
    source: &mut dyn WindowSource,
    opts: &DiffusionTrainOptions,
    device: &Device,
) -> Result<(Denoiser, VarMap, DiffusionTrainReport)> {
    opts.validate()?;
    cfg.validate("denoiser config")?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Denoiser::new(cfg, vb.clone())?;
    let audio_encoder = match build {
        None => None,
        Some(build) => {
            let encoder = build(vb.pp(AUDIO_ENCODER_PREFIX))?;
            if encoder.feature_dim() != cfg.audio_dim {
                return Err(DiffusionError::invalid(
                    "audio encoder",
                    format!(
                        "features of width {}, the denoiser's audio_dim is {}",
                        encoder.feature_dim(),
                        cfg.audio_dim
                    ),
                ));
            }
            Some(encoder)
        }
    };
    m2f_train::init_linear_uniform(&varmap, opts.seed)?;
    let audio_encoder_config = audio_encoder.as_ref().map(|e| e.config());
    let warm_start = match &opts.init_from {
        Some(dir) => Some(warm_start(
            dir,
            cfg,
            &source.audio_features_key(),
            audio_encoder_config.as_ref(),
            &varmap,
        )?),
        None => None,
    };
    let stats = source.stats();
    stats.validate(cfg.motion_dim())?;
    let validation = source.validation(cfg.window)?;
    for v in &validation {
        v.validate(cfg)?;
    }
    let config = CheckpointConfig {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        model: cfg.clone(),
        motion_stats: stats,
        audio_features: source.audio_features(),
        audio_features_key: source.audio_features_key(),
        audio_encoder: audio_encoder_config,
        text_encoder: (cfg.text_style_dim > 0)
            .then(|| opts.text_encoder.clone())
            .flatten(),
        provenance: Provenance {
            created_by: format!("diffusion {}", env!("CARGO_PKG_VERSION")),
            command: opts.command.clone(),
            seed: opts.seed,
            total_steps: opts.steps,
            batch_size: opts.batch_size,
            data: source.describe(),
            ema: opts.ema_decay.is_some(),
            init_weights_sha256: warm_start.as_ref().map(|w| w.weights_sha256.clone()),
            ..Provenance::default()
        },
    };
    let vars = named_vars(&varmap)?;
    let mut trainee = DiffusionRun {
        schedule: NoiseSchedule::new(cfg.noise_schedule, cfg.diffusion_steps),
        model,
        audio_encoder,
        varmap,
        source,
        validation,
        opts,
        config,
        warm_start,
        device: device.clone(),
    };
    let schedule = Schedule {
        steps: opts.steps,
        lr: opts.lr,
        min_lr: opts.min_lr,
        warmup_steps: opts.warmup_steps,
        weight_decay: opts.weight_decay,
        grad_clip: opts.grad_clip,
        ema_decay: opts.ema_decay,
        log_every: opts.log_every,
        val_every: opts.val_every,
        samples_per_step: opts.batch_size,
        out: opts.out.clone(),
        resume: opts.resume,
        progress: opts.progress,
        score_key: "val_loss",
        stop_after: opts.stop_after,
    };
    let r = run(&mut trainee, &vars, &schedule)?;
    let report = DiffusionTrainReport {
        start_step: r.start_step,
        final_step: r.final_step,
        seconds: r.seconds,
        best_val_loss: r.best_val_score,
        last_loss: r.last_loss,
    };
    Ok((trainee.model, trainee.varmap, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps_drawn(high_noise_fraction: f64) -> Vec<u32> {
        let cfg = DenoiserConfig {
            diffusion_steps: 500,
            ..DenoiserConfig::small(8)
        };
        let opts = DiffusionTrainOptions {
            high_noise_fraction,
            ..DiffusionTrainOptions::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        draw(&cfg, &opts, &mut rng, 2000, 1).timesteps
    }

    #[test]
    fn a_high_noise_share_draws_that_share_from_the_last_tenth() {
        let uniform = steps_drawn(0.0);
        // Unused, the draw is the plain uniform one (old runs resume unchanged).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let plain: Vec<u32> = (0..2000).map(|_| rng.random_range(0..500)).collect();
        assert_eq!(uniform, plain);
        let share = |t: &[u32]| t.iter().filter(|&&t| t >= 450).count() as f64 / t.len() as f64;
        assert!((share(&uniform) - 0.1).abs() < 0.03, "{}", share(&uniform));
        // Half drawn from the last tenth, half uniformly: 0.5 + 0.5 × 0.1.
        let half = steps_drawn(0.5);
        assert!((share(&half) - 0.55).abs() < 0.04, "{}", share(&half));
        assert!(half.iter().all(|&t| t < 500));
        assert!(steps_drawn(1.0).iter().all(|&t| (450..500).contains(&t)));
        let bad = DiffusionTrainOptions {
            high_noise_fraction: 1.5,
            ..DiffusionTrainOptions::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("high_noise_fraction"));
    }
}
