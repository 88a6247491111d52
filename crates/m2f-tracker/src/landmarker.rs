//! MediaPipe's face mesh model (`face_landmark.tflite`): a rotated square crop around the face,
//! 192 × 192 in `[0, 1]`, gives 468 points in crop pixels and a face-presence logit; the points
//! go back into the image through the crop's rotation and scale.

use std::path::Path;

use image::RgbImage;

use crate::crop::{crop_to_tensor, Border, InputSpec};
use crate::detection::Detection;
use crate::region::RotatedRect;
use crate::{Result, TfliteModel, TrackerError};

/// The face mesh model's file name in MediaPipe's package.
pub const LANDMARK_FILE: &str = "face_landmark.tflite";

/// Points of MediaPipe's face mesh (the project's template topology).
pub const MESH_POINTS: usize = 468;

/// The landmark model's input side.
pub const LANDMARK_INPUT: usize = 192;

/// Mesh points on the outer corners of the subject's right and left eye: their line levels the
/// next frame's crop (MediaPipe's `face_landmark_landmarks_to_roi`).
pub const EYE_CORNERS: [usize; 2] = [33, 263];

const INPUT: InputSpec = InputSpec {
    size: LANDMARK_INPUT,
    low: 0.0,
    high: 1.0,
    border: Border::Replicate,
};

/// The 468 mesh points of one face in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceLandmarks {
    /// `(x, y, z)` per point: `x`, `y` in image pixels, `z` depth in the same pixel scale
    /// (relative; smaller is nearer the camera), in MediaPipe's face mesh order.
    pub points: Vec<[f32; 3]>,
    /// Face presence probability in the crop (sigmoid of the model's flag).
    pub presence: f32,
    /// The crop the points were found in.
    pub region: RotatedRect,
}

impl FaceLandmarks {
    /// The crop for the next frame: the points' box, levelled on the eye corners, squared and
    /// scaled as for a detection.
    pub fn next_region(&self) -> RotatedRect {
        let mut min = [f32::INFINITY; 2];
        let mut max = [f32::NEG_INFINITY; 2];
        for p in &self.points {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let [a, b] = EYE_CORNERS.map(|i| [self.points[i][0], self.points[i][1]]);
        RotatedRect::face_region(min, max, a, b)
    }
}

/// The crop for a detection: its box, levelled on its eye keypoints, squared and scaled.
pub fn region_from_detection(detection: &Detection) -> RotatedRect {
    RotatedRect::face_region(
        detection.min,
        detection.max,
        detection.keypoints[0],
        detection.keypoints[1],
    )
}

/// The face mesh model.
#[derive(Debug)]
pub struct FaceLandmarker {
    model: TfliteModel,
}

impl FaceLandmarker {
    /// Loads `face_landmark.tflite`.
    ///
    /// # Errors
    /// Those of [`TfliteModel::load`], and [`TrackerError::WrongModel`] when the file is not the
    /// face mesh model (`[1, 192, 192, 3]` → `[1, 1, 1, 1404]`, `[1, 1, 1, 1]`).
    pub fn load(path: &Path) -> Result<Self> {
        Self::new(TfliteModel::load(path)?)
    }

    /// Wraps a loaded model, checking its shapes.
    ///
    /// # Errors
    /// [`TrackerError::WrongModel`] as in [`FaceLandmarker::load`].
    pub fn new(model: TfliteModel) -> Result<Self> {
        let want_in = vec![vec![1, LANDMARK_INPUT, LANDMARK_INPUT, 3]];
        let want_out = vec![vec![1, 1, 1, 3 * MESH_POINTS], vec![1, 1, 1, 1]];
        if model.input_shapes() != want_in || model.output_shapes() != want_out {
            return Err(TrackerError::WrongModel {
                model: model.name().to_string(),
                message: format!(
                    "takes {:?} and gives {:?}; the face mesh model takes {want_in:?} and gives \
                     {want_out:?}",
                    model.input_shapes(),
                    model.output_shapes()
                ),
            });
        }
        Ok(Self { model })
    }

    /// The mesh points of the face in `region` of `image`.
    ///
    /// # Errors
    /// [`TrackerError::Invalid`] for an empty image or a degenerate region; model failures.
    pub fn landmarks(&self, image: &RgbImage, region: &RotatedRect) -> Result<FaceLandmarks> {
        let input = crop_to_tensor(image, region, &INPUT)?;
        let [raw, flag] = self.model.run_flat::<2>(&[input])?;
        let n = LANDMARK_INPUT as f32;
        let points = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = region.to_image(p[0] / n, p[1] / n);
                [x, y, p[2] / n * region.size[0]]
            })
            .collect();
        let presence = 1.0 / (1.0 + (-flag[0]).exp());
        Ok(FaceLandmarks {
            points,
            presence,
            region: *region,
        })
    }
}
