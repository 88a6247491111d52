//! `conditioning`'s log-mel encoder as the audio encoder trained with the denoiser
//! (`--audio-features log-mel`), and its loading back from a diffusion checkpoint.
//!
//! In training each window's log-mel is taken over the window alone; at inference the whole
//! clip's is. The two differ only in the level clamp (8 below the loudest frame of the window
//! or of the clip) and in the two convolutions' padding at a window's first and last few
//! frames.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use conditioning::{LogMelEncoder, LogMelEncoderConfig};
use diffusion::{CheckpointConfig, DiffusionError, JointAudioEncoder, AUDIO_ENCODER_PREFIX};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

/// The `--audio-features` value that trains the log-mel encoder with the denoiser.
pub const LOG_MEL_FEATURES: &str = "log-mel";

/// `audio_encoder` in a jointly trained checkpoint's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredConfig {
    /// Always [`LOG_MEL_FEATURES`].
    kind: String,
    #[serde(flatten)]
    encoder: LogMelEncoderConfig,
}

/// The log-mel encoder training with the denoiser.
#[derive(Debug, Clone)]
pub struct JointLogMel {
    encoder: LogMelEncoder,
}

impl JointLogMel {
    /// A fresh encoder of shape `cfg` on `vb`'s variables (the trainer's builder).
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] for a config the encoder refuses.
    pub fn new(cfg: &LogMelEncoderConfig, vb: VarBuilder) -> diffusion::Result<Self> {
        let encoder = LogMelEncoder::new(cfg, vb)
            .map_err(|e| DiffusionError::invalid("log-mel encoder", e.to_string()))?;
        Ok(Self { encoder })
    }

    /// A fresh encoder of the default shape ([`LogMelEncoderConfig::default`]): the builder
    /// `m2f train diffusion --audio-features log-mel` hands the trainer.
    ///
    /// # Errors
    /// As [`JointLogMel::new`].
    pub fn build_default(vb: VarBuilder) -> diffusion::Result<Box<dyn JointAudioEncoder>> {
        Ok(Box::new(Self::new(&LogMelEncoderConfig::default(), vb)?))
    }

    /// The log-mel encoder saved in the diffusion checkpoint `dir` (its `audio_encoder`
    /// config and the `audio_encoder.` tensors of its weights), for computing the features
    /// the denoiser was trained on.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming the file when the checkpoint has no log-mel encoder or
    /// its tensors are missing or mis-shaped.
    pub fn load(dir: &Path, device: &Device) -> Result<LogMelEncoder> {
        let dir = m2f_train::resolve_dir(dir);
        let config_path = dir.join(diffusion::CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| DatasetError::invalid(config_path.display().to_string(), e.to_string()))?;
        let bad = |why: String| DatasetError::invalid(config_path.display().to_string(), why);
        let config: CheckpointConfig =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let stored = config.audio_encoder.ok_or_else(|| {
            bad(format!(
                "no audio_encoder: the denoiser was trained on the features {:?}, not with \
                 its own log-mel encoder",
                config.audio_features
            ))
        })?;
        let stored: StoredConfig =
            serde_json::from_value(stored).map_err(|e| bad(format!("audio_encoder: {e}")))?;
        if stored.kind != LOG_MEL_FEATURES {
            return Err(bad(format!(
                "audio_encoder kind {:?}, expected {LOG_MEL_FEATURES:?}",
                stored.kind
            )));
        }
        let weights = dir.join(diffusion::WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&weights, device)
            .map_err(|e| DatasetError::invalid(weights.display().to_string(), e.to_string()))?;
        let tensors = tensors
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| DatasetError::invalid(weights.display().to_string(), e.to_string()))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        LogMelEncoder::new(&stored.encoder, vb.pp(AUDIO_ENCODER_PREFIX))
            .map_err(|e| DatasetError::invalid(weights.display().to_string(), e.to_string()))
    }
}

impl JointAudioEncoder for JointLogMel {
    fn feature_dim(&self) -> usize {
        self.encoder.config().out_dim
    }

    fn forward(
        &self,
        samples: &[f32],
        batch: usize,
        frames: usize,
        fps: f64,
    ) -> diffusion::Result<Tensor> {
        let feats = self
            .encoder
            .forward_windows(samples, batch, fps)
            .map_err(|e| DiffusionError::invalid("log-mel encoder input", e.to_string()))?;
        let got = feats.dim(1)?;
        if got != frames {
            return Err(DiffusionError::invalid(
                "log-mel encoder input",
                format!(
                    "{} samples per window give {got} frames at {fps} fps, not {frames}",
                    samples.len() / batch.max(1)
                ),
            ));
        }
        Ok(feats)
    }

    fn config(&self) -> serde_json::Value {
        // The fields of `StoredConfig`, which `load` reads back.
        let c = self.encoder.config();
        serde_json::json!({
            "kind": LOG_MEL_FEATURES,
            "hidden": c.hidden,
            "out_dim": c.out_dim,
            "kernel": c.kernel,
        })
    }
}
