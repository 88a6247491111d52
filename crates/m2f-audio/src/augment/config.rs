//! Ranges and probabilities from which random recipes are drawn.

use serde::{Deserialize, Serialize};

use super::error::{AugmentError, Result};
use super::recipe::{
    check_range, AugmentRecipe, ClipMode, Codec, NoiseSource, Step, CLIP_THRESHOLD_LIMITS,
    CODEC_BITRATES_KBPS, DRR_LIMITS_DB, GAIN_LIMITS_DB, LOW_PASS_LIMITS_HZ, MAX_BABBLE_TALKERS,
    MAX_EARLY_REFLECTIONS, RT60_LIMITS_S, SNR_LIMITS_DB, SPEED_LIMITS,
};
use super::rng::SeededRng;

/// What [`AugmentRecipe::sample`] draws from: for each step kind, the probability that a recipe
/// has it and the ranges of its parameters (drawn uniformly). Ranges are `[low, high]`.
///
/// The JSON form uses these field names; missing fields take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Probability of a speed step (default 0.5).
    pub speed_prob: f64,
    /// Speed factors (default 0.9–1.1, as Kaldi's speed perturbation).
    pub speed_range: [f64; 2],
    /// Probability of a reverberation step (default 0.4).
    pub reverb_prob: f64,
    /// Reverberation times in seconds (default 0.1–0.8).
    pub rt60_range_s: [f64; 2],
    /// Direct-to-reverberant ratios in dB (default 0–12).
    pub drr_range_db: [f64; 2],
    /// The number of early reflections is drawn from `0..=max_early_reflections` (default 6).
    pub max_early_reflections: u32,
    /// Probability of a noise step (default 0.6).
    pub noise_prob: f64,
    /// Signal-to-noise ratios in dB (default 0–30).
    pub snr_range_db: [f64; 2],
    /// Relative odds of white, pink and babble noise (default 1 : 1 : 1). Set `babble` to 0 when
    /// no babble sources will be passed to `apply`.
    pub noise_weights: NoiseWeights,
    /// Number of babble talkers (default 3–6).
    pub babble_talkers_range: [u32; 2],
    /// Probability of a band-limiting step (default 0.25).
    pub band_limit_prob: f64,
    /// Share of band-limiting steps that are the telephone band rather than a low-pass
    /// (default 0.5).
    pub telephone_share: f64,
    /// Low-pass cutoffs in Hz (default 4000–7000; 16 kHz audio ends at 8 kHz).
    pub low_pass_range_hz: [f64; 2],
    /// Probability of a codec step (default 0.25). Applying one needs the `ffmpeg` feature;
    /// set this to 0 in builds without it.
    pub codec_prob: f64,
    /// Share of codec steps that are AAC rather than MP3 (default 0.5).
    pub aac_share: f64,
    /// Bitrates in kbit/s, one drawn with equal odds (default 16, 24, 32, 48, 64).
    pub codec_bitrates_kbps: Vec<u32>,
    /// Probability of a gain step (default 0.5).
    pub gain_prob: f64,
    /// Gains in dB (default −12 to +6).
    pub gain_range_db: [f64; 2],
    /// Probability of a clipping step (default 0.1).
    pub clip_prob: f64,
    /// Clipping thresholds as a fraction of the peak (default 0.3–0.9).
    pub clip_threshold_range: [f64; 2],
    /// Share of clipping steps that are soft rather than hard (default 0.5).
    pub soft_clip_share: f64,
}

/// Relative odds of the three noise kinds; only their ratios matter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseWeights {
    /// Odds of white noise.
    pub white: f64,
    /// Odds of pink noise.
    pub pink: f64,
    /// Odds of babble.
    pub babble: f64,
}

