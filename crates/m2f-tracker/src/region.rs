//! The rotated square a face model looks at, and how MediaPipe derives it from a detection or
//! from the previous frame's landmarks (`DetectionsToRectsCalculator` followed by
//! `RectTransformationCalculator` with `scale 1.5, square_long: true`).
//!
//! Everything is in image pixels, in OpenCV's convention (pixel `i` is centred on coordinate
//! `i`), which is what MediaPipe's crops use.

/// A rectangle in image pixels, rotated by `rotation` radians about its centre; local `x` runs
/// along `(cos r, sin r)` (image `y` points down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    /// Centre, pixels.
    pub center: [f32; 2],
    /// Width and height, pixels.
    pub size: [f32; 2],
    /// Rotation, radians.
    pub rotation: f32,
}

/// How much larger than the face's box the landmark model's crop is (MediaPipe: 1.5).
pub const ROI_SCALE: f32 = 1.5;

/// Wraps an angle into `[-π, π)`.
pub fn normalize_radians(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

/// The rotation that turns the line `from → to` horizontal: MediaPipe's
/// `target_angle - atan2(-(y1 - y0), x1 - x0)` with a target angle of 0.
pub fn rotation_from(from: [f32; 2], to: [f32; 2]) -> f32 {
    normalize_radians(-(-(to[1] - from[1])).atan2(to[0] - from[0]))
}

impl RotatedRect {
    /// Maps a point given in the rectangle's unit square (`[0, 1]²`, `(0.5, 0.5)` the centre)
    /// to image pixels.
    pub fn to_image(&self, u: f32, v: f32) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let (x, y) = ((u - 0.5) * self.size[0], (v - 0.5) * self.size[1]);
        [
            self.center[0] + c * x - s * y,
            self.center[1] + s * x + c * y,
        ]
    }

    /// A detection's axis-aligned box.
    pub fn face_box(detection: &crate::Detection) -> Self {
        let [a, b] = [detection.min, detection.max];
        Self {
            center: [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
            size: [b[0] - a[0], b[1] - a[1]],
            rotation: 0.0,
        }
    }

    /// The landmark model's region for a face whose axis-aligned box is `min..max` (pixels) and
    /// whose eye line runs `from → to`: the box's centre, rotated to level the eyes, squared on
    /// its long side and scaled by [`ROI_SCALE`].
    pub fn face_region(min: [f32; 2], max: [f32; 2], from: [f32; 2], to: [f32; 2]) -> Self {
        let side = ROI_SCALE * (max[0] - min[0]).max(max[1] - min[1]);
        Self {
            center: [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0],
            size: [side, side],
            rotation: rotation_from(from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_eyes_give_no_rotation_and_tilt_turns_the_crop_with_them() {
        assert_eq!(rotation_from([10.0, 50.0], [30.0, 50.0]), 0.0);
        // The second eye lower in the image (y down): the crop's x axis must point down-right.
        let r = rotation_from([10.0, 50.0], [30.0, 70.0]);
        assert!((r - std::f32::consts::FRAC_PI_4).abs() < 1e-6, "{r}");
        let rect = RotatedRect {
            center: [0.0, 0.0],
            size: [2.0, 2.0],
            rotation: r,
        };
        let p = rect.to_image(1.0, 0.5);
        assert!((p[0] - p[1]).abs() < 1e-6 && p[0] > 0.0, "{p:?}");
    }

    #[test]
    fn normalized_angles_stay_in_range() {
        for a in [-10.0f32, -3.2, 0.0, 3.2, 7.0] {
            let n = normalize_radians(a);
            assert!(
                (-std::f32::consts::PI..std::f32::consts::PI).contains(&n),
                "{a} → {n}"
            );
            assert!(((a - n) / (2.0 * std::f32::consts::PI)).fract().abs() < 1e-5);
        }
    }
}
