//! What every speech engine produces, and the engines side by side.
//!
//! The world speaks through two engines: espeak-ng ([`crate::espeak`]), a formant synthesiser
//! with many accents and voice variants, and Flite ([`crate::flite`]), whose diphone and
//! clustergen voices are resynthesised from recordings of real speakers. Both give audio with
//! per-phone timings as an [`Utterance`], so the rest of the world never asks which engine
//! spoke.

use std::ffi::c_uint;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};
use crate::espeak::{Espeak, VoiceSettings};
use crate::flite::{Flite, FliteSettings};
use crate::voices::Voice;

/// A speech engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Engine {
    /// espeak-ng, through libespeak-ng.
    #[serde(rename = "espeak-ng")]
    EspeakNg,
    /// CMU Flite, through libflite.
    #[serde(rename = "flite")]
    Flite,
}

impl Engine {
    /// Every engine, in a fixed order.
    pub const ALL: [Engine; 2] = [Engine::EspeakNg, Engine::Flite];

    /// The engine's name as files and the command line spell it: `"espeak-ng"`, `"flite"`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::EspeakNg => "espeak-ng",
            Engine::Flite => "flite",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Engine {
    type Err = SynthError;

    /// Parses `"espeak-ng"` or `"flite"`.
    fn from_str(s: &str) -> Result<Self> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                SynthError::invalid(
                    "speech engine",
                    format!("{s:?} is not one of \"espeak-ng\", \"flite\""),
                )
            })
    }
}

/// One phone (or pause) of an [`Utterance`], timed in samples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhonemeEvent {
    /// IPA symbol(s) without stress marks: as espeak-ng names the phoneme, or mapped from
    /// Flite's phone name ([`crate::flite::ipa_of_phone`]); `""` for a pause.
    pub ipa: String,
    /// First sample of the phoneme.
    pub start: usize,
    /// One past its last sample: the start of the next phoneme, or the end of the audio.
    pub end: usize,
    /// Index into [`Utterance::words`] of the word it belongs to; `None` for pauses and
    /// phonemes outside any word.
    pub word: Option<usize>,
}

/// One word of an [`Utterance`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordEvent {
    /// Sample at which the engine starts speaking the word.
    pub start: usize,
    /// The word as it appears in the input text (without surrounding punctuation).
    pub text: String,
}

/// Audio and timing of one synthesised text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// Sample rate of `samples` and of every sample index below: 22 050 Hz for espeak-ng,
    /// 8 000 or 16 000 Hz for Flite, depending on the voice.
    pub sample_rate: u32,
    /// Mono audio in [-1, 1].
    pub samples: Vec<f32>,
    /// Phonemes in time order; they tile `0..samples.len()` from the first phoneme on.
    pub phonemes: Vec<PhonemeEvent>,
    /// Words in time order.
    pub words: Vec<WordEvent>,
}

impl Utterance {
    /// Length of the audio in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// What one engine is asked to say a text with: its voice and that engine's own settings.
///
/// Serialised (in a clip's `meta.json`, `spoken_with`) as the settings' fields next to
/// `"engine": "espeak-ng"` or `"engine": "flite"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "engine")]
pub enum SpeechSettings {
    /// An espeak-ng voice with rate, pitch, range, volume and word gap on espeak-ng's scales.
    #[serde(rename = "espeak-ng")]
    EspeakNg(VoiceSettings),
    /// A Flite voice with rate, pitch, range and volume as factors of the voice's own.
    #[serde(rename = "flite")]
    Flite(FliteSettings),
}

impl SpeechSettings {
    /// The engine these settings are for.
    pub fn engine(&self) -> Engine {
        match self {
            SpeechSettings::EspeakNg(_) => Engine::EspeakNg,
            SpeechSettings::Flite(_) => Engine::Flite,
        }
    }

    /// The voice name as the engine knows it (`"en-us+f3"`, `"cmu_us_slt"`).
    pub fn voice_name(&self) -> &str {
        match self {
            SpeechSettings::EspeakNg(v) => &v.voice,
            SpeechSettings::Flite(v) => &v.voice,
        }
    }

    /// The engine and voice as the catalogue names them.
    pub fn voice_id(&self) -> Voice {
        Voice {
            engine: self.engine(),
            name: self.voice_name().to_owned(),
        }
    }
}

/// The speech engines one process has loaded: what [`crate::WorldConfig::generate`] speaks
/// through. Cheap to copy; `Send + Sync` (each engine serialises its own calls).
#[derive(Debug, Clone, Copy, Default)]
pub struct Speech {
    espeak: Option<&'static Espeak>,
    flite: Option<&'static Flite>,
}

impl Speech {
    /// Loads each engine of `engines` with all of its voices the world uses (loading is once
    /// per process; later calls are cheap).
    ///
    /// # Errors
    /// The engine's load error, e.g. [`SynthError::EspeakMissing`] or
    /// [`SynthError::FliteMissing`] with install instructions, for the first engine (or Flite
    /// voice) that is not installed. An engine that is not asked for is never touched.
    pub fn load(engines: &[Engine]) -> Result<Speech> {
        let mut speech = Speech::default();
        for engine in engines {
            match engine {
                Engine::EspeakNg => speech.espeak = Some(Espeak::load()?),
                Engine::Flite => {
                    let flite = Flite::load()?;
                    flite.load_voices()?;
                    speech.flite = Some(flite);
                }
            }
        }
        Ok(speech)
    }

