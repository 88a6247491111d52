//! `Wav2Vec2Model`: the feature extractor, projection and encoder in one network.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::config::Config;
use super::feature_extractor::{FeatureEncoder, FeatureProjection};
use super::transformer::Encoder;

/// The Wav2Vec2 model (`Wav2Vec2Model`): raw 16 kHz samples → contextual features at ~50 Hz.
#[derive(Debug, Clone)]
pub struct Wav2Vec2 {
    feature_extractor: FeatureEncoder,
    feature_projection: FeatureProjection,
    encoder: Encoder,
    cfg: Config,
}

impl Wav2Vec2 {
    /// Builds the model from `vb`, which may point at a `Wav2Vec2Model` checkpoint or at one
    /// with the weights under `wav2vec2.` (`Wav2Vec2ForCTC`, `Wav2Vec2ForPreTraining`, ...).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("wav2vec2.feature_projection.projection.weight") {
            vb.pp("wav2vec2")
        } else {
            vb
        };
        Ok(Self {
            feature_extractor: FeatureEncoder::new(cfg, vb.pp("feature_extractor"))?,
            feature_projection: FeatureProjection::new(cfg, vb.pp("feature_projection"))?,
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            cfg: cfg.clone(),
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// [B, N] samples → [B, T, H] last hidden state.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_hidden(xs, self.cfg.num_hidden_layers)
    }

    /// [B, N] samples → [B, T, H]: HF's `hidden_states[k]` (0 = encoder input after the
    /// positional embedding, `num_hidden_layers` = last hidden state).
    pub fn forward_hidden(&self, xs: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        let feats = self.feature_extractor.forward(xs)?;
        let hidden = self.feature_projection.forward(&feats)?;
        self.encoder.forward_to(&hidden, k)
    }
}
