//! Coarticulation by dominance functions (Cohen & Massaro, 1993): every phoneme pulls each
//! articulatory parameter toward its target with a strength that peaks during the phoneme
//! and decays before it (anticipation) and after it (carry-over); the parameter at a moment
//! is the dominance-weighted mean of the targets.

use crate::viseme::{Articulation, Viseme};

/// One viseme over a time span, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisemeSegment {
    /// The viseme aimed for.
    pub viseme: Viseme,
    /// Start time, seconds.
    pub start: f32,
    /// End time, seconds.
    pub end: f32,
    /// Scales the jaw target: louder, stressed syllables open wider.
    pub emphasis: f32,
}

/// Time constants of the dominance falloff, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coarticulation {
    /// Decay before a segment: how early the mouth anticipates it.
    pub anticipation: f32,
    /// Decay after a segment: how long its shape lingers.
    pub carry_over: f32,
}

impl Default for Coarticulation {
    fn default() -> Self {
        Self {
            anticipation: 0.07,
            carry_over: 0.05,
        }
    }
}

/// A weak pull toward the closed, relaxed mouth, so silence far from speech rests.
const REST_DOMINANCE: f32 = 0.02;

impl Coarticulation {
    /// Articulation at each time of `times` (seconds).
    pub fn track(&self, segments: &[VisemeSegment], times: &[f32]) -> Vec<Articulation> {
        times.iter().map(|&t| self.at(segments, t)).collect()
    }

    fn at(&self, segments: &[VisemeSegment], t: f32) -> Articulation {
        let mut num = [0.0f32; Articulation::COUNT];
        let mut den = [REST_DOMINANCE; Articulation::COUNT];
        // Segments further than this contribute < e^-8 of their dominance: skip them.
        let reach = 8.0 * self.anticipation.max(self.carry_over);
        for s in segments {
            if s.start - t > reach || t - s.end > reach {
                continue;
            }
            let tau = if t < s.start {
                (s.start - t) / self.anticipation
            } else if t > s.end {
                (t - s.end) / self.carry_over
            } else {
                0.0
            };
            let fall = (-tau).exp();
            let d = s.viseme.dominance();
            let mut target = s.viseme.target().to_array();
            target[0] *= s.emphasis;
            let outside = (s.start - t).max(t - s.end).max(0.0);
            let closure_fall = match d.closure_width {
                Some(width) => (-(outside / width).powi(2)).exp(),
                None => fall,
            };
            let weights = [
                d.jaw * fall,
                d.closure * closure_fall,
                d.lips * fall,
                d.lips * fall,
                d.lips * fall,
                d.lips * fall,
            ];
            for k in 0..Articulation::COUNT {
                let w = weights[k];
                num[k] += w * target[k];
                den[k] += w;
            }
        }
        Articulation::from_array(std::array::from_fn(|k| (num[k] / den[k]).clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(v: Viseme, start: f32, end: f32) -> VisemeSegment {
        VisemeSegment {
            viseme: v,
            start,
            end,
            emphasis: 1.0,
        }
    }

    #[test]
    fn bilabial_between_open_vowels_still_closes() {
        let segs = [
            seg(Viseme::OpenVowel, 0.0, 0.12),
            seg(Viseme::Bilabial, 0.12, 0.17),
            seg(Viseme::OpenVowel, 0.17, 0.3),
        ];
        let c = Coarticulation::default();
        let mid = c.track(&segs, &[0.145])[0];
        assert!(mid.closure > 0.95, "closure {}", mid.closure);
        let vowel = c.track(&segs, &[0.05])[0];
        assert!(vowel.jaw > 0.4 && vowel.closure < 0.2, "{vowel:?}");
    }

    #[test]
    fn anticipation_rounds_before_a_rounded_vowel() {
        let segs = [
            seg(Viseme::Alveolar, 0.0, 0.08),
            seg(Viseme::RoundedVowel, 0.08, 0.25),
        ];
        let c = Coarticulation::default();
        let before = c.track(&segs, &[0.06])[0];
        assert!(before.round > 0.3, "{before:?}");
    }
}