impl Default for NoiseWeights {
    fn default() -> Self {
        Self {
            white: 1.0,
            pink: 1.0,
            babble: 1.0,
        }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            speed_prob: 0.5,
            speed_range: [0.9, 1.1],
            reverb_prob: 0.4,
            rt60_range_s: [0.1, 0.8],
            drr_range_db: [0.0, 12.0],
            max_early_reflections: 6,
            noise_prob: 0.6,
            snr_range_db: [0.0, 30.0],
            noise_weights: NoiseWeights::default(),
            babble_talkers_range: [3, 6],
            band_limit_prob: 0.25,
            telephone_share: 0.5,
            low_pass_range_hz: [4000.0, 7000.0],
            codec_prob: 0.25,
            aac_share: 0.5,
            codec_bitrates_kbps: vec![16, 24, 32, 48, 64],
            gain_prob: 0.5,
            gain_range_db: [-12.0, 6.0],
            clip_prob: 0.1,
            clip_threshold_range: [0.3, 0.9],
            soft_clip_share: 0.5,
        }
    }
}

/// Each step kind draws from its own stream of the seed (see [`SeededRng::with_stream`]).
mod stream {
    pub const SPEED: u64 = 1;
    pub const REVERB: u64 = 2;
    pub const NOISE: u64 = 3;
    pub const BAND_LIMIT: u64 = 4;
    pub const CODEC: u64 = 5;
    pub const GAIN: u64 = 6;
    pub const CLIP: u64 = 7;
}

impl AugmentConfig {
    /// A config that never adds a step: the starting point for switching on single steps.
    pub fn none() -> Self {
        Self {
            speed_prob: 0.0,
            reverb_prob: 0.0,
            noise_prob: 0.0,
            band_limit_prob: 0.0,
            codec_prob: 0.0,
            gain_prob: 0.0,
            clip_prob: 0.0,
            ..Self::default()
        }
    }

    /// Checks that probabilities are in [0, 1], ranges are ordered and within what recipes
    /// accept (the `*_LIMITS` constants), and that the choices of a step that can be drawn exist.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] naming the field.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [
            ("speed_prob", self.speed_prob),
            ("reverb_prob", self.reverb_prob),
            ("noise_prob", self.noise_prob),
            ("band_limit_prob", self.band_limit_prob),
            ("telephone_share", self.telephone_share),
            ("codec_prob", self.codec_prob),
            ("aac_share", self.aac_share),
            ("gain_prob", self.gain_prob),
            ("clip_prob", self.clip_prob),
            ("soft_clip_share", self.soft_clip_share),
        ] {
            check_range(name, p, [0.0, 1.0])?;
        }
        check_interval("speed_range", self.speed_range, SPEED_LIMITS)?;
        check_interval("rt60_range_s", self.rt60_range_s, RT60_LIMITS_S)?;
        check_interval("drr_range_db", self.drr_range_db, DRR_LIMITS_DB)?;
        if self.max_early_reflections > MAX_EARLY_REFLECTIONS {
            return Err(AugmentError::invalid(
                "max_early_reflections",
                format!(
                    "must be at most {MAX_EARLY_REFLECTIONS}, got {}",
                    self.max_early_reflections
                ),
            ));
        }
        check_interval("snr_range_db", self.snr_range_db, SNR_LIMITS_DB)?;
        let w = self.noise_weights;
        for (name, v) in [
            ("noise_weights.white", w.white),
            ("noise_weights.pink", w.pink),
            ("noise_weights.babble", w.babble),
        ] {
            check_range(name, v, [0.0, 1e9])?;
        }
        if self.noise_prob > 0.0 && w.white + w.pink + w.babble <= 0.0 {
            return Err(AugmentError::invalid(
                "noise_weights",
                "at least one weight must be positive when noise_prob > 0",
            ));
        }
        let [t_lo, t_hi] = self.babble_talkers_range;
        if t_lo == 0 || t_lo > t_hi || t_hi > MAX_BABBLE_TALKERS {
            return Err(AugmentError::invalid(
                "babble_talkers_range",
                format!(
                    "must satisfy 1 <= low <= high <= {MAX_BABBLE_TALKERS}, got [{t_lo}, {t_hi}]"
                ),
            ));
        }
        check_interval(
            "low_pass_range_hz",
            self.low_pass_range_hz,
            LOW_PASS_LIMITS_HZ,
        )?;
        if self.codec_prob > 0.0 && self.codec_bitrates_kbps.is_empty() {
            return Err(AugmentError::invalid(
                "codec_bitrates_kbps",
                "must not be empty when codec_prob > 0",
            ));
        }
        for (i, b) in self.codec_bitrates_kbps.iter().enumerate() {
            if !CODEC_BITRATES_KBPS.contains(b) {
                return Err(AugmentError::invalid(
                    format!("codec_bitrates_kbps[{i}]"),
                    format!("must be one of {CODEC_BITRATES_KBPS:?}, got {b}"),
                ));
            }
        }
        check_interval("gain_range_db", self.gain_range_db, GAIN_LIMITS_DB)?;
        check_interval(
            "clip_threshold_range",
            self.clip_threshold_range,
            CLIP_THRESHOLD_LIMITS,
        )
    }
}

