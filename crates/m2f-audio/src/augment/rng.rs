//! The seeded random source behind every augmentation choice.
//!
//! ChaCha8 (rand_chacha) gives the raw 64-bit words; the conversions to uniform and Gaussian
//! numbers are written here rather than taken from rand's distributions, because rand only
//! promises that its distributions give the same values within a release series, while a stored
//! recipe must give the same audio for as long as it is kept.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic random stream: the same seed (and stream) gives the same numbers.
pub(crate) struct SeededRng {
    inner: ChaCha8Rng,
    /// Box–Muller makes Gaussian numbers in pairs; the second waits here.
    spare: Option<f64>,
}

impl SeededRng {
    /// The stream for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0)
    }

    /// An independent stream of the same seed. Recipe sampling gives each step its own stream,
    /// so changing one step's probability does not change what the other steps draw.
    pub(crate) fn with_stream(seed: u64, stream: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Self { inner, spare: None }
    }

    /// A uniformly random 64-bit word.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1), with 53 random bits (every double in the grid equally likely).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in [0, n); 0 when n is 0. The multiply-high mapping has a bias below
    /// n / 2^64, far under anything audible or measurable here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal (mean 0, variance 1), by the Box–Muller transform.
    pub(crate) fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - unit() lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_streams_differ() {
        let a: Vec<u64> = (0..8).map(|_| SeededRng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s0 = SeededRng::with_stream(7, 0);
        let mut s1 = SeededRng::with_stream(7, 1);
        assert_ne!(s0.next_u64(), s1.next_u64());
    }

    #[test]
    fn gaussian_has_unit_variance() {
        let mut r = SeededRng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gaussian()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn uniform_and_below_stay_in_range() {
        let mut r = SeededRng::new(3);
        for _ in 0..10_000 {
            let u = r.uniform(-2.0, 5.0);
            assert!((-2.0..5.0).contains(&u));
            assert!(r.below(7) < 7);
        }
        assert_eq!(r.below(0), 0);
    }
}
