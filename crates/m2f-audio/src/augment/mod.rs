//! Seeded, recorded audio augmentation for training on synthetic speech and running on real
//! recordings.
//!
//! An [`AugmentRecipe`] is an ordered list of [`Step`]s with every parameter (and every seed)
//! written down; it serialises to JSON and is stored with the augmented variant it made, and
//! applying it again to the same audio gives the same samples. [`AugmentRecipe::sample`] draws a
//! random recipe from an [`AugmentConfig`]; [`apply`] runs one on 16 kHz mono audio.
//!
//! Steps: speed perturbation (with [`speed_perturb_track`] to move animation targets along),
//! reverberation by a synthetic room response, white, pink or babble noise at an SNR, telephone
//! band or low-pass, MP3/AAC round trips through ffmpeg (feature `ffmpeg`), gain and clipping.
//! None of them shifts the audio in time: the filters run forward and backward, the room
//! response starts with its direct path, the codec's priming is removed and the resampler's
//! delay is compensated. Only speed steps change the timing, by their exact recorded factor.
//!
//! Reproducibility: the same recipe, input, build and machine give bit-identical output. The
//! FFT library picks SIMD code paths at run time, and the codec step depends on the installed
//! ffmpeg/LAME, so other machines may differ in the last bits (or, for codecs, more).
//!
//! See `docs/augmentation.md` for ranges, the JSON format and how the guarantees are tested.

mod codec;
mod config;
mod error;
mod filter;
mod level;
mod noise;
mod recipe;
mod reverb;
mod rng;
mod speed;

pub use config::{AugmentConfig, NoiseWeights};
pub use error::{AugmentError, Result};
pub use filter::{TELEPHONE_HIGH_HZ, TELEPHONE_LOW_HZ};
pub use noise::{active_speech_power, ACTIVE_RANGE_DB, LEVEL_FRAME};
pub use recipe::{
    AugmentRecipe, ClipMode, Codec, NoiseSource, Step, CLIP_THRESHOLD_LIMITS, CODEC_BITRATES_KBPS,
    DRR_LIMITS_DB, GAIN_LIMITS_DB, LOW_PASS_LIMITS_HZ, MAX_BABBLE_TALKERS, MAX_EARLY_REFLECTIONS,
    MAX_SPEED_TERM, MAX_STEPS, RECIPE_VERSION, RT60_LIMITS_S, SAMPLE_RATE, SNR_LIMITS_DB,
    SPEED_LIMITS,
};
pub use reverb::room_impulse_response;
pub use speed::{frame_count, speed_perturb_track};

use error::check_finite;

/// An augmented clip: the audio and what the caller needs to keep its other data in step.
#[derive(Clone, Debug, PartialEq)]
pub struct Augmented {
    /// The augmented 16 kHz mono audio, finite and within [-1, 1]. Its length is
    /// `round(len / factor)` after each speed step, and unchanged by every other step.
    pub audio: Vec<f32>,
    /// The recipe's exact effective speed factor (product of its speed steps, 1 without any):
    /// time `t` of the input is time `t / speed_factor` of `audio`.
    pub speed_factor: f64,
    /// The factor the final peak normalisation multiplied the audio by: 1 when the steps left
    /// every sample within [-1, 1], otherwise `1 / peak` (audio is never scaled up).
    pub normalisation_gain: f32,
}

impl Augmented {
    /// Resamples a frame-major animation track `[frames, dim]` at `fps` (made for the original
    /// audio) in time by [`Augmented::speed_factor`], to [`frame_count`]`(audio.len(), fps)`
    /// frames, so that each output frame describes the same instant of the augmented audio as
    /// the input frame it came from did of the original. See [`speed_perturb_track`].
    ///
    /// # Errors
    /// As [`speed_perturb_track`], and [`AugmentError::InvalidParameter`] for an `fps` that is
    /// not positive and finite.
    pub fn resample_track(&self, track: &[f32], dim: usize, fps: f64) -> Result<Vec<f32>> {
        if !(fps > 0.0 && fps.is_finite()) {
            return Err(AugmentError::invalid(
                "fps",
                format!("must be positive and finite, got {fps}"),
            ));
        }
        let frames = frame_count(self.audio.len(), fps);
        speed_perturb_track(track, dim, self.speed_factor, frames)
    }
}

