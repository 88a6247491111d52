//! Per-channel normalisation over time of time-major data (a group norm with one group per
//! channel, as wav2vec2's first convolution uses), with the affine and an optional GELU fused,
//! for CPU inference.
//!
//! candle's `GroupNorm` takes channel-major input, and on the CPU its reductions and the
//! element-wise passes after them run on one thread; over wav2vec2's first layer (512 channels
//! × 32 000 frames for 10 s) that is several full passes of 64 MB on one core. Here the
//! statistics are one parallel pass (partial sums per block of frames, then a reduction) and
//! the normalisation, affine and GELU a second.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;
use super::gelu::gelu_in_place;
use super::linear::Epilogue;

/// Frames per parallel task.
const FRAMES_PER_TASK: usize = 256;

/// x `[B, T, C]` normalised per batch item and channel over the T frames (biased variance, as
/// PyTorch's `GroupNorm` with C groups), then `· gamma + beta` (`[C]` each), then `epilogue`.
/// f32 on the CPU takes the fused kernel; other devices and types the same math through
/// candle's ops.
///
/// # Errors
/// Shape mismatches, or no frames.
pub fn channel_norm_time_major(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        let (x, g, b) = (x.contiguous()?, gamma.contiguous()?, beta.contiguous()?);
        return x.apply_op3_no_bwd(&g, &b, &ChannelNorm { eps, epilogue });
    }
    let mean = x.mean_keepdim(1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(1)?;
    let y = centred
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(&gamma.reshape((1, 1, ()))?)?
        .broadcast_add(&beta.reshape((1, 1, ()))?)?;
    match epilogue {
        Epilogue::None => Ok(y),
        Epilogue::GeluErf => y.gelu_erf(),
    }
}

struct ChannelNorm {
    eps: f64,
    epilogue: Epilogue,
}

impl CustomOp3 for ChannelNorm {
    fn name(&self) -> &'static str {
        "time-major-channel-norm"
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
        let op = "time-major channel norm";
        let (x, gamma, beta) = (
            contiguous_f32(op, s1, l1)?,
            contiguous_f32(op, s2, l2)?,
            contiguous_f32(op, s3, l3)?,
        );
        let (&[batch, t, c], &[gc], &[bc]) = (l1.dims(), l2.dims(), l3.dims()) else {
            candle_core::bail!(
                "{op}: x {:?}, gamma {:?}, beta {:?} are not [B, T, C], [C], [C]",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        };
        if gc != c || bc != c || t == 0 {
            candle_core::bail!(
                "{op}: x {:?}, gamma {:?}, beta {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        for (x, out) in x.chunks(t * c).zip(out.chunks_mut(t * c)) {
            // Sums in f64: 32 000 frames of squares in f32 would lose the variance's digits.
            let (sum, sum_sq) = x
                .par_chunks(FRAMES_PER_TASK * c)
                .map(|block| {
                    let (mut s, mut q) = (vec![0f64; c], vec![0f64; c]);
                    for row in block.chunks(c) {
                        for ((s, q), &v) in s.iter_mut().zip(q.iter_mut()).zip(row) {
                            *s += v as f64;
                            *q += v as f64 * v as f64;
                        }
                    }
                    (s, q)
                })
                .reduce(
                    || (vec![0f64; c], vec![0f64; c]),
                    |(mut s, mut q), (s2, q2)| {
                        s.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                        q.iter_mut().zip(&q2).for_each(|(a, b)| *a += b);
                        (s, q)
                    },
                );
            let n = t as f64;
            // (x − mean) · scale + beta: subtracting first keeps a small spread around a large
            // mean exact where x · scale + (beta − mean · scale) would cancel.
            let (mean, scale): (Vec<f32>, Vec<f32>) = (0..c)
                .map(|i| {
                    let mean = sum[i] / n;
                    let var = (sum_sq[i] / n - mean * mean).max(0.0);
                    (
                        mean as f32,
                        (gamma[i] as f64 / (var + self.eps).sqrt()) as f32,
                    )
                })
                .unzip();
            out.par_chunks_mut(FRAMES_PER_TASK * c)
                .zip(x.par_chunks(FRAMES_PER_TASK * c))
                .for_each(|(out, x)| {
                    for (o_row, x_row) in out.chunks_mut(c).zip(x.chunks(c)) {
                        let per_channel = mean.iter().zip(&scale).zip(beta);
                        for ((o, &v), ((&m, &a), &b)) in
                            o_row.iter_mut().zip(x_row).zip(per_channel)
                        {
                            *o = (v - m) * a + b;
                        }
                    }
                    if self.epilogue == Epilogue::GeluErf {
                        gelu_in_place(out);
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from_dims(&[batch, t, c])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;

    /// The same normalisation channel-major, as candle's `GroupNorm` computes it.
    fn reference(x_cm: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Tensor {
        let c = gamma.dim(0).unwrap();
        let norm = candle_nn::GroupNorm::new(gamma.clone(), beta.clone(), c, c, eps).unwrap();
        candle_core::Module::forward(&norm, x_cm).unwrap()
    }

    #[test]
    fn equals_candle_group_norm_with_a_group_per_channel() {
        // More frames than one task, a mean far from zero (the single-pass variance's hard
        // case), and two batch items with their own statistics.
        for t in [1, 7, 700] {
            let x = (crate::test_tensor(2.0, (2, 6, t), 1).unwrap() + 30.0).unwrap();
            let gamma = (crate::test_tensor(0.3, 6, 90).unwrap() + 1.0).unwrap();
            let beta = crate::test_tensor(0.3, 6, 2).unwrap();
            let want = reference(&x, &gamma, &beta, 1e-5).transpose(1, 2).unwrap();
            let x_tm = x.transpose(1, 2).unwrap();
            for epilogue in [Epilogue::None, Epilogue::GeluErf] {
                let got = channel_norm_time_major(&x_tm, &gamma, &beta, 1e-5, epilogue).unwrap();
                let want = match epilogue {
                    Epilogue::None => want.clone(),
                    Epilogue::GeluErf => want.gelu_erf().unwrap(),
                };
                assert_eq!(got.dims(), want.dims());
                let err = max_abs_diff(&got, &want);
                assert!(err < 2e-4, "t {t}: max abs error {err}");
            }
            // The composed path other devices take.
            let composed = channel_norm_time_major(
                &x_tm.to_dtype(DType::F64).unwrap(),
                &gamma.to_dtype(DType::F64).unwrap(),
                &beta.to_dtype(DType::F64).unwrap(),
                1e-5,
                Epilogue::None,
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
            assert!(max_abs_diff(&composed, &want) < 2e-4, "t {t}");
        }
    }
}
