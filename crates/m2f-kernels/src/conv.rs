//! A 1-D convolution on time-major data for CPU inference: x [B, T, Cin] → [B, T', Cout], with
//! the bias (and GELU) fused, as one gemm per kernel tap accumulated into the bias rows.
//!
//! candle's `conv1d` takes channel-major input, builds an im2col copy, multiplies, adds the bias
//! through a broadcasting op, and returns channel-major output that a transformer then
//! transposes. Whisper's stem (two convolutions of width 3) is the only place this crate
//! convolves, and its output is wanted time-major, so the taps are multiplied directly: tap k
//! reads the input rows `j · stride + k − padding` for output row j, a strided view gemm takes
//! without a copy.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use super::gelu::gelu_in_place;
use super::linear::Epilogue;
use super::minimal_conv::conv_k3_s2_accumulate;
use super::{bias_rows, contiguous_f32, gemm_parallelism, product, Strided};

/// The shape of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dShape {
    /// Step between output frames, in input frames.
    pub stride: usize,
    /// Zero frames added before the first and after the last input frame.
    pub padding: usize,
}

impl Conv1dShape {
    /// Output length for `t` input frames and kernel width `k`.
    pub fn output_len(&self, t: usize, k: usize) -> usize {
        (t + 2 * self.padding).saturating_sub(k) / self.stride + 1
    }
}

/// Convolution of time-major x `[B, T, Cin]` with weight `[Cout, Cin, K]` (PyTorch's layout) and
/// bias `[Cout]` → `[B, T', Cout]`, then `epilogue`. f32 on the CPU takes the fused kernel; other
/// devices and types candle's `conv1d` with transposes.
///
/// # Errors
/// Shape mismatches, or input shorter than the kernel.
pub fn conv1d_time_major(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    shape: Conv1dShape,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    conv1d_time_major_grouped(x, weight, bias, shape, 1, epilogue)
}

/// [`conv1d_time_major`] with the channels in `groups` groups (PyTorch's `groups`): weight
/// `[Cout, Cin / groups, K]`, output group g sees input group g only. On the CPU the groups
/// run in parallel, each as one small product per kernel tap (wav2vec2's positional
/// convolution: 16 groups of 48 channels, 128 taps).
///
/// # Errors
/// Shape mismatches, channels not divisible by `groups`, or input shorter than the kernel.
pub fn conv1d_time_major_grouped(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    shape: Conv1dShape,
    groups: usize,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        let (x, w, b) = (x.contiguous()?, weight.contiguous()?, bias.contiguous()?);
        let op = TimeMajorConv {
            shape,
            groups,
            epilogue,
        };
        x.apply_op3_no_bwd(&w, &b, &op)
    } else {
        let y = x
            .transpose(1, 2)?
            .conv1d(weight, shape.padding, shape.stride, 1, groups)?
            .broadcast_add(&bias.reshape((1, (), 1))?)?
            .transpose(1, 2)?;
        match epilogue {
            Epilogue::None => Ok(y),
            Epilogue::GeluErf => y.gelu_erf(),
        }
    }
}

struct TimeMajorConv {
    shape: Conv1dShape,
    groups: usize,
    epilogue: Epilogue,
}

/// A raw output pointer shared by tasks that write disjoint columns of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every task writes only its own group's columns (see `cpu_fwd`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so that closures capture the whole wrapper, not its field).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

