//! Multi-head attention whose keys and values can be computed once and reused: the
//! cross-attention memory (audio and style) does not change across diffusion steps, and the
//! guidance branches of one window share it.
//!
//! Two paths with the same maths: when nothing asks for a gradient (a loaded model sampling)
//! the fused CPU kernels of `m2f-kernels` (bias fused into each projection; scores, bias,
//! softmax and values per block of rows in cache, heads read in place, no copies to split or
//! merge them); in training candle's composed ops, which have a backward pass.

use candle_core::{Module, Tensor, D};
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

    /// [B, L, hidden] → [B, H, L, head_dim].
    fn split_heads(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, _) = xs.dims3()?;
        xs.reshape((b, l, self.num_heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// memory: [Bm, M, hidden] → its keys and values.
    pub fn key_values(&self, memory: &Tensor) -> candle_core::Result<KeyValues> {
        Ok(KeyValues {
            keys: linear_layer(&self.k_proj, memory, Epilogue::None)?,
            values: linear_layer(&self.v_proj, memory, Epilogue::None)?,
        })
    }

    /// Whether a gradient may be asked of this layer's output for `xs` or `kv`.
    fn tracks(&self, xs: &Tensor, kv: &KeyValues) -> bool {
        xs.track_op()
            || kv.keys.track_op()
            || kv.values.track_op()
            || [&self.q_proj, &self.out_proj]
                .iter()
                .any(|l| l.weight().track_op() || l.bias().is_some_and(|b| b.track_op()))
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
        let (b, n, hidden) = xs.dims3()?;
        let (bm, m, _) = kv.keys.dims3()?;
        if bm == 0 || b % bm != 0 {
            candle_core::bail!("attention: {b} query windows over {bm} memories");
        }
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        if !self.tracks(xs, kv) {
            let q = linear_layer(&self.q_proj, xs, Epilogue::None)?;
            let out = attention_shared(&q, &kv.keys, &kv.values, bias, self.num_heads, scale)?;
            return linear_layer(&self.out_proj, &out, Epilogue::None);
        }
        let (h, dh) = (self.num_heads, self.head_dim);
        let g = b / bm;
        let (keys, values) = (self.split_heads(&kv.keys)?, self.split_heads(&kv.values)?);
        // [B, N, hidden] → [g, Bm, N, H, dh] → [Bm, H, g, N, dh] → [Bm, H, g·N, dh]
        let q = self
            .q_proj
            .forward(xs)?
            .reshape((g, bm, n, h, dh))?
            .permute((1, 3, 0, 2, 4))?
            .contiguous()?
            .reshape((bm, h, g * n, dh))?;
        let mut scores = (q.matmul(&keys.t()?)? * scale)?;
        if let Some(bias) = bias {
            // [B, N, M] → [g, Bm, N, M] → [Bm, 1, g·N, M]
            let bias = bias
                .reshape((g, bm, n, m))?
                .transpose(0, 1)?
                .reshape((bm, 1, g * n, m))?;
            scores = scores.broadcast_add(&bias)?;
        }
        // candle-nn's fused softmax has no backward pass: the composed one when a gradient
        // may be asked for, the fused one otherwise.
        let probs = if scores.track_op() {
            candle_nn::ops::softmax(&scores, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let out = probs
            .matmul(&values)?
            .reshape((bm, h, g, n, dh))?
            .permute((2, 0, 3, 1, 4))?
            .reshape((b, n, hidden))?;
        self.out_proj.forward(&out)
    }

    /// Self-attention of `xs` [B, N, hidden] with an additive `bias` [B, N, N].
    pub fn self_attention(
        &self,
        xs: &Tensor,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let kv = self.key_values(xs)?;
        self.forward(xs, &kv, bias)
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
