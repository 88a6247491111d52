//! The HF `Wav2Vec2Config` and `preprocessor_config.json` fields this network reads.

use std::path::Path;

use candle_nn::Activation;
use serde::Deserialize;

use crate::error::{ConditioningError, Result};
use crate::model_files::read_json_config;

fn default_conv_dim() -> Vec<usize> {
    vec![512; 7]
}
fn default_conv_stride() -> Vec<usize> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn default_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn default_pos_k() -> usize {
    128
}
fn default_pos_groups() -> usize {
    16
}
fn default_eps() -> f64 {
    1e-5
}

/// The largest width, depth, kernel, hop or receptive field a config may name (2^20).
const MAX_SIZE: usize = 1 << 20;

/// Normalisation of the convolutional feature extractor (HF's `feat_extract_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatExtractNorm {
    /// Group norm on the first convolution only (base models).
    #[default]
    Group,
    /// Layer norm over channels after every convolution (large-lv60 style).
    Layer,
}

/// The HF `Wav2Vec2Config` fields the forward pass needs (read from `config.json`; missing
/// ones take HF's defaults). Fields that only matter in training (dropout, masking, layer
/// drop, the CTC head) are ignored; the ones that would change this network's output and
/// that it does not implement are read so that [`Config::from_file`] can refuse them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Width of the hidden states (HF `hidden_size`).
    pub hidden_size: usize,
    /// Number of transformer layers (HF `num_hidden_layers`).
    pub num_hidden_layers: usize,
    /// Number of attention heads per layer (HF `num_attention_heads`).
    pub num_attention_heads: usize,
    /// Width of the feed-forward block inside each layer (HF `intermediate_size`).
    pub intermediate_size: usize,
    /// Activation of the feed-forward blocks (HF's `"gelu"` is the exact, erf form).
    #[serde(default)]
    pub hidden_act: Activation,
    /// Normalisation in the convolutional feature extractor.
    #[serde(default)]
    pub feat_extract_norm: FeatExtractNorm,
    /// Activation of the convolutional feature extractor and the positional convolution.
    #[serde(default)]
    pub feat_extract_activation: Activation,
    /// Output channels of each feature-extractor convolution (HF `conv_dim`).
    #[serde(default = "default_conv_dim")]
    pub conv_dim: Vec<usize>,
    /// Stride of each feature-extractor convolution, in samples of its input (HF
    /// `conv_stride`).
    #[serde(default = "default_conv_stride")]
    pub conv_stride: Vec<usize>,
    /// Kernel width of each feature-extractor convolution (HF `conv_kernel`).
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    /// Whether the feature-extractor convolutions have a bias (HF `conv_bias`).
    #[serde(default)]
    pub conv_bias: bool,
    /// Kernel width of the positional convolution (HF `num_conv_pos_embeddings`).
    #[serde(default = "default_pos_k")]
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution; must divide `hidden_size` (HF
    /// `num_conv_pos_embedding_groups`).
    #[serde(default = "default_pos_groups")]
    pub num_conv_pos_embedding_groups: usize,
    /// Epsilon of every layer norm (HF `layer_norm_eps`).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Pre-norm transformer layers when `true`, post-norm when `false` (HF
    /// `do_stable_layer_norm`).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// HF's `model_type`; only `"wav2vec2"` is this network (conformer and BERT variants
    /// differ).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Adapter layers after the encoder: not implemented, so `true` is refused.
    #[serde(default)]
    pub add_adapter: bool,
    /// The layer norm of the feature projection: always present here, so `false` is refused.
    #[serde(default = "default_true")]
    pub feat_proj_layer_norm: bool,
}

