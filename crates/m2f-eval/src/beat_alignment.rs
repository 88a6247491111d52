//! Beat alignment of head motion to the audio, in the form of AI Choreographer's BeatAlign
//! (Li et al. 2021), which DiffPoseTalk-style head evaluations borrow: every kinematic beat
//! of the head (a local minimum of its angular speed: a nod or turn ends or reverses) scores
//! exp(−d² / 2σ²), d the distance to the nearest audio onset; the score is the mean over head
//! beats. (Bailando's released code averages the other way, over audio beats.) The report
//! gives a chance level beside it: true head motion against another clip's onsets.

/// σ of the score, in frames (0.1 s at 30 fps).
pub const BEAT_SIGMA_FRAMES: f64 = 3.0;

/// Audio onsets are at least this many frames apart.
const MIN_ONSET_GAP: usize = 3;

/// Frames of audio onsets: peaks of the rise of the log energy (one value per animation
/// frame at `fps`, over a window of two frames), above the mean + one standard deviation
/// of that rise.
pub fn audio_onsets(samples: &[f32], sample_rate: u32, fps: f32, frames: usize) -> Vec<usize> {
    let hop = sample_rate as f64 / fps as f64;
    let energy: Vec<f64> = (0..frames)
        .map(|t| {
            let centre = t as f64 * hop;
            let a = (centre - hop).max(0.0) as usize;
            let b = ((centre + hop) as usize).min(samples.len());
            let n = b.saturating_sub(a).max(1) as f64;
            let power = samples[a.min(b)..b]
                .iter()
                .map(|&x| (x as f64).powi(2))
                .sum::<f64>()
                / n;
            10.0 * (power + 1e-10).log10()
        })
        .collect();
    let rise: Vec<f64> = (0..frames)
        .map(|t| match t {
            0 => 0.0,
            _ => (energy[t] - energy[t - 1]).max(0.0),
        })
        .collect();
    let (mean, std) = mean_std(&rise);
    let mut onsets: Vec<usize> = Vec::new();
    for t in 1..frames.saturating_sub(1) {
        if rise[t] > mean + std && rise[t] > rise[t - 1] && rise[t] >= rise[t + 1] {
            match onsets.last() {
                Some(&last) if t - last < MIN_ONSET_GAP => {
                    if rise[t] > rise[last] {
                        *onsets.last_mut().expect("not empty") = t;
                    }
                }
                _ => onsets.push(t),
            }
        }
    }
    onsets
}

/// Frames of head beats: local minima of the head's angular speed (the rotation part of
/// `poses`, axis-angle radians, lightly smoothed), where the speed around the minimum rises
/// by more than a tenth of its mean (so jitter of a still head makes no beats).
pub fn head_beats(poses: &[[f32; 6]]) -> Vec<usize> {
    if poses.len() < 4 {
        return Vec::new();
    }
    let raw: Vec<f64> = poses
        .windows(2)
        .map(|w| {
            (0..3)
                .map(|k| (w[1][k] as f64 - w[0][k] as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let n = raw.len();
    let speed: Vec<f64> = (0..n)
        .map(|i| (raw[i.saturating_sub(1)] + 2.0 * raw[i] + raw[(i + 1).min(n - 1)]) / 4.0)
        .collect();
    let (mean, _) = mean_std(&speed);
    let mut beats = Vec::new();
    for i in 1..n - 1 {
        if speed[i] < speed[i - 1] && speed[i] <= speed[i + 1] {
            let lo = i.saturating_sub(MIN_ONSET_GAP);
            let hi = (i + MIN_ONSET_GAP + 1).min(n);
            let around = speed[lo..hi].iter().copied().fold(0.0, f64::max);
            if around - speed[i] > 0.1 * mean {
                beats.push(i);
            }
        }
    }
    beats
}

/// Beat-alignment sums over clips.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BeatAlignment {
    /// Head beats scored.
    pub beats: usize,
    /// Σ of their scores.
    pub sum_score: f64,
}

impl BeatAlignment {
    /// Scores `head` beats against `audio` onsets (frames).
    pub fn of_clip(head: &[usize], audio: &[usize]) -> Self {
        let mut out = Self::default();
        if audio.is_empty() {
            return out;
        }
        for &h in head {
            let d = audio
                .iter()
                .map(|&a| (a as f64 - h as f64).abs())
                .fold(f64::INFINITY, f64::min);
            out.beats += 1;
            out.sum_score += (-d * d / (2.0 * BEAT_SIGMA_FRAMES * BEAT_SIGMA_FRAMES)).exp();
        }
        out
    }

    /// Adds another clip's sums.
    pub fn add(&mut self, o: &Self) {
        self.beats += o.beats;
        self.sum_score += o.sum_score;
    }

    /// The mean score, or `None` without head beats (a still head).
    pub fn score(&self) -> Option<f64> {
        (self.beats > 0).then(|| self.sum_score / self.beats as f64)
    }
}

fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_are_found_at_bursts_and_beats_score_by_distance() {
        // 2 s at 16 kHz, 30 fps: silence with bursts starting at 0.5 s and 1.2 s.
        let sr = 16_000;
        let mut audio = vec![0f32; 2 * sr as usize];
        for start in [8_000usize, 19_200] {
            for (i, x) in audio[start..start + 3_000].iter_mut().enumerate() {
                *x = 0.5 * ((i as f32) * 0.3).sin();
            }
        }
        let onsets = audio_onsets(&audio, sr, 30.0, 60);
        assert_eq!(onsets.len(), 2, "{onsets:?}");
        assert!(
            onsets[0].abs_diff(15) <= 1 && onsets[1].abs_diff(36) <= 1,
            "{onsets:?}"
        );
        let exact = BeatAlignment::of_clip(&onsets, &onsets);
        assert!((exact.score().unwrap() - 1.0).abs() < 1e-12);
        let off = BeatAlignment::of_clip(&[onsets[0] + 3], &onsets);
        assert!((off.score().unwrap() - (-0.5f64).exp()).abs() < 1e-9);
        assert_eq!(BeatAlignment::of_clip(&[], &onsets).score(), None);
    }

    #[test]
    fn a_nodding_head_beats_where_it_turns_and_a_still_one_never() {
        // A nod with a period of 20 frames: the speed is lowest at the turning points.
        let poses: Vec<[f32; 6]> = (0..80)
            .map(|t| {
                let a = 0.1 * (t as f32 * std::f32::consts::TAU / 20.0).sin();
                [a, 0.0, 0.0, 0.0, 0.0, 0.0]
            })
            .collect();
        let beats = head_beats(&poses);
        assert!(beats.len() >= 6, "{beats:?}");
        for b in &beats {
            // Turning points at 5, 15, 25, ... (between frames b and b + 1).
            assert!(
                (b % 10).abs_diff(5) <= 1 || (b % 10).abs_diff(4) <= 1,
                "{beats:?}"
            );
        }
        assert!(head_beats(&vec![[0.0; 6]; 80]).is_empty());
    }
}
