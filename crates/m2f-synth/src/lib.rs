//! The synthetic talking-face world of media2face (DESIGN §5).
//!
//! A clip is made in this order: a sentence from a word list ([`text`]) is spoken by
//! espeak-ng with phoneme timings ([`espeak`], resampled by [`m2f_audio::resample`]); phonemes become
//! visemes ([`viseme`]) blended by dominance functions ([`coarticulation`]); the emotion
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
pub mod head_motion;
pub mod identity;
pub mod preview;
pub mod text;
pub mod viseme;
pub mod voices;
pub mod world;

pub use clip::Clip;
pub use error::{Result, SynthError};
pub use espeak::{Espeak, PhonemeEvent, Utterance, VoiceSettings, WordEvent};
pub use m2f_audio::resample;
pub use world::WorldConfig;
