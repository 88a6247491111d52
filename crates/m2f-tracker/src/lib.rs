//! Face tracking for media2face: MediaPipe's short-range face detector and its 468-point face
//! mesh model, run in-process on candle through the crate's own TFLite interpreter — no Python
//! and no native library.

mod error;
mod tflite;

pub use error::{Result, TrackerError, MODELS_HINT};

// The TFLite interpreter the models run on.
pub use tflite::TfliteModel;
