//! CLIP's two transformers (HF `CLIPTextTransformer` and `CLIPVisionTransformer`) on the
//! workspace's fused CPU kernels: the attention projections as one product read by the
//! attention kernel, and each residual sum with the next layer norm in one pass. A prompt's
//! few tokens make every product a pass of dot products along the weights (`m2f-kernels`).

use candle_core::{IndexOp, Module, Tensor};
use candle_nn::{embedding, linear, Embedding, Linear, VarBuilder};
use m2f_kernels::{self as kernels, Epilogue};

use super::{ClipActivation, HfClipTextConfig, HfClipVisionConfig};

/// CLIP's layer-norm epsilon (the configs are checked to name it).
const EPS: f64 = 1e-5;

/// The sizes a CLIP encoder is built from, for either tower.
#[derive(Debug, Clone, Copy)]
struct EncoderSizes {
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    act: ClipActivation,
}

/// `self_attn`: `q_proj`, `k_proj`, `v_proj` (read under their checkpoint names and run as one
/// product) and `out_proj`.
#[derive(Debug, Clone)]
struct Attention {
    qkv: Linear,
    out_proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(s: EncoderSizes, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = s.hidden;
        let (q, k, v) = (
            linear(h, h, vb.pp("q_proj"))?,
            linear(h, h, vb.pp("k_proj"))?,
            linear(h, h, vb.pp("v_proj"))?,
        );
        Ok(Self {
            qkv: kernels::concat_linear(&[&q, &k, &v])?,
            out_proj: linear(h, h, vb.pp("out_proj"))?,
            heads: s.heads,
            head_dim: h / s.heads,
        })
    }

    /// xs `[B, T, H]`, `bias` `[B, T, T]` (the text tower's causal mask) → `[B, T, H]`
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let qkv = kernels::linear_layer(&self.qkv, xs, Epilogue::None)?;
        // HF scales the queries by head_dim^-0.5; the kernels scale the scores.
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let ctx = kernels::attention_packed(&qkv, self.heads, scale, bias)?;
        kernels::linear_layer(&self.out_proj, &ctx, Epilogue::None)
    }
}

/// `mlp`: `fc1` → activation → `fc2`.
#[derive(Debug, Clone)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: ClipActivation,
}

impl Mlp {
    fn new(s: EncoderSizes, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            fc1: linear(s.hidden, s.intermediate, vb.pp("fc1"))?,
            fc2: linear(s.intermediate, s.hidden, vb.pp("fc2"))?,
            act: s.act,
        })
    }

    /// `[B, T, H]` → `[B, T, H]`
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = kernels::linear_layer(&self.fc1, xs, Epilogue::None)?;
        let hidden = match self.act {
            // x · sigmoid(1.702 x)
            ClipActivation::QuickGelu => (&hidden * candle_nn::ops::sigmoid(&(&hidden * 1.702)?)?)?,
        };
        kernels::linear_layer(&self.fc2, &hidden, Epilogue::None)
    }
}

/// `encoder.layers.{i}`: pre-norm attention (`layer_norm1`, `self_attn`) and feed-forward
/// (`layer_norm2`, `mlp`).
#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: m2f_train::LayerNorm,
    self_attn: Attention,
    layer_norm2: m2f_train::LayerNorm,
    mlp: Mlp,
}

impl EncoderLayer {
    fn new(s: EncoderSizes, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            layer_norm1: m2f_train::LayerNorm::new(s.hidden, EPS, vb.pp("layer_norm1"))?,
            self_attn: Attention::new(s, vb.pp("self_attn"))?,
            layer_norm2: m2f_train::LayerNorm::new(s.hidden, EPS, vb.pp("layer_norm2"))?,
            mlp: Mlp::new(s, vb.pp("mlp"))?,
        })
    }

    /// `[B, T, H]` → `[B, T, H]`
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (_, normed) = layer_norm(xs, None, &self.layer_norm1)?;
        let attended = self.self_attn.forward(&normed, bias)?;
        let (xs, normed) = layer_norm(xs, Some(&attended), &self.layer_norm2)?;
        &xs + self.mlp.forward(&normed)?
    }
}

/// `(h + delta, layer_norm(h + delta))` in one pass.
fn layer_norm(
    h: &Tensor,
    delta: Option<&Tensor>,
    norm: &m2f_train::LayerNorm,
) -> candle_core::Result<(Tensor, Tensor)> {
    kernels::residual_layer_norm(h, delta, norm.weight(), norm.bias(), norm.eps())
}

