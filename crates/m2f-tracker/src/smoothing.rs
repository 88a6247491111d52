//! Temporal smoothing of tracked points for offline extraction, with no lag.
//!
//! The face mesh jitters by a fraction of a pixel from frame to frame. MediaPipe's live
//! pipeline damps that with a one-euro filter, which is causal: it must lag, and it trades lag
//! for smoothing through a cutoff that rises with speed, so a fast lip closure is both late and
//! rounded. Extraction sees the whole clip, so it can use a zero-phase filter instead: a
//! Savitzky–Golay filter fits a quadratic to each point's coordinate over 5 frames (±67 ms at
//! 30 fps) centred on the frame and takes its value there. A quadratic passes through a lip
//! opening's peak without flattening it, the filter has no delay at any frequency, and its gain
//! is above 0.9 up to about 5 Hz at 30 fps (syllable rate) while halving frame-to-frame noise
//! (white-noise power gain 17/35 ≈ 0.49).

/// The filter's taps over frames `t - 2 ..= t + 2` (quadratic Savitzky–Golay, window 5).
const TAPS: [f32; 5] = [
    -3.0 / 35.0,
    12.0 / 35.0,
    17.0 / 35.0,
    12.0 / 35.0,
    -3.0 / 35.0,
];

/// Smooths each run of consecutive frames with a face in place; frames within 2 of a run's ends
/// (or of a frame without a face) keep their points, since the centred window does not fit.
pub fn smooth_track(track: &mut [Option<Vec<[f32; 3]>>]) {
    let original: Vec<Option<Vec<[f32; 3]>>> = track.to_vec();
    for t in 2..track.len().saturating_sub(2) {
        let window: Option<Vec<&Vec<[f32; 3]>>> =
            original[t - 2..=t + 2].iter().map(Option::as_ref).collect();
        let Some(window) = window else { continue };
        let n = window[2].len();
        if window.iter().any(|w| w.len() != n) {
            continue;
        }
        let Some(points) = track[t].as_mut() else {
            continue;
        };
        for (i, p) in points.iter_mut().enumerate() {
            for k in 0..3 {
                p[k] = TAPS.iter().zip(&window).map(|(tap, w)| tap * w[i][k]).sum();
            }
        }
    }
}

/// Quadratic Savitzky–Golay taps over `2 · half + 1` samples: the value at the centre of the
/// least-squares parabola through them (`TAPS` is `half` = 2).
fn quadratic_taps(half: usize) -> Vec<f32> {
    let m = half as f64;
    let norm = (4.0 * m * m - 1.0) * (2.0 * m + 3.0);
    (0..=2 * half)
        .map(|i| {
            let j = i as f64 - m;
            (3.0 * (3.0 * m * m + 3.0 * m - 1.0 - 5.0 * j * j) / norm) as f32
        })
        .collect()
}

/// Smooths a series of 3-vectors in place with the zero-phase quadratic Savitzky–Golay filter
/// over `2 · half + 1` samples; within `half` of an end the window shrinks to what fits on
/// both sides (the end samples themselves keep their values).
///
/// For quantities read from each frame independently, whose noise is independent from frame
/// to frame while the signal is slow: `m2f-dataset` smooths the image path's head rotations
/// with it (`half` = 6 at 30 fps: gain 0.95 at 1.5 Hz, 0.86 at 2 Hz, 0.49 at 3 Hz; white-noise
/// power 0.17).
pub fn smooth_series(values: &mut [[f32; 3]], half: usize) {
    let original = values.to_vec();
    let n = values.len();
    let taps: Vec<Vec<f32>> = (0..=half).map(quadratic_taps).collect();
    for (t, value) in values.iter_mut().enumerate() {
        let h = half.min(t).min(n - 1 - t);
        if h == 0 {
            continue;
        }
        let window = &original[t - h..=t + h];
        *value = std::array::from_fn(|k| taps[h].iter().zip(window).map(|(c, v)| c * v[k]).sum());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratics_pass_unchanged_and_alternating_noise_is_damped() {
        let value = |t: usize| 0.3 * (t as f32).powi(2) - 2.0 * t as f32 + 1.0;
        let mut track: Vec<Option<Vec<[f32; 3]>>> =
            (0..9).map(|t| Some(vec![[value(t), 0.0, 0.0]])).collect();
        smooth_track(&mut track);
        for (t, p) in track.iter().enumerate() {
            assert!(
                (p.as_ref().unwrap()[0][0] - value(t)).abs() < 1e-4,
                "frame {t}"
            );
        }
        // The fastest jitter (+1, -1, ...) keeps 13/35 of itself, sign flipped.
        let mut jitter: Vec<Option<Vec<[f32; 3]>>> = (0..9)
            .map(|t| Some(vec![[if t % 2 == 0 { 1.0 } else { -1.0 }, 0.0, 0.0]]))
            .collect();
        smooth_track(&mut jitter);
        let mid = jitter[4].as_ref().unwrap()[0][0];
        assert!((mid + 13.0 / 35.0).abs() < 1e-6, "{mid}");
    }

    #[test]
    fn frames_next_to_a_gap_keep_their_points() {
        let mut track: Vec<Option<Vec<[f32; 3]>>> = (0..9)
            .map(|t| Some(vec![[t as f32 * t as f32; 3]]))
            .collect();
        track[4] = None;
        let before = track.clone();
        smooth_track(&mut track);
        assert_eq!(track, before);
    }

    #[test]
    fn series_smoothing_keeps_quadratics_and_damps_noise() {
        assert_eq!(quadratic_taps(2), TAPS.to_vec());
        for half in 1..8 {
            let sum: f32 = quadratic_taps(half).iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "half {half}: taps sum to {sum}");
        }
        // A parabola comes through unchanged everywhere, the shrunken end windows included.
        let value = |t: usize| 0.02 * (t as f32).powi(2) - 0.5 * t as f32 + 3.0;
        let mut series: Vec<[f32; 3]> = (0..30).map(|t| [value(t), 1.0, -(t as f32)]).collect();
        let before = series.clone();
        smooth_series(&mut series, 6);
        for (t, (got, want)) in series.iter().zip(&before).enumerate() {
            for k in 0..3 {
                assert!(
                    (got[k] - want[k]).abs() < 1e-4,
                    "frame {t}: {got:?} vs {want:?}"
                );
            }
        }
        // Alternating jitter in the middle keeps 17/143 of itself, sign flipped (the gain of 13
        // taps at half the sampling rate); the end samples keep theirs.
        let mut jitter: Vec<[f32; 3]> = (0..30)
            .map(|t| [if t % 2 == 0 { 1.0 } else { -1.0 }; 3])
            .collect();
        smooth_series(&mut jitter, 6);
        let kept = jitter[6..24].iter().map(|v| v[0] * v[0]).sum::<f32>() / 18.0;
        assert!((kept.sqrt() - 17.0 / 143.0).abs() < 1e-5, "{jitter:?}");
        assert_eq!((jitter[0][0], jitter[29][0]), (1.0, -1.0));
        // Too short to smooth, or empty: unchanged, no panic.
        let mut short = vec![[1.0f32, 2.0, 3.0]];
        smooth_series(&mut short, 6);
        assert_eq!(short, vec![[1.0, 2.0, 3.0]]);
        smooth_series(&mut [], 6);
    }
}
