//! Reverberation by a synthetic room impulse response, convolved by FFT.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use super::error::Result;
use super::recipe::{
    check_range, DRR_LIMITS_DB, MAX_EARLY_REFLECTIONS, RT60_LIMITS_S, SAMPLE_RATE,
};
use super::rng::SeededRng;
use super::AugmentError;

/// Share of the reverberant energy given to the early reflections when there are any.
const EARLY_SHARE: f64 = 0.3;
/// The diffuse tail starts this long after the direct path (drawn from the seed): the gap
/// between the direct sound and the first reflections of a room, in seconds.
const TAIL_ONSET_S: [f64; 2] = [0.002, 0.008];
/// Early reflections arrive up to this long after the direct path, in seconds, and within the
/// first eighth of the RT60: small (short-RT60) rooms have their walls close by.
const EARLY_WINDOW_S: f64 = 0.05;

/// A synthetic room impulse response at 16 kHz, starting with its direct path.
///
/// - Sample 0 is the direct path, of amplitude 1. A real response would start with the
///   source-to-microphone delay; it is left out, which is what keeps reverberated speech
///   aligned with the dry speech (and the animation).
/// - The diffuse tail is Gaussian noise under the envelope `exp(−ln(1000) · t / rt60_s)` (its
///   energy falls 60 dB in `rt60_s`), starting 2–8 ms after the direct path and ending at
///   `rt60_s`, where it has decayed by 60 dB.
/// - `early_reflections` discrete taps at seeded delays within `min(50 ms, rt60_s / 8)`, of
///   seeded sign and amplitude (0.5–1 times the envelope at their delay), share 30 % of the
///   reverberant energy when present.
/// - Everything after the direct path is scaled so that the direct-to-reverberant energy ratio
///   is `drr_db`. Within [`DRR_LIMITS_DB`] the direct path stays the strongest tap (a single
///   early reflection gets at most 0.6 of its energy, and a tail sample would have to be a
///   5-sigma outlier at the shortest RT60 to reach it), so the reverberated signal correlates
///   best with the dry one at lag 0.
///
/// The response has `ceil(rt60_s · 16000) + 1` samples and depends only on the arguments.
///
/// # Errors
/// [`AugmentError::InvalidParameter`] for a parameter outside [`RT60_LIMITS_S`],
/// [`DRR_LIMITS_DB`] or above [`MAX_EARLY_REFLECTIONS`].
pub fn room_impulse_response(
    rt60_s: f64,
    drr_db: f64,
    early_reflections: u32,
    seed: u64,
) -> Result<Vec<f32>> {
    check_range("rt60_s", rt60_s, RT60_LIMITS_S)?;
    check_range("drr_db", drr_db, DRR_LIMITS_DB)?;
    if early_reflections > MAX_EARLY_REFLECTIONS {
        return Err(AugmentError::invalid(
            "early_reflections",
            format!("must be at most {MAX_EARLY_REFLECTIONS}, got {early_reflections}"),
        ));
    }
    let sr = SAMPLE_RATE as f64;
    let len = (rt60_s * sr).ceil() as usize + 1;
    // Amplitude decay per sample: the energy (amplitude squared) falls by 10^-6 over rt60.
    let decay = 1000f64.ln() / (rt60_s * sr);
    let mut rng = SeededRng::new(seed);

    let onset = ((rng.uniform(TAIL_ONSET_S[0], TAIL_ONSET_S[1]) * sr).round() as usize).max(1);
    let mut tail = vec![0.0f64; len];
    for (n, t) in tail.iter_mut().enumerate().skip(onset) {
        *t = rng.gaussian() * (-decay * n as f64).exp();
    }

    let mut early = vec![0.0f64; len];
    let last = ((EARLY_WINDOW_S.min(rt60_s / 8.0) * sr) as usize).min(len - 1);
    for _ in 0..early_reflections {
        let d = 1 + rng.below(last as u64) as usize;
        let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
        early[d] += sign * rng.uniform(0.5, 1.0) * (-decay * d as f64).exp();
    }

    let reverberant = 10f64.powf(-drr_db / 10.0);
    let early_share = if early_reflections > 0 {
        EARLY_SHARE
    } else {
        0.0
    };
    let energy = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let scale = |e: f64, target: f64| if e > 0.0 { (target / e).sqrt() } else { 0.0 };
    let g_tail = scale(energy(&tail), 1.0 - early_share);
    let g_early = scale(energy(&early), early_share);
    let mut rest: Vec<f64> = tail
        .iter()
        .zip(&early)
        .map(|(t, e)| g_tail * t + g_early * e)
        .collect();
    // Reflections that land inside the tail interfere with it; scaling the sum (not the parts)
    // makes the ratio exact.
    let g = scale(energy(&rest), reverberant);
    rest.iter_mut().for_each(|v| *v *= g);
    let mut h: Vec<f32> = rest.iter().map(|&v| v as f32).collect();
    h[0] = 1.0;
    Ok(h)
}

