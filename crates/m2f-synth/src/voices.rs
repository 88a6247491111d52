//! The voice catalogue: espeak-ng's English accents × its voice variants, split for
//! training and evaluation so that test voices are never heard in training.

use serde::{Deserialize, Serialize};

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

/// Which part of the data a voice, identity or clip belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

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

/// One voice: an accent with a variant, as espeak-ng names it ("en-us+f3").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Voice {
    pub accent: String,
    pub variant: String,
}

impl Voice {
    pub fn espeak_name(&self) -> String {
        format!("{}+{}", self.accent, self.variant)
    }

    /// The split this voice belongs to: fixed by its name, not by any seed, so a test voice
    /// stays a test voice across datasets.
    pub fn split(&self) -> Split {
        Split::of_hash(stable_hash(self.espeak_name().as_bytes()))
    }
}

/// Every voice in the catalogue.
pub fn all_voices() -> Vec<Voice> {
    ACCENTS
        .iter()
        .flat_map(|a| {
            VARIANTS.iter().map(move |v| Voice {
                accent: a.to_string(),
                variant: v.to_string(),
            })
        })
        .collect()
}

/// Voices of one split.
pub fn voices_of(split: Split) -> Vec<Voice> {
    all_voices()
        .into_iter()
        .filter(|v| v.split() == split)
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
    fn every_split_has_voices() {
        for s in Split::ALL {
            let n = voices_of(s).len();
            assert!(n >= 20, "{} has only {n} voices", s.name());
        }
    }
}
