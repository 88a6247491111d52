//! The forward (noising) process: ᾱ_t for t = 0..T−1, and x_t = √ᾱ_t·x⁰ + √(1−ᾱ_t)·ε.

use serde::{Deserialize, Serialize};

/// How the noise variances β_t grow with t.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseScheduleKind {
    /// Nichol & Dhariwal's cosine schedule (ᾱ follows cos² with offset s = 0.008, β ≤ 0.999):
    /// Media2Face's and MDM's choice.
    Cosine,
    /// DDPM's linear β from 1e-4 to 0.02, rescaled to T steps (for comparison).
    Linear,
}

/// ᾱ_t of every diffusion step.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule of `kind` over `steps` diffusion steps (T).
    pub fn new(kind: NoiseScheduleKind, steps: usize) -> Self {
        let betas: Vec<f64> = match kind {
            NoiseScheduleKind::Cosine => {
                let f = |t: f64| {
                    let s = 0.008;
                    (((t / steps as f64 + s) / (1.0 + s)) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..steps)
                    .map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).min(0.999))
                    .collect()
            }
            NoiseScheduleKind::Linear => {
                let scale = 1000.0 / steps as f64;
                let (lo, hi) = (scale * 1e-4, scale * 0.02);
                (0..steps)
                    .map(|i| lo + (hi - lo) * i as f64 / (steps.max(2) - 1) as f64)
                    .collect()
            }
        };
        let mut acc = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Self { alphas_cumprod }
    }

    /// T.
    pub fn steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// ᾱ_t (the fraction of signal variance left at step t; 1 before step 0).
    pub fn alpha_bar(&self, t: Option<usize>) -> f64 {
        match t {
            Some(t) => self.alphas_cumprod[t.min(self.alphas_cumprod.len() - 1)],
            None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_falls_from_one_to_nearly_zero() {
        let s = NoiseSchedule::new(NoiseScheduleKind::Cosine, 500);
        assert_eq!(s.steps(), 500);
        assert!(s.alpha_bar(Some(0)) > 0.999);
        assert!(s.alpha_bar(Some(499)) < 1e-4);
        let mid = s.alpha_bar(Some(250));
        // cos²(π/4·(0.5+s)/(1+s)·2)/cos²(...) ≈ 0.49 at the midpoint.
        assert!((mid - 0.49).abs() < 0.02, "{mid}");
        for t in 1..500 {
            assert!(s.alpha_bar(Some(t)) < s.alpha_bar(Some(t - 1)));
        }
        let l = NoiseSchedule::new(NoiseScheduleKind::Linear, 1000);
        assert!(l.alpha_bar(Some(999)) < 1e-4);
    }
}
