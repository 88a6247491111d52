//! An audio encoder trained together with the denoiser (the log-mel encoder of checkpoints
//! that have no pretrained speech model): the window source hands the trainer each window's
//! audio samples instead of precomputed features, the encoder turns them into per-frame
//! features inside the training graph, and its variables live in the denoiser's `VarMap`
//! under `audio_encoder.`, so they get gradients, EMA and exact resume, and are saved in the
//! same `model.safetensors`.
//!
//! The trait keeps this crate free of any encoder's code: `m2f-dataset` implements it for
//! `conditioning`'s log-mel encoder.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::error::Result;

/// The prefix of a jointly trained encoder's tensors in a checkpoint.
pub const AUDIO_ENCODER_PREFIX: &str = "audio_encoder";

/// An audio encoder whose variables train with the denoiser.
pub trait JointAudioEncoder: Send + Sync {
    /// Width D of the features: the denoiser's `audio_dim`.
    fn feature_dim(&self) -> usize;

    /// `batch` windows of 16 kHz audio, row-major [B, S] (zero after a clip's end) → features
    /// [B, N, D], frame i describing time i / `fps` from the window's start.
    ///
    /// # Errors
    /// [`crate::DiffusionError::Invalid`] for windows the encoder cannot take (naming them);
    /// candle errors.
    fn forward(&self, samples: &[f32], batch: usize, frames: usize, fps: f64) -> Result<Tensor>;

    /// The encoder's kind and shape, stored as `audio_encoder` in the checkpoint's
    /// `config.json` so that inference can rebuild it, and part of a run's identity.
    fn config(&self) -> serde_json::Value;
}

/// Builds a fresh encoder on the variables of `vb` (already under [`AUDIO_ENCODER_PREFIX`]).
pub type JointAudioEncoderBuilder<'a> =
    &'a dyn Fn(VarBuilder) -> Result<Box<dyn JointAudioEncoder>>;