impl Config {
    /// facebook/wav2vec2-base: 12 layers, width 768, ffn 3072, 7 convs of 512 channels.
    pub fn base() -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            feat_extract_norm: FeatExtractNorm::Group,
            feat_extract_activation: Activation::Gelu,
            conv_dim: default_conv_dim(),
            conv_stride: default_conv_stride(),
            conv_kernel: default_conv_kernel(),
            conv_bias: false,
            num_conv_pos_embeddings: default_pos_k(),
            num_conv_pos_embedding_groups: default_pos_groups(),
            layer_norm_eps: default_eps(),
            do_stable_layer_norm: false,
            model_type: Some("wav2vec2".into()),
            add_adapter: false,
            feat_proj_layer_norm: true,
        }
    }

    /// Reads and checks an HF `config.json`.
    ///
    /// # Errors
    /// [`ConditioningError::Io`] if unreadable; [`ConditioningError::Invalid`] naming the file
    /// and field if malformed or inconsistent.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let cfg: Self = read_json_config(path)?;
        cfg.validate()
            .map_err(|m| ConditioningError::invalid(path.display().to_string(), m))?;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if let Some(t) = self.model_type.as_deref().filter(|t| *t != "wav2vec2") {
            return Err(format!(
                "model_type {t:?}: this encoder implements \"wav2vec2\" only"
            ));
        }
        if self.add_adapter {
            return Err(
                "add_adapter is true: adapter layers are not implemented, and without \
                        them the output would silently differ from HF's"
                    .into(),
            );
        }
        if !self.feat_proj_layer_norm {
            return Err(
                "feat_proj_layer_norm is false: the feature projection here always \
                        has its layer norm"
                    .into(),
            );
        }
        let n = self.conv_dim.len();
        if n == 0 || self.conv_stride.len() != n || self.conv_kernel.len() != n {
            return Err(format!(
                "conv_dim, conv_stride and conv_kernel must have the same non-zero length, got \
                 {}, {}, {}",
                n,
                self.conv_stride.len(),
                self.conv_kernel.len()
            ));
        }
        if self.conv_stride.contains(&0) || self.conv_kernel.contains(&0) {
            return Err("conv_stride and conv_kernel entries must be positive".into());
        }
        // Tensors of width 0 fit any other size: widths must be positive, and every size is
        // checked before anything is sized by it.
        if self.hidden_size == 0 || self.intermediate_size == 0 || self.conv_dim.contains(&0) {
            return Err(
                "hidden_size, intermediate_size and conv_dim entries must be positive".into(),
            );
        }
        let max_conv_dim = self.conv_dim.iter().copied().max().unwrap_or(0);
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("conv_dim", max_conv_dim),
            ("conv_dim (layers)", n),
            ("num_conv_pos_embeddings", self.num_conv_pos_embeddings),
            ("hop (product of conv_stride)", self.hop_samples()),
            ("receptive field (of conv_kernel)", self.receptive_field()),
        ];
        if let Some((field, v)) = sizes.into_iter().find(|(_, v)| *v > MAX_SIZE) {
            return Err(format!("{field}: {v} is more than the limit {MAX_SIZE}"));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps is {}, must be positive and finite",
                self.layer_norm_eps
            ));
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} must be a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_conv_pos_embedding_groups == 0
            || self.hidden_size % self.num_conv_pos_embedding_groups != 0
        {
            return Err(format!(
                "hidden_size {} must be a multiple of num_conv_pos_embedding_groups {}",
                self.hidden_size, self.num_conv_pos_embedding_groups
            ));
        }
        for (field, act) in [
            ("hidden_act", self.hidden_act),
            ("feat_extract_activation", self.feat_extract_activation),
        ] {
            // Swiglu halves the channels: no wav2vec2 layer is shaped for it.
            if act == Activation::Swiglu {
                return Err(format!(
                    "{field}: swiglu does not keep the width of the layer"
                ));
            }
        }
        Ok(())
    }

    /// Samples per output frame (product of the conv strides; 320 for base models → 50 Hz).
    /// (Saturating: a config that passed [`Config::from_file`] has at most 2^20.)
    pub fn hop_samples(&self) -> usize {
        (self.conv_stride.iter()).fold(1, |hop, s| hop.saturating_mul(*s))
    }

    /// Receptive field of one output frame in input samples (400 for base models; saturating
    /// as [`Config::hop_samples`]).
    pub fn receptive_field(&self) -> usize {
        let mut field: usize = 1;
        let mut jump: usize = 1;
        for (k, s) in self.conv_kernel.iter().zip(&self.conv_stride) {
            field = field.saturating_add(k.saturating_sub(1).saturating_mul(jump));
            jump = jump.saturating_mul(*s);
        }
        field
    }

    /// Number of output frames for `n` input samples (0 if too short for the conv stack).
    pub fn output_frames(&self, n: usize) -> usize {
        let mut len = n;
        for (k, s) in self.conv_kernel.iter().zip(&self.conv_stride) {
            if len < *k {
                return 0;
            }
            len = (len - k) / s + 1;
        }
        len
    }
}

/// The fields of HF's `preprocessor_config.json` that change the input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeatureExtractorConfig {
    /// Normalise each utterance to zero mean, unit variance (as `Wav2Vec2FeatureExtractor`).
    #[serde(default = "default_true")]
    pub do_normalize: bool,
    /// Sample rate the model expects, in Hz; only 16 000 is accepted (HF `sampling_rate`).
    #[serde(default = "default_rate")]
    pub sampling_rate: u32,
}

fn default_true() -> bool {
    true
}
fn default_rate() -> u32 {
    16_000
}

