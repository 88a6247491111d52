//! The transformer of wav2vec2: positional convolution, self-attention layers (post-norm or
//! pre-norm) and the encoder that runs them.

use candle_core::{Module, Tensor};
use candle_nn::{linear, Activation, Conv1d, Conv1dConfig, LayerNorm, Linear, VarBuilder};

use super::config::Config;

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
    /// Builds the layer from `vb` (`conv` (weight-normed, see above)).
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
            act: cfg.feat_extract_activation,
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
    /// Builds the layer from `vb` (`q_proj`, `k_proj`, `v_proj`, `out_proj`).
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
    /// Builds the layer from `vb` (`intermediate_dense`, `output_dense`).
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
            act: cfg.hidden_act,
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
    /// Builds the layer from `vb` (`attention`, `layer_norm`, `feed_forward`, `final_layer_norm`).
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
    /// Builds the layer from `vb` (`pos_conv_embed`, `layer_norm`, `layers.{i}`).
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
