//! The transformer of wav2vec2: positional convolution, self-attention layers (post-norm or
//! pre-norm) and the encoder that runs them.

use candle_core::{Module, Tensor};
use candle_nn::{linear, Activation, LayerNorm, Linear, VarBuilder};
use m2f_kernels::{self as kernels, Conv1dShape, Epilogue};

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

/// `encoder.pos_conv_embed`: grouped conv over time giving a relative position signal, run
/// time-major through the fused CPU kernel (groups in parallel, GELU as its epilogue).
#[derive(Debug, Clone)]
pub struct PositionalConvEmbedding {
    /// `[H, H / groups, K]`, PyTorch's layout, weight norm applied.
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    padding: usize,
    act: Activation,
}

impl PositionalConvEmbedding {
    /// Builds the layer from `vb` (`conv` (weight-normed, see above)).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let k = cfg.num_conv_pos_embeddings;
        let groups = cfg.num_conv_pos_embedding_groups;
        let h = cfg.hidden_size;
        let vb = vb.pp("conv");
        Ok(Self {
            weight: weight_norm_conv_weight(&vb, h, h / groups, k)?,
            bias: vb.get(h, "bias")?,
            groups,
            padding: k / 2,
            act: cfg.feat_extract_activation,
        })
    }

    /// [B, T, H] → [B, T, H] (the positional term, to be added to the input)
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let t = xs.dim(1)?;
        let shape = Conv1dShape {
            stride: 1,
            padding: self.padding,
        };
        let ys = kernels::then_activate(self.act, |epilogue| {
            kernels::conv1d_time_major_grouped(
                xs,
                &self.weight,
                &self.bias,
                shape,
                self.groups,
                epilogue,
            )
        })?;
        // Even kernels give one frame too many with symmetric padding; HF drops the last.
        ys.narrow(1, 0, t)
    }
}

/// Multi-head self-attention (`attention`), no mask: one utterance per batch row. The three
/// projections are read under their checkpoint names and run as one [3H, H] product, then the
/// fused attention kernel reads the packed result.
#[derive(Debug, Clone)]
pub struct Attention {
    qkv: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl Attention {
    /// Builds the layer from `vb` (`q_proj`, `k_proj`, `v_proj`, `out_proj`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let (q, k, v) = (
            linear(h, h, vb.pp("q_proj"))?,
            linear(h, h, vb.pp("k_proj"))?,
            linear(h, h, vb.pp("v_proj"))?,
        );
        // Weights stored transposed: gemm reads them faster (`kernels::transposed_weight`).
        // Inference only: a copy made from a variable would not follow its training updates.
        let qkv = kernels::with_transposed_weight(kernels::concat_linear(&[&q, &k, &v])?)?;
        Ok(Self {
            qkv,
            out_proj: kernels::with_transposed_weight(linear(h, h, vb.pp("out_proj"))?)?,
            num_heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let qkv = kernels::linear_layer(&self.qkv, xs, Epilogue::None)?;
        // HF scales the queries by head_dim^-0.5; the fused kernel scales the scores.
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let ctx = kernels::attention_packed(&qkv, self.num_heads, scale, None)?;
        kernels::linear_layer(&self.out_proj, &ctx, Epilogue::None)
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
            intermediate_dense: kernels::with_transposed_weight(linear(
                cfg.hidden_size,
                cfg.intermediate_size,
                vb.pp("intermediate_dense"),
            )?)?,
            output_dense: kernels::with_transposed_weight(linear(
                cfg.intermediate_size,
                cfg.hidden_size,
                vb.pp("output_dense"),
            )?)?,
            act: cfg.hidden_act,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = kernels::then_activate(self.act, |epilogue| {
            kernels::linear_layer(&self.intermediate_dense, xs, epilogue)
        })?;
        kernels::linear_layer(&self.output_dense, &ys, Epilogue::None)
    }
}

/// One transformer layer (`encoder.layers.{i}`), post-norm or pre-norm ("stable").
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    attention: Attention,
    layer_norm: m2f_train::LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: m2f_train::LayerNorm,
    pre_norm: bool,
}

impl EncoderLayer {
    /// Builds the layer from `vb` (`attention`, `layer_norm`, `feed_forward`, `final_layer_norm`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            attention: Attention::new(cfg, vb.pp("attention"))?,
            layer_norm: m2f_train::LayerNorm::new(h, cfg.layer_norm_eps, vb.pp("layer_norm"))?,
            feed_forward: FeedForward::new(cfg, vb.pp("feed_forward"))?,
            final_layer_norm: m2f_train::LayerNorm::new(
                h,
                cfg.layer_norm_eps,
                vb.pp("final_layer_norm"),
            )?,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    /// [B, T, H] → [B, T, H]
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        // Residual sums and their layer norms in one pass (`m2f-kernels`).
        let norm = |h: &Tensor, delta: Option<&Tensor>, n: &m2f_train::LayerNorm| {
            kernels::residual_layer_norm(h, delta, n.weight(), n.bias(), n.eps())
        };
        if self.pre_norm {
            let (_, normed) = norm(xs, None, &self.layer_norm)?;
            let attended = self.attention.forward(&normed)?;
            let (xs, normed) = norm(xs, Some(&attended), &self.final_layer_norm)?;
            &xs + self.feed_forward.forward(&normed)?
        } else {
            let (_, xs) = norm(xs, Some(&self.attention.forward(xs)?), &self.layer_norm)?;
            let fed = self.feed_forward.forward(&xs)?;
            Ok(norm(&xs, Some(&fed), &self.final_layer_norm)?.1)
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
