//! The convolutional front of wav2vec2: raw samples → conv features → the model width.

use candle_core::{Module, Tensor};
use candle_nn::{
    conv1d, conv1d_no_bias, linear, Activation, Conv1d, Conv1dConfig, GroupNorm, LayerNorm, Linear,
    VarBuilder,
};

use super::config::{Config, FeatExtractNorm};

#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    Group(GroupNorm),
    /// Layer norm over channels (HF transposes to channels-last and back).
    Layer(LayerNorm),
}

/// One convolution of the feature extractor: conv → norm → activation.
#[derive(Debug, Clone)]
struct FeatureConvLayer {
    conv: Conv1d,
    norm: ConvNorm,
    act: Activation,
}

impl FeatureConvLayer {
    fn new(cfg: &Config, layer: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let in_c = if layer == 0 {
            1
        } else {
            cfg.conv_dim[layer - 1]
        };
        let out_c = cfg.conv_dim[layer];
        let conv_cfg = Conv1dConfig {
            stride: cfg.conv_stride[layer],
            ..Default::default()
        };
        let k = cfg.conv_kernel[layer];
        let conv = if cfg.conv_bias {
            conv1d(in_c, out_c, k, conv_cfg, vb.pp("conv"))?
        } else {
            conv1d_no_bias(in_c, out_c, k, conv_cfg, vb.pp("conv"))?
        };
        let norm = match (cfg.feat_extract_norm, layer) {
            (FeatExtractNorm::Group, 0) => ConvNorm::Group(candle_nn::group_norm(
                out_c,
                out_c,
                1e-5,
                vb.pp("layer_norm"),
            )?),
            (FeatExtractNorm::Layer, _) => {
                ConvNorm::Layer(candle_nn::layer_norm(out_c, 1e-5, vb.pp("layer_norm"))?)
            }
            _ => ConvNorm::None,
        };
        Ok(Self {
            conv,
            norm,
            act: cfg.feat_extract_activation,
        })
    }

    /// [B, C_in, L] → [B, C_out, L']
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let xs = self.conv.forward(xs)?;
        let xs = match &self.norm {
            ConvNorm::None => xs,
            ConvNorm::Group(n) => n.forward(&xs)?,
            ConvNorm::Layer(n) => n.forward(&xs.transpose(1, 2)?)?.transpose(1, 2)?,
        };
        self.act.forward(&xs)
    }
}

/// The convolutional waveform encoder (`feature_extractor`).
#[derive(Debug, Clone)]
pub struct FeatureEncoder {
    layers: Vec<FeatureConvLayer>,
}

impl FeatureEncoder {
    /// Builds the layers from `vb` (`conv_layers.{i}.conv`, `conv_layers.{i}.layer_norm`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let vb = vb.pp("conv_layers");
        let layers = (0..cfg.conv_dim.len())
            .map(|i| FeatureConvLayer::new(cfg, i, vb.pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { layers })
    }

    /// [B, N] samples → [B, C, T]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut xs = xs.unsqueeze(1)?;
        for l in &self.layers {
            xs = l.forward(&xs)?;
        }
        Ok(xs)
    }
}

/// `feature_projection`: layer norm + linear from the conv width to the model width.
#[derive(Debug, Clone)]
pub struct FeatureProjection {
    layer_norm: LayerNorm,
    projection: Linear,
}

impl FeatureProjection {
    /// Builds the layer from `vb` (`layer_norm`, `projection`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let c = *cfg.conv_dim.last().unwrap_or(&cfg.hidden_size);
        Ok(Self {
            layer_norm: candle_nn::layer_norm(c, cfg.layer_norm_eps, vb.pp("layer_norm"))?,
            projection: linear(c, cfg.hidden_size, vb.pp("projection"))?,
        })
    }

    /// [B, T, C] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.projection.forward(&self.layer_norm.forward(xs)?)
    }
}
