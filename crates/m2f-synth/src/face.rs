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
    brow_inner_up: usize,
    /// Shapes that part the lips: a bilabial seal overrides them.
    opening: Vec<usize>,
    /// (index, weight at full intensity) of the emotion's static face.
    emotion_face: Vec<(usize, f32)>,
    emotion_scale: f32,
}

impl FaceAnimator {
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

    /// Rig weights [K] for one frame. `brow_beat` ∈ [0, 1] lifts the brows on emphasis.
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
        for s in self.blink {
            w[s] = w[s].max(blink);
        }
        w
    }
}
