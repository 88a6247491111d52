//! Phonemes → visemes: what the mouth aims for during each sound.

use serde::{Deserialize, Serialize};

/// Articulatory parameters of the mouth, each in [0, 1]; the coarticulation model blends
/// these between phonemes and [`crate::FaceAnimator::weights`] turns them into rig weights.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Articulation {
    /// Jaw opening.
    pub jaw: f32,
    /// Lips sealed (bilabials).
    pub closure: f32,
    /// Lips rounded and protruded.
    pub round: f32,
    /// Lips flared into a funnel.
    pub funnel: f32,
    /// Lips spread sideways.
    pub spread: f32,
    /// Lower lip tucked under the upper teeth (labiodentals).
    pub tuck: f32,
}

impl Articulation {
    /// Number of articulatory parameters.
    pub const COUNT: usize = 6;

    /// The parameters in order: jaw, closure, round, funnel, spread, tuck.
    pub fn to_array(self) -> [f32; 6] {
        [
            self.jaw,
            self.closure,
            self.round,
            self.funnel,
            self.spread,
            self.tuck,
        ]
    }

    /// Parameters from an array in [`Articulation::to_array`]'s order.
    pub fn from_array(a: [f32; 6]) -> Self {
        Self {
            jaw: a[0],
            closure: a[1],
            round: a[2],
            funnel: a[3],
            spread: a[4],
            tuck: a[5],
        }
    }
}

/// Viseme classes of English as espeak-ng speaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viseme {
    /// A pause: the mouth at rest.
    Silence,
    /// p b m
    Bilabial,
    /// f v
    Labiodental,
    /// θ ð
    Dental,
    /// t d n l s z
    Alveolar,
    /// ʃ ʒ tʃ dʒ
    Postalveolar,
    /// k g ŋ
    Velar,
    /// h ʔ
    Glottal,
    /// ɹ r
    Rhotic,
    /// w
    LabialGlide,
    /// j
    PalatalGlide,
    /// a ɑ æ ɒ ʌ (open)
    OpenVowel,
    /// e ɛ ə ɜ (mid)
    MidVowel,
    /// i ɪ (close, spread)
    CloseFrontVowel,
    /// u ʊ o (close, rounded)
    RoundedVowel,
    /// ɔ (open-mid, rounded)
    OpenRoundedVowel,
}

/// How strongly a viseme imposes its target on the jaw and on the lips (Cohen–Massaro
/// dominance at the segment, before the temporal falloff).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dominance {
    /// Dominance over the jaw opening.
    pub jaw: f32,
    /// Dominance over the lip shape (round, funnel, spread, tuck).
    pub lips: f32,
    /// Dominance of the closure target alone: bilabials must win it outright.
    pub closure: f32,
    /// If set, the closure dominance falls off as a Gaussian of this width (seconds) outside
    /// the segment instead of the slow exponential: a lip seal is held during the consonant
    /// and released within a few tens of milliseconds, not anticipated for a whole syllable.
    pub closure_width: Option<f32>,
}

