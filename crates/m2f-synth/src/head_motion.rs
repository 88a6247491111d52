//! Head motion that follows speech: slow drift, nods on stressed loud words, and turns to a
//! new resting direction at pauses, with amplitude set by the emotion.

use m2f_mesh::HeadPose;
use rand::Rng;

/// A spoken word for the motion model: time span in seconds and loudness relative to the
/// utterance (1 = average word).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordBeat {
    /// Start time, seconds.
    pub start: f32,
    /// End time, seconds.
    pub end: f32,
    /// Loudness relative to the utterance's average word (1 = average).
    pub loudness: f32,
    /// Whether the word carries stress (long stressed vowel, or loud).
    pub stressed: bool,
}

const DEG: f32 = std::f32::consts::PI / 180.0;

/// A smooth beat: rises to 1 at `tau` seconds after onset and decays after.
fn beat(t: f32, tau: f32) -> f32 {
    if t <= 0.0 {
        0.0
    } else {
        let x = t / tau;
        x * (1.0 - x).exp()
    }
}

/// One head pose per frame for `n_frames` at `fps`.
pub fn head_motion(
    words: &[WordBeat],
    pauses: &[f32],
    n_frames: usize,
    fps: f32,
    gain: f32,
    rng: &mut impl Rng,
) -> Vec<HeadPose> {
    // Drift: three slow sinusoids per axis with random phases.
    let mut drift = |amp_deg: f32| -> Vec<(f32, f32, f32)> {
        (0..3)
            .map(|_| {
                (
                    amp_deg * DEG * rng.random_range(0.3..1.0),
                    rng.random_range(0.08f32..0.45) * std::f32::consts::TAU,
                    rng.random_range(0.0f32..std::f32::consts::TAU),
                )
            })
            .collect()
    };
    let drift_pitch = drift(1.2);
    let drift_yaw = drift(2.0);
    let drift_roll = drift(0.8);
    let nod_sign: Vec<f32> = words
        .iter()
        .map(|_| if rng.random_bool(0.8) { 1.0 } else { -1.0 })
        .collect();
    let turn_targets: Vec<(f32, f32, f32)> = pauses
        .iter()
        .map(|&t| {
            (
                t,
                rng.random_range(-4.0f32..4.0) * DEG,
                rng.random_range(-2.0f32..2.0) * DEG,
            )
        })
        .collect();
    let base_yaw = rng.random_range(-3.0f32..3.0) * DEG;
    let base_pitch = rng.random_range(-2.0f32..2.0) * DEG;
    let sum = |d: &[(f32, f32, f32)], t: f32| -> f32 {
        d.iter().map(|(a, w, p)| a * (w * t + p).sin()).sum()
    };
    (0..n_frames)
        .map(|f| {
            let t = f as f32 / fps;
            let mut pitch = base_pitch + sum(&drift_pitch, t);
            let mut yaw = base_yaw + sum(&drift_yaw, t);
            let mut roll = sum(&drift_roll, t);
            for (w, sign) in words.iter().zip(&nod_sign) {
                if !w.stressed {
                    continue;
                }
                let amp = 2.2 * DEG * w.loudness.clamp(0.3, 2.0);
                // A nod: down with the word's onset, back up as it ends.
                pitch += sign * amp * (beat(t - w.start + 0.05, 0.14) - 0.4 * beat(t - w.end, 0.2));
                roll += 0.2 * amp * beat(t - w.start, 0.2);
            }
            // Turns ease toward a new direction over ~0.4 s after each pause.
            for &(at, dyaw, dpitch) in &turn_targets {
                let s = ((t - at) / 0.4).clamp(0.0, 1.0);
                let s = s * s * (3.0 - 2.0 * s);
                yaw += dyaw * s;
                pitch += dpitch * s;
            }
            let rotation = [pitch * gain, yaw * gain, roll * gain];
            // The head pivots near the neck, below and behind the face: a pitch moves the
            // face forward/back and a yaw sideways.
            let translation = [0.04 * rotation[1], -0.01 * rotation[0], 0.03 * rotation[0]];
            HeadPose {
                rotation,
                translation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn stressed_words_nod_and_motion_is_smooth() {
        let words = [WordBeat {
            start: 1.0,
            end: 1.4,
            loudness: 1.5,
            stressed: true,
        }];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let poses = head_motion(&words, &[], 90, 30.0, 1.0, &mut rng);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let still = head_motion(&[], &[], 90, 30.0, 1.0, &mut rng);
        let peak = (0..90)
            .map(|f| (poses[f].rotation[0] - still[f].rotation[0]).abs())
            .fold(0.0, f32::max);
        assert!(peak > 1.5 * DEG, "nod peak {peak}");
        for w in poses.windows(2) {
            let step = (w[1].rotation[0] - w[0].rotation[0]).abs();
            assert!(step < 1.5 * DEG, "jump of {step} rad between frames");
        }
    }
}
