//! The crop convention of the image encoders: one fixed pinhole camera that frames the
//! template's neutral face, so that a head pose fixes where in the crop, and how large, the
//! face appears.

use m2f_mesh::Camera;
use serde::{Deserialize, Serialize};

/// The camera that defines a face crop: a pinhole at `eye` looking at `target` with +y up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CropCamera {
    /// Camera position, metres, template frame.
    pub eye: [f32; 3],
    /// Point the camera looks at, metres, template frame.
    pub target: [f32; 3],
    /// Full vertical (and, the crop being square, horizontal) field of view, radians.
    pub fov_y: f32,
}

impl CropCamera {
    /// A frontal camera (looking along −z) with a 20° field of view whose crop holds the
    /// bounding box of `vertices` with `margin` of its larger side free on each side.
    pub fn framing(vertices: &[[f32; 3]], margin: f32) -> CropCamera {
        let fov_y = 20f32.to_radians();
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for v in vertices {
            for k in 0..3 {
                lo[k] = lo[k].min(v[k]);
                hi[k] = hi[k].max(v[k]);
            }
        }
        if !lo.iter().chain(&hi).all(|c| c.is_finite()) {
            lo = [-0.1; 3];
            hi = [0.1; 3];
        }
        let centre = [
            0.5 * (lo[0] + hi[0]),
            0.5 * (lo[1] + hi[1]),
            0.5 * (lo[2] + hi[2]),
        ];
        let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-3) * (1.0 + 2.0 * margin);
        let dist = half / (0.5 * fov_y).tan();
        CropCamera {
            eye: [centre[0], centre[1], hi[2] + dist],
            target: centre,
            fov_y,
        }
    }

    /// The renderer's camera for a `size`×`size` crop.
    pub fn camera(&self, size: usize) -> Camera {
        Camera {
            eye: self.eye,
            target: self.target,
            up: [0.0, 1.0, 0.0],
            fov_y: self.fov_y,
            width: size as u32,
            height: size as u32,
            near: 0.01,
        }
    }
}