/// `x` reverberated by the step's room response: the convolution `x * h`, cut to `x.len()` (the
/// reverberation tail past the end of the clip is dropped, so the length, and with it the
/// animation's length, is kept). With the direct path at lag 0 nothing is shifted.
pub(crate) fn reverberate(
    x: &[f32],
    rt60_s: f64,
    drr_db: f64,
    early_reflections: u32,
    seed: u64,
) -> Result<Vec<f32>> {
    let h = room_impulse_response(rt60_s, drr_db, early_reflections, seed)?;
    Ok(convolve_truncated(x, &h))
}

/// The first `x.len()` samples of the linear convolution `x * h`, by FFT overlap-add in f64:
/// blocks of `n_fft − len(h) + 1` input samples, so that memory stays bounded for long audio.
pub(crate) fn convolve_truncated(x: &[f32], h: &[f32]) -> Vec<f32> {
    if x.is_empty() || h.is_empty() {
        return vec![0.0; x.len()];
    }
    let m = h.len();
    let n_fft = (2 * m).next_power_of_two().max(4096);
    let block = n_fft - m + 1;
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n_fft);
    let inverse = planner.plan_fft_inverse(n_fft);

    // The buffer lengths below all come from the plans, so the transforms cannot fail.
    const PLAN: &str = "buffer lengths come from the FFT plan";
    let mut buf = forward.make_input_vec();
    for (b, &v) in buf.iter_mut().zip(h) {
        *b = v as f64;
    }
    let mut h_spec = forward.make_output_vec();
    forward.process(&mut buf, &mut h_spec).expect(PLAN);

    let mut spec = forward.make_output_vec();
    let mut time = inverse.make_output_vec();
    let mut out = vec![0.0f64; x.len()];
    let scale = 1.0 / n_fft as f64;
    for start in (0..x.len()).step_by(block) {
        let end = (start + block).min(x.len());
        buf.fill(0.0);
        for (b, &v) in buf.iter_mut().zip(&x[start..end]) {
            *b = v as f64;
        }
        forward.process(&mut buf, &mut spec).expect(PLAN);
        for (s, hs) in spec.iter_mut().zip(&h_spec) {
            *s *= hs;
        }
        // The DC and Nyquist bins of a real signal's spectrum are real; rounding must not
        // leave an imaginary part there, or the inverse transform reports bad input.
        let last = spec.len() - 1;
        spec[0].im = 0.0;
        spec[last] = Complex::new(spec[last].re, 0.0);
        inverse.process(&mut spec, &mut time).expect(PLAN);
        for (o, &t) in out[start..].iter_mut().zip(&time) {
            *o += t * scale;
        }
    }
    out.iter().map(|&v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reverberation time from the Schroeder backward integral of `h[1..]` (the reverberant
    /// part): the slope of the energy decay curve between −5 and −25 dB, extrapolated to 60 dB.
    pub(crate) fn schroeder_rt60(h: &[f32]) -> f64 {
        let e: Vec<f64> = h[1..].iter().map(|&v| (v as f64).powi(2)).collect();
        let mut edc = vec![0.0; e.len()];
        let mut acc = 0.0;
        for i in (0..e.len()).rev() {
            acc += e[i];
            edc[i] = acc;
        }
        let total = edc[0];
        let (mut sx, mut sy, mut sxx, mut sxy, mut m) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &v) in edc.iter().enumerate() {
            let db = 10.0 * (v / total).log10();
            if (-25.0..=-5.0).contains(&db) {
                let t = i as f64 / 16_000.0;
                sx += t;
                sy += db;
                sxx += t * t;
                sxy += t * db;
                m += 1.0;
            }
        }
        let slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
        -60.0 / slope
    }

    #[test]
    fn response_has_the_asked_rt60_and_drr() {
        for &(rt60, refl) in &[(0.1, 0), (0.3, 4), (0.5, 0), (0.8, 6), (0.8, 0)] {
            for seed in 0..3 {
                let h = room_impulse_response(rt60, 6.0, refl, seed).unwrap();
                let est = schroeder_rt60(&h);
                let err = (est - rt60) / rt60;
                assert!(
                    err.abs() < 0.2,
                    "rt60 {rt60}, {refl} reflections: measured {est}"
                );
                let rev: f64 = h[1..].iter().map(|&v| (v as f64).powi(2)).sum();
                let drr = 10.0 * (1.0 / rev).log10();
                assert!((drr - 6.0).abs() < 1e-3, "drr {drr}");
                assert!(h[1..].iter().all(|v| v.abs() < 1.0));
            }
        }
    }

    #[test]
    fn convolution_matches_direct_sum() {
        let mut rng = SeededRng::new(9);
        let x: Vec<f32> = (0..10_000).map(|_| rng.gaussian() as f32).collect();
        let h: Vec<f32> = (0..700).map(|_| rng.gaussian() as f32).collect();
        let y = convolve_truncated(&x, &h);
        assert_eq!(y.len(), x.len());
        for n in [0usize, 1, 699, 700, 3000, 3397, 3398, 9999] {
            let direct: f64 = (0..h.len().min(n + 1))
                .map(|k| h[k] as f64 * x[n - k] as f64)
                .sum();
            assert!((y[n] as f64 - direct).abs() < 1e-4, "n {n}");
        }
        assert!(convolve_truncated(&[], &h).is_empty());
    }
}
