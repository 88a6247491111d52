//! Speed perturbation of audio, and the matching time resampling of animation tracks.
//!
//! Time convention: audio sample `n` is at time `n / 16000` s and animation frame `t` at time
//! `t / fps` s (frame 0 and sample 0 both at time 0). Perturbing by a factor `f` maps time `τ`
//! of the input to `τ / f` of the output, for audio and animation alike, so lip sync survives.

use super::error::{AugmentError, Result};
use super::recipe::{check_range, SAMPLE_RATE, SPEED_LIMITS};
use crate::resample::{resample, ResampleError};

/// Plays `audio` `numerator / denominator` times faster, pitch and tempo together: the samples
/// are read as if at `numerator` Hz and resampled to `denominator` Hz by the crate's delay-free
/// resampler, which puts input sample `n` at output sample `n · denominator / numerator` and
/// returns `round(len · denominator / numerator)` samples.
pub(crate) fn perturb(
    audio: &[f32],
    numerator: u32,
    denominator: u32,
) -> std::result::Result<Vec<f32>, ResampleError> {
    resample(audio, numerator, denominator)
}

/// The number of animation frames at `fps` for `samples` of 16 kHz audio:
/// `round(samples · fps / 16000)`, the count the project's audio encoders produce. Returns 0
/// when `fps` is not positive and finite.
pub fn frame_count(samples: usize, fps: f64) -> usize {
    if !(fps > 0.0 && fps.is_finite()) {
        return 0;
    }
    (samples as f64 * fps / SAMPLE_RATE as f64).round() as usize
}

/// Resamples an animation track in time to follow audio sped up by `factor`.
///
/// `track` is frame-major, `[frames, dim]` (e.g. expression latents and head poses). Output
/// frame `j` describes output time `j / fps`, which is input time `j · factor / fps`, i.e. input
/// frame `j · factor` (the frame rate cancels, so it is not an argument): the value there is
/// interpolated linearly between the two neighbouring input frames, and held at the last frame
/// beyond the end. Pass `out_frames = frame_count(perturbed_audio_len, fps)` (as
/// [`Augmented::resample_track`](super::Augmented::resample_track) does). Linear interpolation
/// of axis-angle head rotations is accurate for the small frame-to-frame changes of head motion.
/// It does not low-pass: output frames are `factor` input frames apart, so below a factor of 2
/// every input frame still shapes some output frame, while at 2 a one-frame event can fall
/// between them (animation is smooth enough that this does not matter in the 0.9–1.1 used).
///
/// # Errors
/// [`AugmentError::InvalidParameter`] for `dim == 0`, a track length that is not a multiple of
/// `dim`, a factor that is not finite or outside [`SPEED_LIMITS`], `out_frames > 0` with an empty
/// track, or `out_frames` above twice the frames the perturbed track spans (a sign of a wrong
/// frame rate or audio length); [`AugmentError::NonFinite`] for a NaN or infinite value.
pub fn speed_perturb_track(
    track: &[f32],
    dim: usize,
    factor: f64,
    out_frames: usize,
) -> Result<Vec<f32>> {
    if dim == 0 {
        return Err(AugmentError::invalid("dim", "must be at least 1"));
    }
    if track.len() % dim != 0 {
        return Err(AugmentError::invalid(
            "track",
            format!(
                "length {} is not a multiple of dim {dim} (expected frame-major [frames, dim])",
                track.len()
            ),
        ));
    }
    check_range("factor", factor, SPEED_LIMITS)?;
    super::error::check_finite("track", track)?;
    let frames = track.len() / dim;
    if frames == 0 {
        if out_frames == 0 {
            return Ok(Vec::new());
        }
        return Err(AugmentError::invalid(
            "track",
            format!("is empty but {out_frames} output frames were asked for"),
        ));
    }
    let spans = (frames as f64 / factor).ceil() as usize;
    if out_frames > 2 * spans + 2 {
        return Err(AugmentError::invalid(
            "out_frames",
            format!(
                "{out_frames} frames asked for a {frames}-frame track sped up by {factor}, which \
                 spans {spans} frames; check the frame rate and audio length"
            ),
        ));
    }
    let mut out = Vec::with_capacity(out_frames * dim);
    let last = frames - 1;
    for j in 0..out_frames {
        let pos = j as f64 * factor;
        let i0 = (pos.floor() as usize).min(last);
        let i1 = (i0 + 1).min(last);
        let w = if i0 == last { 0.0 } else { pos - i0 as f64 };
        let (a, b) = (
            &track[i0 * dim..(i0 + 1) * dim],
            &track[i1 * dim..(i1 + 1) * dim],
        );
        out.extend(
            a.iter()
                .zip(b)
                .map(|(&a, &b)| ((1.0 - w) * a as f64 + w * b as f64) as f32),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_tracks_stay_linear() {
        // A track whose value is its own time: after resampling, frame j must hold the input
        // time it stands for, j · factor / fps.
        let fps = 30.0;
        let track: Vec<f32> = (0..90).flat_map(|t| [t as f32 / 30.0, -1.0]).collect();
        for factor in [0.9, 1.0, 1.1, 0.5, 2.0] {
            let out_frames = (89.0 / factor) as usize;
            let y = speed_perturb_track(&track, 2, factor, out_frames).unwrap();
            assert_eq!(y.len(), out_frames * 2);
            for j in 0..out_frames {
                let want = j as f64 * factor / fps;
                assert!(
                    (y[2 * j] as f64 - want).abs() < 1e-5,
                    "factor {factor} frame {j}"
                );
                assert_eq!(y[2 * j + 1], -1.0);
            }
        }
    }

    #[test]
    fn holds_last_frame_and_rejects_bad_shapes() {
        let y = speed_perturb_track(&[1.0, 2.0], 1, 0.5, 4).unwrap();
        assert_eq!(y, vec![1.0, 1.5, 2.0, 2.0]);
        assert!(speed_perturb_track(&[1.0; 5], 2, 1.0, 2).is_err());
        assert!(speed_perturb_track(&[1.0; 4], 0, 1.0, 2).is_err());
        assert!(speed_perturb_track(&[1.0; 4], 2, f64::NAN, 2).is_err());
        assert!(speed_perturb_track(&[1.0; 4], 2, 1e9, 2).is_err());
        assert!(speed_perturb_track(&[], 2, 1.0, 3).is_err());
        assert!(speed_perturb_track(&[], 2, 1.0, 0).unwrap().is_empty());
        assert!(speed_perturb_track(&[1.0; 4], 2, 1.0, usize::MAX).is_err());
        assert!(speed_perturb_track(&[f32::NAN, 0.0], 2, 1.0, 1).is_err());
    }

    #[test]
    fn frame_count_rounds() {
        assert_eq!(frame_count(16_000, 30.0), 30);
        assert_eq!(frame_count(16_000 + 266, 30.0), 30);
        assert_eq!(frame_count(16_000 + 267, 30.0), 31);
        assert_eq!(frame_count(100, f64::NAN), 0);
    }
}