impl AugmentRecipe {
    /// Applies the recipe to 16 kHz mono `audio`, step by step, then scales the result down if its
    /// peak exceeds 1 (see [`Augmented::normalisation_gain`]), so the output is finite and within
    /// [-1, 1]. The input need not be within [-1, 1].
    ///
    /// `babble_sources` are other speech clips (16 kHz mono) for babble-noise steps, which mix the
    /// first `talkers` of them; [`AugmentRecipe::babble_talkers`] says how many are needed. The
    /// recipe records how many are mixed, their offsets and levels (through its seed), not which
    /// clips they were: to reproduce a variant, the caller passes the same clips in the same order
    /// (and so should record them, e.g. by clip id). Sources beyond those used are not looked at.
    ///
    /// Empty audio gives empty audio. Silent audio gets no noise (the noise level is relative to
    /// the speech).
    ///
    /// # Errors
    /// [`AugmentError::UnsupportedVersion`] or [`AugmentError::InvalidParameter`] for an invalid recipe
    ///; [`AugmentError::NonFinite`] for a NaN or infinite input sample (in `audio` or a used
    /// babble source); [`AugmentError::MissingBabbleSources`], [`AugmentError::SilentBabbleSource`];
    /// [`AugmentError::Resample`] if a speed step's resampling fails;
    /// [`AugmentError::CodecUnavailable`] for a codec step without the `ffmpeg` feature,
    /// [`AugmentError::Ffmpeg`] if ffmpeg fails; [`AugmentError::NonFiniteOutput`] if a step
    /// overflowed (only possible for inputs far beyond [-1, 1]).
    pub fn apply(&self, audio: &[f32], babble_sources: &[&[f32]]) -> Result<Augmented> {
        apply(self, audio, babble_sources)
    }
}

fn apply(recipe: &AugmentRecipe, audio: &[f32], babble_sources: &[&[f32]]) -> Result<Augmented> {
    recipe.validate()?;
    check_finite("audio", audio)?;
    for (i, s) in babble_sources
        .iter()
        .take(recipe.babble_talkers())
        .enumerate()
    {
        check_finite(&format!("babble source {i}"), s)?;
    }

    let mut x = audio.to_vec();
    for (i, step) in recipe.steps.iter().enumerate() {
        x = match *step {
            Step::Speed {
                numerator,
                denominator,
            } => speed::perturb(&x, numerator, denominator)
                .map_err(|source| AugmentError::Resample { step: i, source })?,
            Step::Reverb {
                rt60_s,
                drr_db,
                early_reflections,
                seed,
            } => reverb::reverberate(&x, rt60_s, drr_db, early_reflections, seed)?,
            Step::Noise {
                source,
                snr_db,
                seed,
            } => noise::add_noise(&x, source, snr_db, seed, babble_sources, i)?,
            Step::Telephone => filter::telephone(&x),
            Step::LowPass { cutoff_hz } => filter::low_pass(&x, cutoff_hz),
            Step::Codec {
                codec,
                bitrate_kbps,
            } => codec::round_trip(&x, codec, bitrate_kbps, i)?,
            Step::Gain { gain_db } => level::gain(&x, gain_db),
            Step::Clip { mode, threshold } => level::clip(&x, mode, threshold),
        };
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(AugmentError::NonFiniteOutput {
                step: i,
                kind: step.name(),
                index,
            });
        }
    }
    let normalisation_gain = level::normalise_peak(&mut x);
    Ok(Augmented {
        audio: x,
        speed_factor: recipe.speed_factor(),
        normalisation_gain,
    })
}
