//! The convolutional front of wav2vec2: raw samples → conv features → the model width.

use candle_core::{Module, Tensor};
use candle_nn::init::DEFAULT_KAIMING_NORMAL;
use candle_nn::{linear, Activation, LayerNorm, Linear, VarBuilder};
use m2f_kernels::{self as kernels, Conv1dShape};

use super::config::{Config, FeatExtractNorm};
use crate::model_files::bias_init;

/// The norm after a convolution. Both run on time-major data `[B, T, C]`.
#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    /// Group norm with one group per channel (statistics over time), HF's `group` variant
    /// (first layer only): `weight` and `bias` `[C]`.
    PerChannel {
        weight: Tensor,
        bias: Tensor,
    },
    /// Layer norm over channels, HF's `layer` variant (every layer).
    Layer(LayerNorm),
}

/// One convolution of the feature extractor: conv → norm → activation, time-major, through
/// the fused CPU kernels (the activation runs as the kernel's epilogue where it can).
#[derive(Debug, Clone)]
struct FeatureConvLayer {
    /// `[C_out, C_in, K]`, PyTorch's layout.
    weight: Tensor,
    /// `[C_out]`; zeros when the checkpoint's convolutions have none (`conv_bias: false`).
    bias: Tensor,
    stride: usize,
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
        let k = cfg.conv_kernel[layer];
        let conv = vb.pp("conv");
        let weight = conv.get_with_hints((out_c, in_c, k), "weight", DEFAULT_KAIMING_NORMAL)?;
        let bias = if cfg.conv_bias {
            conv.get_with_hints(out_c, "bias", bias_init(in_c * k))?
        } else {
            Tensor::zeros(out_c, weight.dtype(), weight.device())?
        };
        let norm = match (cfg.feat_extract_norm, layer) {
            (FeatExtractNorm::Group, 0) => {
                let vb = vb.pp("layer_norm");
                ConvNorm::PerChannel {
                    weight: vb.get_with_hints(out_c, "weight", candle_nn::Init::Const(1.0))?,
                    bias: vb.get_with_hints(out_c, "bias", candle_nn::Init::Const(0.0))?,
                }
            }
            (FeatExtractNorm::Layer, _) => {
                ConvNorm::Layer(candle_nn::layer_norm(out_c, 1e-5, vb.pp("layer_norm"))?)
            }
            _ => ConvNorm::None,
        };
        Ok(Self {
            weight,
            bias,
            stride: cfg.conv_stride[layer],
            norm,
            act: cfg.feat_extract_activation,
        })
    }

    /// [B, L, C_in] → [B, L', C_out]
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let shape = Conv1dShape {
            stride: self.stride,
            padding: 0,
        };
        let conv =
            |epilogue| kernels::conv1d_time_major(xs, &self.weight, &self.bias, shape, epilogue);
        match &self.norm {
            ConvNorm::None => kernels::then_activate(self.act, conv),
            // Only the waveform layer (one input channel) has this norm: folded into the
            // convolution, one pass.
            ConvNorm::PerChannel { weight, bias } => {
                let samples = xs.squeeze(2)?;
                kernels::then_activate(self.act, |epilogue| {
                    // PyTorch's GroupNorm default eps, as HF builds it.
                    kernels::waveform_conv_norm(
                        &samples,
                        &self.weight,
                        &self.bias,
                        weight,
                        bias,
                        self.stride,
                        1e-5,
                        epilogue,
                    )
                })
            }
            ConvNorm::Layer(n) => self
                .act
                .forward(&n.forward(&conv(kernels::Epilogue::None)?)?),
        }
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

    /// [B, N] samples → [B, T, C] (time-major, as the projection and the transformer take it;
    /// HF's channel-major `[B, C, T]` transposed).
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut xs = xs.unsqueeze(2)?;
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
