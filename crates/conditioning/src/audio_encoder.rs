//! The audio-encoder interface the denoiser is conditioned through, and the frame-rate
//! conversion shared by its implementations.

use candle_core::{Tensor, D};

use crate::audio::SAMPLE_RATE;
use crate::error::{ConditioningError, Result};

/// The animation frame rate: 30 fps, as Media2Face.
pub const DEFAULT_FPS: f64 = 30.0;

/// Turns 16 kHz mono audio into per-animation-frame features.
///
/// Implementations hold no interior mutability, so one encoder serves many threads.
pub trait AudioEncoder: Send + Sync {
    /// Width D of the features.
    fn feature_dim(&self) -> usize;

    /// 16 kHz mono `samples` → features [T, D] at `fps` frames per second, where
    /// T = [`frames_for`]`(samples.len(), fps)` and frame i describes time i / fps.
    ///
    /// # Errors
    /// If the audio is too short for the encoder or `fps` is not positive and finite.
    fn encode(&self, samples: &[f32], fps: f64) -> Result<Tensor>;

    /// [`AudioEncoder::encode`] at [`DEFAULT_FPS`].
    ///
    /// # Errors
    /// As [`AudioEncoder::encode`].
    fn encode_default(&self, samples: &[f32]) -> Result<Tensor> {
        self.encode(samples, DEFAULT_FPS)
    }
}

/// The number of animation frames for `n_samples` of 16 kHz audio at `fps`:
/// `round(duration * fps)`, at least 1 for non-empty audio.
pub fn frames_for(n_samples: usize, fps: f64) -> usize {
    if n_samples == 0 {
        return 0;
    }
    ((n_samples as f64 / SAMPLE_RATE as f64 * fps).round() as usize).max(1)
}

/// Where an encoder's native frames sit in time, in 16 kHz samples: frame j is centred at
/// `offset + j * hop`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTiming {
    /// Distance between consecutive native frames, in 16 kHz samples.
    pub hop: f64,
    /// Centre of native frame 0, in 16 kHz samples.
    pub offset: f64,
}

/// The highest animation frame rate features are resampled to: a frame rate read from a file
/// sizes the output, and no face animation runs faster (motion capture tops out near 240).
pub const MAX_FPS: f64 = 1000.0;

/// Linearly interpolates native features [T, D] to [`frames_for`]`(n_samples, fps)` frames
/// (as Media2Face does for wav2vec2: ~50 Hz to 30 fps). Output frame i takes the value at
/// time i / fps, mapped through `timing` to a fractional native frame and clamped to the ends.
/// Built from `index_select` and multiplies, so gradients flow to the features.
///
/// # Errors
/// [`ConditioningError::Invalid`] for an `fps` that is not in (0, [`MAX_FPS`]], empty
/// features or empty audio.
pub fn resample_frames(
    feats: &Tensor,
    timing: FrameTiming,
    n_samples: usize,
    fps: f64,
) -> Result<Tensor> {
    let (t, _d) = feats.dims2()?;
    let (i0, i1, w) = resample_weights(t, timing, n_samples, fps)?;
    let n_out = i0.len();
    let dev = feats.device();
    let i0 = Tensor::from_vec(i0, n_out, dev)?;
    let i1 = Tensor::from_vec(i1, n_out, dev)?;
    let w = Tensor::from_vec(w, (n_out, 1), dev)?.to_dtype(feats.dtype())?;
    let a = feats.index_select(&i0, 0)?;
    let b = feats.index_select(&i1, 0)?;
    // a + w (b - a)
    Ok((&a + (b - &a)?.broadcast_mul(&w)?)?)
}

/// The interpolation of [`resample_frames`] from `t` native frames: per output frame the two
/// native frames it lies between and the weight of the second.
///
/// # Errors
/// [`ConditioningError::Invalid`] for an `fps` that is not in (0, [`MAX_FPS`]], no native
/// frames or empty audio.
pub fn resample_weights(
    t: usize,
    timing: FrameTiming,
    n_samples: usize,
    fps: f64,
) -> Result<(Vec<u32>, Vec<u32>, Vec<f32>)> {
    if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FPS) {
        return Err(ConditioningError::invalid(
            "fps",
            format!("frame rate must be positive and at most {MAX_FPS}, got {fps}"),
        ));
    }
    let n_out = frames_for(n_samples, fps);
    if t == 0 || n_out == 0 {
        return Err(ConditioningError::invalid(
            "audio",
            format!("cannot resample {t} feature frames from {n_samples} samples"),
        ));
    }
    let mut i0 = Vec::with_capacity(n_out);
    let mut i1 = Vec::with_capacity(n_out);
    let mut w = Vec::with_capacity(n_out);
    let last = (t - 1) as f64;
    for i in 0..n_out {
        let sample = i as f64 / fps * SAMPLE_RATE as f64;
        let p = ((sample - timing.offset) / timing.hop).clamp(0.0, last);
        let lo = p.floor();
        i0.push(lo as u32);
        i1.push((lo as usize + 1).min(t - 1) as u32);
        w.push((p - lo) as f32);
    }
    Ok((i0, i1, w))
}

/// Mean over time of features [T, D] → [D]; a convenience for tests and summaries.
pub fn time_mean(feats: &Tensor) -> Result<Tensor> {
    Ok(feats.mean(D::Minus2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn frames_for_rounds() {
        assert_eq!(frames_for(16_000, 30.0), 30);
        assert_eq!(frames_for(16_000 * 10, 30.0), 300);
        assert_eq!(frames_for(1, 30.0), 1);
        assert_eq!(frames_for(0, 30.0), 0);
    }

    #[test]
    fn interpolation_is_linear_in_time() {
        // A feature equal to its own time in samples: output must equal i / fps * 16000.
        let hop = 320.0;
        let offset = 200.0;
        let t = 100;
        let vals: Vec<f32> = (0..t).map(|j| (offset + j as f64 * hop) as f32).collect();
        let feats = Tensor::from_vec(vals, (t, 1), &Device::Cpu).unwrap();
        let out = resample_frames(&feats, FrameTiming { hop, offset }, 32_000, 30.0).unwrap();
        let out: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(out.len(), 60);
        assert_eq!(out[0], 200.0); // clamped before the first centre
        for (i, v) in out.iter().enumerate().skip(1) {
            let want = i as f64 / 30.0 * 16_000.0;
            assert!((*v as f64 - want).abs() < 1e-2, "{i}: {v} vs {want}");
        }
    }

    #[test]
    fn bad_fps_is_an_error() {
        let feats = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let timing = FrameTiming {
            hop: 1.0,
            offset: 0.0,
        };
        assert!(resample_frames(&feats, timing, 100, 0.0).is_err());
        assert!(resample_frames(&feats, timing, 100, f64::NAN).is_err());
        // A rate from a damaged denoiser config sized the output (found by fuzzing a bundle:
        // capacity overflow).
        let err = resample_frames(&feats, timing, 100, 1e300).unwrap_err();
        assert!(err.to_string().contains("at most 1000"), "{err}");
    }
}