    /// Both engines: [`Speech::load`] of [`Engine::ALL`].
    ///
    /// # Errors
    /// As [`Speech::load`].
    pub fn load_all() -> Result<Speech> {
        Self::load(&Engine::ALL)
    }

    /// The loaded engines, in [`Engine::ALL`] order.
    pub fn engines(&self) -> Vec<Engine> {
        Engine::ALL.into_iter().filter(|&e| self.has(e)).collect()
    }

    /// Whether `engine` is loaded.
    pub fn has(&self, engine: Engine) -> bool {
        match engine {
            Engine::EspeakNg => self.espeak.is_some(),
            Engine::Flite => self.flite.is_some(),
        }
    }

    /// libespeak-ng, if loaded.
    pub fn espeak(&self) -> Option<&'static Espeak> {
        self.espeak
    }

    /// libflite, if loaded.
    pub fn flite(&self) -> Option<&'static Flite> {
        self.flite
    }

    /// Says `text` with the engine `settings` are for.
    ///
    /// # Errors
    /// [`SynthError::EngineNotLoaded`] if that engine was not loaded, otherwise the engine's
    /// own errors ([`Espeak::synthesize`], [`Flite::synthesize`]).
    pub fn synthesize(&self, text: &str, settings: &SpeechSettings) -> Result<Utterance> {
        let not_loaded = || SynthError::EngineNotLoaded {
            engine: settings.engine().name().to_owned(),
            loaded: self.engines().iter().map(|e| e.name().to_owned()).collect(),
        };
        match settings {
            SpeechSettings::EspeakNg(v) => self.espeak.ok_or_else(not_loaded)?.synthesize(text, v),
            SpeechSettings::Flite(v) => self.flite.ok_or_else(not_loaded)?.synthesize(text, v),
        }
    }
}

// Worlds are generated on many threads at once, all speaking through one `Speech`.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Speech>();
};

/// Serialises every synthesis in the process, whatever the engine.
///
/// Each library keeps global state and is not thread-safe on its own, and both draw noise
/// (breathy espeak-ng variants, Flite's mixed excitation) from the C library's process-wide
/// `rand()`, which each engine seeds before every utterance so that output is deterministic.
/// Were an espeak-ng and a Flite utterance made at the same time, each would consume the
/// other's random numbers; one lock for both keeps them apart.
static SYNTHESIS: Mutex<()> = Mutex::new(());

/// Takes the process-wide synthesis lock (see [`SYNTHESIS`]).
pub(crate) fn synthesis_lock() -> MutexGuard<'static, ()> {
    // The guarded data is `()`, so a panic while it was held cannot have left it inconsistent
    // (and both engines reset their library's parameters before every utterance).
    SYNTHESIS.lock().unwrap_or_else(|p| p.into_inner())
}

unsafe extern "C" {
    /// The C library's seed for `rand()`, from which both libraries draw their noise.
    fn srand(seed: c_uint);
}

/// Seeds the C library's `rand()`; taking the synthesis lock's guard proves it is held.
pub(crate) fn seed_c_rand(_lock: &MutexGuard<'static, ()>, seed: c_uint) {
    // SAFETY: srand only sets libc's generator state; the synthesis lock is held, and every
    // user of that state in this process (the two speech libraries) runs under it.
    unsafe { srand(seed) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_round_trip() {
        for e in Engine::ALL {
            assert_eq!(e.name().parse::<Engine>().unwrap(), e);
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.name())
            );
        }
        let err = "festival".parse::<Engine>().unwrap_err().to_string();
        assert!(err.contains("festival") && err.contains("flite"), "{err}");
    }

    #[test]
    fn settings_serialise_with_their_engine() {
        let e = SpeechSettings::EspeakNg(VoiceSettings::default());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["engine"], "espeak-ng");
        assert_eq!(json["voice"], "en-us");
        assert_eq!(serde_json::from_value::<SpeechSettings>(json).unwrap(), e);
        let f = SpeechSettings::Flite(FliteSettings::default());
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["engine"], "flite");
        assert_eq!(json["voice"], "cmu_us_slt");
        assert_eq!(serde_json::from_value::<SpeechSettings>(json).unwrap(), f);
        assert_eq!(f.engine(), Engine::Flite);
        assert_eq!(f.voice_name(), "cmu_us_slt");
    }

    #[test]
    fn an_engine_not_loaded_is_named() {
        let none = Speech::default();
        assert!(none.engines().is_empty());
        let err = none
            .synthesize("Hello.", &SpeechSettings::Flite(FliteSettings::default()))
            .unwrap_err();
        assert!(matches!(err, SynthError::EngineNotLoaded { .. }), "{err:?}");
        assert!(err.to_string().contains("flite"), "{err}");
    }
}
