//! The augmentation recipe: an ordered list of steps with every parameter written down, so that
//! applying a stored recipe again gives the same audio.

use serde::{Deserialize, Serialize};

use super::error::{AugmentError, Result};

/// The sample rate every step assumes (the project's audio rate inside).
pub const SAMPLE_RATE: u32 = 16_000;

/// The recipe format this build writes and applies. Bumped whenever a step would turn the same
/// recorded parameters into different audio, so that old recipes are refused, not re-interpreted.
pub const RECIPE_VERSION: u32 = 1;

/// Most steps a recipe may hold (sampled recipes hold at most seven).
pub const MAX_STEPS: usize = 32;

/// Accepted speed factors, for one step and for the product over a recipe's speed steps.
pub const SPEED_LIMITS: [f64; 2] = [0.5, 2.0];
/// Largest numerator or denominator of a speed factor. The resampler's FFT block grows with the
/// reduced numerator; this keeps it within a few hundred thousand samples.
pub const MAX_SPEED_TERM: u32 = 100_000;
/// Accepted reverberation times, in seconds.
pub const RT60_LIMITS_S: [f64; 2] = [0.05, 2.0];
/// Accepted direct-to-reverberant ratios, in dB. From −3 dB up the direct path stays the
/// strongest tap of the room response even with a single early reflection, so the reverberated
/// speech still correlates best with the dry speech at lag 0.
pub const DRR_LIMITS_DB: [f64; 2] = [-3.0, 30.0];
/// Most early reflections in one room response.
pub const MAX_EARLY_REFLECTIONS: u32 = 16;
/// Accepted signal-to-noise ratios, in dB.
pub const SNR_LIMITS_DB: [f64; 2] = [-10.0, 60.0];
/// Most talkers in one babble noise.
pub const MAX_BABBLE_TALKERS: u32 = 16;
/// Accepted low-pass cutoffs, in Hz. 16 kHz audio has nothing above 8 kHz, so a cutoff there
/// would do nothing; and near Nyquist the bilinear-transform design loses its shape.
pub const LOW_PASS_LIMITS_HZ: [f64; 2] = [1000.0, 7500.0];
/// Accepted codec bitrates, in kbit/s: the MPEG-2 Layer III rates up to 96 (LAME rounds any
/// other rate down to one of these at 16 kHz; AAC at 16 kHz mono gains nothing above 96).
pub const CODEC_BITRATES_KBPS: [u32; 10] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96];
/// Accepted gains, in dB.
pub const GAIN_LIMITS_DB: [f64; 2] = [-40.0, 40.0];
/// Accepted clipping thresholds, as a fraction of the signal's peak at that step.
pub const CLIP_THRESHOLD_LIMITS: [f64; 2] = [0.05, 1.0];

/// Grid on which [`Step::speed_from_factor`] records a factor: 1/1000.
const SPEED_GRID: u32 = 1000;

/// A seeded, serialisable description of one augmented variant of a clip: steps applied in
/// order to 16 kHz mono audio by [`AugmentRecipe::apply`].
///
/// In JSON: `{"version": 1, "steps": [{"step": "speed", "numerator": 1047, "denominator":
/// 1000}, {"step": "noise", "source": "pink", "snr_db": 12.5, "seed": 42}]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentRecipe {
    /// The recipe format, [`RECIPE_VERSION`] for recipes made by this build.
    pub version: u32,
    /// The steps, applied first to last.
    pub steps: Vec<Step>,
}

