//! The synthetic talking-face world of media2face.
//!
//! A clip is made in this order: a sentence from a word list ([`text`]) is spoken with phoneme
//! timings by one of two engines ([`speech`]): espeak-ng ([`espeak`]) or, for a fixed share of
//! the clips, Flite ([`flite`]), whose phones are mapped to the same IPA; the voice comes from a
//! catalogue split by voice name ([`voices`]); the audio is resampled by
//! [`m2f_audio::resample()`]; phonemes become visemes ([`viseme`]) blended by dominance
//! functions ([`coarticulation`]); the emotion
//! ([`emotion`]), blinks ([`blink`]) and the articulation become ARKit rig weights ([`face`])
//! on an identity's neutral ([`identity`]); head motion follows the words ([`head_motion`]).
//! [`world`] ties these together from a seed, [`clip`] and [`dataset`] write the results,
//! [`preview`] renders them.

pub mod blink;
pub mod clip;
pub mod coarticulation;
pub mod dataset;
pub mod emotion;
pub mod error;
pub mod espeak;
pub mod face;
pub mod flite;
pub mod head_motion;
pub mod identity;
pub mod preview;
pub mod speech;
pub mod text;
pub mod viseme;
pub mod voices;
pub mod world;

pub use clip::Clip;
pub use error::{Result, SynthError};
pub use espeak::{Espeak, VoiceSettings};
pub use flite::{Flite, FliteSettings};
pub use m2f_audio::resample;
pub use speech::{Engine, PhonemeEvent, Speech, SpeechSettings, Utterance, WordEvent};
pub use world::WorldConfig;
