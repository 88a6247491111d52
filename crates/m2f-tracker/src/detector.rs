//! MediaPipe's short-range face detector (BlazeFace, `face_detection_short_range.tflite`): the
//! whole image letterboxed into 128 × 128, 896 anchors decoded into boxes and six keypoints,
//! scores through a sigmoid, overlapping boxes merged by weighted non-maximum suppression.

use std::path::Path;

use image::RgbImage;

use crate::anchors::{anchor_centres, DETECTOR_INPUT};
use crate::crop::{crop_to_tensor, Border, InputSpec};
use crate::detection::{weighted_nms, Detection};
use crate::region::RotatedRect;
use crate::{Result, TfliteModel, TrackerError};

/// The detector's file name in MediaPipe's package.
pub const DETECTOR_FILE: &str = "face_detection_short_range.tflite";

/// The score below which a candidate is dropped (MediaPipe: 0.5).
pub const MIN_DETECTION_SCORE: f32 = 0.5;

/// Logits are clipped to this magnitude before the sigmoid, as MediaPipe does.
const SCORE_CLIP: f32 = 100.0;

const INPUT: InputSpec = InputSpec {
    size: DETECTOR_INPUT,
    low: -1.0,
    high: 1.0,
    border: Border::Zero,
};

/// The face detector.
#[derive(Debug)]
pub struct FaceDetector {
    model: TfliteModel,
    anchors: Vec<[f32; 2]>,
}

impl FaceDetector {
    /// Loads `face_detection_short_range.tflite`.
    ///
    /// # Errors
    /// Those of [`TfliteModel::load`], and [`TrackerError::WrongModel`] when the file's inputs
    /// and outputs are not the short-range detector's (`[1, 128, 128, 3]` → `[1, 896, 16]`,
    /// `[1, 896, 1]`).
    pub fn load(path: &Path) -> Result<Self> {
        Self::new(TfliteModel::load(path)?)
    }

    /// Wraps a loaded model, checking its shapes.
    ///
    /// # Errors
    /// [`TrackerError::WrongModel`] as in [`FaceDetector::load`].
    pub fn new(model: TfliteModel) -> Result<Self> {
        let anchors = anchor_centres();
        let n = anchors.len();
        let want_in = vec![vec![1, DETECTOR_INPUT, DETECTOR_INPUT, 3]];
        let want_out = vec![vec![1, n, 16], vec![1, n, 1]];
        if model.input_shapes() != want_in || model.output_shapes() != want_out {
            return Err(TrackerError::WrongModel {
                model: model.name().to_string(),
                message: format!(
                    "takes {:?} and gives {:?}; the short-range face detector takes {want_in:?} \
                     and gives {want_out:?}",
                    model.input_shapes(),
                    model.output_shapes()
                ),
            });
        }
        Ok(Self { model, anchors })
    }

    /// The faces in `image`, best first, each scoring at least `min_score`.
    ///
    /// # Errors
    /// [`TrackerError::Invalid`] for an empty image; model failures.
    pub fn detect(&self, image: &RgbImage, min_score: f32) -> Result<Vec<Detection>> {
        // Letterbox: the square on the image's long side, centred, with black bars.
        let (w, h) = (image.width() as f32, image.height() as f32);
        let side = w.max(h);
        let letterbox = RotatedRect {
            center: [w / 2.0, h / 2.0],
            size: [side, side],
            rotation: 0.0,
        };
        let input = crop_to_tensor(image, &letterbox, &INPUT)?;
        let [boxes, logits] = self.model.run_flat::<2>(&[input])?;
        let scale = DETECTOR_INPUT as f32;
        let to_image = |x: f32, y: f32| letterbox.to_image(x, y);
        let mut candidates = Vec::new();
        for (i, (anchor, &logit)) in self.anchors.iter().zip(&logits).enumerate() {
            let score = 1.0 / (1.0 + (-logit.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
            if score < min_score || !score.is_finite() {
                continue;
            }
            // Offsets are in input pixels from the anchor centre; the box size likewise.
            let r = &boxes[i * 16..(i + 1) * 16];
            let (cx, cy) = (anchor[0] + r[0] / scale, anchor[1] + r[1] / scale);
            let (bw, bh) = (r[2] / scale, r[3] / scale);
            let min = to_image(cx - bw / 2.0, cy - bh / 2.0);
            let max = to_image(cx + bw / 2.0, cy + bh / 2.0);
            let keypoints = std::array::from_fn(|k| {
                to_image(
                    anchor[0] + r[4 + 2 * k] / scale,
                    anchor[1] + r[5 + 2 * k] / scale,
                )
            });
            candidates.push(Detection {
                score,
                min,
                max,
                keypoints,
            });
        }
        Ok(weighted_nms(candidates))
    }
}
