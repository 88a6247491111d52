//! Band limiting by zero-phase Butterworth filters: telephone band-pass and low-pass.
//!
//! The filters are cascades of second-order sections designed by the bilinear transform with
//! pre-warping (so the cutoff lands exactly where asked), run forward and then backward over
//! the signal. The backward pass cancels the forward pass's phase, so the filter adds no delay
//! at any frequency (the lip sync is untouched); the price is that the magnitude response is
//! squared: the cutoff becomes the −6 dB point and the roll-off doubles.

use std::f64::consts::PI;

use super::recipe::SAMPLE_RATE;

/// Lower edge of the telephone band, in Hz (ITU-T narrowband telephony).
pub const TELEPHONE_LOW_HZ: f64 = 300.0;
/// Upper edge of the telephone band, in Hz.
pub const TELEPHONE_HIGH_HZ: f64 = 3400.0;

/// Butterworth order of each telephone edge (doubled by the forward-backward run).
const TELEPHONE_ORDER: usize = 4;
/// Butterworth order of the low-pass (doubled by the forward-backward run).
const LOW_PASS_ORDER: usize = 6;

/// Samples of odd-symmetric extension at each end before filtering. The sections' impulse
/// responses (slowest pole: 300 Hz with Q 1.3) die out within a few hundred samples, so the
/// start-up transients fall inside the padding and are cut away with it.
const EDGE_PAD: usize = 1024;

/// One second-order section `H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`.
#[derive(Clone, Copy, Debug)]
struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

impl Biquad {
    /// Second-order low-pass or high-pass section with quality factor `q`, from the analogue
    /// prototype by the bilinear transform pre-warped at `cutoff_hz`.
    fn new(high_pass: bool, cutoff_hz: f64, q: f64) -> Self {
        let w0 = 2.0 * PI * cutoff_hz / SAMPLE_RATE as f64;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let a0 = 1.0 + alpha;
        let (b0, b1) = if high_pass {
            ((1.0 + cos) / 2.0, -(1.0 + cos))
        } else {
            ((1.0 - cos) / 2.0, 1.0 - cos)
        };
        Self {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b0 / a0,
            a1: -2.0 * cos / a0,
            a2: (1.0 - alpha) / a0,
        }
    }

    /// Gain at 0 Hz.
    fn dc_gain(&self) -> f64 {
        (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2)
    }
}

/// The sections of a Butterworth filter of even `order`: its pole pairs have quality factors
/// `1 / (2 cos(π (2k + 1) / (2 order)))`.
fn butterworth(high_pass: bool, order: usize, cutoff_hz: f64) -> Vec<Biquad> {
    (0..order / 2)
        .map(|k| {
            let q = 1.0 / (2.0 * (PI * (2 * k + 1) as f64 / (2 * order) as f64).cos());
            Biquad::new(high_pass, cutoff_hz, q)
        })
        .collect()
}

/// Runs the cascade over `x` in place (transposed direct form II). Each section starts in the
/// steady state it would have reached on a constant input equal to `x[0]`, so a signal that
/// starts away from zero does not ring.
fn run(sections: &[Biquad], x: &mut [f64]) {
    let Some(&first) = x.first() else {
        return;
    };
    let mut level = first;
    for s in sections {
        let y_ss = s.dc_gain() * level;
        let mut z2 = s.b2 * level - s.a2 * y_ss;
        let mut z1 = s.b1 * level - s.a1 * y_ss + z2;
        for v in x.iter_mut() {
            let input = *v;
            let y = s.b0 * input + z1;
            z1 = s.b1 * input - s.a1 * y + z2;
            z2 = s.b2 * input - s.a2 * y;
            *v = y;
        }
        level = y_ss;
    }
}

/// Zero-phase filtering: odd-symmetric extension by [`EDGE_PAD`] samples (fewer for short
/// signals) at both ends, the cascade forward, then backward, then the extension cut off.
fn filtfilt(sections: &[Biquad], x: &[f32]) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let pad = EDGE_PAD.min(n - 1);
    let (first, last) = (x[0] as f64, x[n - 1] as f64);
    let mut buf = Vec::with_capacity(n + 2 * pad);
    // Odd extension (2·x[0] − x[k]) continues the signal's slope through the end points, so
    // the filters see no step there.
    buf.extend((1..=pad).rev().map(|k| 2.0 * first - x[k] as f64));
    buf.extend(x.iter().map(|&v| v as f64));
    buf.extend((1..=pad).map(|k| 2.0 * last - x[n - 1 - k] as f64));
    run(sections, &mut buf);
    buf.reverse();
    run(sections, &mut buf);
    buf.reverse();
    buf[pad..pad + n].iter().map(|&v| v as f32).collect()
}