/// `encoder`: the layers (`layers.{i}`).
#[derive(Debug, Clone)]
struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    fn new(s: EncoderSizes, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = (0..s.layers)
            .map(|i| EncoderLayer::new(s, vb.pp("layers").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { layers })
    }

    /// `[B, T, H]` → `[B, T, H]`
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let mut xs = xs.clone();
        for layer in &self.layers {
            xs = layer.forward(&xs, bias)?;
        }
        Ok(xs)
    }
}

/// `text_model`: token and position embeddings (`embeddings.token_embedding`,
/// `embeddings.position_embedding`), the causal `encoder` and `final_layer_norm`.
#[derive(Debug, Clone)]
pub(super) struct TextTransformer {
    token_embedding: Embedding,
    position_embedding: Embedding,
    encoder: Encoder,
    final_layer_norm: m2f_train::LayerNorm,
}

impl TextTransformer {
    pub(super) fn new(c: &HfClipTextConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let sizes = EncoderSizes {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            act: c.hidden_act,
        };
        let emb = vb.pp("embeddings");
        Ok(Self {
            token_embedding: embedding(c.vocab_size, c.hidden_size, emb.pp("token_embedding"))?,
            position_embedding: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                emb.pp("position_embedding"),
            )?,
            encoder: Encoder::new(sizes, vb.pp("encoder"))?,
            final_layer_norm: m2f_train::LayerNorm::new(
                c.hidden_size,
                EPS,
                vb.pp("final_layer_norm"),
            )?,
        })
    }

    /// ids `[B, T]` u32 (T within the position table) → the final-layer-normed states
    /// `[B, T, H]`; each token attends to itself and the tokens before it.
    pub(super) fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let positions = self.position_embedding.embeddings().narrow(0, 0, t)?;
        let xs = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&positions)?;
        let hide = kernels::HIDDEN_BIAS;
        let causal: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { hide } else { 0.0 }))
            .collect();
        let causal = Tensor::from_vec(causal, (1, t, t), ids.device())?
            .broadcast_as((b, t, t))?
            .contiguous()?;
        let xs = self.encoder.forward(&xs, Some(&causal))?;
        Ok(layer_norm(&xs, None, &self.final_layer_norm)?.1)
    }
}

/// `vision_model`: patch, class and position embeddings (`embeddings.patch_embedding` (no
/// bias), `embeddings.class_embedding`, `embeddings.position_embedding`), `pre_layrnorm` (HF's
/// spelling), the `encoder` and `post_layernorm` on the class token.
#[derive(Debug, Clone)]
pub(super) struct VisionTransformer {
    /// `[H, C · P · P]`: the patch convolution as a product over flattened patches.
    patch_weight: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: m2f_train::LayerNorm,
    encoder: Encoder,
    post_layernorm: m2f_train::LayerNorm,
    patch: usize,
}

impl VisionTransformer {
    pub(super) fn new(c: &HfClipVisionConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (h, p, ch) = (c.hidden_size, c.patch_size, c.num_channels);
        let sizes = EncoderSizes {
            hidden: h,
            intermediate: c.intermediate_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            act: c.hidden_act,
        };
        let grid = c.image_size / p;
        let emb = vb.pp("embeddings");
        Ok(Self {
            patch_weight: emb
                .pp("patch_embedding")
                .get((h, ch, p, p), "weight")?
                .reshape((h, ch * p * p))?,
            class_embedding: emb.get(h, "class_embedding")?,
            position_embedding: emb
                .pp("position_embedding")
                .get((grid * grid + 1, h), "weight")?,
            pre_layrnorm: m2f_train::LayerNorm::new(h, EPS, vb.pp("pre_layrnorm"))?,
            encoder: Encoder::new(sizes, vb.pp("encoder"))?,
            post_layernorm: m2f_train::LayerNorm::new(h, EPS, vb.pp("post_layernorm"))?,
            patch: p,
        })
    }

    /// pixels `[B, C, S, S]` (S a multiple of the patch side, as configured) → the pooled,
    /// post-layer-normed class token `[B, H]`.
    pub(super) fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, s, _) = pixels.dims4()?;
        let (p, g) = (self.patch, s / self.patch);
        let h = self.class_embedding.dim(0)?;
        // Non-overlapping patches flattened as the convolution weight is, (channel, row,
        // column): the convolution is then one product.
        let patches = pixels
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b, g * g, c * p * p))?;
        let patches = patches.broadcast_matmul(&self.patch_weight.t()?)?;
        let class = self
            .class_embedding
            .reshape((1, 1, h))?
            .broadcast_as((b, 1, h))?;
        let xs = Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.position_embedding)?;
        let (_, xs) = layer_norm(&xs, None, &self.pre_layrnorm)?;
        let xs = self.encoder.forward(&xs, None)?;
        let class = xs.i((.., 0..1, ..))?;
        layer_norm(&class, None, &self.post_layernorm)?.1.squeeze(1)
    }
}
