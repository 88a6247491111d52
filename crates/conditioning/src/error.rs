use std::path::PathBuf;

/// Everything that can go wrong while loading media or encoders. Each variant names the file,
/// tensor or field at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConditioningError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ConditioningError {
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

pub type Result<T, E = ConditioningError> = std::result::Result<T, E>;
