//! Audio utilities shared by the synthetic world (`m2f-synth`), the encoders (`conditioning`)
//! and the training-set builder (`m2f-dataset`), kept free of ML dependencies so that any of
//! them can use them.
//!
//! - [`resample`]: delay-free sample-rate conversion (any rate to the 16 kHz used inside).
//! - [`augment`]: seeded, serialisable augmentation recipes for training data: noise,
//!   reverberation, band limiting, gain and clipping, lossy codecs (cargo feature `ffmpeg`)
//!   and speed perturbation, with the animation resampled to match. None of the steps shifts
//!   the audio in time.

pub mod augment;
pub mod resample;

pub use augment::{
    active_speech_power, frame_count, room_impulse_response, speed_perturb_track, AugmentConfig,
    AugmentError, AugmentRecipe, Augmented, ClipMode, Codec, NoiseSource, NoiseWeights, Step,
};
pub use resample::{output_len, resample, ResampleError};
