//! A residual add and the layer norm that follows it, for CPU inference: `h + delta` and
//! `LayerNorm(h + delta)` in one parallel pass over the rows.
//!
//! A pre-norm transformer block does this between every pair of sub-layers. As candle ops it is
//! an add, then a layer norm, each a separately threaded op on candle's own thread pool, which
//! competes for the cores with rayon's pool that the other kernels use; here both run as one
//! rayon task per block of rows.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;
use super::exp::{simd_fn, sum_lanes};

/// Rows per parallel task.
const ROWS: usize = 64;

/// `h + delta` (or `h` when `delta` is `None`) and its layer norm over the last dimension with
/// `weight`, `bias` and `eps` → (sum, normed), both shaped as `h`. Inference only: when
/// anything asks for a gradient, or off the CPU, candle's composed ops (with their backward
/// pass) compute the same.
///
/// # Errors
/// Shapes that do not fit.
pub fn residual_layer_norm(
    h: &Tensor,
    delta: Option<&Tensor>,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> candle_core::Result<(Tensor, Tensor)> {
    let d = h.dim(candle_core::D::Minus1)?;
    if let Some(delta) = delta {
        if delta.dims() != h.dims() {
            candle_core::bail!(
                "residual layer norm: delta {:?} is not shaped as h {:?}",
                delta.dims(),
                h.dims()
            );
        }
    }
    if weight.dims() != [d] || bias.dims() != [d] {
        candle_core::bail!(
            "residual layer norm: weight {:?} and bias {:?} for rows of {d}",
            weight.dims(),
            bias.dims()
        );
    }
    let tracks = [Some(h), delta, Some(weight), Some(bias)]
        .into_iter()
        .flatten()
        .any(Tensor::track_op);
    let all_f32 = [Some(h), delta, Some(weight), Some(bias)]
        .into_iter()
        .flatten()
        .all(|t| t.dtype() == DType::F32 && t.device().is_cpu());
    if tracks || !all_f32 {
        let sum = match delta {
            Some(delta) => (h + delta)?,
            None => h.clone(),
        };
        let normed = candle_nn::ops::layer_norm_slow(&sum, weight, bias, eps as f32)?;
        return Ok((sum, normed));
    }
    let op = "residual layer norm";
    let h = h.contiguous()?;
    let delta = delta.map(Tensor::contiguous).transpose()?;
    let read = |t: &Tensor| -> candle_core::Result<Vec<f32>> {
        let (s, l) = t.storage_and_layout();
        match &*s {
            candle_core::Storage::Cpu(s) => Ok(contiguous_f32(op, s, l)?.to_vec()),
            _ => candle_core::bail!("{op}: CPU tensors expected"),
        }
    };
    let (w, b) = (read(weight)?, read(bias)?);
    let (hs, hl) = h.storage_and_layout();
    let candle_core::Storage::Cpu(hs) = &*hs else {
        candle_core::bail!("{op}: CPU tensors expected");
    };
    let a = contiguous_f32(op, hs, hl)?;
    let mut normed = vec![0f32; a.len()];
    // One task per block of rows: the sum (into a new buffer), then its norm, while the
    // rows are in cache. Without a delta, h itself is the sum.
    let sum = match &delta {
        Some(delta) => {
            let (ds, dl) = delta.storage_and_layout();
            let candle_core::Storage::Cpu(ds) = &*ds else {
                candle_core::bail!("{op}: CPU tensors expected");
            };
            let delta = contiguous_f32(op, ds, dl)?;
            let mut sum = vec![0f32; a.len()];
            sum.par_chunks_mut(ROWS * d)
                .zip(normed.par_chunks_mut(ROWS * d))
                .zip(a.par_chunks(ROWS * d).zip(delta.par_chunks(ROWS * d)))
                .for_each(|((s, n), (a, delta))| {
                    for ((s, a), delta) in s.iter_mut().zip(a).zip(delta) {
                        *s = a + delta;
                    }
                    norm_rows(s, n, &w, &b, eps as f32);
                });
            Some(sum)
        }
        None => {
            normed
                .par_chunks_mut(ROWS * d)
                .zip(a.par_chunks(ROWS * d))
                .for_each(|(n, a)| norm_rows(a, n, &w, &b, eps as f32));
            None
        }
    };
    let sum = match sum {
        Some(sum) => Tensor::from_vec(sum, h.shape().clone(), h.device())?,
        None => h.clone(),
    };
    let normed = Tensor::from_vec(normed, h.shape().clone(), h.device())?;
    Ok((sum, normed))
}

simd_fn! {
    /// The layer norm of each `w.len()`-wide row of `rows` into `out`; mean and variance
    /// summed in vector lanes.
    fn norm_rows(rows: &[f32], out: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
        let d = w.len();
        for (o, x) in out.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
            let mean = sum_lanes(x, |v| v) / d as f32;
            let var = sum_lanes(x, |v| (v - mean) * (v - mean)) / d as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for (((o, x), w), b) in o.iter_mut().zip(x).zip(w).zip(b) {
                *o = (x - mean) * inv * w + b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;

    #[test]
    fn equals_add_then_layer_norm() {
        // More rows than one task, mean far from zero.
        let h = (crate::test_tensor(1.0, (3, 70, 24), 18).unwrap() + 5.0).unwrap();
        let delta = crate::test_tensor(1.0, (3, 70, 24), 19).unwrap();
        let w = (crate::test_tensor(0.2, 24, 91).unwrap() + 1.0).unwrap();
        let b = crate::test_tensor(0.2, 24, 20).unwrap();
        let (sum, normed) = residual_layer_norm(&h, Some(&delta), &w, &b, 1e-5).unwrap();
        let want_sum = (&h + &delta).unwrap();
        let want = candle_nn::ops::layer_norm_slow(&want_sum, &w, &b, 1e-5).unwrap();
        assert_eq!(max_abs_diff(&sum, &want_sum), 0.0);
        assert!(max_abs_diff(&normed, &want) < 1e-5);
        let (same, normed) = residual_layer_norm(&h, None, &w, &b, 1e-5).unwrap();
        assert_eq!(max_abs_diff(&same, &h), 0.0);
        let want = candle_nn::ops::layer_norm_slow(&h, &w, &b, 1e-5).unwrap();
        assert!(max_abs_diff(&normed, &want) < 1e-5);
        // Variables take the composed path, which has a backward pass.
        let v = candle_core::Var::from_tensor(&delta).unwrap();
        let (_, normed) = residual_layer_norm(&h, Some(v.as_tensor()), &w, &b, 1e-5).unwrap();
        let grads = normed.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(v.as_tensor()).is_some());
        let bad = residual_layer_norm(&h, Some(&delta.narrow(1, 0, 5).unwrap()), &w, &b, 1e-5);
        assert!(bad.unwrap_err().to_string().contains("delta"));
    }
}