impl Default for AugmentRecipe {
    /// The empty recipe: the audio passes through unchanged (apart from the final peak
    /// normalisation, which leaves audio within [-1, 1] alone).
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// One step of a recipe, with all its parameters. The JSON form is an object whose `step` field
/// names the variant in snake case, next to the variant's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Speed perturbation (tempo and pitch together, as Kaldi's): the audio is read as if it had
    /// been recorded at `numerator / denominator` × 16 kHz and resampled to 16 kHz, so it plays
    /// `factor = numerator / denominator` times faster and has `round(len / factor)` samples.
    /// An event at time `t` of the input is at time `t / factor` of the output.
    Speed {
        /// Numerator of the exact speed factor (the rate the audio is read at, in rate units).
        numerator: u32,
        /// Denominator of the exact speed factor (the rate it is resampled to, in rate units).
        denominator: u32,
    },
    /// Reverberation by a synthetic room impulse response (see
    /// [`room_impulse_response`](super::room_impulse_response)), direct path at lag 0 so that
    /// the speech is not shifted; the length is kept (the tail past the end is cut).
    Reverb {
        /// Time for the reverberant energy to fall by 60 dB, in seconds.
        rt60_s: f64,
        /// Direct-to-reverberant energy ratio of the response, in dB (higher is drier).
        drr_db: f64,
        /// Number of discrete early reflections (0 for none).
        early_reflections: u32,
        /// Seed of the response's random tail and reflections.
        seed: u64,
    },
    /// Additive noise at a signal-to-noise ratio measured against the active-speech power (see
    /// [`active_speech_power`](super::active_speech_power)).
    Noise {
        /// What kind of noise.
        source: NoiseSource,
        /// Active-speech power over noise power, in dB.
        snr_db: f64,
        /// Seed of the noise (white and pink samples; babble offsets and talker levels).
        seed: u64,
    },
    /// Telephone band: zero-phase Butterworth band-pass, 300–3400 Hz.
    Telephone,
    /// Zero-phase Butterworth low-pass.
    LowPass {
        /// Cutoff, in Hz: the −6 dB point of the zero-phase response.
        cutoff_hz: f64,
    },
    /// Lossy codec round trip through the `ffmpeg` program (cargo feature `ffmpeg`), with the
    /// codec's delay removed and the length kept.
    Codec {
        /// Which codec.
        codec: Codec,
        /// Bitrate, in kbit/s (one of [`CODEC_BITRATES_KBPS`]).
        bitrate_kbps: u32,
    },
    /// Multiplies the audio by a gain.
    Gain {
        /// The gain, in dB.
        gain_db: f64,
    },
    /// Clipping at a threshold relative to the signal's peak, so that the amount of clipping
    /// does not depend on how loud the clip was recorded.
    Clip {
        /// Hard (flat top) or soft (tanh knee) clipping.
        mode: ClipMode,
        /// The clipping level as a fraction of the peak absolute sample at this step.
        threshold: f64,
    },
}

/// The noise of a [`Step::Noise`]. JSON: `"white"`, `"pink"` or `{"babble": {"talkers": 4}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NoiseSource {
    /// Gaussian white noise.
    White,
    /// Pink (1/f, −3 dB per octave) noise by the Voss–McCartney method.
    Pink,
    /// Several other speech signals mixed together: the first `talkers` of the babble sources
    /// passed to `apply`, each brought to the same active-speech level (±3 dB, seeded), started
    /// at a seeded offset and looped or cut to the clip's length.
    Babble {
        /// How many babble sources are mixed.
        talkers: u32,
    },
}

/// The codec of a [`Step::Codec`]. JSON: `"mp3"` or `"aac"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// MPEG-1/2 Layer III through LAME (`libmp3lame`), in an MP3 file.
    Mp3,
    /// AAC-LC through ffmpeg's native encoder, in an M4A (MP4) file.
    Aac,
}

/// The shape of a [`Step::Clip`]. JSON: `"hard"` or `"soft"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipMode {
    /// Samples beyond the threshold are set to it.
    Hard,
    /// Linear up to half the threshold, then a tanh curve that approaches the threshold.
    Soft,
}

