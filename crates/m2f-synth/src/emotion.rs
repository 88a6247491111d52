//! The eight MEAD emotions at three intensities, acting on the face, the voice and the head,
//! with the style sentences that describe them.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The emotions of the MEAD corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    /// No emotion: the resting face.
    Neutral,
    /// Happiness.
    Happy,
    /// Sadness.
    Sad,
    /// Anger.
    Angry,
    /// Surprise.
    Surprised,
    /// Disgust.
    Disgusted,
    /// Fear.
    Fearful,
    /// Contempt.
    Contempt,
}

impl Emotion {
    /// Every emotion, neutral first.
    pub const ALL: [Emotion; 8] = [
        Emotion::Neutral,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Angry,
        Emotion::Surprised,
        Emotion::Disgusted,
        Emotion::Fearful,
        Emotion::Contempt,
    ];

    /// Lowercase name, as written in `meta.json`.
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Angry => "angry",
            Emotion::Surprised => "surprised",
            Emotion::Disgusted => "disgusted",
            Emotion::Fearful => "fearful",
            Emotion::Contempt => "contempt",
        }
    }

    /// Rig weights held through the clip at full intensity (the static face).
    pub fn face(self) -> &'static [(&'static str, f32)] {
        match self {
            Emotion::Neutral => &[],
            // Duchenne smile: lip corners up and out, cheeks raised, eyes narrowed from below
            // (AU6 + AU12).
            Emotion::Happy => &[
                ("mouthSmileLeft", 0.9),
                ("mouthSmileRight", 0.9),
                ("cheekSquintLeft", 0.7),
                ("cheekSquintRight", 0.7),
                ("eyeSquintLeft", 0.3),
                ("eyeSquintRight", 0.3),
            ],
            // Inner brows raised and drawn together (the oblique brow), lip corners down,
            // chin raised (AU1 + AU4 + AU15 + AU17).
            Emotion::Sad => &[
                ("browInnerUp", 0.9),
                ("browDownLeft", 0.2),
                ("browDownRight", 0.2),
                ("mouthFrownLeft", 0.7),
                ("mouthFrownRight", 0.7),
                // The chin boss pushes the lower lip up and the upper lip with it: the lower
                // lip raised alone would pass through the upper one.
                ("mouthShrugLower", 0.3),
                ("mouthShrugUpper", 0.3),
                ("eyeSquintLeft", 0.1),
                ("eyeSquintRight", 0.1),
            ],
            // Brows lowered and knitted, lids tightened, lips pressed (AU4 + AU7 + AU24).
            Emotion::Angry => &[
                ("browDownLeft", 0.9),
                ("browDownRight", 0.9),
                ("eyeSquintLeft", 0.45),
                ("eyeSquintRight", 0.45),
                ("noseSneerLeft", 0.25),
                ("noseSneerRight", 0.25),
                ("mouthPressLeft", 0.5),
                ("mouthPressRight", 0.5),
                ("mouthFrownLeft", 0.15),
                ("mouthFrownRight", 0.15),
            ],
            // Whole brow raised and arched, upper lids up, jaw dropped a little
            // (AU1 + AU2 + AU5 + AU26).
            Emotion::Surprised => &[
                ("browInnerUp", 0.85),
                ("browOuterUpLeft", 0.9),
                ("browOuterUpRight", 0.9),
                ("eyeWideLeft", 0.85),
                ("eyeWideRight", 0.85),
                ("jawOpen", 0.08),
            ],
            // Nose wrinkled, upper lip raised, brows lowered, cheeks up (AU9 + AU10 + AU4).
            Emotion::Disgusted => &[
                ("noseSneerLeft", 0.9),
                ("noseSneerRight", 0.9),
                ("mouthUpperUpLeft", 0.55),
                ("mouthUpperUpRight", 0.55),
                ("browDownLeft", 0.45),
                ("browDownRight", 0.45),
                ("cheekSquintLeft", 0.35),
                ("cheekSquintRight", 0.35),
                ("mouthFrownLeft", 0.2),
                ("mouthFrownRight", 0.2),
            ],
            // Brows raised and drawn together, upper lids up, lips stretched sideways
            // (AU1 + AU2 + AU4 + AU5 + AU20).
            Emotion::Fearful => &[
                ("browInnerUp", 0.9),
                ("browOuterUpLeft", 0.3),
                ("browOuterUpRight", 0.3),
                ("browDownLeft", 0.25),
                ("browDownRight", 0.25),
                ("eyeWideLeft", 0.8),
                ("eyeWideRight", 0.8),
                ("mouthStretchLeft", 0.7),
                ("mouthStretchRight", 0.7),
            ],
            // One-sided smirk: the left corner tightened and drawn up and back (unilateral
            // AU12 + AU14).
            Emotion::Contempt => &[
                ("mouthSmileLeft", 0.55),
                ("mouthDimpleLeft", 0.6),
                ("cheekSquintLeft", 0.25),
                ("eyeSquintLeft", 0.15),
                ("eyeSquintRight", 0.1),
            ],
        }
    }

    /// How the emotion colours speech and motion at full intensity.
    pub fn dynamics(self) -> EmotionDynamics {
        let d = |articulation, head_motion, blink_rate, pitch, pitch_range, rate, volume| {
            EmotionDynamics {
                articulation,
                head_motion,
                blink_rate,
                pitch_offset: pitch,
                pitch_range_offset: pitch_range,
                rate_factor: rate,
                volume_factor: volume,
            }
        };
        match self {
            Emotion::Neutral => d(1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0),
            Emotion::Happy => d(1.1, 1.25, 1.0, 10.0, 15.0, 1.06, 1.1),
            Emotion::Sad => d(0.72, 0.55, 0.8, -10.0, -20.0, 0.82, 0.8),
            Emotion::Angry => d(1.22, 1.35, 0.7, 4.0, 20.0, 1.12, 1.35),
            Emotion::Surprised => d(1.15, 1.3, 0.6, 16.0, 25.0, 1.0, 1.15),
            Emotion::Disgusted => d(0.88, 0.9, 1.0, -4.0, 5.0, 0.92, 0.95),
            Emotion::Fearful => d(0.92, 1.15, 1.6, 12.0, 10.0, 1.18, 0.9),
            Emotion::Contempt => d(0.85, 0.8, 0.9, -3.0, -5.0, 0.95, 0.95),
        }
    }
}

