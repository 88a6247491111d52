//! Exact (erf) GELU for CPU inference, parallel and vectorisable: candle's `gelu_erf` runs on
//! one thread through a scalar `erf`, which costs Whisper tiny.en about 60 ms per 30 s window.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::exp::{exp, simd_fn};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// `x · Φ(x) = 0.5 x (1 + erf(x / √2))`, elementwise. f32 on the CPU takes the parallel kernel
/// (absolute error below 3e-7 against the exact function); anything else candle's `gelu_erf`.
///
/// # Errors
/// Candle errors of the fallback.
pub fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 {
        xs.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        xs.gelu_erf()
    }
}

/// erf through Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// GELU of every element in place, in parallel (the epilogue of a fused linear layer).
pub(crate) fn gelu_in_place(xs: &mut [f32]) {
    xs.par_chunks_mut(CHUNK).for_each(gelu_slice_in_place);
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_loop(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = gelu(x);
    }
}

simd_fn! {
    fn gelu_slice(src: &[f32], dst: &mut [f32]) {
        gelu_loop(src, dst)
    }
}

simd_fn! {
    fn gelu_slice_in_place(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = gelu(*x);
        }
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-par"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu: f32 expected");
        };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu: contiguous input expected");
        };
        let src = &data[a..b];
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| gelu_slice(s, d));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_gelu_erf() {
        let xs: Vec<f32> = (0..100_001).map(|i| (i as f32 - 50_000.0) * 2e-4).collect();
        let t = Tensor::from_vec(xs, 100_001, &Device::Cpu).unwrap();
        let err: f32 = (gelu_erf(&t).unwrap() - t.gelu_erf().unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(err < 5e-7, "{err}");
    }
}
