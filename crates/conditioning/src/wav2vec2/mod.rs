//! Wav2Vec2 (Baevski et al. 2020) in candle, numerically equal to HF transformers'
//! `Wav2Vec2Model` and loading any HF wav2vec2 safetensors checkpoint:
//!
//! - feature extractor: a stack of 1-D convolutions with group norm on the first layer
//!   (`feat_extract_norm = "group"`, base models) or layer norm on every layer (`"layer"`,
//!   large-lv60 style), exact (erf) GELU;
//! - feature projection: layer norm + linear to the model width;
//! - positional convolution with its weight norm stored as `weight_g`/`weight_v` (older torch),
//!   `parametrizations.weight.original0/1` (newer torch) or a plain `weight`;
//! - transformer encoder with post-norm (`do_stable_layer_norm = false`) or pre-norm layers
//!   (`true`).
//!
//! Tensor names match the HF checkpoint, with or without the `wav2vec2.` prefix (so
//! `Wav2Vec2ForCTC` checkpoints load; the CTC head is ignored). Inference only: dropout, masking
//! and layer drop are training-time and absent, and the feature extractor runs time-major
//! through `m2f-kernels`' fused CPU convolution and per-channel norm, which have no backward
//! pass.
//!
//! - [`Config`], [`FeatureExtractorConfig`]: HF's `config.json` and
//!   `preprocessor_config.json`, refusing what this network would compute differently.
//! - [`Wav2Vec2`]: the network (`feature_extractor`, `feature_projection`, `encoder`).
//! - [`Wav2Vec2Encoder`]: a checkpoint as an [`crate::audio_encoder::AudioEncoder`].

mod config;
mod encoder;
mod feature_extractor;
mod model;
mod transformer;

pub use config::{Config, FeatExtractNorm, FeatureExtractorConfig};
pub use encoder::{normalize, Wav2Vec2Encoder};
pub use model::Wav2Vec2;