impl Step {
    /// The step's name as written in the JSON `step` field.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Speed { .. } => "speed",
            Step::Reverb { .. } => "reverb",
            Step::Noise { .. } => "noise",
            Step::Telephone => "telephone",
            Step::LowPass { .. } => "low_pass",
            Step::Codec { .. } => "codec",
            Step::Gain { .. } => "gain",
            Step::Clip { .. } => "clip",
        }
    }

    /// A speed step for `factor`, recorded as the nearest multiple of 1/1000 in lowest terms
    /// (1.047 becomes 1047/1000, 0.9 becomes 9/10). The step's exact factor is
    /// [`Step::speed_factor`], which may differ from `factor` by up to 0.0005.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] for a factor that is not finite or outside
    /// [`SPEED_LIMITS`].
    pub fn speed_from_factor(factor: f64) -> Result<Step> {
        check_range("speed factor", factor, SPEED_LIMITS)?;
        // In range, so the product is at most 2000: the cast cannot truncate.
        let numerator = (factor * SPEED_GRID as f64).round() as u32;
        let g = gcd(numerator, SPEED_GRID);
        Ok(Step::Speed {
            numerator: numerator / g,
            denominator: SPEED_GRID / g,
        })
    }

    /// The exact speed factor of a speed step (`numerator / denominator`); 1 for other steps.
    pub fn speed_factor(&self) -> f64 {
        match *self {
            Step::Speed {
                numerator,
                denominator,
            } if denominator > 0 => numerator as f64 / denominator as f64,
            _ => 1.0,
        }
    }

    /// Checks every parameter of the step; `index` is used in the field path of the error.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] naming `steps[index].<field>`.
    pub fn validate(&self, index: usize) -> Result<()> {
        let field = |name: &str| format!("steps[{index}].{name}");
        match *self {
            Step::Speed {
                numerator,
                denominator,
            } => {
                for (name, v) in [("numerator", numerator), ("denominator", denominator)] {
                    if v == 0 || v > MAX_SPEED_TERM {
                        return Err(AugmentError::invalid(
                            field(name),
                            format!("must be in 1..={MAX_SPEED_TERM}, got {v}"),
                        ));
                    }
                }
                check_range(
                    &field("numerator / denominator"),
                    self.speed_factor(),
                    SPEED_LIMITS,
                )
            }
            Step::Reverb {
                rt60_s,
                drr_db,
                early_reflections,
                ..
            } => {
                check_range(&field("rt60_s"), rt60_s, RT60_LIMITS_S)?;
                check_range(&field("drr_db"), drr_db, DRR_LIMITS_DB)?;
                check_max(
                    &field("early_reflections"),
                    early_reflections,
                    MAX_EARLY_REFLECTIONS,
                )
            }
            Step::Noise { source, snr_db, .. } => {
                check_range(&field("snr_db"), snr_db, SNR_LIMITS_DB)?;
                if let NoiseSource::Babble { talkers } = source {
                    if talkers == 0 {
                        return Err(AugmentError::invalid(
                            field("source.babble.talkers"),
                            "must be at least 1",
                        ));
                    }
                    check_max(&field("source.babble.talkers"), talkers, MAX_BABBLE_TALKERS)?;
                }
                Ok(())
            }
            Step::Telephone => Ok(()),
            Step::LowPass { cutoff_hz } => {
                check_range(&field("cutoff_hz"), cutoff_hz, LOW_PASS_LIMITS_HZ)
            }
            Step::Codec { bitrate_kbps, .. } => {
                if CODEC_BITRATES_KBPS.contains(&bitrate_kbps) {
                    Ok(())
                } else {
                    Err(AugmentError::invalid(
                        field("bitrate_kbps"),
                        format!("must be one of {CODEC_BITRATES_KBPS:?}, got {bitrate_kbps}"),
                    ))
                }
            }
            Step::Gain { gain_db } => check_range(&field("gain_db"), gain_db, GAIN_LIMITS_DB),
            Step::Clip { threshold, .. } => {
                check_range(&field("threshold"), threshold, CLIP_THRESHOLD_LIMITS)
            }
        }
    }
}

