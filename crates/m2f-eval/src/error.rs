//! The error type of `m2f-eval`.

use std::path::PathBuf;

/// Everything that can go wrong in an evaluation; each variant names the file, model or
/// input at fault.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// An input (a clip, a checkpoint, an option) is malformed or out of range.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The input at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// The test set could not be read.
    #[error(transparent)]
    Synth(Box<m2f_synth::SynthError>),

    /// The model bundle could not be loaded or run.
    #[error(transparent)]
    Model(Box<media2face::Media2FaceError>),

    /// A denoiser checkpoint could not be loaded or sampled.
    #[error(transparent)]
    Diffusion(Box<diffusion::DiffusionError>),

    /// GNPFA failed to encode or decode.
    #[error(transparent)]
    Gnpfa(Box<gnpfa::GnpfaError>),

    /// An audio encoder failed.
    #[error(transparent)]
    Conditioning(Box<conditioning::ConditioningError>),

    /// The audio features of a checkpoint could not be loaded.
    #[error(transparent)]
    Dataset(Box<m2f_dataset::DatasetError>),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl EvalError {
    /// An [`EvalError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

// The other crates' errors are large; boxed, they keep every `Result` here small.
macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for EvalError {
            fn from(e: $ty) -> Self {
                Self::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    Synth(m2f_synth::SynthError),
    Model(media2face::Media2FaceError),
    Diffusion(diffusion::DiffusionError),
    Gnpfa(gnpfa::GnpfaError),
    Conditioning(conditioning::ConditioningError),
    Dataset(m2f_dataset::DatasetError),
);

/// `Result` with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
