//! The training losses of Media2Face: simple ‖X⁰ − X̂⁰‖², velocity (first differences) and
//! smoothness (second differences of the prediction), over the real frames of each window.

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// The weights of the three terms (paper: 1, 1, 0.01).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    /// ‖X⁰ − X̂⁰‖².
    pub simple: f64,
    /// ‖ΔX⁰ − ΔX̂⁰‖².
    pub velocity: f64,
    /// ‖Δ²X̂⁰‖².
    pub smoothness: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            simple: 1.0,
            velocity: 1.0,
            smoothness: 0.01,
        }
    }
}

/// The loss terms of one batch (scalars, mean per real frame and channel).
#[derive(Debug, Clone)]
pub struct Losses {
    /// The weighted sum.
    pub total: Tensor,
    /// ‖X⁰ − X̂⁰‖².
    pub simple: Tensor,
    /// ‖ΔX⁰ − ΔX̂⁰‖².
    pub velocity: Tensor,
    /// ‖Δ²X̂⁰‖².
    pub smoothness: Tensor,
}

/// Losses of `predicted` against `target` ([B, N, C]) over the frames where `mask` [B, N]
/// is 1 (a difference counts when all its frames are real).
pub fn losses(
    predicted: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    weights: LossWeights,
) -> candle_core::Result<Losses> {
    let n = predicted.dim(1)?;
    let simple = masked_mean_square(&(predicted - target)?, mask)?;
    let diff = |x: &Tensor| -> candle_core::Result<Tensor> {
        let k = x.dim(1)?;
        x.narrow(1, 1, k - 1)? - x.narrow(1, 0, k - 1)?
    };
    let both = |m: &Tensor| -> candle_core::Result<Tensor> {
        let k = m.dim(1)?;
        m.narrow(1, 1, k - 1)? * m.narrow(1, 0, k - 1)?
    };
    let zero = || Tensor::zeros((), candle_core::DType::F32, predicted.device());
    let (velocity, smoothness) = if n >= 3 {
        let (dp, dt, m1) = (diff(predicted)?, diff(target)?, both(mask)?);
        let velocity = masked_mean_square(&(&dp - dt)?, &m1)?;
        let smoothness = masked_mean_square(&diff(&dp)?, &both(&m1)?)?;
        (velocity, smoothness)
    } else {
        (zero()?, zero()?)
    };
    let total = (((&simple * weights.simple)? + (&velocity * weights.velocity)?)?
        + (&smoothness * weights.smoothness)?)?;
    Ok(Losses {
        total,
        simple,
        velocity,
        smoothness,
    })
}

/// Σ mask·x² / (Σ mask · C) for x [B, N, C] and mask [B, N].
fn masked_mean_square(x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let c = x.dim(D::Minus1)? as f64;
    let per_frame = x.sqr()?.sum(D::Minus1)?;
    let count = (mask.sum_all()? * c)?.clamp(1.0, f64::INFINITY)?;
    (per_frame * mask)?.sum_all()?.div(&count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn terms_measure_what_they_say_and_ignore_padding() {
        let dev = Device::Cpu;
        // One channel, 4 frames, the last one padding: target 0, prediction a ramp.
        let p = Tensor::new(&[[[0f32], [1.0], [2.0], [100.0]]], &dev).unwrap();
        let t = Tensor::zeros((1, 4, 1), candle_core::DType::F32, &dev).unwrap();
        let m = Tensor::new(&[[1f32, 1.0, 1.0, 0.0]], &dev).unwrap();
        let l = losses(&p, &t, &m, LossWeights::default()).unwrap();
        let v = |t: &Tensor| t.to_scalar::<f32>().unwrap();
        assert!((v(&l.simple) - 5.0 / 3.0).abs() < 1e-6);
        assert!((v(&l.velocity) - 1.0).abs() < 1e-6);
        assert!(v(&l.smoothness).abs() < 1e-6);
        assert!((v(&l.total) - (5.0 / 3.0 + 1.0)).abs() < 1e-5);
    }
}