impl AugmentRecipe {
    /// A recipe of the current [`RECIPE_VERSION`] with these steps.
    pub fn new(steps: Vec<Step>) -> Self {
        Self {
            version: RECIPE_VERSION,
            steps,
        }
    }

    /// Checks the version, the number of steps, every step's parameters and the overall speed
    /// factor. [`AugmentRecipe::apply`] calls this first.
    ///
    /// # Errors
    /// [`AugmentError::UnsupportedVersion`], or [`AugmentError::InvalidParameter`] naming the
    /// field (`steps`, `steps[i].<field>`).
    pub fn validate(&self) -> Result<()> {
        if self.version != RECIPE_VERSION {
            return Err(AugmentError::UnsupportedVersion {
                found: self.version,
                supported: RECIPE_VERSION,
            });
        }
        if self.steps.len() > MAX_STEPS {
            return Err(AugmentError::invalid(
                "steps",
                format!("at most {MAX_STEPS} steps, got {}", self.steps.len()),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            step.validate(i)?;
        }
        // Each step is bounded, but several speed steps could compound to an absurd length.
        check_range(
            "steps (product of speed factors)",
            self.speed_factor(),
            SPEED_LIMITS,
        )
    }

    /// The effective speed factor of the whole recipe: the product of its speed steps' exact
    /// factors (1 without any). An event at time `t` of the input is at `t / factor` of the
    /// output.
    pub fn speed_factor(&self) -> f64 {
        self.steps.iter().map(Step::speed_factor).product()
    }

    /// How many babble sources `apply` needs: the most talkers of any babble-noise step (0 when
    /// there is none).
    pub fn babble_talkers(&self) -> usize {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Noise {
                    source: NoiseSource::Babble { talkers },
                    ..
                } => Some(*talkers as usize),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether the recipe has a codec step (which needs the `ffmpeg` feature and program).
    pub fn needs_ffmpeg(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Codec { .. }))
    }
}

/// `value` must be finite and within `[lo, hi]`.
pub(crate) fn check_range(field: &str, value: f64, [lo, hi]: [f64; 2]) -> Result<()> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(AugmentError::invalid(
            field,
            format!("must be finite and within [{lo}, {hi}], got {value}"),
        ))
    }
}

fn check_max(field: &str, value: u32, max: u32) -> Result<()> {
    if value <= max {
        Ok(())
    } else {
        Err(AugmentError::invalid(
            field,
            format!("must be at most {max}, got {value}"),
        ))
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_factor_is_recorded_in_lowest_terms() {
        let s = Step::speed_from_factor(0.9).unwrap();
        assert_eq!(
            s,
            Step::Speed {
                numerator: 9,
                denominator: 10
            }
        );
        assert_eq!(s.speed_factor(), 0.9);
        let s = Step::speed_from_factor(1.0468).unwrap();
        assert_eq!(
            s,
            Step::Speed {
                numerator: 1047,
                denominator: 1000
            }
        );
        assert!(Step::speed_from_factor(f64::NAN).is_err());
        assert!(Step::speed_from_factor(3.0).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let r = AugmentRecipe::new(vec![
            Step::Gain { gain_db: 1.0 },
            Step::Noise {
                source: NoiseSource::White,
                snr_db: f64::NAN,
                seed: 0,
            },
        ]);
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("steps[1].snr_db"), "{e}");

        let r = AugmentRecipe::new(vec![Step::Speed {
            numerator: 0,
            denominator: 1,
        }]);
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("steps[0].numerator"));

        // Three speed steps of 0.6 each are individually fine but compound to 0.216.
        let s = Step::speed_from_factor(0.6).unwrap();
        let r = AugmentRecipe::new(vec![s.clone(), s.clone(), s]);
        assert!(r.validate().unwrap_err().to_string().contains("product"));

        let r = AugmentRecipe {
            version: 99,
            ..AugmentRecipe::default()
        };
        assert!(matches!(
            r.validate(),
            Err(AugmentError::UnsupportedVersion { found: 99, .. })
        ));
    }
}
