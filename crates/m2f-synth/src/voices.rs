//! The voice catalogue: espeak-ng's English accents × its voice variants (448 voices) and
//! Flite's five voices, split for training and evaluation so that test voices are never heard in
//! training.

use serde::{Deserialize, Serialize};

use crate::speech::Engine;

/// espeak-ng's English accents (no MBROLA voices: they are not free software).
pub const ACCENTS: &[&str] = &[
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];

/// espeak-ng voice variants that sound like a person (the robotic, whispering and demonic
/// ones are left out: their audio carries little of the speech a face follows).
pub const VARIANTS: &[&str] = &[
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "klatt",
    "klatt2", "klatt3", "klatt4", "klatt6", "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie",
    "aunty", "belinda", "benjamin", "boris", "caleb", "david", "Denis", "ed", "edward", "Gene",
    "grandma", "grandpa", "Hugo", "iven", "Jacky", "john", "Lee", "linda", "max", "Michael",
    "Mike", "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor",
    "zac",
];

/// Flite's voices (`crate::flite::VOICES`) with a fixed split each. Five voices of four
/// speakers are too few for the 80/10/10 hash to be trusted with (it would put kal and kal16,
/// one speaker at two sample rates, in different splits), so they are assigned by hand: train
/// hears both kinds of synthesis (slt, clustergen, female; kal at 8 and 16 kHz, diphone, male),
/// validation and test each get one clustergen male voice never heard in training.
pub const FLITE_VOICES: &[(&str, Split)] = &[
    ("cmu_us_slt", Split::Train),
    ("cmu_us_kal", Split::Train),
    ("cmu_us_kal16", Split::Train),
    ("cmu_us_awb", Split::Val),
    ("cmu_us_rms", Split::Test),
];

/// Which part of the data a voice, identity or clip belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data (80 %).
    Train,
    /// Validation data (10 %).
    Val,
    /// Test data (10 %), never seen in training or model selection.
    Test,
}

impl Split {
    /// Every split, in a fixed order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The split's name as files spell it: `"train"`, `"val"`, `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// 80 / 10 / 10 from a uniform hash value.
    pub fn of_hash(h: u64) -> Split {
        match h % 10 {
            0 => Split::Test,
            1 => Split::Val,
            _ => Split::Train,
        }
    }
}

/// One voice of one engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Voice {
    /// The engine that speaks with it.
    pub engine: Engine,
    /// The voice as the engine names it: an espeak-ng accent with a variant (`"en-us+f3"`) or
    /// a Flite voice (`"cmu_us_slt"`).
    pub name: String,
}

impl Voice {
    /// The espeak-ng voice `accent+variant`.
    pub fn espeak(accent: &str, variant: &str) -> Voice {
        Voice {
            engine: Engine::EspeakNg,
            name: format!("{accent}+{variant}"),
        }
    }

    /// The Flite voice `name` (e.g. `"cmu_us_slt"`).
    pub fn flite(name: &str) -> Voice {
        Voice {
            engine: Engine::Flite,
            name: name.to_owned(),
        }
    }

    /// Engine and voice in one string, unambiguous across engines: `"espeak-ng:en-us+f3"`,
    /// `"flite:cmu_us_slt"` (the manifest's `voice`).
    pub fn id(&self) -> String {
        format!("{}:{}", self.engine.name(), self.name)
    }

    /// The split this voice belongs to: fixed by its name, not by any seed, so a test voice
    /// stays a test voice across datasets. espeak-ng voices by a hash of the name (80/10/10),
    /// Flite voices by [`FLITE_VOICES`].
    pub fn split(&self) -> Split {
        let by_hash = || Split::of_hash(stable_hash(self.name.as_bytes()));
        match self.engine {
            Engine::EspeakNg => by_hash(),
            Engine::Flite => FLITE_VOICES
                .iter()
                .find(|(name, _)| *name == self.name)
                .map_or_else(by_hash, |(_, split)| *split),
        }
    }
}

/// Every voice in the catalogue: the espeak-ng voices, then the Flite voices.
pub fn all_voices() -> Vec<Voice> {
    let espeak = ACCENTS
        .iter()
        .flat_map(|a| VARIANTS.iter().map(move |v| Voice::espeak(a, v)));
    let flite = FLITE_VOICES.iter().map(|(name, _)| Voice::flite(name));
    espeak.chain(flite).collect()
}

/// Voices of one split, of every engine.
pub fn voices_of(split: Split) -> Vec<Voice> {
    all_voices()
        .into_iter()
        .filter(|v| v.split() == split)
        .collect()
}

/// Voices of one split spoken by `engine`.
pub fn engine_voices_of(engine: Engine, split: Split) -> Vec<Voice> {
    all_voices()
        .into_iter()
        .filter(|v| v.engine == engine && v.split() == split)
        .collect()
}

/// FNV-1a, 64 bit: a hash that never changes between platforms or Rust releases.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down so `% 10` sees all of them.
    h ^ (h >> 29) ^ (h >> 47)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_has_voices_of_both_engines() {
        for s in Split::ALL {
            let n = engine_voices_of(Engine::EspeakNg, s).len();
            assert!(n >= 20, "{} has only {n} espeak-ng voices", s.name());
            let n = engine_voices_of(Engine::Flite, s).len();
            assert!(n >= 1, "{} has no flite voice", s.name());
            assert_eq!(
                voices_of(s).len(),
                Engine::ALL
                    .iter()
                    .map(|&e| engine_voices_of(e, s).len())
                    .sum::<usize>()
            );
        }
        assert_eq!(all_voices().len(), ACCENTS.len() * VARIANTS.len() + 5);
        assert_eq!(all_voices().len(), 453);
    }

    #[test]
    fn the_catalogue_names_every_flite_voice_once() {
        let mut names: Vec<&str> = FLITE_VOICES.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let mut known: Vec<&str> = crate::flite::VOICES.iter().map(|v| v.name).collect();
        known.sort_unstable();
        assert_eq!(names, known);
        // One speaker at two sample rates stays in one split.
        assert_eq!(
            Voice::flite("cmu_us_kal").split(),
            Voice::flite("cmu_us_kal16").split()
        );
    }

    #[test]
    fn espeak_splits_are_the_hash_of_the_name() {
        // Unchanged from format version 1: a voice keeps its split across versions.
        let v = Voice::espeak("en-us", "f3");
        assert_eq!(v.name, "en-us+f3");
        assert_eq!(v.id(), "espeak-ng:en-us+f3");
        assert_eq!(v.split(), Split::of_hash(stable_hash(b"en-us+f3")));
        assert_eq!(Voice::flite("cmu_us_rms").id(), "flite:cmu_us_rms");
    }
}
