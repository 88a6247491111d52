//! The error type of `m2f-tracker`.

use std::path::PathBuf;

/// Where to get MediaPipe's model files.
pub const MODELS_HINT: &str = "the models ship in the npm package @mediapipe/face_mesh \
0.4.1657299874 (Apache-2.0); `python3 tools/fetch_mediapipe.py DIR` downloads it from the npm \
registry, checks it and writes face_detection_short_range.tflite and face_landmark.tflite into \
DIR";

/// Everything that can go wrong in `m2f-tracker`.
///
/// Each variant names the file, tensor or operator at fault so that a user can act on the
/// message without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A model file is not a well-formed TFLite flatbuffer (truncated, wrong kind of file, or an
    /// offset pointing outside it).
    #[error("{model}: not a valid TFLite model: {message}")]
    Format {
        /// The model file (or `<bytes>` for a model read from memory).
        model: String,
        /// What was malformed, naming the table and field.
        message: String,
    },

    /// A model uses an operator, tensor type or option this interpreter does not run.
    #[error("{model}: {message}")]
    Unsupported {
        /// The model file.
        model: String,
        /// The operator or tensor at fault and what is supported.
        message: String,
    },

    /// A model is well formed but is not the network expected here (wrong input or output
    /// shapes).
    #[error("{model}: {message}")]
    WrongModel {
        /// The model file.
        model: String,
        /// What was expected and what the file holds.
        message: String,
    },

    /// An input (image, tensor, parameter) is out of range or malformed.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The input at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// A tensor operation failed while running a model.
    #[error("{context}: {source}")]
    Candle {
        /// The model and operator being run.
        context: String,
        /// candle's error.
        #[source]
        source: candle_core::Error,
    },
}

/// `Result` with [`TrackerError`].
pub type Result<T> = std::result::Result<T, TrackerError>;
