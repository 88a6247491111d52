//! The synthetic talking-face world of media2face.
//!
//! A clip is made in this order: a sentence from a word list ([`sentence`]) is spoken with
//! phoneme timings by one of two engines ([`Speech`]): espeak-ng ([`Espeak`]) or, for a fixed
//! share of the clips ([`FLITE_SHARE`]), Flite ([`Flite`]), whose phones are mapped to the same
//! IPA; the voice comes from a catalogue split by voice name ([`Voice`], [`Split`]); the audio
//! is resampled by [`m2f_audio::resample()`]; phonemes become visemes ([`visemes_of`]) blended
//! by dominance functions ([`Coarticulation`]); the emotion ([`Emotion`], [`Intensity`]),
//! blinks ([`blink_track`]) and the articulation become ARKit rig weights ([`FaceAnimator`]) on
//! an identity's neutral ([`identity_rig`]); head motion follows the words ([`head_motion`]).
//! [`WorldConfig`] ties these together from a seed, [`Clip`] and [`write_dataset`] write the
//! results, [`write_clip_preview`] renders them.
//!
//! ```no_run
//! use m2f_synth::{write_dataset, Speech, WorldConfig};
//!
//! # fn main() -> m2f_synth::Result<()> {
//! // The first 20 clips of the seed-1 world (espeak-ng and Flite, as installed by the test
//! // command), with `root/manifest.json`.
//! let config = WorldConfig { seed: 1, ..WorldConfig::default() };
//! let speech = Speech::load(&config.engines)?;
//! let manifest = write_dataset(std::path::Path::new("out/synth20"), &config, 20, &speech, |_| {})?;
//! println!("{} clips", manifest.clips.len());
//! # Ok(())
//! # }
//! ```

mod blink;
mod clip;
mod coarticulation;
mod dataset;
mod emotion;
mod error;
mod espeak;
mod face;
mod flite;
mod head_motion;
mod identity;
mod preview;
mod speech;
mod text;
mod viseme;
mod voices;
mod world;

pub use error::{Result, SynthError, ESPEAK_INSTALL_HINT, FLITE_INSTALL_HINT};

// The world: from a seed to clips on disk.
pub use clip::{
    Clip, ClipMeta, PhonemeTiming, WordTiming, CLIP_FORMAT_VERSION, READABLE_FORMAT_VERSIONS,
    SAMPLE_RATE,
};
pub use dataset::{write_dataset, Manifest, ManifestEntry};
pub use preview::{clip_frames, write_clip_glb, write_clip_preview};
pub use world::{ClipPlan, WorldConfig, FLITE_SHARE};

// Speech: sentences, the two engines and their voices.
pub use espeak::{Espeak, VoiceSettings, LIB_ENV as ESPEAK_LIB_ENV};
pub use flite::{
    ipa_of_phone, voice_info as flite_voice_info, Flite, FliteSettings, FliteVoice,
    LIB_DIR_ENV as FLITE_LIB_DIR_ENV, PHONES as FLITE_PHONES, VOICES as FLITE_ENGINE_VOICES,
};
pub use speech::{Engine, PhonemeEvent, Speech, SpeechSettings, Utterance, WordEvent};
pub use text::sentence;
pub use voices::{
    all_voices, engine_voices_of, stable_hash, voices_of, Split, Voice, ACCENTS, FLITE_VOICES,
    VARIANTS,
};

// The face: visemes, coarticulation, emotion, blinks, head motion, identities.
pub use blink::blink_track;
pub use coarticulation::{Coarticulation, VisemeSegment};
pub use emotion::{style_sentence, Emotion, EmotionDynamics, Intensity};
pub use face::FaceAnimator;
pub use head_motion::{head_motion, WordBeat};
pub use identity::{identity_rig, IdentityParams};
pub use viseme::{visemes_of, Articulation, Dominance, Viseme};
