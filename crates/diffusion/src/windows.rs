//! What the trainer reads: windows of motion, audio features and style prompts, through a
//! trait of its own, so any data source can train the denoiser (m2f-dataset's shards
//! implement it) and this crate depends on none.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::DenoiserConfig;
use crate::error::{DiffusionError, Result};

/// Per-channel mean and standard deviation of the motion [z, θ]: the windows a source gives
/// are normalised with them, and the checkpoint keeps them to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionStats {
    /// [Z + 6]
    pub mean: Vec<f32>,
    /// [Z + 6], positive.
    pub std: Vec<f32>,
}

impl MotionStats {
    /// Checks the statistics fit motion of `dim` channels.
    pub fn validate(&self, dim: usize) -> Result<()> {
        if self.mean.len() != dim || self.std.len() != dim {
            return Err(DiffusionError::invalid(
                "motion statistics",
                format!(
                    "{} means and {} deviations for motion of {dim} channels",
                    self.mean.len(),
                    self.std.len()
                ),
            ));
        }
        if let Some(i) = self.std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(DiffusionError::invalid(
                "motion statistics",
                format!("std[{i}] = {} (must be positive)", self.std[i]),
            ));
        }
        Ok(())
    }

    /// Undoes the normalisation of `motion` [.., Z + 6] in place.
    pub fn denormalise(&self, motion: &mut [f32]) {
        let d = self.mean.len();
        for row in motion.chunks_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = *x * s + m;
            }
        }
    }

    /// Normalises `motion` [.., Z + 6] in place.
    pub fn normalise(&self, motion: &mut [f32]) {
        let d = self.mean.len();
        for row in motion.chunks_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}

/// A batch of B training windows of N frames, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingWindows {
    /// B.
    pub batch: usize,
    /// N.
    pub frames: usize,
    /// [B, N, Z + 6] normalised motion (zero in padding).
    pub motion: Vec<f32>,
    /// [B, N]: 1 for a real frame, 0 for padding after a clip's end.
    pub mask: Vec<f32>,
    /// [B, N, audio_dim] audio features, one vector per frame; or, for a denoiser trained
    /// with its audio encoder ([`crate::JointAudioEncoder`]), [B, S] audio samples at 16 kHz
    /// (zero after a clip's end).
    pub audio: Vec<f32>,
    /// S, the samples per window when `audio` holds samples; 0 when it holds features.
    pub audio_samples: usize,
    /// [B, text_style_dim]: the sentence embedding of each window's style label (empty when
    /// the denoiser takes no text).
    pub text_style: Vec<f32>,
    /// [B, image_style_dim]: an image-style latent for each window, e.g. the expression latent
    /// of another frame of the same clip (empty when the denoiser takes no images).
    pub image_style: Vec<f32>,
}

/// The windows as tensors.
#[derive(Debug, Clone)]
pub struct WindowTensors {
    /// [B, N, Z + 6]
    pub motion: Tensor,
    /// [B, N]
    pub mask: Tensor,
    /// [B, N, audio_dim] features, or [B, S] samples (see [`TrainingWindows::audio`]).
    pub audio: Tensor,
    /// [B, text_style_dim], if the denoiser takes text.
    pub text_style: Option<Tensor>,
    /// [B, image_style_dim], if the denoiser takes images.
    pub image_style: Option<Tensor>,
}

impl TrainingWindows {
    /// Checks every array has the size `cfg` implies and holds finite numbers; the error
    /// names the array.
    pub fn validate(&self, cfg: &DenoiserConfig) -> Result<()> {
        let (b, n) = (self.batch, self.frames);
        if b == 0 || n == 0 {
            return Err(DiffusionError::invalid(
                "training windows",
                format!("{b} windows of {n} frames"),
            ));
        }
        if n > cfg.window {
            return Err(DiffusionError::invalid(
                "training windows",
                format!(
                    "{n} frames, longer than the model's window of {}",
                    cfg.window
                ),
            ));
        }
        let audio = match self.audio_samples {
            0 => b * n * cfg.audio_dim,
            s => b * s,
        };
        for (name, data, want) in [
            ("motion", &self.motion, b * n * cfg.motion_dim()),
            ("mask", &self.mask, b * n),
            ("audio", &self.audio, audio),
            ("text_style", &self.text_style, b * cfg.text_style_dim),
            ("image_style", &self.image_style, b * cfg.image_style_dim),
        ] {
            if data.len() != want {
                return Err(DiffusionError::invalid(
                    format!("training windows: {name}"),
                    format!(
                        "{} values, expected {want} for {b} windows of {n} frames",
                        data.len()
                    ),
                ));
            }
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(DiffusionError::invalid(
                    format!("training windows: {name}"),
                    format!("value {i} is {}", data[i]),
                ));
            }
        }
        Ok(())
    }

    /// The windows on `device` (after [`TrainingWindows::validate`]).
    pub fn to_tensors(&self, cfg: &DenoiserConfig, device: &Device) -> Result<WindowTensors> {
        self.validate(cfg)?;
        let (b, n) = (self.batch, self.frames);
        let opt = |data: &[f32], dim: usize| -> Result<Option<Tensor>> {
            Ok(match dim {
                0 => None,
                d => Some(Tensor::from_slice(data, (b, d), device)?),
            })
        };
        Ok(WindowTensors {
            motion: Tensor::from_slice(&self.motion, (b, n, cfg.motion_dim()), device)?,
            mask: Tensor::from_slice(&self.mask, (b, n), device)?,
            audio: match self.audio_samples {
                0 => Tensor::from_slice(&self.audio, (b, n, cfg.audio_dim), device)?,
                s => Tensor::from_slice(&self.audio, (b, s), device)?,
            },
            text_style: opt(&self.text_style, cfg.text_style_dim)?,
            image_style: opt(&self.image_style, cfg.image_style_dim)?,
        })
    }
}

/// A source of training data for the denoiser.
pub trait WindowSource {
    /// The training batch of `step`: `batch` windows of `frames` frames. It must be a pure
    /// function of the source's seed and `step`, so a resumed run sees the data an
    /// uninterrupted one would.
    fn train_batch(&mut self, step: u64, batch: usize, frames: usize) -> Result<TrainingWindows>;

    /// Fixed validation windows of `frames` frames (the same every call).
    fn validation(&mut self, frames: usize) -> Result<Vec<TrainingWindows>>;

    /// The normalisation of the motion in the windows.
    fn stats(&self) -> MotionStats;

    /// The audio features' encoder as named for training (e.g. `whisper:DIR#padded`, or
    /// `log-mel` for an encoder trained with the denoiser).
    fn audio_features(&self) -> String;

    /// The key that identifies that encoder's weights (inference must use the same).
    fn audio_features_key(&self) -> String;

    /// What the data is (store, records, feature key, ...): part of the run's identity, so a
    /// run is never continued on other data.
    fn describe(&self) -> serde_json::Value;
}
