//! The synthetic talking-face world.
//!
//! So far: speech from espeak-ng with phoneme timings ([`espeak`]) and resampling to the
//! encoder's rate ([`mod@resample`]).

pub mod error;
pub mod espeak;
pub mod resample;

pub use error::{Result, SynthError};
pub use espeak::{Espeak, PhonemeEvent, Utterance, VoiceSettings, WordEvent};
pub use resample::resample;