impl Viseme {
    /// The articulatory target of the viseme.
    pub fn target(self) -> Articulation {
        let a = |jaw, closure, round, funnel, spread, tuck| Articulation {
            jaw,
            closure,
            round,
            funnel,
            spread,
            tuck,
        };
        match self {
            Viseme::Silence => a(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            Viseme::Bilabial => a(0.05, 1.0, 0.0, 0.0, 0.0, 0.0),
            Viseme::Labiodental => a(0.1, 0.0, 0.0, 0.0, 0.1, 1.0),
            Viseme::Dental => a(0.16, 0.0, 0.0, 0.0, 0.2, 0.0),
            Viseme::Alveolar => a(0.14, 0.0, 0.0, 0.0, 0.25, 0.0),
            Viseme::Postalveolar => a(0.14, 0.0, 0.35, 0.7, 0.0, 0.0),
            Viseme::Velar => a(0.2, 0.0, 0.0, 0.0, 0.1, 0.0),
            Viseme::Glottal => a(0.25, 0.0, 0.0, 0.0, 0.0, 0.0),
            Viseme::Rhotic => a(0.14, 0.0, 0.45, 0.35, 0.0, 0.0),
            Viseme::LabialGlide => a(0.1, 0.0, 0.9, 0.2, 0.0, 0.0),
            Viseme::PalatalGlide => a(0.1, 0.0, 0.0, 0.0, 0.45, 0.0),
            Viseme::OpenVowel => a(0.58, 0.0, 0.0, 0.0, 0.1, 0.0),
            Viseme::MidVowel => a(0.34, 0.0, 0.0, 0.0, 0.2, 0.0),
            Viseme::CloseFrontVowel => a(0.16, 0.0, 0.0, 0.0, 0.65, 0.0),
            Viseme::RoundedVowel => a(0.22, 0.0, 0.85, 0.3, 0.0, 0.0),
            Viseme::OpenRoundedVowel => a(0.45, 0.0, 0.5, 0.3, 0.0, 0.0),
        }
    }

    /// How strongly the viseme imposes its target on the jaw and lips.
    pub fn dominance(self) -> Dominance {
        let d = |jaw, lips, closure| Dominance {
            jaw,
            lips,
            closure,
            closure_width: None,
        };
        match self {
            Viseme::Silence => d(0.6, 0.4, 0.4),
            // The jaw must rise for the lips to meet, and the seal must hold against the
            // neighbours' opening: both dominate.
            Viseme::Bilabial => Dominance {
                closure_width: Some(0.015),
                ..d(1.5, 3.0, 40.0)
            },
            Viseme::Labiodental => d(1.5, 3.0, 1.0),
            Viseme::Dental => d(0.8, 1.0, 1.0),
            Viseme::Alveolar | Viseme::Velar => d(0.5, 0.4, 1.0),
            Viseme::Postalveolar => d(0.8, 2.0, 1.0),
            Viseme::Glottal => d(0.1, 0.1, 0.3),
            Viseme::Rhotic => d(0.6, 1.2, 1.0),
            Viseme::LabialGlide => d(0.8, 2.5, 1.0),
            Viseme::PalatalGlide => d(0.6, 1.0, 1.0),
            Viseme::OpenVowel | Viseme::OpenRoundedVowel => d(1.5, 1.0, 1.0),
            Viseme::MidVowel => d(1.0, 0.8, 1.0),
            Viseme::CloseFrontVowel => d(1.0, 1.5, 1.0),
            Viseme::RoundedVowel => d(1.0, 2.0, 1.0),
        }
    }

    /// Whether the viseme is a vowel.
    pub fn is_vowel(self) -> bool {
        matches!(
            self,
            Viseme::OpenVowel
                | Viseme::MidVowel
                | Viseme::CloseFrontVowel
                | Viseme::RoundedVowel
                | Viseme::OpenRoundedVowel
        )
    }
}

/// IPA symbols espeak-ng emits for English, longest first so that greedy matching splits
/// diphthongs and affricates correctly.
const SYMBOLS: &[(&str, Viseme)] = &[
    ("tʃ", Viseme::Postalveolar),
    ("dʒ", Viseme::Postalveolar),
    ("p", Viseme::Bilabial),
    ("b", Viseme::Bilabial),
    ("m", Viseme::Bilabial),
    ("f", Viseme::Labiodental),
    ("v", Viseme::Labiodental),
    ("θ", Viseme::Dental),
    ("ð", Viseme::Dental),
    ("t", Viseme::Alveolar),
    ("d", Viseme::Alveolar),
    ("n", Viseme::Alveolar),
    ("l", Viseme::Alveolar),
    ("ɫ", Viseme::Alveolar),
    ("s", Viseme::Alveolar),
    ("z", Viseme::Alveolar),
    ("ɾ", Viseme::Alveolar),
    ("ʃ", Viseme::Postalveolar),
    ("ʒ", Viseme::Postalveolar),
    ("k", Viseme::Velar),
    ("ɡ", Viseme::Velar),
    ("g", Viseme::Velar),
    ("ŋ", Viseme::Velar),
    ("x", Viseme::Velar),
    ("h", Viseme::Glottal),
    ("ʔ", Viseme::Glottal),
    ("ɹ", Viseme::Rhotic),
    ("r", Viseme::Rhotic),
    ("ɚ", Viseme::Rhotic),
    ("ɝ", Viseme::Rhotic),
    ("w", Viseme::LabialGlide),
    ("ʍ", Viseme::LabialGlide),
    ("j", Viseme::PalatalGlide),
    ("a", Viseme::OpenVowel),
    ("ɑ", Viseme::OpenVowel),
    ("æ", Viseme::OpenVowel),
    ("ɐ", Viseme::OpenVowel),
    ("ɒ", Viseme::OpenVowel),
    ("ʌ", Viseme::OpenVowel),
    ("e", Viseme::MidVowel),
    ("ɛ", Viseme::MidVowel),
    ("ə", Viseme::MidVowel),
    ("ɜ", Viseme::MidVowel),
    ("ᵻ", Viseme::CloseFrontVowel),
    ("i", Viseme::CloseFrontVowel),
    ("ɪ", Viseme::CloseFrontVowel),
    ("y", Viseme::RoundedVowel),
    ("u", Viseme::RoundedVowel),
    ("ʊ", Viseme::RoundedVowel),
    ("o", Viseme::RoundedVowel),
    ("ɔ", Viseme::OpenRoundedVowel),
];

/// Marks that change length, stress or quality but not the mouth shape.
const IGNORED: &[char] = &[
    'ː', 'ˑ', 'ˈ', 'ˌ', 'ʰ', '̩', '̃', '-', '\'', ',', '_', ';', '#', '!',
];

/// Splits an espeak-ng IPA phoneme name into visemes (a diphthong gives two, an empty name
/// a pause). Unknown symbols are skipped; a name with none known reads as a neutral
/// mid-vowel so that timing is never lost.
pub fn visemes_of(ipa: &str) -> Vec<Viseme> {
    let cleaned: String = ipa.chars().filter(|c| !IGNORED.contains(c)).collect();
    if cleaned.is_empty() {
        return vec![Viseme::Silence];
    }
    let mut out = Vec::new();
    let mut rest = cleaned.as_str();
    while !rest.is_empty() {
        match SYMBOLS.iter().find(|(s, _)| rest.starts_with(s)) {
            Some((s, v)) => {
                out.push(*v);
                rest = &rest[s.len()..];
            }
            None => {
                let skip = rest.chars().next().map(char::len_utf8).unwrap_or(1);
                rest = &rest[skip..];
            }
        }
    }
    if out.is_empty() {
        out.push(Viseme::MidVowel);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn espeak_names_map_to_visemes() {
        assert_eq!(visemes_of("m"), vec![Viseme::Bilabial]);
        assert_eq!(
            visemes_of("eɪ"),
            vec![Viseme::MidVowel, Viseme::CloseFrontVowel]
        );
        assert_eq!(visemes_of("iː"), vec![Viseme::CloseFrontVowel]);
        assert_eq!(visemes_of("tʃ"), vec![Viseme::Postalveolar]);
        assert_eq!(visemes_of("əl"), vec![Viseme::MidVowel, Viseme::Alveolar]);
        assert_eq!(visemes_of(""), vec![Viseme::Silence]);
        assert_eq!(
            visemes_of("ˈaʊ"),
            vec![Viseme::OpenVowel, Viseme::RoundedVowel]
        );
    }
}
