//! The first layer of a waveform encoder (wav2vec2's): a convolution of the one-channel
//! waveform followed by a per-channel norm over time, computed as one convolution with the
//! norm folded into its weights, for CPU inference.
//!
//! The norm's statistics need no pass over the convolution's output. With window v_t (the K
//! samples output frame t reads), channel c's output is w_c · v_t + b_c, so over the frames
//! its mean is w_c · m + b_c and its variance w_cᵀ Σ w_c, where m and Σ are the mean and
//! covariance of the windows: a K × K matrix from the input alone. The normalised,
//! affine-transformed output is then w'_c · v_t + b'_c with w'_c = w_c γ_c / σ_c and
//! b'_c = β_c − (w_c · m) γ_c / σ_c (the convolution's bias cancels). For 10 s at 16 kHz that
//! is one pass writing 512 channels × 32 000 frames (64 MB), where convolving, then reading
//! that output twice for the norm, took 91 ms against 46 (`docs/benchmarks.md`).

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::channel_norm::channel_norm_time_major;
use super::conv::{conv1d_time_major, Conv1dShape};
use super::exp::simd_fn;
use super::gelu::gelu_slice;
use super::linear::Epilogue;

/// Output frames per parallel task: 32 frames of 512 channels is 64 kB, in cache for the GELU.
const FRAMES_PER_TASK: usize = 32;

/// Waveform x `[B, N]` convolved with weight `[C, 1, K]` and bias `[C]` at `stride`, without
/// padding, then normalised per batch item and channel over the frames (biased variance, as
/// PyTorch's `GroupNorm` with C groups), `· gamma + beta` (`[C]` each), then `epilogue`:
/// `[B, T', C]`, time-major. The same as [`conv1d_time_major`] followed by
/// [`channel_norm_time_major`], which other devices and types take. Like them, no backward
/// pass on the CPU.
///
/// # Errors
/// Shape mismatches, or input shorter than the kernel.
#[allow(clippy::too_many_arguments)]
pub fn waveform_conv_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stride: usize,
    eps: f64,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    let (batch, n) = x.dims2()?;
    let (c, one, k) = weight.dims3()?;
    if one != 1 || bias.dims() != [c] || gamma.dims() != [c] || beta.dims() != [c] {
        candle_core::bail!(
            "waveform conv norm: weight {:?}, bias {:?}, gamma {:?}, beta {:?} are not [C, 1, K], [C], [C], [C]",
            weight.dims(),
            bias.dims(),
            gamma.dims(),
            beta.dims()
        );
    }
    if stride == 0 || k == 0 || c == 0 || n < k {
        candle_core::bail!(
            "waveform conv norm: {n} samples, kernel {k}, stride {stride}, {c} channels"
        );
    }
    if !(x.device().is_cpu() && x.dtype() == DType::F32) {
        let shape = Conv1dShape { stride, padding: 0 };
        let y = conv1d_time_major(&x.unsqueeze(2)?, weight, bias, shape, Epilogue::None)?;
        return channel_norm_time_major(&y, gamma, beta, eps, epilogue);
    }
    let t_out = (n - k) / stride + 1;
    let x = x.flatten_all()?.to_vec1::<f32>()?;
    let w = weight.flatten_all()?.to_vec1::<f32>()?;
    let (gamma, beta) = (gamma.to_vec1::<f32>()?, beta.to_vec1::<f32>()?);
    let mut out = super::pages::zeroed(batch * t_out * c);
    for (xb, ob) in x.chunks_exact(n).zip(out.chunks_exact_mut(t_out * c)) {
        let (w_folded, b_folded) = fold_norm(xb, &w, &gamma, &beta, c, k, stride, t_out, eps);
        ob.par_chunks_mut(FRAMES_PER_TASK * c)
            .enumerate()
            .for_each(|(task, rows)| {
                let first = task * FRAMES_PER_TASK;
                convolve_rows(xb, &w_folded, &b_folded, rows, first, stride, k);
                if epilogue == Epilogue::GeluErf {
                    gelu_slice(rows);
                }
            });
    }
    Tensor::from_vec(out, (batch, t_out, c), &Device::Cpu)
}

/// The folded weights `[K, C]` (tap-major, so that a tap's weights for all channels are
/// contiguous) and biases `[C]` for one waveform: its windows' mean and covariance in f64,
/// then each channel's mean and variance from them.
#[allow(clippy::too_many_arguments)]
fn fold_norm(
    x: &[f32],
    w: &[f32],
    gamma: &[f32],
    beta: &[f32],
    c: usize,
    k: usize,
    stride: usize,
    t_out: usize,
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; k];
    let mut products = vec![0f64; k * k];
    for t in 0..t_out {
        let v = &x[t * stride..t * stride + k];
        for (i, &a) in v.iter().enumerate() {
            sum[i] += a as f64;
            for (j, &b) in v.iter().enumerate().skip(i) {
                products[i * k + j] += a as f64 * b as f64;
            }
        }
    }
    let frames = t_out as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / frames).collect();
    let covariance = |i: usize, j: usize| {
        let (i, j) = (i.min(j), i.max(j));
        products[i * k + j] / frames - mean[i] * mean[j]
    };
    let mut w_folded = vec![0f32; k * c];
    let mut b_folded = vec![0f32; c];
    for ch in 0..c {
        let wc = &w[ch * k..(ch + 1) * k];
        let mut variance = 0f64;
        for i in 0..k {
            for j in 0..k {
                variance += wc[i] as f64 * wc[j] as f64 * covariance(i, j);
            }
        }
        // Rounding can leave a constant channel's variance a hair below zero.
        let scale = gamma[ch] as f64 / (variance.max(0.0) + eps).sqrt();
        let centre: f64 = wc.iter().zip(&mean).map(|(&a, m)| a as f64 * m).sum();
        for (tap, &a) in wc.iter().enumerate() {
            w_folded[tap * c + ch] = (a as f64 * scale) as f32;
        }
        b_folded[ch] = (beta[ch] as f64 - centre * scale) as f32;
    }
    (w_folded, b_folded)
}

