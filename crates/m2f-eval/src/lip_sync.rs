//! Lip sync against phone timings: the inner-lip gap of generated faces against the true
//! gap, lip closure during bilabials (/p b m/ must close the lips) and opening during open
//! vowels (the peak gap against the truth's).

use m2f_mesh::FaceRegions;
use m2f_synth::PhonemeTiming;
use m2f_synth::Viseme;

/// A gap under this closes the lips, mm (the synthetic faces rest at 0.1–0.3 mm; 1.5 mm
/// leaves room for decoder error without counting a parted mouth as closed).
pub const CLOSED_GAP_MM: f32 = 1.5;

/// A phone's time span and the lip shapes it demands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhoneSpan {
    /// Start, seconds.
    pub start: f32,
    /// End, seconds.
    pub end: f32,
    /// /p b m/: the lips must close.
    pub bilabial: bool,
    /// An open vowel: the jaw must open.
    pub open_vowel: bool,
}

impl PhoneSpan {
    /// The span of a phoneme of the synthetic world.
    pub fn of_phoneme(p: &PhonemeTiming) -> Self {
        Self {
            start: p.start,
            end: p.end,
            bilabial: p.visemes.contains(&Viseme::Bilabial),
            open_vowel: p.visemes.contains(&Viseme::OpenVowel),
        }
    }

    /// Its frames at `fps` in a sequence of `frames`; `None` when it starts after the last
    /// frame (a phone past the end of the animation is not scored).
    pub(crate) fn frames(&self, fps: f32, frames: usize) -> Option<std::ops::Range<usize>> {
        let a = (self.start * fps).floor().max(0.0) as usize;
        if a >= frames {
            return None;
        }
        let b = ((self.end * fps).ceil() as usize).clamp(a + 1, frames);
        Some(a..b)
    }
}

/// Per-frame inner-lip gap at the mouth centre of faces with `regions`, mm.
pub fn inner_lip_gaps<F: AsRef<[[f32; 3]]>>(frames: &[F], regions: &FaceRegions) -> Vec<f32> {
    frames
        .iter()
        .map(|f| regions.inner_lip_gap(f.as_ref()) * 1e3)
        .collect()
}

/// Lip-sync sums over clips.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LipSync {
    /// Clips measured.
    pub clips: usize,
    /// Σ over clips of the mean |generated gap − true gap|, mm.
    pub sum_gap_error_mm: f64,
    /// Σ over clips of the Pearson correlation of the generated and true gaps.
    pub sum_gap_correlation: f64,
    /// Bilabials.
    pub bilabials: usize,
    /// Bilabials during which the generated gap falls under [`CLOSED_GAP_MM`].
    pub closed: usize,
    /// Σ over open vowels of the peak generated gap, mm.
    pub open_peak_mm: f64,
    /// Σ over open vowels of the peak true gap, mm.
    pub open_peak_true_mm: f64,
}

impl LipSync {
    /// Measures one clip: per-frame gaps at `fps`, generated and true, and its phones.
    pub fn of_clip(generated: &[f32], truth: &[f32], phones: &[PhoneSpan], fps: f32) -> Self {
        let n = generated.len().min(truth.len());
        let mut out = Self::default();
        if n == 0 {
            return out;
        }
        let (g, t) = (&generated[..n], &truth[..n]);
        out.clips = 1;
        out.sum_gap_error_mm = g
            .iter()
            .zip(t)
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / n as f64;
        out.sum_gap_correlation = pearson(g, t);
        for p in phones {
            let Some(r) = p.frames(fps, n) else {
                continue;
            };
            if p.bilabial {
                out.bilabials += 1;
                out.closed += g[r.clone()].iter().any(|&x| x < CLOSED_GAP_MM) as usize;
            }
            if p.open_vowel {
                out.open_peak_mm += g[r.clone()].iter().copied().fold(0f32, f32::max) as f64;
                out.open_peak_true_mm += t[r].iter().copied().fold(0f32, f32::max) as f64;
            }
        }
        out
    }

    /// Adds another clip's sums.
    pub fn add(&mut self, o: &Self) {
        self.clips += o.clips;
        self.sum_gap_error_mm += o.sum_gap_error_mm;
        self.sum_gap_correlation += o.sum_gap_correlation;
        self.bilabials += o.bilabials;
        self.closed += o.closed;
        self.open_peak_mm += o.open_peak_mm;
        self.open_peak_true_mm += o.open_peak_true_mm;
    }

    /// Mean gap error, mm.
    pub fn gap_error_mm(&self) -> f64 {
        self.sum_gap_error_mm / self.clips.max(1) as f64
    }

    /// Mean gap correlation.
    pub fn gap_correlation(&self) -> f64 {
        self.sum_gap_correlation / self.clips.max(1) as f64
    }

    /// Fraction of bilabials with the lips closed.
    pub fn closure(&self) -> f64 {
        self.closed as f64 / self.bilabials.max(1) as f64
    }

    /// Σ peak generated gap / Σ peak true gap over open vowels (1: opens as wide as the truth).
    pub fn opening(&self) -> f64 {
        self.open_peak_mm / self.open_peak_true_mm.max(1e-9)
    }
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |x: &[f32]| x[..n].iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (*x as f64 - ma, *y as f64 - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    ab / (aa * bb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_and_opening_are_read_inside_each_phone() {
        // 10 frames at 10 fps: a bilabial over 0.2–0.4 s, an open vowel over 0.5–0.8 s.
        let phones = [
            PhoneSpan {
                start: 0.2,
                end: 0.4,
                bilabial: true,
                open_vowel: false,
            },
            PhoneSpan {
                start: 0.5,
                end: 0.8,
                bilabial: false,
                open_vowel: true,
            },
        ];
        let truth = [3.0, 3.0, 0.2, 0.2, 3.0, 8.0, 10.0, 8.0, 3.0, 3.0];
        let closes = [3.0, 3.0, 2.0, 1.0, 3.0, 4.0, 5.0, 4.0, 3.0, 3.0];
        let s = LipSync::of_clip(&closes, &truth, &phones, 10.0);
        assert_eq!((s.bilabials, s.closed), (1, 1));
        assert!((s.opening() - 0.5).abs() < 1e-9);
        let open = [3.0; 10];
        let s = LipSync::of_clip(&open, &truth, &phones, 10.0);
        assert_eq!(s.closed, 0);
        assert_eq!(s.gap_correlation(), 0.0);
        // A bilabial after the animation ends is not scored on its last (closed) frame.
        let late = [PhoneSpan {
            start: 1.2,
            end: 1.3,
            bilabial: true,
            open_vowel: false,
        }];
        let closed_at_end = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.1];
        assert_eq!(
            LipSync::of_clip(&closed_at_end, &truth, &late, 10.0).bilabials,
            0
        );
        let same = LipSync::of_clip(&truth, &truth, &phones, 10.0);
        assert!((same.gap_correlation() - 1.0).abs() < 1e-9 && same.gap_error_mm() == 0.0);
    }
}
