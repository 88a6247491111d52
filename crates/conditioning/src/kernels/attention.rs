//! Fused multi-head attention for CPU inference: `softmax(q kᵀ · scale) v` computed block by
//! block, so the [T, T] score matrix of a head never exists in full.
//!
//! candle's composed version writes a [H, T, T] score tensor (54 MB for Whisper's 1500 frames
//! and 6 heads), softmaxes it through libm's scalar `exp`, and multiplies it out again: memory
//! traffic and page faults dominate. Here each task takes 128 query rows of one head, computes
//! their scores into a buffer that stays in cache, softmaxes them with a vectorisable `exp`,
//! and multiplies by V; tasks run in parallel on rayon's pool.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;
use super::exp::softmax_rows;

/// Query rows per task.
const ROWS: usize = 128;

/// `softmax(q kᵀ · scale) v` over the last two dims: q, k, v [..., T, Dh] → [..., T, Dh].
/// Inference only (no backward). f32 on the CPU takes the fused kernel; other devices and
/// types the same math through candle's ops.
///
/// # Errors
/// Shape mismatches between q, k and v.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    if q.device().is_cpu() && q.dtype() == DType::F32 && q.rank() >= 2 {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        q.apply_op3_no_bwd(&k, &v, &FusedAttention { scale })
    } else {
        let scores = (q.matmul(&k.t()?)? * scale)?;
        candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)
    }
}

struct FusedAttention {
    scale: f64,
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (qd, kd, vd) = (l1.dims(), l2.dims(), l3.dims());
        let r = qd.len();
        let (t, dh) = (qd[r - 2], qd[r - 1]);
        let tk = kd[r - 2];
        if kd.len() != r
            || vd.len() != r
            || kd[r - 1] != dh
            || vd[r - 2] != tk
            || vd[r - 1] != dh
            || qd[..r - 2] != kd[..r - 2]
            || kd[..r - 2] != vd[..r - 2]
        {
            candle_core::bail!("fused attention: q {qd:?}, k {kd:?}, v {vd:?} do not fit");
        }
        let (q, k, v) = (
            contiguous_f32("fused attention", s1, l1)?,
            contiguous_f32("fused attention", s2, l2)?,
            contiguous_f32("fused attention", s3, l3)?,
        );
        let heads: usize = qd[..r - 2].iter().product();
        let mut out = vec![0f32; heads * t * dh];
        let scale = self.scale as f32;
        out.par_chunks_mut(t * dh)
            .enumerate()
            .flat_map(|(h, head)| {
                head.par_chunks_mut(ROWS * dh)
                    .enumerate()
                    .map(move |(b, block)| (h, b * ROWS, block))
            })
            .for_each_init(
                || vec![0f32; ROWS * tk],
                |scores, (h, row0, out)| {
                    let rows = out.len() / dh;
                    let q = &q[(h * t + row0) * dh..];
                    let k = &k[h * tk * dh..];
                    let v = &v[h * tk * dh..];
                    let scores = &mut scores[..rows * tk];
                    // SAFETY: every pointer and stride below addresses inside the slices:
                    // q rows × dh, k tk × dh (read transposed), scores rows × tk, v tk × dh,
                    // out rows × dh, all row-major.
                    unsafe {
                        gemm::gemm(
                            rows,
                            tk,
                            dh,
                            scores.as_mut_ptr(),
                            1,
                            tk as isize,
                            false,
                            q.as_ptr(),
                            1,
                            dh as isize,
                            k.as_ptr(),
                            dh as isize,
                            1,
                            0.0,
                            scale,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                    softmax_rows(scores, tk);
                    // SAFETY: as above.
                    unsafe {
                        gemm::gemm(
                            rows,
                            dh,
                            tk,
                            out.as_mut_ptr(),
                            1,
                            dh as isize,
                            false,
                            scores.as_ptr(),
                            1,
                            tk as isize,
                            v.as_ptr(),
                            1,
                            dh as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                },
            );
        Ok((CpuStorage::F32(out), Shape::from_dims(qd)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_the_composed_ops() {
        let dev = Device::Cpu;
        // T not a multiple of the block, keys longer than queries.
        let q = Tensor::randn(0f32, 1.0, (2, 3, 45, 8), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (2, 3, 70, 8), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (2, 3, 70, 8), &dev).unwrap();
        let fused = attention(&q, &k, &v, 0.35).unwrap();
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * 0.35).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&v)
            .unwrap();
        let err = max_abs_diff(&fused, &want);
        assert!(err < 1e-5, "{err}");
        // A transposed (non-contiguous) input gives the same.
        let kt = k
            .transpose(2, 3)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(2, 3)
            .unwrap();
        let again = attention(&q, &kt, &v, 0.35).unwrap();
        let fused = attention(&q, &k, &v, 0.35).unwrap();
        let diff = max_abs_diff(&fused, &again);
        assert_eq!(diff, 0.0);
    }
}
