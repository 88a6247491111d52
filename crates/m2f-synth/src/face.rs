//! Per-frame rig weights from articulation, emotion and blinks.

use m2f_mesh::Rig;

use crate::emotion::{Emotion, Intensity};
use crate::error::SynthError;
use crate::viseme::Articulation;

/// Rig indices the animator writes, resolved once per rig.
#[derive(Debug, Clone)]
pub struct FaceAnimator {
    k: usize,
    jaw_open: usize,
    mouth_close: usize,
    press: [usize; 2],
    pucker: usize,
    funnel: usize,
    stretch: [usize; 2],
    roll_lower: usize,
    upper_up: [usize; 2],
    lower_down: [usize; 2],
    blink: [usize; 2],
    /// eyeSquint and eyeWide, left then right: they yield to a blink.
    lids: [[usize; 2]; 2],
    brow_inner_up: usize,
    /// Shapes that part the lips: a bilabial seal overrides them.
    opening: Vec<usize>,
    /// (index, weight at full intensity) of the emotion's static face.
    emotion_face: Vec<(usize, f32)>,
    emotion_scale: f32,
}

impl FaceAnimator {
    /// An animator for `rig` holding the static face of `emotion` at `intensity`; fails if
    /// the rig lacks a blendshape the animator writes.
    pub fn new(rig: &Rig, emotion: Emotion, intensity: Intensity) -> Result<Self, SynthError> {
        let i = |n: &str| rig.index_of(n).map_err(SynthError::from);
        let pair = |a: &str, b: &str| -> Result<[usize; 2], SynthError> { Ok([i(a)?, i(b)?]) };
        let upper_up = pair("mouthUpperUpLeft", "mouthUpperUpRight")?;
        let lower_down = pair("mouthLowerDownLeft", "mouthLowerDownRight")?;
        let funnel = i("mouthFunnel")?;
        let emotion_face = emotion
            .face()
            .iter()
            .map(|(n, w)| Ok((i(n)?, *w)))
            .collect::<Result<_, SynthError>>()?;
        Ok(Self {
            k: rig.num_blendshapes(),
            jaw_open: i("jawOpen")?,
            mouth_close: i("mouthClose")?,
            press: pair("mouthPressLeft", "mouthPressRight")?,
            pucker: i("mouthPucker")?,
            funnel,
            stretch: pair("mouthStretchLeft", "mouthStretchRight")?,
            roll_lower: i("mouthRollLower")?,
            upper_up,
            lower_down,
            blink: pair("eyeBlinkLeft", "eyeBlinkRight")?,
            lids: [
                pair("eyeSquintLeft", "eyeWideLeft")?,
                pair("eyeSquintRight", "eyeWideRight")?,
            ],
            brow_inner_up: i("browInnerUp")?,
            opening: vec![
                upper_up[0],
                upper_up[1],
                lower_down[0],
                lower_down[1],
                funnel,
            ],
            emotion_face,
            emotion_scale: intensity.scale(),
        })
    }

    /// Rig weights `[K]` for one frame. `brow_beat` ∈ [0, 1] lifts the brows on emphasis.
    pub fn weights(&self, a: &Articulation, blink: f32, brow_beat: f32) -> Vec<f32> {
        let mut w = vec![0.0f32; self.k];
        for &(i, v) in &self.emotion_face {
            w[i] += v * self.emotion_scale;
        }
        let open = 1.0 - a.closure;
        w[self.jaw_open] += a.jaw;
        for s in self.press {
            w[s] += 0.5 * a.closure;
        }
        w[self.pucker] += a.round;
        w[self.funnel] += a.funnel;
        for s in self.stretch {
            w[s] += 0.45 * a.spread;
        }
        w[self.roll_lower] += 0.8 * a.tuck;
        for s in self.upper_up {
            w[s] += 0.25 * a.tuck;
        }
        for s in self.lower_down {
            w[s] += 0.35 * a.jaw;
        }
        w[self.brow_inner_up] += 0.2 * brow_beat;
        for &s in &self.opening {
            w[s] *= open;
        }
        for v in w.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        // The seal holds the lower lip against the opened jaw (ARKit's mouthClose).
        w[self.mouth_close] = (a.closure * w[self.jaw_open]).clamp(0.0, 1.0);
        for (side, &s) in self.blink.iter().enumerate() {
            w[s] = w[s].max(blink);
            // An emotion's lid shapes hold the lids apart (a squint raises the lower lid, a
            // wide eye the upper one): added to a blink they would push the closing upper lid
            // through the lower one, so they let go while the eye closes.
            for l in self.lids[side] {
                w[l] *= 1.0 - w[s];
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2f_mesh::{arkit_rig, seal_lips, FaceTemplate};

    #[test]
    fn no_emotion_pushes_one_lip_through_the_other() {
        let t = FaceTemplate::mediapipe();
        let neutral = seal_lips(&t.mesh, &t.regions, 0.0003).unwrap();
        let rig = arkit_rig(&neutral, &t.regions).unwrap();
        let lm = t.regions.landmarks;
        // Upper minus lower inner lip centre, m: negative when the lips have crossed.
        let signed_gap =
            |v: &[[f32; 3]]| v[lm.upper_inner_lip as usize][1] - v[lm.lower_inner_lip as usize][1];
        let bilabial = Articulation {
            jaw: 0.2,
            closure: 1.0,
            ..Articulation::default()
        };
        for e in Emotion::ALL {
            let a = FaceAnimator::new(&rig, e, Intensity::High).unwrap();
            let rest = rig
                .apply(&a.weights(&Articulation::default(), 0.0, 0.0))
                .unwrap();
            let closed = rig.apply(&a.weights(&bilabial, 0.0, 0.0)).unwrap();
            assert!(
                signed_gap(&rest) > 0.0,
                "{}: lips crossed by {} m at rest",
                e.name(),
                -signed_gap(&rest)
            );
            let g = t.regions.inner_lip_gap(&closed);
            assert!(g < 5e-4, "{}: a bilabial leaves {g} m", e.name());
        }
    }

    #[test]
    fn every_emotion_blinks_shut_without_the_lids_crossing() {
        let t = FaceTemplate::mediapipe();
        let neutral = seal_lips(&t.mesh, &t.regions, 0.0003).unwrap();
        let rig = arkit_rig(&neutral, &t.regions).unwrap();
        let rest = Articulation::default();
        for e in Emotion::ALL {
            let a = FaceAnimator::new(&rig, e, Intensity::High).unwrap();
            let open = rig.apply(&a.weights(&rest, 0.0, 0.0)).unwrap();
            let shut = rig.apply(&a.weights(&rest, 1.0, 0.0)).unwrap();
            let o = t
                .regions
                .eyelid_openings(&open)
                .into_iter()
                .fold(f32::INFINITY, f32::min);
            let s = t
                .regions
                .eyelid_openings(&shut)
                .into_iter()
                .fold(f32::INFINITY, f32::min);
            assert!(o > 0.001, "{} narrows the eye to {o} m", e.name());
            assert!(
                s.abs() < 4e-4,
                "{} blinks to {s} m between the lids",
                e.name()
            );
        }
    }
}
