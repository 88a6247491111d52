use std::path::PathBuf;

/// Everything that can go wrong in the diffusion crate: each variant names the file, tensor,
/// field or option at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint's `config.json` is unreadable or does not describe a denoiser this build
    /// can run.
    #[error("{path}: invalid config.json: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint lacks a tensor the config calls for.
    #[error("checkpoint {path}: tensor {name:?} is missing (expected shape {expected:?})")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
    },
    /// A checkpoint tensor has another shape than the config implies.
    #[error(
        "checkpoint {path}: tensor {name:?} has shape {actual:?}, expected {expected:?} \
         (does config.json match the weights?)"
    )]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape stored.
        actual: Vec<usize>,
    },
    /// An input, option or config field out of range.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The input, option or field.
        what: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The training data source failed.
    #[error("training data: {0}")]
    Data(String),
    /// The training loop failed.
    #[error(transparent)]
    Train(#[from] m2f_train::TrainError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl DiffusionError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// `what` is invalid because of `message`.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// A failure of the training data source.
    pub fn data(message: impl std::fmt::Display) -> Self {
        Self::Data(message.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = DiffusionError> = std::result::Result<T, E>;
