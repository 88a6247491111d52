//! Face tracking for media2face: MediaPipe's short-range face detector and its 468-point face
//! mesh model, run in-process on candle through the crate's own TFLite interpreter — no Python
//! and no native library.
//!
//! The flow: an image → [`FaceDetector`] (letterboxed 128 × 128, anchors, weighted NMS) →
//! [`Detection`]s → a rotated square crop around the face ([`region_from_detection`]) →
//! [`FaceLandmarker`] (192 × 192) → [`FaceLandmarks`] in image pixels.

mod anchors;
mod crop;
mod detection;
mod detector;
mod error;
mod landmarker;
mod region;
mod tflite;

pub use error::{Result, TrackerError, MODELS_HINT};

// The models and what they find.
pub use detection::{weighted_nms, Detection, KEYPOINTS, NMS_IOU};
pub use detector::{FaceDetector, DETECTOR_FILE, MIN_DETECTION_SCORE};
pub use landmarker::{
    region_from_detection, FaceLandmarker, FaceLandmarks, EYE_CORNERS, LANDMARK_FILE, MESH_POINTS,
};
pub use region::{rotation_from, RotatedRect, ROI_SCALE};

// The TFLite interpreter the models run on.
pub use tflite::TfliteModel;
