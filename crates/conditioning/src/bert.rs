//! BERT (HF `BertModel`, as sentence-transformers' MiniLM checkpoints store it), for inference
//! on the workspace's fused CPU kernels: the three attention projections as one product, the
//! attention kernel reading its packed result, GELU inside the first feed-forward product, and
//! each residual sum with its layer norm in one pass. On a prompt of a dozen tokens every
//! product has a few rows and runs as dot products along the weights (`m2f-kernels`).

use candle_core::{DType, Module, Tensor};
use candle_nn::{embedding, linear, Activation, Embedding, Linear, VarBuilder};
use m2f_kernels::{self as kernels, Epilogue};
use serde::Deserialize;

/// How positions are embedded (HF `position_embedding_type`); only a learned table of absolute
/// positions is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionEmbeddingType {
    /// One learned vector per position.
    #[default]
    Absolute,
}

/// The fields of an HF BERT `config.json` that the forward pass depends on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; divides `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of each feed-forward layer's hidden state.
    pub intermediate_size: usize,
    /// The feed-forward activation (HF `"gelu"` is the exact, erf one).
    pub hidden_act: Activation,
    /// Longest input, in tokens, the position table covers.
    pub max_position_embeddings: usize,
    /// Segment types (`token_type_ids` values).
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm.
    pub layer_norm_eps: f64,
    /// How positions are embedded.
    #[serde(default)]
    pub position_embedding_type: PositionEmbeddingType,
    /// The model's name inside the checkpoint (`bert`), a possible prefix of its tensors.
    #[serde(default)]
    pub model_type: Option<String>,
}

/// `embeddings`: word, position and segment embeddings, summed and layer-normed.
#[derive(Debug, Clone)]
struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: m2f_train::LayerNorm,
}

impl Embeddings {
    /// `vb`: `word_embeddings`, `position_embeddings`, `token_type_embeddings`, `LayerNorm`.
    fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            word_embeddings: embedding(cfg.vocab_size, h, vb.pp("word_embeddings"))?,
            position_embeddings: embedding(
                cfg.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type_embeddings: embedding(
                cfg.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?,
            layer_norm: m2f_train::LayerNorm::new(h, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// ids, type ids `[B, T]` u32 → `[B, T, H]`
    fn forward(&self, ids: &Tensor, type_ids: &Tensor) -> candle_core::Result<Tensor> {
        let t = ids.dim(1)?;
        let positions = self.position_embeddings.embeddings().narrow(0, 0, t)?;
        let summed = self
            .word_embeddings
            .forward(ids)?
            .add(&self.token_type_embeddings.forward(type_ids)?)?
            .broadcast_add(&positions)?;
        let n = &self.layer_norm;
        Ok(kernels::residual_layer_norm(&summed, None, n.weight(), n.bias(), n.eps())?.1)
    }
}

/// `attention`: self-attention (`self.query`, `self.key`, `self.value`, read under their
/// checkpoint names and run as one product) and its output projection (`output.dense`), whose
/// residual layer norm (`output.LayerNorm`) the layer applies.
#[derive(Debug, Clone)]
struct Attention {
    qkv: Linear,
    dense: Linear,
    norm: m2f_train::LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let attn = vb.pp("self");
        let (q, k, v) = (
            linear(h, h, attn.pp("query"))?,
            linear(h, h, attn.pp("key"))?,
            linear(h, h, attn.pp("value"))?,
        );
        Ok(Self {
            qkv: kernels::concat_linear(&[&q, &k, &v])?,
            dense: linear(h, h, vb.pp("output").pp("dense"))?,
            norm: m2f_train::LayerNorm::new(
                h,
                cfg.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// xs `[B, T, H]`, `bias` `[B, T, T]` (0 for a token, [`kernels::HIDDEN_BIAS`] for
    /// padding) or `None` when nothing is padded → `[B, T, H]` (before the residual).
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let qkv = kernels::linear_layer(&self.qkv, xs, Epilogue::None)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let ctx = kernels::attention_packed(&qkv, self.heads, scale, bias)?;
        kernels::linear_layer(&self.dense, &ctx, Epilogue::None)
    }
}

/// `encoder.layer.{i}`: post-norm attention and feed-forward (`intermediate.dense`,
/// `output.dense`, `output.LayerNorm`).
#[derive(Debug, Clone)]
struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    output_norm: m2f_train::LayerNorm,
    act: Activation,
}

impl Layer {
    fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let (h, f) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: Attention::new(cfg, vb.pp("attention"))?,
            intermediate: linear(h, f, vb.pp("intermediate").pp("dense"))?,
            output: linear(f, h, vb.pp("output").pp("dense"))?,
            output_norm: m2f_train::LayerNorm::new(
                h,
                cfg.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            act: cfg.hidden_act,
        })
    }

    /// `[B, T, H]` → `[B, T, H]`
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        // Residual sums and their layer norms in one pass.
        let norm = |h: &Tensor, delta: &Tensor, n: &m2f_train::LayerNorm| {
            Ok::<_, candle_core::Error>(
                kernels::residual_layer_norm(h, Some(delta), n.weight(), n.bias(), n.eps())?.1,
            )
        };
        let attended = self.attention.forward(xs, bias)?;
        let xs = norm(xs, &attended, &self.attention.norm)?;
        let hidden = kernels::then_activate(self.act, |epilogue| {
            kernels::linear_layer(&self.intermediate, &xs, epilogue)
        })?;
        let fed = kernels::linear_layer(&self.output, &hidden, Epilogue::None)?;
        norm(&xs, &fed, &self.output_norm)
    }
}

/// BERT's embeddings and encoder (no pooler: sentence-transformers pools the last hidden
/// state itself).
#[derive(Debug, Clone)]
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    max_positions: usize,
}