impl AugmentRecipe {
    /// Draws a random recipe from `config`; every choice comes from `seed`, so the same config
    /// and seed give the same recipe. Each step is present with its probability, in the fixed
    /// order speed → reverb → noise → band limit → codec → gain → clip. Parameters are drawn
    /// uniformly in their ranges and rounded to readable grids (speed 0.001, RT60 1 ms, dB
    /// values 0.1 dB, cutoff 10 Hz, clipping threshold 0.01), which the grids' limits keep
    /// within the accepted ranges. Each step kind draws from its own stream of the seed, so
    /// changing one probability does not change the other steps.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] when `config` is invalid ([`AugmentConfig::validate`]).
    pub fn sample(config: &AugmentConfig, seed: u64) -> Result<AugmentRecipe> {
        config.validate()?;
        let c = config;
        let mut steps = Vec::new();

        let mut r = SeededRng::with_stream(seed, stream::SPEED);
        if r.chance(c.speed_prob) {
            steps.push(Step::speed_from_factor(draw(&mut r, c.speed_range))?);
        }

        let mut r = SeededRng::with_stream(seed, stream::REVERB);
        if r.chance(c.reverb_prob) {
            steps.push(Step::Reverb {
                rt60_s: round_dp(draw(&mut r, c.rt60_range_s), 3),
                drr_db: round_dp(draw(&mut r, c.drr_range_db), 1),
                early_reflections: r.below(c.max_early_reflections as u64 + 1) as u32,
                seed: r.next_u64(),
            });
        }

        let mut r = SeededRng::with_stream(seed, stream::NOISE);
        if r.chance(c.noise_prob) {
            let w = c.noise_weights;
            let pick = r.unit() * (w.white + w.pink + w.babble);
            // Rounding can put `pick` on the upper end; it then falls to the last kind with odds.
            let source = if pick < w.white {
                NoiseSource::White
            } else if pick < w.white + w.pink {
                NoiseSource::Pink
            } else if w.babble > 0.0 {
                let [lo, hi] = c.babble_talkers_range;
                NoiseSource::Babble {
                    talkers: lo + r.below((hi - lo) as u64 + 1) as u32,
                }
            } else if w.pink > 0.0 {
                NoiseSource::Pink
            } else {
                NoiseSource::White
            };
            steps.push(Step::Noise {
                source,
                snr_db: round_dp(draw(&mut r, c.snr_range_db), 1),
                seed: r.next_u64(),
            });
        }

        let mut r = SeededRng::with_stream(seed, stream::BAND_LIMIT);
        if r.chance(c.band_limit_prob) {
            if r.chance(c.telephone_share) {
                steps.push(Step::Telephone);
            } else {
                steps.push(Step::LowPass {
                    cutoff_hz: round_dp(draw(&mut r, c.low_pass_range_hz) / 10.0, 0) * 10.0,
                });
            }
        }

        let mut r = SeededRng::with_stream(seed, stream::CODEC);
        if r.chance(c.codec_prob) {
            let codec = if r.chance(c.aac_share) {
                Codec::Aac
            } else {
                Codec::Mp3
            };
            let i = r.below(c.codec_bitrates_kbps.len() as u64) as usize;
            steps.push(Step::Codec {
                codec,
                bitrate_kbps: c.codec_bitrates_kbps[i],
            });
        }

        let mut r = SeededRng::with_stream(seed, stream::GAIN);
        if r.chance(c.gain_prob) {
            steps.push(Step::Gain {
                gain_db: round_dp(draw(&mut r, c.gain_range_db), 1),
            });
        }

        let mut r = SeededRng::with_stream(seed, stream::CLIP);
        if r.chance(c.clip_prob) {
            let mode = if r.chance(c.soft_clip_share) {
                ClipMode::Soft
            } else {
                ClipMode::Hard
            };
            steps.push(Step::Clip {
                mode,
                threshold: round_dp(draw(&mut r, c.clip_threshold_range), 2),
            });
        }

        let recipe = AugmentRecipe::new(steps);
        // Cannot fail for a valid config (the grids' limits are on the grids); checked anyway so
        // that a sampled recipe is always one `apply` accepts.
        recipe.validate()?;
        Ok(recipe)
    }
}

