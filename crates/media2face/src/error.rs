//! The error type of the `media2face` facade.

use std::path::PathBuf;

/// Everything that can go wrong in `media2face`. Each variant names the file, input or
/// model at fault and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Media2FaceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A request or a bundle holds something out of range or malformed.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The input, field or file at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// No model bundle where one was looked for.
    #[error("no media2face model found ({tried}); {hint}")]
    NoModel {
        /// The places looked at.
        tried: String,
        /// How to get one.
        hint: String,
    },

    /// A free-text prompt, but no sentence encoder to embed it.
    #[error(
        "the text prompt {prompt:?} needs the sentence encoder all-MiniLM-L6-v2: {reason}; {hint}"
    )]
    NoTextEncoder {
        /// The prompt.
        prompt: String,
        /// Why it could not be loaded.
        reason: String,
        /// How to get it.
        hint: String,
    },

    /// The audio encoders or the sentence encoder failed.
    #[error(transparent)]
    Conditioning(#[from] conditioning::ConditioningError),

    /// The denoiser failed.
    #[error(transparent)]
    Diffusion(#[from] diffusion::DiffusionError),

    /// GNPFA (decoder, rig bridge, image encoders) failed.
    #[error(transparent)]
    Gnpfa(#[from] gnpfa::GnpfaError),

    /// Mesh export or preview failed.
    #[error(transparent)]
    Mesh(#[from] m2f_mesh::MeshError),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Media2FaceError {
    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`Media2FaceError`].
pub type Result<T> = std::result::Result<T, Media2FaceError>;
