//! Multi-head attention whose keys and values can be computed once and reused: the
//! cross-attention memory (audio and style) does not change across diffusion steps, and the
//! guidance branches of one window share it.
//!
//! `m2f-kernels` picks the path: when nothing asks for a gradient (a loaded model sampling)
//! fused CPU kernels (bias fused into each projection; scores, bias, softmax and values per
//! block of rows in cache, heads read in place, no copies to split or merge them); in training
//! candle's composed ops, which have a backward pass.

use candle_core::Tensor;
use candle_nn::{linear, Linear, VarBuilder};
use m2f_kernels::{attention_shared, linear_layer, Epilogue};

/// Keys and values of one attention layer, heads side by side: [Bm, M, hidden] each.
#[derive(Debug, Clone)]
pub struct KeyValues {
    /// [Bm, M, hidden]
    pub keys: Tensor,
    /// [Bm, M, hidden]
    pub values: Tensor,
}

/// Multi-head attention with `q_proj`, `k_proj`, `v_proj`, `out_proj` (PyTorch
/// `nn.MultiheadAttention`'s maths, with separate projections as HF names them).
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
    /// Width `hidden` split into `num_heads` heads; layers under `vb`.
    pub fn new(hidden: usize, num_heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            q_proj: linear(hidden, hidden, vb.pp("q_proj"))?,
            k_proj: linear(hidden, hidden, vb.pp("k_proj"))?,
            v_proj: linear(hidden, hidden, vb.pp("v_proj"))?,
            out_proj: linear(hidden, hidden, vb.pp("out_proj"))?,
            num_heads,
            head_dim: hidden / num_heads,
        })
    }

    /// memory: [Bm, M, hidden] → its keys and values.
    pub fn key_values(&self, memory: &Tensor) -> candle_core::Result<KeyValues> {
        Ok(KeyValues {
            keys: linear_layer(&self.k_proj, memory, Epilogue::None)?,
            values: linear_layer(&self.v_proj, memory, Epilogue::None)?,
        })
    }

    /// Attention of queries from `xs` [B, N, hidden] over `kv` ([Bm, M, hidden] with
    /// B = g·Bm: query row `i·Bm + j` reads memory `j`, so g guidance branches of Bm windows
    /// share their windows' keys and values without copies) with an additive `bias`
    /// [B, N, M] (0 to attend, a large negative number to ignore) → [B, N, hidden].
    pub fn forward(
        &self,
        xs: &Tensor,
        kv: &KeyValues,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        self.attend(&self.queries(xs)?, kv, bias)
    }

    /// The queries of `xs` [B, N, hidden], heads side by side.
    pub fn queries(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        linear_layer(&self.q_proj, xs, Epilogue::None)
    }

    /// [`Attention::forward`] from queries `q` [B, N, hidden] (of [`Attention::queries`]):
    /// the attention over `kv` and the output projection.
    pub fn attend(
        &self,
        q: &Tensor,
        kv: &KeyValues,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let out = attention_shared(q, &kv.keys, &kv.values, bias, self.num_heads, scale)?;
        linear_layer(&self.out_proj, &out, Epilogue::None)
    }

    /// The output [1, 1, hidden] for a query that sees nothing but memory token 0 of `kv`
    /// (a softmax over one key is exactly 1): that token's value through the output
    /// projection, whatever the query.
    pub fn first_token_output(&self, kv: &KeyValues) -> candle_core::Result<Tensor> {
        let v0 = kv.values.narrow(0, 0, 1)?.narrow(1, 0, 1)?.contiguous()?;
        linear_layer(&self.out_proj, &v0, Epilogue::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    /// Branches sharing one memory give what each would give with its own copy.
    #[test]
    fn shared_memory_equals_repeated_memory() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let att = Attention::new(8, 2, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let xs = Tensor::randn(0f32, 1.0, (6, 5, 8), &dev).unwrap();
        let memory = Tensor::randn(0f32, 1.0, (2, 7, 8), &dev).unwrap();
        let bias = (Tensor::randn(0f32, 1.0, (6, 5, 7), &dev).unwrap() * 3.0).unwrap();
        let shared = att
            .forward(&xs, &att.key_values(&memory).unwrap(), Some(&bias))
            .unwrap();
        let repeated = Tensor::cat(&[&memory, &memory, &memory], 0).unwrap();
        let own = att
            .forward(&xs, &att.key_values(&repeated).unwrap(), Some(&bias))
            .unwrap();
        let diff = (shared - own)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }
}
