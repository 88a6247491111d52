//! Audio utilities shared by the synthetic world (`m2f-synth`), the encoders (`conditioning`)
//! and the training-set builder (`m2f-dataset`), kept free of ML dependencies so that any of
//! them can use them.
//!
//! - [`resample`]: delay-free sample-rate conversion (any rate to the 16 kHz used inside).
//! - [`AugmentRecipe`]: seeded, serialisable augmentation recipes for training data: noise,
//!   reverberation, band limiting, gain and clipping, lossy codecs (cargo feature `ffmpeg`)
//!   and speed perturbation, with the animation resampled to match. None of the steps shifts
//!   the audio in time.
//!
//! ```
//! use m2f_audio::{resample, AugmentRecipe, Step};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tone: Vec<f32> = (0..44_100).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
//! let speech = resample(&tone, 44_100, 16_000)?; // one second at 16 kHz
//! assert_eq!(speech.len(), 16_000);
//! let recipe = AugmentRecipe::new(vec![
//!     Step::speed_from_factor(1.1)?,
//!     Step::Gain { gain_db: -6.0 },
//! ]);
//! let out = recipe.apply(&speech, &[])?; // babble steps would take other clips here
//! assert_eq!(out.audio.len(), (16_000.0 / out.speed_factor).round() as usize);
//! # Ok(())
//! # }
//! ```

mod augment;
mod resample;

// Sample-rate conversion.
pub use resample::{output_len, resample, ResampleError};

// Augmentation: recipes, what they produce, and the animation kept in step.
pub use augment::{
    active_speech_power, frame_count, room_impulse_response, speed_perturb_track, AugmentConfig,
    AugmentError, AugmentRecipe, Augmented, ClipMode, Codec, NoiseSource, NoiseWeights, Step,
};

// The limits a recipe is validated against.
pub use augment::{
    ACTIVE_RANGE_DB, CLIP_THRESHOLD_LIMITS, CODEC_BITRATES_KBPS, DRR_LIMITS_DB, GAIN_LIMITS_DB,
    LEVEL_FRAME, LOW_PASS_LIMITS_HZ, MAX_BABBLE_TALKERS, MAX_EARLY_REFLECTIONS, MAX_SPEED_TERM,
    MAX_STEPS, RECIPE_VERSION, RT60_LIMITS_S, SAMPLE_RATE, SNR_LIMITS_DB, SPEED_LIMITS,
    TELEPHONE_HIGH_HZ, TELEPHONE_LOW_HZ,
};
