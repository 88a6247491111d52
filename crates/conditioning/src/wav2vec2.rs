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
//! and layer drop are training-time and absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{
    conv1d, conv1d_no_bias, linear, Conv1d, Conv1dConfig, GroupNorm, LayerNorm, Linear, VarBuilder,
};
use serde::Deserialize;

use crate::audio_encoder::{resample_frames, AudioEncoder, FrameTiming};
use crate::error::{ConditioningError, Result};
use crate::weights::ModelSource;

fn default_feat_extract_norm() -> String {
    "group".into()
}
fn default_act() -> String {
    "gelu".into()
}
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

/// The HF `Wav2Vec2Config` fields the forward pass needs (read from `config.json`; missing
/// ones take HF's defaults). Fields that only matter in training (dropout, masking, layer
/// drop, the CTC head) are ignored; the ones that would change this network's output and
/// that it does not implement are read so that [`Config::from_file`] can refuse them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    /// Activation of the feed-forward blocks.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// `"group"` or `"layer"`.
    #[serde(default = "default_feat_extract_norm")]
    pub feat_extract_norm: String,
    /// Activation of the convolutional feature extractor and the positional convolution.
    #[serde(default = "default_act")]
    pub feat_extract_activation: String,
    #[serde(default = "default_conv_dim")]
    pub conv_dim: Vec<usize>,
    #[serde(default = "default_conv_stride")]
    pub conv_stride: Vec<usize>,
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    #[serde(default)]
    pub conv_bias: bool,
    #[serde(default = "default_pos_k")]
    pub num_conv_pos_embeddings: usize,
    #[serde(default = "default_pos_groups")]
    pub num_conv_pos_embedding_groups: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
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
            hidden_act: default_act(),
            feat_extract_norm: default_feat_extract_norm(),
            feat_extract_activation: default_act(),
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
        let text = std::fs::read_to_string(path).map_err(|e| ConditioningError::io(path, e))?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| ConditioningError::invalid(path.display().to_string(), e.to_string()))?;
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
        if !matches!(self.feat_extract_norm.as_str(), "group" | "layer") {
            return Err(format!(
                "feat_extract_norm must be \"group\" or \"layer\", got {:?}",
                self.feat_extract_norm
            ));
        }
        Activation::parse(&self.hidden_act)?;
        Activation::parse(&self.feat_extract_activation)?;
        Ok(())
    }

    /// Samples per output frame (product of the conv strides; 320 for base models → 50 Hz).
    pub fn hop_samples(&self) -> usize {
        self.conv_stride.iter().product()
    }

    /// Receptive field of one output frame in input samples (400 for base models).
    pub fn receptive_field(&self) -> usize {
        let mut field = 1;
        let mut jump = 1;
        for (k, s) in self.conv_kernel.iter().zip(&self.conv_stride) {
            field += (k - 1) * jump;
            jump *= s;
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    /// Exact GELU (HF "gelu" is `torch.nn.functional.gelu`, the erf form).
    GeluErf,
    /// tanh-approximated GELU ("gelu_new", "gelu_pytorch_tanh").
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(format!(
                "unsupported activation {other:?} (expected gelu, gelu_new, gelu_pytorch_tanh or \
                 relu)"
            )),
        }
    }

    fn forward(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::GeluErf => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
        }
    }
}