/// Uniform in `[lo, hi]` (just `lo` for an empty interval).
fn draw(r: &mut SeededRng, [lo, hi]: [f64; 2]) -> f64 {
    r.uniform(lo, hi)
}

/// `x` rounded to `decimals` decimal places. Dividing by the power of ten (rather than
/// multiplying by 0.1) gives the double nearest the decimal, which JSON prints short.
fn round_dp(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

/// `range` must be finite, ordered and inside `limits`.
fn check_interval(field: &str, [lo, hi]: [f64; 2], limits: [f64; 2]) -> Result<()> {
    check_range(&format!("{field}[0]"), lo, limits)?;
    check_range(&format!("{field}[1]"), hi, limits)?;
    if lo > hi {
        return Err(AugmentError::invalid(
            field,
            format!("low must not exceed high, got [{lo}, {hi}]"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_sampling_is_seeded() {
        let c = AugmentConfig::default();
        c.validate().unwrap();
        let a = AugmentRecipe::sample(&c, 11).unwrap();
        assert_eq!(a, AugmentRecipe::sample(&c, 11).unwrap());
        let distinct: std::collections::HashSet<String> = (0..50)
            .map(|s| format!("{:?}", AugmentRecipe::sample(&c, s).unwrap()))
            .collect();
        assert!(
            distinct.len() >= 45,
            "only {} distinct recipes",
            distinct.len()
        );
    }

    #[test]
    fn probabilities_are_honoured() {
        let mut c = AugmentConfig::none();
        for s in 0..20 {
            assert!(AugmentRecipe::sample(&c, s).unwrap().steps.is_empty());
        }
        c.speed_prob = 1.0;
        c.noise_prob = 1.0;
        c.noise_weights = NoiseWeights {
            white: 0.0,
            pink: 0.0,
            babble: 1.0,
        };
        for s in 0..20 {
            let r = AugmentRecipe::sample(&c, s).unwrap();
            assert_eq!(r.steps.len(), 2);
            assert!(matches!(r.steps[0], Step::Speed { .. }));
            let t = r.babble_talkers();
            assert!((3..=6).contains(&t), "{t} talkers");
        }
    }

    #[test]
    fn one_probability_does_not_move_other_steps() {
        let mut c = AugmentConfig {
            speed_prob: 1.0,
            reverb_prob: 1.0,
            ..AugmentConfig::default()
        };
        let a = AugmentRecipe::sample(&c, 5).unwrap();
        c.speed_prob = 0.0;
        let b = AugmentRecipe::sample(&c, 5).unwrap();
        assert_eq!(a.steps[1..], b.steps[..]);
    }

    #[test]
    fn bad_config_names_the_field() {
        let c = AugmentConfig {
            snr_range_db: [10.0, f64::INFINITY],
            ..AugmentConfig::default()
        };
        let e = AugmentRecipe::sample(&c, 0).unwrap_err().to_string();
        assert!(e.contains("snr_range_db[1]"), "{e}");
        let c = AugmentConfig {
            speed_range: [1.1, 0.9],
            ..AugmentConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("speed_range"), "{e}");
        let c = AugmentConfig {
            codec_bitrates_kbps: vec![32, 33],
            ..AugmentConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("codec_bitrates_kbps[1]"), "{e}");
    }
}
