//! A wav2vec2 checkpoint as an [`AudioEncoder`]: HF's input normalisation, a chosen hidden
//! layer, and the features resampled to the animation's frame rate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::config::{Config, FeatureExtractorConfig};
use super::model::Wav2Vec2;
use crate::audio::SAMPLE_RATE;
use crate::audio_encoder::{resample_frames, AudioEncoder, FrameTiming};
use crate::error::{ConditioningError, Result};
use crate::model_files::read_json_config;
use crate::weights::ModelSource;

/// Zero-mean unit-variance normalisation exactly as HF's `Wav2Vec2FeatureExtractor`:
/// `(x - mean) / sqrt(var + 1e-7)` (population variance), computed in f64.
pub fn normalize(samples: &[f32]) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let inv = 1.0 / (var + 1e-7).sqrt();
    samples
        .iter()
        .map(|&x| ((x as f64 - mean) * inv) as f32)
        .collect()
}

/// A loaded Wav2Vec2 checkpoint as an [`AudioEncoder`]: normalisation as the checkpoint's
/// feature extractor says, an optional hidden layer, and interpolation to the frame rate.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Encoder {
    model: Wav2Vec2,
    preprocess: FeatureExtractorConfig,
    layer: usize,
    device: Device,
}

impl Wav2Vec2Encoder {
    /// Wraps a model. `layer`: which hidden state to return (`None` = last).
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] if `layer` exceeds the model's layer count.
    pub fn new(
        model: Wav2Vec2,
        preprocess: FeatureExtractorConfig,
        layer: Option<usize>,
        device: Device,
    ) -> Result<Self> {
        let n = model.config().num_hidden_layers;
        let layer = layer.unwrap_or(n);
        if layer > n {
            return Err(ConditioningError::invalid(
                "wav2vec2 layer",
                format!("layer {layer} requested but the model has {n} layers (0..={n})"),
            ));
        }
        Ok(Self {
            model,
            preprocess,
            layer,
            device,
        })
    }

    /// Loads `config.json`, optional `preprocessor_config.json` (else HF's defaults:
    /// `do_normalize = true`) and `model.safetensors` from an HF checkpoint directory.
    ///
    /// # Errors
    /// I/O errors naming the file; [`ConditioningError::Weights`] naming the missing or
    /// mis-shaped tensor.
    pub fn load(dir: impl AsRef<Path>, layer: Option<usize>, device: &Device) -> Result<Self> {
        Self::load_from(&ModelSource::local(dir.as_ref()), layer, device)
    }

    /// [`Wav2Vec2Encoder::load`] from any [`ModelSource`]: a local directory, or a hub
    /// repository such as `facebook/wav2vec2-base-960h` (from the hub cache when the files are
    /// there, downloaded otherwise unless `HF_HUB_OFFLINE` is set).
    pub fn load_from(source: &ModelSource, layer: Option<usize>, device: &Device) -> Result<Self> {
        let cfg = Config::from_file(source.file("config.json")?)?;
        let (pre_path, preprocess) = match source.file("preprocessor_config.json") {
            Ok(pre_path) => {
                let parsed: FeatureExtractorConfig = read_json_config(&pre_path)?;
                (pre_path, parsed)
            }
            Err(ConditioningError::MissingModelFile { .. }) => (
                PathBuf::from("preprocessor_config.json"),
                FeatureExtractorConfig::default(),
            ),
            Err(e) => return Err(e),
        };
        if preprocess.sampling_rate != SAMPLE_RATE {
            return Err(ConditioningError::invalid(
                pre_path.display().to_string(),
                format!(
                    "sampling_rate is {}, this crate feeds {} Hz",
                    preprocess.sampling_rate, SAMPLE_RATE
                ),
            ));
        }
        let weights = source.file("model.safetensors")?;
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&weights, device)
            .map_err(|e| ConditioningError::Weights {
                tensor: weights.display().to_string(),
                message: e.to_string(),
            })?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = Wav2Vec2::new(&cfg, vb).map_err(|e| ConditioningError::Weights {
            tensor: weights.display().to_string(),
            message: e.to_string(),
        })?;
        Self::new(model, preprocess, layer, device.clone())
    }

    /// The network.
    pub fn model(&self) -> &Wav2Vec2 {
        &self.model
    }

    /// 16 kHz samples → [T, H] at the model's native rate (~50 Hz), normalised as configured.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] if the audio is shorter than one frame's receptive field.
    pub fn native_features(&self, samples: &[f32]) -> Result<Tensor> {
        let cfg = &self.model.config();
        if cfg.output_frames(samples.len()) == 0 {
            return Err(ConditioningError::invalid(
                "audio",
                format!(
                    "{} samples is shorter than wav2vec2's receptive field of {} samples",
                    samples.len(),
                    cfg.receptive_field()
                ),
            ));
        }
        let input = if self.preprocess.do_normalize {
            normalize(samples)
        } else {
            samples.to_vec()
        };
        let xs = Tensor::from_vec(input, (1, samples.len()), &self.device)?;
        Ok(self.model.forward_hidden(&xs, self.layer)?.squeeze(0)?)
    }
}

impl AudioEncoder for Wav2Vec2Encoder {
    fn feature_dim(&self) -> usize {
        self.model.config().hidden_size
    }

    fn encode(&self, samples: &[f32], fps: f64) -> Result<Tensor> {
        let feats = self.native_features(samples)?;
        let cfg = &self.model.config();
        let timing = FrameTiming {
            hop: cfg.hop_samples() as f64,
            // Frame j sees samples [j*hop, j*hop + field): its centre is its time.
            offset: (cfg.receptive_field() as f64 - 1.0) / 2.0,
        };
        resample_frames(&feats, timing, samples.len(), fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Wav2Vec2Encoder>();
    }

    #[test]
    fn normalize_matches_definition() {
        let y = normalize(&[1.0, 2.0, 3.0]);
        let s = (2.0f64 / 3.0 + 1e-7).sqrt();
        assert!((y[0] as f64 + 1.0 / s).abs() < 1e-6);
        assert_eq!(y[1], 0.0);
    }
}