impl CustomOp3 for TimeMajorConv {
    fn name(&self) -> &'static str {
        "time-major-conv1d"
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
        let op = "time-major conv1d";
        let (x, w, b) = (
            contiguous_f32(op, s1, l1)?,
            contiguous_f32(op, s2, l2)?,
            contiguous_f32(op, s3, l3)?,
        );
        let (&[batch, t, c_in], &[c_out, w_in, k], &[b_out]) = (l1.dims(), l2.dims(), l3.dims())
        else {
            candle_core::bail!(
                "{op}: x {:?}, weight {:?}, bias {:?} are not [B, T, Cin], [Cout, Cin, K], [Cout]",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        };
        let Conv1dShape { stride, padding } = self.shape;
        let groups = self.groups;
        let fits = groups > 0
            && c_in % groups == 0
            && c_out % groups == 0
            && w_in * groups == c_in
            && b_out == c_out;
        if !fits || stride == 0 || t + 2 * padding < k {
            candle_core::bail!(
                "{op}: x {:?}, weight {:?}, bias {:?}, stride {stride}, padding {padding}, {groups} groups do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let t_out = self.shape.output_len(t, k);
        let mut out = bias_rows(b, batch * t_out);
        let parallelism = gemm_parallelism();
        // Without padding, the k input rows output row j reads, j · stride .. j · stride + k,
        // are k · Cin consecutive values of time-major x: the whole convolution is one product
        // of inner size k · Cin on a strided view of x, against the weight laid out tap-major
        // ([k · Cin, Cout], a copy of the weight's size), instead of k products of inner size
        // Cin that each pass over the whole output. The relayout reads the weight with a
        // stride, which only pays for long inputs: measured at wav2vec2's shapes, a 512 → 512
        // kernel-3 layer gained 13 % at 16 000 output frames and lost up to 2.5× at 500, so it
        // is taken from twice as many output rows as the product's inner size.
        let many_rows = batch * t_out >= 2 * k * c_in;
        // Kernel 3 at stride 2 (wav2vec2's feature convolutions 1–4) takes seven products for
        // every three output frames instead of nine (`minimal_conv`), under the same rule.
        if padding == 0 && groups == 1 && stride == 2 && k == 3 && many_rows {
            let gelu = self.epilogue == Epilogue::GeluErf;
            for n in 0..batch {
                let x = &x[n * t * c_in..(n + 1) * t * c_in];
                let out = &mut out[n * t_out * c_out..(n + 1) * t_out * c_out];
                conv_k3_s2_accumulate(x, c_in, w, c_out, out, gelu, parallelism);
            }
            return Ok((
                CpuStorage::F32(out),
                Shape::from_dims(&[batch, t_out, c_out]),
            ));
        }
        if padding == 0 && groups == 1 && many_rows {
            let inner = k * c_in;
            let mut w_taps = vec![0f32; inner * c_out];
            for (o, filter) in w.chunks(c_in * k).enumerate() {
                for (c, taps) in filter.chunks(k).enumerate() {
                    for (tap, &v) in taps.iter().enumerate() {
                        w_taps[(tap * c_in + c) * c_out + o] = v;
                    }
                }
            }
            for n in 0..batch {
                let x = &x[n * t * c_in..(n + 1) * t * c_in];
                let out = &mut out[n * t_out * c_out..(n + 1) * t_out * c_out];
                // SAFETY: output row j < t_out reads x[j · stride · Cin + i] for i < k · Cin,
                // and ((t_out − 1) · stride + k) · Cin ≤ t · Cin; rhs[i, o] = w_taps[i · Cout
                // + o] < k · Cin · Cout; out has t_out rows of Cout.
                unsafe {
                    product(
                        (t_out, c_out, inner),
                        Strided::rows(out.as_mut_ptr(), c_out),
                        true,
                        Strided::rows(x.as_ptr(), stride * c_in),
                        Strided::rows(w_taps.as_ptr(), c_out),
                        1.0,
                        parallelism,
                    );
                }
            }
            if self.epilogue == Epilogue::GeluErf {
                gelu_in_place(&mut out);
            }
            return Ok((
                CpuStorage::F32(out),
                Shape::from_dims(&[batch, t_out, c_out]),
            ));
        }
        let (cin_g, cout_g) = (c_in / groups, c_out / groups);
        // Groups in parallel with unsplit products, or one group with split products.
        let (parallel_groups, parallelism) = match groups {
            1 => (false, parallelism),
            _ => (true, gemm::Parallelism::None),
        };
        for n in 0..batch {
            let x = &x[n * t * c_in..(n + 1) * t * c_in];
            let out = &mut out[n * t_out * c_out..(n + 1) * t_out * c_out];
            let dst = SharedOut(out.as_mut_ptr());
            let group = |g: usize| {
                for tap in 0..k {
                    // Output rows j whose input row j · stride + tap − padding lies in [0, t).
                    let first = padding.saturating_sub(tap).div_ceil(stride);
                    let end = (t + padding)
                        .saturating_sub(tap)
                        .div_ceil(stride)
                        .min(t_out);
                    if first >= end {
                        continue;
                    }
                    let row0 = first * stride + tap - padding;
                    // SAFETY: output rows first..end of group g's columns g · cout_g ..
                    // (g + 1) · cout_g lie in `out` (t_out rows of c_out) and no other task
                    // writes them; their input rows row0 + (j − first) · stride < t, columns
                    // g · cin_g + c < c_in, lie in `x`; rhs[c, o] = w[g · cout_g + o, c, tap]
                    // addresses w[((g · cout_g + o) · cin_g + c) · k + tap] < c_out · cin_g · k.
                    unsafe {
                        let rhs = Strided {
                            ptr: w.as_ptr().add(g * cout_g * cin_g * k + tap),
                            row: k as isize,
                            col: (cin_g * k) as isize,
                        };
                        product(
                            (end - first, cout_g, cin_g),
                            Strided::rows(dst.ptr().add(first * c_out + g * cout_g), c_out),
                            true,
                            Strided::rows(x.as_ptr().add(row0 * c_in + g * cin_g), stride * c_in),
                            rhs,
                            1.0,
                            parallelism,
                        );
                    }
                }
            };
            if parallel_groups {
                use rayon::prelude::*;
                (0..groups).into_par_iter().for_each(group);
            } else {
                (0..groups).for_each(group);
            }
        }
        if self.epilogue == Epilogue::GeluErf {
            gelu_in_place(&mut out);
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from_dims(&[batch, t_out, c_out]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_candle_conv1d() {
        for (t, stride, padding) in [(11, 1, 1), (11, 2, 1), (10, 2, 1), (7, 1, 0), (5, 3, 2)] {
            let x = crate::test_tensor(1.0, (2, 6, t), 21).unwrap();
            let w = crate::test_tensor(0.5, (5, 6, 3), 22).unwrap();
            let b = crate::test_tensor(1.0, 5, 23).unwrap();
            let want = x
                .conv1d(&w, padding, stride, 1, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 5, 1)).unwrap())
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            let x_tm = x.transpose(1, 2).unwrap();
            let shape = Conv1dShape { stride, padding };
            let got = conv1d_time_major(&x_tm, &w, &b, shape, Epilogue::None).unwrap();
            assert_eq!(got.dims(), want.dims(), "t {t} stride {stride}");
            assert!(max_abs_diff(&got, &want) < 1e-5, "t {t} stride {stride}");
            let got = conv1d_time_major(&x_tm, &w, &b, shape, Epilogue::GeluErf).unwrap();
            assert!(max_abs_diff(&got, &want.gelu_erf().unwrap()) < 1e-5);
        }
    }

    /// Grouped, with padding and an even kernel (wav2vec2's positional convolution, small).
    #[test]
    fn grouped_equals_candle_conv1d() {
        let dev = Device::Cpu;
        for (t, k, padding, groups) in [(23, 8, 4, 4), (9, 3, 1, 2), (30, 16, 8, 1)] {
            let x = crate::test_tensor(1.0, (2, 8, t), 24).unwrap();
            let w = crate::test_tensor(0.5, (12, 8 / groups, k), 25).unwrap();
            let b = crate::test_tensor(1.0, 12, 26).unwrap();
            let want = x
                .conv1d(&w, padding, 1, 1, groups)
                .unwrap()
                .broadcast_add(&b.reshape((1, 12, 1)).unwrap())
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            let shape = Conv1dShape { stride: 1, padding };
            let x_tm = x.transpose(1, 2).unwrap();
            let got =
                conv1d_time_major_grouped(&x_tm, &w, &b, shape, groups, Epilogue::GeluErf).unwrap();
            assert_eq!(got.dims(), want.dims(), "t {t} groups {groups}");
            let err = max_abs_diff(&got, &want.gelu_erf().unwrap());
            assert!(err < 1e-5, "t {t} groups {groups}: {err}");
        }
        // 4 channels do not split into 3 groups.
        let x = Tensor::zeros((1, 6, 4), DType::F32, &dev).unwrap();
        let w = Tensor::zeros((6, 2, 3), DType::F32, &dev).unwrap();
        let b = Tensor::zeros(6, DType::F32, &dev).unwrap();
        let shape = Conv1dShape {
            stride: 1,
            padding: 0,
        };
        assert!(conv1d_time_major_grouped(&x, &w, &b, shape, 3, Epilogue::None).is_err());
    }

    /// No padding (wav2vec2's feature extractor: one product over taps and channels), with
    /// one input channel (a waveform's first layer) and several.
    #[test]
    fn unpadded_equals_candle_conv1d() {
        for (t, k, stride, c_in) in [
            (400, 10, 5, 1),
            (10, 10, 5, 1),
            (23, 3, 2, 1),
            (23, 3, 2, 5),
            (9, 2, 2, 6),
        ] {
            let x = crate::test_tensor(1.0, (2, c_in, t), 27).unwrap();
            let w = crate::test_tensor(0.5, (7, c_in, k), 28).unwrap();
            let b = crate::test_tensor(1.0, 7, 29).unwrap();
            let want = x
                .conv1d(&w, 0, stride, 1, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 7, 1)).unwrap())
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            let shape = Conv1dShape { stride, padding: 0 };
            let x_tm = x.transpose(1, 2).unwrap();
            let got = conv1d_time_major(&x_tm, &w, &b, shape, Epilogue::None).unwrap();
            assert_eq!(got.dims(), want.dims(), "t {t} k {k}");
            assert!(max_abs_diff(&got, &want) < 1e-5, "t {t} k {k}");
        }
    }
}
