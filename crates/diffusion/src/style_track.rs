//! Style that changes over time: several prompts, each over a range of frames, blended with
//! a gradient mask (linear cross-fades of `ramp` frames centred on each span's edges).

use std::ops::Range;

use crate::error::{DiffusionError, Result};
use crate::sampler::Style;

/// A style prompt over a range of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleSpan {
    /// The prompt.
    pub style: Style,
    /// The frames it covers (start inclusive, end exclusive).
    pub frames: Range<usize>,
}

/// Per-frame weights of each prompt: `masks[k][i]` in [0, 1], summing to at most 1 per frame
/// (1 where some prompt covers the frame, less in a fade to uncovered frames). A span's edge
/// inside the clip fades over `ramp` frames centred on it; the clip's own ends do not.
pub fn style_masks(spans: &[StyleSpan], total: usize, ramp: usize) -> Result<Vec<Vec<f32>>> {
    for (k, s) in spans.iter().enumerate() {
        if s.frames.start >= s.frames.end || s.frames.end > total {
            return Err(DiffusionError::invalid(
                format!("style span {k}"),
                format!(
                    "frames {}..{} are not a non-empty range within the clip's {total} frames",
                    s.frames.start, s.frames.end
                ),
            ));
        }
    }
    let h = ramp as f32 / 2.0;
    let mut raw: Vec<Vec<f32>> = spans
        .iter()
        .map(|s| {
            (0..total)
                .map(|i| {
                    let (start, end, x) =
                        (s.frames.start as f32, s.frames.end as f32, i as f32 + 0.5);
                    if h == 0.0 {
                        return if x > start && x < end { 1.0 } else { 0.0 };
                    }
                    // No fade at the clip's own ends.
                    let left = if s.frames.start == 0 {
                        f32::INFINITY
                    } else {
                        x - start + h
                    };
                    let right = if s.frames.end == total {
                        f32::INFINITY
                    } else {
                        end - x + h
                    };
                    (left.min(right) / (2.0 * h)).clamp(0.0, 1.0)
                })
                .collect()
        })
        .collect();
    for i in 0..total {
        let sum: f32 = raw.iter().map(|m| m[i]).sum();
        if sum > 1.0 {
            raw.iter_mut().for_each(|m| m[i] /= sum);
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_spans_cross_fade_and_sum_to_one() {
        let spans = [
            StyleSpan {
                style: Style::None,
                frames: 0..10,
            },
            StyleSpan {
                style: Style::None,
                frames: 10..20,
            },
        ];
        let m = style_masks(&spans, 24, 4).unwrap();
        // Across the boundary at 10 the two sum to 1; the clip's start does not fade.
        for (i, (a, b)) in m[0].iter().zip(&m[1]).take(18).enumerate() {
            assert!((a + b - 1.0).abs() < 1e-6, "frame {i}");
        }
        assert_eq!(m[0][0], 1.0);
        assert_eq!((m[0][5], m[1][5]), (1.0, 0.0));
        assert!(m[0][9] > 0.5 && m[0][9] < 1.0 && m[1][10] > 0.5);
        // Past the last span the style fades out, then is absent.
        assert!(m[1][20] > 0.0 && m[1][20] < 0.5);
        assert_eq!(m[1][23], 0.0);
        let hard = style_masks(&spans, 24, 0).unwrap();
        assert_eq!((hard[0][9], hard[1][10]), (1.0, 1.0));
        let bad = [StyleSpan {
            style: Style::None,
            frames: 5..30,
        }];
        assert!(style_masks(&bad, 24, 4)
            .unwrap_err()
            .to_string()
            .contains("style span 0"));
    }
}