fn act(s: &str) -> candle_core::Result<Activation> {
    Activation::parse(s).map_err(candle_core::Error::msg)
}

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
        let norm = match (cfg.feat_extract_norm.as_str(), layer) {
            ("group", 0) => ConvNorm::Group(candle_nn::group_norm(
                out_c,
                out_c,
                1e-5,
                vb.pp("layer_norm"),
            )?),
            ("layer", _) => {
                ConvNorm::Layer(candle_nn::layer_norm(out_c, 1e-5, vb.pp("layer_norm"))?)
            }
            _ => ConvNorm::None,
        };
        Ok(Self {
            conv,
            norm,
            act: act(&cfg.feat_extract_activation)?,
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

/// Reads the positional conv weight in whichever weight-norm form the checkpoint stores.
/// Weight norm here is over every dim but the kernel dim (torch `weight_norm(dim=2)`):
/// `w[:, :, k] = g[k] * v[:, :, k] / ||v[:, :, k]||`.
fn weight_norm_conv_weight(
    vb: &VarBuilder,
    out_c: usize,
    in_per_group: usize,
    k: usize,
) -> candle_core::Result<Tensor> {
    let gv = if vb.contains_tensor("weight_g") {
        Some(("weight_g", "weight_v"))
    } else if vb.contains_tensor("parametrizations.weight.original0") {
        Some((
            "parametrizations.weight.original0",
            "parametrizations.weight.original1",
        ))
    } else {
        None
    };
    match gv {
        Some((g_name, v_name)) => {
            let g = vb.get((1, 1, k), g_name)?;
            let v = vb.get((out_c, in_per_group, k), v_name)?;
            let norm = v.sqr()?.sum_keepdim((0, 1))?.sqrt()?;
            v.broadcast_div(&norm)?.broadcast_mul(&g)
        }
        None => vb.get((out_c, in_per_group, k), "weight"),
    }
}

/// `encoder.pos_conv_embed`: grouped conv over time giving a relative position signal.
#[derive(Debug, Clone)]
pub struct PositionalConvEmbedding {
    conv: Conv1d,
    /// Even kernels produce one frame too many with symmetric padding; HF drops the last.
    trim_last: bool,
    act: Activation,
}

impl PositionalConvEmbedding {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let k = cfg.num_conv_pos_embeddings;
        let groups = cfg.num_conv_pos_embedding_groups;
        let h = cfg.hidden_size;
        let vb = vb.pp("conv");
        let weight = weight_norm_conv_weight(&vb, h, h / groups, k)?;
        let bias = vb.get(h, "bias")?;
        let conv_cfg = Conv1dConfig {
            padding: k / 2,
            groups,
            ..Default::default()
        };
        Ok(Self {
            conv: Conv1d::new(weight, Some(bias), conv_cfg),
            trim_last: k % 2 == 0,
            act: act(&cfg.feat_extract_activation)?,
        })
    }

    /// [B, T, H] → [B, T, H] (the positional term, to be added to the input)
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let t = xs.dim(1)?;
        let ys = self.conv.forward(&xs.transpose(1, 2)?)?;
        let ys = if self.trim_last {
            ys.narrow(2, 0, t)?
        } else {
            ys
        };
        self.act.forward(&ys)?.transpose(1, 2)
    }
}

/// Multi-head self-attention (`attention`), no mask: one utterance per batch row.
#[derive(Debug, Clone)]
pub struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl Attention {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            q_proj: linear(h, h, vb.pp("q_proj"))?,
            k_proj: linear(h, h, vb.pp("k_proj"))?,
            v_proj: linear(h, h, vb.pp("v_proj"))?,
            out_proj: linear(h, h, vb.pp("out_proj"))?,
            num_heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, h) = xs.dims3()?;
        let split = |x: Tensor| -> candle_core::Result<Tensor> {
            x.reshape((b, t, self.num_heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let q = split((self.q_proj.forward(xs)? * scale)?)?;
        let k = split(self.k_proj.forward(xs)?)?;
        let v = split(self.v_proj.forward(xs)?)?;
        // [B, heads, T, T]
        let att = q.matmul(&k.t()?)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let ys = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        self.out_proj.forward(&ys)
    }
}

/// `feed_forward`: linear → activation → linear.
#[derive(Debug, Clone)]
pub struct FeedForward {
    intermediate_dense: Linear,
    output_dense: Linear,
    act: Activation,
}

impl FeedForward {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            intermediate_dense: linear(
                cfg.hidden_size,
                cfg.intermediate_size,
                vb.pp("intermediate_dense"),
            )?,
            output_dense: linear(
                cfg.intermediate_size,
                cfg.hidden_size,
                vb.pp("output_dense"),
            )?,
            act: act(&cfg.hidden_act)?,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = self.act.forward(&self.intermediate_dense.forward(xs)?)?;
        self.output_dense.forward(&ys)
    }
}

/// One transformer layer (`encoder.layers.{i}`), post-norm or pre-norm ("stable").
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: LayerNorm,
    pre_norm: bool,
}

