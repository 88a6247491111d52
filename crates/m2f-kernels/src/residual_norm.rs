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
    // The sum in one pass into a new buffer; without a delta, h itself is the sum.
    let sum = match delta {
        Some(delta) => {
            let delta = delta.contiguous()?;
            let (hs, hl) = h.storage_and_layout();
            let (ds, dl) = delta.storage_and_layout();
            let (candle_core::Storage::Cpu(hs), candle_core::Storage::Cpu(ds)) = (&*hs, &*ds)
            else {
                candle_core::bail!("{op}: CPU tensors expected");
            };
            let (a, b) = (contiguous_f32(op, hs, hl)?, contiguous_f32(op, ds, dl)?);
            let mut out = vec![0f32; a.len()];
            out.par_chunks_mut(ROWS * d)
                .zip(a.par_chunks(ROWS * d).zip(b.par_chunks(ROWS * d)))
                .for_each(|(o, (a, b))| {
                    for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                        *o = a + b;
                    }
                });
            Tensor::from_vec(out, h.shape().clone(), h.device())?
        }
        None => h,
    };
    let read = |t: &Tensor| -> candle_core::Result<Vec<f32>> {
        let (s, l) = t.storage_and_layout();
        match &*s {
            candle_core::Storage::Cpu(s) => Ok(contiguous_f32(op, s, l)?.to_vec()),
            _ => candle_core::bail!("{op}: CPU tensors expected"),
        }
    };
    let (w, b) = (read(weight)?, read(bias)?);
    let normed = {
        let (s, l) = sum.storage_and_layout();
        let candle_core::Storage::Cpu(s) = &*s else {
            candle_core::bail!("{op}: CPU tensors expected");
        };
        let rows = contiguous_f32(op, s, l)?;
        let mut normed = vec![0f32; rows.len()];
        normed
            .par_chunks_mut(ROWS * d)
            .zip(rows.par_chunks(ROWS * d))
            .for_each(|(out, rows)| {
                for (o, x) in out.chunks_mut(d).zip(rows.chunks(d)) {
                    let mean = x.iter().sum::<f32>() / d as f32;
                    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                    let inv = 1.0 / (var + eps as f32).sqrt();
                    for (((o, x), w), b) in o.iter_mut().zip(x).zip(&w).zip(&b) {
                        *o = (x - mean) * inv * w + b;
                    }
                }
            });
        normed
    };
    let normed = Tensor::from_vec(normed, sum.shape().clone(), sum.device())?;
    Ok((sum, normed))
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_add_then_layer_norm() {
        let dev = Device::Cpu;
        // More rows than one task, mean far from zero.
        let h = (Tensor::randn(0f32, 1.0, (3, 70, 24), &dev).unwrap() + 5.0).unwrap();
        let delta = Tensor::randn(0f32, 1.0, (3, 70, 24), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.2, 24, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.2, 24, &dev).unwrap();
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