impl Default for FeatureExtractorConfig {
    fn default() -> Self {
        Self {
            do_normalize: true,
            sampling_rate: 16_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_geometry() {
        let c = Config::base();
        assert_eq!(c.hop_samples(), 320);
        assert_eq!(c.receptive_field(), 400);
        assert_eq!(c.output_frames(16_000), 49);
        assert_eq!(c.output_frames(399), 0);
    }

    #[test]
    fn configs_that_change_the_network_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = serde_json::json!({
            "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "model_type": "wav2vec2"
        });
        let read = |patch: serde_json::Value| {
            let mut cfg = base.clone();
            cfg.as_object_mut()
                .unwrap()
                .extend(patch.as_object().unwrap().clone());
            let path = dir.path().join("config.json");
            std::fs::write(&path, cfg.to_string()).unwrap();
            Config::from_file(&path)
        };
        assert_eq!(read(serde_json::json!({})).unwrap(), Config::base());
        let large = read(serde_json::json!({
            "feat_extract_norm": "layer", "hidden_act": "gelu_new",
            "do_stable_layer_norm": true
        }))
        .unwrap();
        assert_eq!(large.feat_extract_norm, FeatExtractNorm::Layer);
        assert_eq!(large.hidden_act, Activation::NewGelu);
        for (patch, field) in [
            (serde_json::json!({"add_adapter": true}), "add_adapter"),
            (
                serde_json::json!({"feat_proj_layer_norm": false}),
                "feat_proj_layer_norm",
            ),
            (
                serde_json::json!({"model_type": "wav2vec2-conformer"}),
                "model_type",
            ),
            (
                serde_json::json!({"feat_extract_norm": "batch"}),
                "feat_extract_norm",
            ),
            (
                serde_json::json!({"feat_extract_activation": "gelu_fast"}),
                "feat_extract_activation",
            ),
            (serde_json::json!({"hidden_act": "swiglu"}), "hidden_act"),
        ] {
            let e = read(patch).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("config.json"), "{e}");
        }
    }

    /// Found by `fuzz/fuzz_targets/wav2vec2_checkpoint.rs`: strides of 2^64 − 1 and 2^16
    /// overflowed the receptive field (in the error for audio shorter than it); widths of 0
    /// (tensors of no bytes fit any other size) with a positional kernel of 2^40 would pad the
    /// input by 2^39 frames. Refused by the config check, naming the file and the field.
    #[test]
    fn absurd_sizes_in_a_checkpoint_config_are_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let read = |patch: serde_json::Value| {
            let mut cfg = serde_json::json!({
                "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                "intermediate_size": 16, "conv_dim": [4, 4], "conv_stride": [5, 8],
                "conv_kernel": [10, 8], "num_conv_pos_embeddings": 4,
                "num_conv_pos_embedding_groups": 2
            });
            cfg.as_object_mut()
                .unwrap()
                .extend(patch.as_object().unwrap().clone());
            let path = dir.path().join("config.json");
            std::fs::write(&path, cfg.to_string()).unwrap();
            Config::from_file(&path)
        };
        let ok = read(serde_json::json!({})).unwrap();
        assert_eq!((ok.hop_samples(), ok.receptive_field()), (40, 45));
        for (patch, field) in [
            (serde_json::json!({"conv_stride": [u64::MAX, 65536]}), "hop"),
            (
                serde_json::json!({"conv_stride": [1, 1], "conv_kernel": [1 << 21, 2]}),
                "receptive field",
            ),
            (
                serde_json::json!({"hidden_size": 0, "num_conv_pos_embeddings": 1u64 << 40}),
                "hidden_size",
            ),
            (serde_json::json!({"conv_dim": [0, 4]}), "conv_dim"),
            (
                serde_json::json!({"num_conv_pos_embeddings": 1u64 << 40}),
                "num_conv_pos_embeddings",
            ),
            (
                serde_json::json!({"num_hidden_layers": 1u64 << 40}),
                "num_hidden_layers",
            ),
            (
                serde_json::json!({"hidden_size": 1u64 << 40, "num_attention_heads": 1, "num_conv_pos_embedding_groups": 1}),
                "hidden_size",
            ),
            (
                serde_json::json!({"layer_norm_eps": -1.0}),
                "layer_norm_eps",
            ),
        ] {
            let e = read(patch).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("config.json"), "{e}");
        }
        // The geometry of an unchecked config saturates instead of overflowing.
        let wild = Config {
            conv_stride: vec![usize::MAX, 65536],
            conv_kernel: vec![usize::MAX, usize::MAX],
            ..ok
        };
        assert_eq!(wild.hop_samples(), usize::MAX);
        assert_eq!(wild.receptive_field(), usize::MAX);
    }
}