impl BertModel {
    /// `vb` is the checkpoint's root: `embeddings.*` and `encoder.layer.{i}.*`, directly or
    /// below `bert.` (or the config's `model_type`), as HF writes a bare `BertModel` or one
    /// inside a task model.
    ///
    /// # Errors
    /// A head count that does not divide the width, or missing or mis-shaped weights.
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 {
            candle_core::bail!(
                "BERT config: {heads} attention heads do not divide hidden_size {h}"
            );
        }
        let prefixes = [Some("bert"), cfg.model_type.as_deref(), None];
        let vb = match prefixes.into_iter().find(|p| {
            let probe = "embeddings.word_embeddings.weight";
            match p {
                Some(p) => vb.contains_tensor(&format!("{p}.{probe}")),
                None => vb.contains_tensor(probe),
            }
        }) {
            Some(Some(prefix)) => vb.pp(prefix),
            // The bare layout; a missing tensor is named by the first `get` below.
            _ => vb,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, vb.pp("encoder").pp("layer").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            embeddings: Embeddings::new(cfg, vb.pp("embeddings"))?,
            layers,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// ids and type ids `[B, T]` u32, `mask` `[B, T]` (1 for a token, 0 for padding) →
    /// the last hidden state `[B, T, H]`.
    ///
    /// # Errors
    /// More tokens than the position table holds, ids outside the vocabulary, shapes that do
    /// not fit.
    pub fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if t == 0 || t > self.max_positions {
            candle_core::bail!(
                "BERT input of {t} tokens, expected 1..={}",
                self.max_positions
            );
        }
        let mask = mask.to_dtype(DType::F32)?;
        // Padding hides its keys from every query; a batch without padding needs no bias.
        let bias = if mask.min_all()?.to_scalar::<f32>()? < 1.0 {
            // (1 - mask) · HIDDEN_BIAS
            let hidden = f64::from(kernels::HIDDEN_BIAS);
            let keys = mask.affine(-hidden, hidden)?.reshape((b, 1, t))?;
            Some(keys.broadcast_as((b, t, t))?.contiguous()?)
        } else {
            None
        };
        let mut xs = self.embeddings.forward(ids, type_ids)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, bias.as_ref())?;
        }
        Ok(xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn config(heads: usize) -> Config {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 12, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": heads, "intermediate_size": 16, "hidden_act": "gelu",
            "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        }))
        .unwrap()
    }

    /// A head count that does not divide the width is an error, not a division by zero; a
    /// padded batch gives each sentence what it gives alone.
    #[test]
    fn bad_heads_are_refused_and_padding_is_hidden() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        for heads in [0, 3] {
            let err = BertModel::new(&config(heads), vb.clone()).unwrap_err();
            assert!(err.to_string().contains("attention heads"), "{err}");
        }
        let model = BertModel::new(&config(2), vb).unwrap();
        let dev = Device::Cpu;
        let ids = Tensor::new(&[[1u32, 5, 7, 2], [1, 9, 2, 0]], &dev).unwrap();
        let types = ids.zeros_like().unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1], [1, 1, 1, 0]], &dev).unwrap();
        let batch = model.forward(&ids, &types, &mask).unwrap();
        let alone_ids = Tensor::new(&[[1u32, 9, 2]], &dev).unwrap();
        let alone = model
            .forward(
                &alone_ids,
                &alone_ids.zeros_like().unwrap(),
                &alone_ids.ones_like().unwrap(),
            )
            .unwrap();
        let padded = batch.narrow(0, 1, 1).unwrap().narrow(1, 0, 3).unwrap();
        let diff = (padded - alone).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }
}
