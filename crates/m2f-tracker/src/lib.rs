//! Face tracking for media2face: MediaPipe's short-range face detector and its 468-point face
//! mesh model, run in-process on candle through the crate's own TFLite interpreter — no Python
//! and no native library.
//!
//! The flow: an image → [`FaceDetector`] (letterboxed 128 × 128, anchors, weighted NMS) →
//! [`Detection`]s → a rotated square crop around the face ([`region_from_detection`]) →
//! [`FaceLandmarker`] (192 × 192) → [`FaceLandmarks`] in image pixels. In a video,
//! [`FaceTracker`] carries the crop from frame to frame and detects only when the face is
//! lost; [`smooth_track`] then removes jitter without lag.
//!
//! The model files come from the npm package `@mediapipe/face_mesh` (Apache-2.0; see
//! [`MODELS_HINT`]); `docs/tracking.md` has the parity and speed measurements.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use m2f_tracker::{FaceTracker, TrackerOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut tracker = FaceTracker::load(Path::new("models/mediapipe"), TrackerOptions::default())?;
//! let frame = image::open("frame_0001.png")?.to_rgb8();
//! if let Some(face) = tracker.track(&frame)? {
//!     let nose_tip = face.landmarks.points[1]; // x, y in pixels, z relative depth
//!     println!("nose tip at {nose_tip:?} ({:?})", face.found_by);
//! }
//! # Ok(())
//! # }
//! ```

mod anchors;
mod crop;
mod detection;
mod detector;
mod error;
mod face_geometry;
mod landmarker;
mod models;
mod region;
mod smoothing;
mod tflite;
mod tracker;

pub use error::{Result, TrackerError, MODELS_HINT};
pub use models::{default_models_dir, MODELS_DIR_VAR};

// The models and what they find.
pub use detection::{weighted_nms, Detection, KEYPOINTS, NMS_IOU};
pub use detector::{FaceDetector, DETECTOR_FILE, MIN_DETECTION_SCORE};
pub use landmarker::{
    region_from_detection, FaceLandmarker, FaceLandmarks, EYE_CORNERS, LANDMARK_FILE, MESH_POINTS,
};
pub use region::{rotation_from, RotatedRect, ROI_SCALE};

// Video: tracking from frame to frame, and zero-lag smoothing of a clip's points.
pub use smoothing::{smooth_series, smooth_track};

// Metric faces: tracked points → head pose and the face in the template's frame, metres.
pub use face_geometry::{face_geometry, FaceGeometry, DEFAULT_VERTICAL_FOV_DEGREES};
pub use tracker::{FaceTracker, FoundBy, TrackedFace, TrackerOptions};

// The TFLite interpreter the models run on.
pub use tflite::TfliteModel;
