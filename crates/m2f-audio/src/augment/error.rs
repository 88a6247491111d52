//! Why an augmentation could not be sampled or applied.

use crate::resample::ResampleError;

/// Why an augmentation recipe could not be sampled or applied, or an animation track could not
/// be resampled. Every variant names the field, step or input at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// A recipe, config or track parameter is not finite or outside its accepted range.
    /// `field` is a path such as `steps[2].snr_db` or `speed_range`.
    #[error("invalid {field}: {message}")]
    InvalidParameter {
        /// The parameter at fault, as a path into the recipe or config.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A recipe written by a newer (or unknown) version of this module: its steps might not mean
    /// what this version would make of them, so it is refused rather than applied differently.
    #[error("recipe version {found} is not supported (this build applies version {supported})")]
    UnsupportedVersion {
        /// The recipe's `version` field.
        found: u32,
        /// The version this build writes and applies.
        supported: u32,
    },
    /// An input sample is NaN or infinite.
    #[error("{input} sample {index} is {value} (samples must be finite)")]
    NonFinite {
        /// Which input: `audio`, `babble source 2` or `track`.
        input: String,
        /// Index of the first offending sample.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A babble-noise step needs more babble sources than the caller passed to `apply`.
    #[error(
        "step {step} (babble noise) mixes {needed} talkers but {given} babble sources were given"
    )]
    MissingBabbleSources {
        /// Index of the step in the recipe.
        step: usize,
        /// The step's `talkers`.
        needed: usize,
        /// `babble_sources.len()`.
        given: usize,
    },
    /// A babble source that a step uses is empty or silent, so it cannot be brought to a level.
    #[error("step {step} (babble noise): babble source {source_index} is empty or silent")]
    SilentBabbleSource {
        /// Index of the step in the recipe.
        step: usize,
        /// Index into `babble_sources`.
        source_index: usize,
    },
    /// The resampler refused or failed in a speed step.
    #[error("step {step} (speed): {source}")]
    Resample {
        /// Index of the step in the recipe.
        step: usize,
        /// The resampler's error.
        #[source]
        source: ResampleError,
    },
    /// A codec step in a build without the `ffmpeg` cargo feature of `m2f-audio`.
    #[error(
        "step {step} (codec) needs the `ffmpeg` cargo feature of m2f-audio, which this build \
         was compiled without"
    )]
    CodecUnavailable {
        /// Index of the step in the recipe.
        step: usize,
    },
    /// Running the `ffmpeg` program failed (not installed, refused the input, or wrote
    /// something unreadable).
    #[error("step {step} (codec): {message}")]
    Ffmpeg {
        /// Index of the step in the recipe.
        step: usize,
        /// What went wrong, with ffmpeg's own message where there is one.
        message: String,
    },
    /// A step produced a non-finite sample. No step should; this guards the promise that the
    /// output is finite rather than passing NaN on to training.
    #[error("step {step} ({kind}) produced a non-finite sample at index {index}")]
    NonFiniteOutput {
        /// Index of the step in the recipe.
        step: usize,
        /// The step's name, as in the recipe JSON.
        kind: &'static str,
        /// Index of the first offending sample.
        index: usize,
    },
}

impl AugmentError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Shorthand for results of this module.
pub type Result<T, E = AugmentError> = std::result::Result<T, E>;

/// The first non-finite sample of `x`, as an error naming `input`.
pub(crate) fn check_finite(input: &str, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(AugmentError::NonFinite {
            input: input.to_string(),
            index,
            value: x[index],
        }),
        None => Ok(()),
    }
}
