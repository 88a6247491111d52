//! The error type of `gnpfa`.

use std::path::PathBuf;

/// Everything that can go wrong in GNPFA: each variant names the file, tensor or field at
/// fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum GnpfaError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint's `config.json` does not parse, has an unknown format or a newer version,
    /// or does not match the weights or template stored beside it.
    #[error("{path}: invalid config.json: {message}")]
    Config {
        /// The `config.json` at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the config calls for is absent from a checkpoint's weights file.
    #[error("checkpoint {path}: tensor {name:?} is missing (expected shape {expected:?})")]
    MissingTensor {
        /// The weights file (`model.safetensors`).
        path: PathBuf,
        /// Name of the missing tensor.
        name: String,
        /// The shape it should have had (empty when any length is accepted).
        expected: Vec<usize>,
    },
    /// A tensor in a checkpoint's weights file does not have the shape the config calls for.
    #[error(
        "checkpoint {path}: tensor {name:?} has shape {actual:?}, expected {expected:?} \
         (does config.json match the weights?)"
    )]
    TensorShape {
        /// The weights file (`model.safetensors`).
        path: PathBuf,
        /// Name of the mis-shaped tensor.
        name: String,
        /// The shape the config calls for.
        expected: Vec<usize>,
        /// The shape stored in the file.
        actual: Vec<usize>,
    },
    /// A parameter, config field or input (mesh, latent, image, batch, data) is out of range
    /// or malformed.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The parameter or input at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// The training loop (`m2f-train`) failed: a bad schedule, an unreadable run directory or
    /// resume state, or a run in the output directory made from other inputs.
    #[error(transparent)]
    Train(#[from] m2f_train::TrainError),
    /// A mesh, rig, template or render operation of `m2f-mesh` failed.
    #[error(transparent)]
    Mesh(#[from] m2f_mesh::MeshError),
    /// A candle tensor operation failed (shape mismatch, device error, safetensors I/O).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl GnpfaError {
    /// The [`GnpfaError::Io`] error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`GnpfaError::Invalid`] error: `what` names the input, `message` says what is wrong.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`GnpfaError`] as the default error.
pub type Result<T, E = GnpfaError> = std::result::Result<T, E>;
