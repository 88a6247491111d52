//! Level changes: gain, clipping, and the final peak normalisation.

use super::recipe::ClipMode;

/// `x` times `10^(gain_db / 20)`.
pub(crate) fn gain(x: &[f32], gain_db: f64) -> Vec<f32> {
    let g = 10f64.powf(gain_db / 20.0);
    x.iter().map(|&v| (v as f64 * g) as f32).collect()
}

/// Largest absolute sample (0 for empty audio).
pub(crate) fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Clips `x` at `threshold` times its peak. Hard: samples beyond ±t are set to ±t. Soft: linear
/// up to ±t/2, then `t/2 + (t/2) · tanh((|x| − t/2) / (t/2))` with the sign of `x`, which joins
/// the line with the same slope and approaches ±t without reaching it. Silent audio is returned
/// unchanged.
pub(crate) fn clip(x: &[f32], mode: ClipMode, threshold: f64) -> Vec<f32> {
    let t = threshold * peak(x) as f64;
    if t <= 0.0 {
        return x.to_vec();
    }
    let knee = t / 2.0;
    x.iter()
        .map(|&v| {
            let v = v as f64;
            let y = match mode {
                ClipMode::Hard => v.clamp(-t, t),
                ClipMode::Soft if v.abs() <= knee => v,
                ClipMode::Soft => v.signum() * (knee + knee * ((v.abs() - knee) / knee).tanh()),
            };
            y as f32
        })
        .collect()
}

/// Scales `x` down so that its peak is at most 1 and returns the factor used (1 when the peak
/// already is at most 1; audio is never scaled up). The scaled samples are clamped to [-1, 1]
/// so that rounding cannot leave one a hair outside.
pub(crate) fn normalise_peak(x: &mut [f32]) -> f32 {
    let p = peak(x);
    if p <= 1.0 {
        return 1.0;
    }
    let g = 1.0 / p as f64;
    for v in x.iter_mut() {
        *v = ((*v as f64 * g) as f32).clamp(-1.0, 1.0);
    }
    g as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_and_clip() {
        let x = [0.5f32, -0.25, 0.1];
        let y = gain(&x, 20.0 * 2f64.log10());
        assert!((y[0] - 1.0).abs() < 1e-6 && (y[1] + 0.5).abs() < 1e-6);

        let x = [1.0f32, -0.8, 0.4, 0.2, 0.0];
        let h = clip(&x, ClipMode::Hard, 0.5);
        assert_eq!(h, vec![0.5, -0.5, 0.4, 0.2, 0.0]);
        let s = clip(&x, ClipMode::Soft, 0.5);
        assert_eq!(&s[3..], &[0.2, 0.0]);
        assert!(s[0] < 0.5 && s[0] > s[2] && s[2] > 0.25 && s[1] > -0.5);
        assert_eq!(clip(&[0.0; 3], ClipMode::Hard, 0.5), vec![0.0; 3]);
    }

    #[test]
    fn normalisation_only_scales_down() {
        let mut x = vec![0.5f32, -0.9];
        assert_eq!(normalise_peak(&mut x), 1.0);
        let mut x = vec![2.0f32, -4.0, 1.0];
        let g = normalise_peak(&mut x);
        assert_eq!(g, 0.25);
        assert_eq!(x, vec![0.5, -1.0, 0.25]);
    }
}