/// Telephone band: 4th-order Butterworth high-pass at 300 Hz and low-pass at 3400 Hz, zero
/// phase (8th-order magnitude in effect, −6 dB at both edges).
pub(crate) fn telephone(x: &[f32]) -> Vec<f32> {
    let mut sections = butterworth(true, TELEPHONE_ORDER, TELEPHONE_LOW_HZ);
    sections.extend(butterworth(false, TELEPHONE_ORDER, TELEPHONE_HIGH_HZ));
    filtfilt(&sections, x)
}

/// 6th-order Butterworth low-pass at `cutoff_hz`, zero phase (−6 dB at the cutoff).
pub(crate) fn low_pass(x: &[f32], cutoff_hz: f64) -> Vec<f32> {
    filtfilt(&butterworth(false, LOW_PASS_ORDER, cutoff_hz), x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / 16_000.0).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Gain of the filter on a steady tone, in dB, away from the edges.
    fn gain_db(f: impl Fn(&[f32]) -> Vec<f32>, freq: f64) -> f64 {
        let x = tone(freq, 16_000);
        let y = f(&x);
        20.0 * (rms(&y[2000..14_000]) / rms(&x[2000..14_000])).log10()
    }

    #[test]
    fn butterworth_sections_have_unit_passband_gain() {
        for s in butterworth(false, 6, 4000.0) {
            assert!((s.dc_gain() - 1.0).abs() < 1e-12);
        }
        for s in butterworth(true, 4, 300.0) {
            assert!(s.dc_gain().abs() < 1e-12);
        }
    }

    #[test]
    fn telephone_band() {
        let g100 = gain_db(telephone, 100.0);
        let g1k = gain_db(telephone, 1000.0);
        let g5k = gain_db(telephone, 5000.0);
        let g300 = gain_db(telephone, 300.0);
        let g3400 = gain_db(telephone, 3400.0);
        eprintln!(
            "telephone: 100 Hz {g100:.1} dB, 300 Hz {g300:.2}, 1 kHz {g1k:.3}, 3.4 kHz {g3400:.2}, 5 kHz {g5k:.1}"
        );
        assert!(g100 < -60.0 && g5k < -40.0, "{g100} {g5k}");
        assert!(g1k.abs() < 0.05, "{g1k}");
        assert!((g300 + 6.02).abs() < 0.1 && (g3400 + 6.02).abs() < 0.1);
    }

    #[test]
    fn low_pass_cutoff() {
        let lp = |x: &[f32]| low_pass(x, 4000.0);
        let g6k = gain_db(lp, 6000.0);
        let g4k = gain_db(lp, 4000.0);
        let g1k = gain_db(lp, 1000.0);
        eprintln!("low-pass 4 kHz: 1 kHz {g1k:.3} dB, 4 kHz {g4k:.2}, 6 kHz {g6k:.1}");
        assert!(g6k < -60.0);
        assert!(g1k.abs() < 0.01);
        assert!((g4k + 6.02).abs() < 0.1);
    }

    #[test]
    fn impulse_stays_in_place_and_symmetric() {
        for f in [telephone as fn(&[f32]) -> Vec<f32>, |x: &[f32]| {
            low_pass(x, 5000.0)
        }] {
            let mut x = vec![0.0f32; 8001];
            x[4000] = 1.0;
            let y = f(&x);
            let peak = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
            assert_eq!(peak, 4000);
            for k in 1..500 {
                assert!(
                    (y[4000 - k] - y[4000 + k]).abs() < 1e-6,
                    "asymmetric at {k}"
                );
            }
        }
    }

    #[test]
    fn short_and_constant_inputs() {
        assert!(telephone(&[]).is_empty());
        assert_eq!(telephone(&[0.3]).len(), 1);
        assert_eq!(low_pass(&[0.3, 0.1], 4000.0).len(), 2);
        // A constant passes a low-pass unchanged: the steady-state start keeps the edges quiet.
        let y = low_pass(&[0.25; 3000], 4000.0);
        assert!(y.iter().all(|&v| (v - 0.25).abs() < 1e-6));
    }
}