/// The dynamic side of an emotion, at full intensity; [`Intensity::scale`] blends it toward
/// neutral.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmotionDynamics {
    /// Gain on jaw and lip motion.
    pub articulation: f32,
    /// Gain on head motion.
    pub head_motion: f32,
    /// Gain on blink frequency.
    pub blink_rate: f32,
    /// espeak pitch offset (0..100 scale).
    pub pitch_offset: f32,
    /// espeak pitch range offset (0..100 scale).
    pub pitch_range_offset: f32,
    /// Speaking rate factor.
    pub rate_factor: f32,
    /// Volume factor.
    pub volume_factor: f32,
}

impl EmotionDynamics {
    /// Moves each value toward neutral by `amount` ∈ [0, 1] of the emotion.
    pub fn scaled(self, amount: f32) -> Self {
        let mix = |x: f32, neutral: f32| neutral + amount * (x - neutral);
        Self {
            articulation: mix(self.articulation, 1.0),
            head_motion: mix(self.head_motion, 1.0),
            blink_rate: mix(self.blink_rate, 1.0),
            pitch_offset: mix(self.pitch_offset, 0.0),
            pitch_range_offset: mix(self.pitch_range_offset, 0.0),
            rate_factor: mix(self.rate_factor, 1.0),
            volume_factor: mix(self.volume_factor, 1.0),
        }
    }
}

/// MEAD's three intensity levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intensity {
    /// Level 1: 0.4 of the full emotion.
    Low,
    /// Level 2: 0.7 of the full emotion.
    Medium,
    /// Level 3: the full emotion.
    High,
}

impl Intensity {
    /// Every intensity, low to high.
    pub const ALL: [Intensity; 3] = [Intensity::Low, Intensity::Medium, Intensity::High];

    /// Fraction of the full emotion.
    pub fn scale(self) -> f32 {
        match self {
            Intensity::Low => 0.4,
            Intensity::Medium => 0.7,
            Intensity::High => 1.0,
        }
    }

    /// MEAD's level number: 1 (low) to 3 (high).
    pub fn level(self) -> u8 {
        match self {
            Intensity::Low => 1,
            Intensity::Medium => 2,
            Intensity::High => 3,
        }
    }
}

/// A sentence describing the speaking style, drawn from several phrasings so that text
/// prompts are not one fixed string per label.
pub fn style_sentence(emotion: Emotion, intensity: Intensity, rng: &mut impl Rng) -> String {
    let adjectives: &[&str] = match emotion {
        Emotion::Neutral => &["calm", "neutral", "composed", "matter-of-fact"],
        Emotion::Happy => &["happy", "cheerful", "joyful", "delighted"],
        Emotion::Sad => &["sad", "sorrowful", "downcast", "unhappy"],
        Emotion::Angry => &["angry", "furious", "irritated", "annoyed"],
        Emotion::Surprised => &["surprised", "astonished", "amazed", "startled"],
        Emotion::Disgusted => &["disgusted", "repulsed", "revolted", "grossed-out"],
        Emotion::Fearful => &["fearful", "scared", "frightened", "anxious"],
        Emotion::Contempt => &["contemptuous", "scornful", "disdainful", "sneering"],
    };
    let degree: &[&str] = match (emotion, intensity) {
        (Emotion::Neutral, _) => &[""],
        (_, Intensity::Low) => &["slightly ", "a little ", "mildly "],
        (_, Intensity::Medium) => &["", "fairly ", "quite "],
        (_, Intensity::High) => &["very ", "extremely ", "intensely "],
    };
    let adjective = adjectives.choose(rng).copied().unwrap_or("neutral");
    let degree = degree.choose(rng).copied().unwrap_or("");
    let templates: [&dyn Fn() -> String; 4] = [
        &|| format!("a {degree}{adjective} person talking"),
        &|| format!("speaking in a {degree}{adjective} way"),
        &|| format!("someone who sounds {degree}{adjective}"),
        &|| format!("a {degree}{adjective} face while speaking"),
    ];
    let i = rng.random_range(0..templates.len());
    templates[i]()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn style_sentences_name_the_emotion_family() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for e in Emotion::ALL {
            for i in Intensity::ALL {
                let s = style_sentence(e, i, &mut rng);
                assert!(s.len() > 10, "{s}");
            }
        }
    }

    #[test]
    fn intensity_blends_toward_neutral() {
        let d = Emotion::Angry.dynamics().scaled(0.0);
        assert_eq!(d, Emotion::Neutral.dynamics());
    }
}
