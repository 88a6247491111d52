//! How audio longer than one window is cut: overlapping windows whose predictions are
//! blended with linear cross-fades in the overlaps (the paper's long-audio generation).

use crate::error::{DiffusionError, Result};

/// The windows over a clip: all of one length, the last one ending at the clip's end.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    /// Frames of every window (the model's window, or the clip when shorter).
    pub len: usize,
    /// First frame of each window.
    pub starts: Vec<usize>,
    /// Blend weight of each frame of each window `[windows][len]`: 1 inside, a linear ramp
    /// where a window overlaps its neighbour.
    pub weights: Vec<Vec<f32>>,
}

impl WindowPlan {
    /// Windows of `window` frames over `total` frames, neighbours overlapping by at least
    /// `overlap` frames.
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] when `total` is 0 or `overlap` is not below `window`.
    pub fn new(total: usize, window: usize, overlap: usize) -> Result<Self> {
        if total == 0 {
            return Err(DiffusionError::invalid("audio features", "no frames"));
        }
        if overlap >= window {
            return Err(DiffusionError::invalid(
                "window overlap",
                format!("{overlap} frames, must be below the window of {window}"),
            ));
        }
        if total <= window {
            return Ok(Self {
                len: total,
                starts: vec![0],
                weights: vec![vec![1.0; total]],
            });
        }
        let stride = window - overlap;
        let mut starts: Vec<usize> = (0..)
            .map(|k| k * stride)
            .take_while(|&s| s + window < total)
            .collect();
        starts.push(total - window);
        let last = starts.len() - 1;
        let ramp = (overlap + 1) as f32;
        let weights = (0..starts.len())
            .map(|k| {
                (0..window)
                    .map(|p| {
                        let up = if k > 0 {
                            ((p + 1) as f32 / ramp).min(1.0)
                        } else {
                            1.0
                        };
                        let down = if k < last {
                            ((window - p) as f32 / ramp).min(1.0)
                        } else {
                            1.0
                        };
                        up * down
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            len: window,
            starts,
            weights,
        })
    }

    /// Frames covered.
    pub fn total(&self) -> usize {
        self.starts.last().map_or(0, |s| s + self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_clip_and_weights_cross_fade() {
        let p = WindowPlan::new(100, 40, 10).unwrap();
        assert_eq!(p.starts, vec![0, 30, 60]);
        assert_eq!(p.total(), 100);
        // Every frame is covered with a positive total weight; inside a window's own part
        // the weight is 1.
        let mut total = vec![0f32; 100];
        for (s, w) in p.starts.iter().zip(&p.weights) {
            for (i, x) in w.iter().enumerate() {
                total[s + i] += x;
            }
        }
        assert!(total.iter().all(|&t| t > 0.5));
        assert_eq!(p.weights[1][20], 1.0);
        assert!(p.weights[1][0] < 0.1 && p.weights[0][39] < 0.1);
        let short = WindowPlan::new(25, 40, 10).unwrap();
        assert_eq!((short.len, short.starts.clone()), (25, vec![0]));
        // A clip just over one window: the last window ends at the end.
        assert_eq!(WindowPlan::new(41, 40, 10).unwrap().starts, vec![0, 1]);
        assert!(WindowPlan::new(10, 40, 40).is_err());
        assert!(WindowPlan::new(0, 40, 10).is_err());
    }
}