impl EncoderLayer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            attention: Attention::new(cfg, vb.pp("attention"))?,
            layer_norm: candle_nn::layer_norm(h, cfg.layer_norm_eps, vb.pp("layer_norm"))?,
            feed_forward: FeedForward::new(cfg, vb.pp("feed_forward"))?,
            final_layer_norm: candle_nn::layer_norm(
                h,
                cfg.layer_norm_eps,
                vb.pp("final_layer_norm"),
            )?,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.pre_norm {
            let xs = (xs + self.attention.forward(&self.layer_norm.forward(xs)?)?)?;
            &xs + self
                .feed_forward
                .forward(&self.final_layer_norm.forward(&xs)?)?
        } else {
            let xs = self
                .layer_norm
                .forward(&(xs + self.attention.forward(xs)?)?)?;
            self.final_layer_norm
                .forward(&(&xs + self.feed_forward.forward(&xs)?)?)
        }
    }
}

/// `encoder`: positional conv, layer norm (before the layers for post-norm models, after them
/// for pre-norm ones) and the transformer layers.
#[derive(Debug, Clone)]
pub struct Encoder {
    pos_conv_embed: PositionalConvEmbedding,
    layer_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    pre_norm: bool,
}

impl Encoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::new(cfg, vb.pp("layers").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            pos_conv_embed: PositionalConvEmbedding::new(cfg, vb.pp("pos_conv_embed"))?,
            layer_norm: candle_nn::layer_norm(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                vb.pp("layer_norm"),
            )?,
            layers,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    /// [B, T, H] → [B, T, H]: HF's `hidden_states[k]` for `k` in `0..=num_layers`
    /// (`k = num_layers` is `last_hidden_state`). Layers past `k` are not run.
    pub fn forward_to(&self, xs: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        let n = self.layers.len();
        if k > n {
            candle_core::bail!("hidden layer {k} requested but the model has {n} layers");
        }
        let xs = (xs + self.pos_conv_embed.forward(xs)?)?;
        let mut xs = if self.pre_norm {
            xs
        } else {
            self.layer_norm.forward(&xs)?
        };
        for layer in &self.layers[..k] {
            xs = layer.forward(&xs)?;
        }
        if self.pre_norm && k == n {
            xs = self.layer_norm.forward(&xs)?;
        }
        Ok(xs)
    }
}

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
        let feats = self.feature_extractor.forward(xs)?.transpose(1, 2)?;
        let hidden = self.feature_projection.forward(&feats)?;
        self.encoder.forward_to(&hidden, k)
    }
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
        let n = model.cfg.num_hidden_layers;
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
                let text = std::fs::read_to_string(&pre_path)
                    .map_err(|e| ConditioningError::io(&pre_path, e))?;
                let parsed: FeatureExtractorConfig = serde_json::from_str(&text).map_err(|e| {
                    ConditioningError::invalid(pre_path.display().to_string(), e.to_string())
                })?;
                (pre_path, parsed)
            }
            Err(ConditioningError::MissingModelFile { .. }) => (
                PathBuf::from("preprocessor_config.json"),
                FeatureExtractorConfig::default(),
            ),
            Err(e) => return Err(e),
        };
        if preprocess.sampling_rate != crate::audio::SAMPLE_RATE {
            return Err(ConditioningError::invalid(
                pre_path.display().to_string(),
                format!(
                    "sampling_rate is {}, this crate feeds {} Hz",
                    preprocess.sampling_rate,
                    crate::audio::SAMPLE_RATE
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

    pub fn model(&self) -> &Wav2Vec2 {
        &self.model
    }

    /// 16 kHz samples → [T, H] at the model's native rate (~50 Hz), normalised as configured.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] if the audio is shorter than one frame's receptive field.
    pub fn native_features(&self, samples: &[f32]) -> Result<Tensor> {
        let cfg = &self.model.cfg;
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
        self.model.cfg.hidden_size
    }

    fn encode(&self, samples: &[f32], fps: f64) -> Result<Tensor> {
        let feats = self.native_features(samples)?;
        let cfg = &self.model.cfg;
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
        ] {
            let e = read(patch).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("config.json"), "{e}");
        }
    }

    #[test]
    fn normalize_matches_definition() {
        let y = normalize(&[1.0, 2.0, 3.0]);
        let s = (2.0f64 / 3.0 + 1e-7).sqrt();
        assert!((y[0] as f64 + 1.0 / s).abs() < 1e-6);
        assert_eq!(y[1], 0.0);
    }
}
