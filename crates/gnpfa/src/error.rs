use std::path::PathBuf;

/// Everything that can go wrong in GNPFA: each variant names the file, tensor or field at
/// fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum GnpfaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid config.json: {message}")]
    Config { path: PathBuf, message: String },
    #[error("checkpoint {path}: tensor {name:?} is missing (expected shape {expected:?})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    #[error(
        "checkpoint {path}: tensor {name:?} has shape {actual:?}, expected {expected:?} \
         (does config.json match the weights?)"
    )]
    TensorShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    #[error(transparent)]
    Train(#[from] m2f_train::TrainError),
    #[error(transparent)]
    Mesh(#[from] m2f_mesh::MeshError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl GnpfaError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = GnpfaError> = std::result::Result<T, E>;