simd_fn! {
    /// Output rows (each `[C]`) from frame `first` on: the folded bias plus, per tap, the
    /// window's sample times that tap's weights.
    fn convolve_rows(
        x: &[f32],
        w_folded: &[f32],
        b_folded: &[f32],
        rows: &mut [f32],
        first: usize,
        stride: usize,
        k: usize,
    ) {
        let c = b_folded.len();
        for (r, row) in rows.chunks_exact_mut(c).enumerate() {
            row.copy_from_slice(b_folded);
            let v = &x[(first + r) * stride..(first + r) * stride + k];
            for (&sample, taps) in v.iter().zip(w_folded.chunks_exact(c)) {
                for (o, &wt) in row.iter_mut().zip(taps) {
                    *o += sample * wt;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;

    /// Equal to the convolution then the norm: on noise, on a correlated signal (a sine
    /// and noise, so the window covariance is far from diagonal) with a large DC offset (the
    /// variance from the covariance must not cancel badly: f32 sums would miss by ~4e-3),
    /// with batch items of different offset and scale (statistics per item), one frame only,
    /// and with the GELU epilogue.
    #[test]
    fn equals_conv_then_norm() {
        for (n, k, stride, offset, tol) in [
            (4003, 10, 5, 0.0, 1e-5),
            (997, 4, 3, 10.0, 1e-5),
            (10, 10, 5, 0.0, 2e-4),
        ] {
            let noise = crate::test_tensor(0.3, (2, n), 41).unwrap();
            let sine: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.05).sin()).collect();
            let sine = Tensor::from_vec(sine, (2, n), &Device::Cpu).unwrap();
            let per_item = Tensor::new(&[[1f32], [3.0]], &Device::Cpu).unwrap();
            let x = (noise + sine).unwrap().broadcast_mul(&per_item).unwrap();
            let x = x.broadcast_add(&(per_item * offset).unwrap()).unwrap();
            let w = crate::test_tensor(0.5, (24, 1, k), 42).unwrap();
            let b = crate::test_tensor(0.2, 24, 43).unwrap();
            let gamma = (crate::test_tensor(0.3, 24, 44).unwrap() + 1.0).unwrap();
            let beta = crate::test_tensor(0.3, 24, 45).unwrap();
            for epilogue in [Epilogue::None, Epilogue::GeluErf] {
                let shape = Conv1dShape { stride, padding: 0 };
                let y = conv1d_time_major(&x.unsqueeze(2).unwrap(), &w, &b, shape, Epilogue::None)
                    .unwrap();
                let want = channel_norm_time_major(&y, &gamma, &beta, 1e-5, epilogue).unwrap();
                let got =
                    waveform_conv_norm(&x, &w, &b, &gamma, &beta, stride, 1e-5, epilogue).unwrap();
                assert_eq!(got.dims(), want.dims());
                let err = max_abs_diff(&got, &want);
                assert!(err < tol, "n {n} k {k} offset {offset}: {err}");
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = Tensor::zeros((1, 100), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::zeros((8, 2, 10), DType::F32, &Device::Cpu).unwrap();
        let v = Tensor::zeros(8, DType::F32, &Device::Cpu).unwrap();
        assert!(waveform_conv_norm(&x, &w, &v, &v, &v, 5, 1e-5, Epilogue::None).is_err());
        let w = Tensor::zeros((8, 1, 200), DType::F32, &Device::Cpu).unwrap();
        assert!(waveform_conv_norm(&x, &w, &v, &v, &v, 5, 1e-5, Epilogue::None).is_err());
        // No channels, or an empty kernel on an empty waveform: errors, not panics.
        let none = Tensor::zeros(0, DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::zeros((0, 1, 10), DType::F32, &Device::Cpu).unwrap();
        assert!(waveform_conv_norm(&x, &w, &none, &none, &none, 5, 1e-5, Epilogue::None).is_err());
        let empty = Tensor::zeros((1, 0), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::zeros((8, 1, 0), DType::F32, &Device::Cpu).unwrap();
        assert!(waveform_conv_norm(&empty, &w, &v, &v, &v, 5, 1e-5, Epilogue::None).is_err());
    }
}
