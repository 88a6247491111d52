//! SSD anchor centres for MediaPipe's short-range face detector (`SsdAnchorsCalculator` with the
//! model's options: 4 layers, strides 8, 16, 16, 16, aspect ratio 1 plus one interpolated
//! scale, fixed anchor size, offset 0.5, 128 × 128 input).
//!
//! With a fixed anchor size every anchor is 1 × 1 in normalised units, so only the centres
//! matter: one per anchor per cell of each stride's feature map, row by row.

/// The detector's input side.
pub const DETECTOR_INPUT: usize = 128;

/// Layer strides; consecutive layers of one stride share a feature map.
const STRIDES: [usize; 4] = [8, 16, 16, 16];

/// Anchors per layer: aspect ratio 1, and the interpolated scale between it and the next.
const ANCHORS_PER_LAYER: usize = 2;

/// The normalised `(x, y)` centres of the 896 anchors, in the model's output order.
pub fn anchor_centres() -> Vec<[f32; 2]> {
    let mut centres = Vec::new();
    let mut layer = 0;
    while layer < STRIDES.len() {
        let stride = STRIDES[layer];
        let same = STRIDES[layer..]
            .iter()
            .take_while(|&&s| s == stride)
            .count();
        let per_cell = same * ANCHORS_PER_LAYER;
        let cells = DETECTOR_INPUT.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let centre = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                centres.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
        layer += same;
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_896_anchors_in_two_grids() {
        let a = anchor_centres();
        assert_eq!(a.len(), 896);
        // 16 × 16 cells × 2 anchors, then 8 × 8 cells × 6.
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }
}
