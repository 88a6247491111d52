//! Blinks at random intervals.

use rand::Rng;
use rand_distr::{Distribution, Exp};

/// Seconds from the start of a blink to full closure, closed hold, and reopening.
const CLOSE: f32 = 0.08;
const HOLD: f32 = 0.03;
const OPEN: f32 = 0.15;

/// Blink weight (0 open, 1 closed) per frame. `rate` scales the mean frequency of
/// ~17 blinks a minute.
pub fn blink_track(n_frames: usize, fps: f32, rate: f32, rng: &mut impl Rng) -> Vec<f32> {
    let duration = n_frames as f32 / fps;
    let mean_gap = 3.5 / rate.max(0.05);
    let gap =
        Exp::new(1.0 / mean_gap).unwrap_or_else(|_| Exp::new(1.0).expect("1 is a valid rate"));
    let mut onsets = Vec::new();
    let mut t = rng.random_range(0.3f32..2.5);
    while t < duration {
        onsets.push(t);
        t += 1.2 + gap.sample(rng);
    }
    (0..n_frames)
        .map(|f| {
            let t = f as f32 / fps;
            onsets
                .iter()
                .map(|&o| {
                    let dt = t - o;
                    if !(0.0..=CLOSE + HOLD + OPEN).contains(&dt) {
                        0.0
                    } else if dt < CLOSE {
                        let x = dt / CLOSE;
                        x * x * (3.0 - 2.0 * x)
                    } else if dt < CLOSE + HOLD {
                        1.0
                    } else {
                        let x = 1.0 - (dt - CLOSE - HOLD) / OPEN;
                        x * x * (3.0 - 2.0 * x)
                    }
                })
                .fold(0.0, f32::max)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn blinks_happen_and_close_the_eye() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let track = blink_track(30 * 20, 30.0, 1.0, &mut rng);
        let closed_frames = track.iter().filter(|&&w| w > 0.9).count();
        assert!(
            closed_frames >= 3,
            "only {closed_frames} closed frames in 20 s"
        );
        assert!(track.iter().all(|w| (0.0..=1.0).contains(w)));
    }
}
