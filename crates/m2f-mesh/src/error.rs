use std::path::PathBuf;

/// Everything that can go wrong in `m2f-mesh`. Each variant names the file, field or tensor
/// at fault and what was expected, so that a user can fix the input without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Obj {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("vertex count mismatch in {what}: expected {expected} vertices, got {got}")]
    VertexCount {
        what: String,
        expected: usize,
        got: usize,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    #[error("unknown blendshape {name:?}; the rig has: {known}")]
    UnknownBlendshape { name: String, known: String },
    #[error("{path}: {message}")]
    Export { path: PathBuf, message: String },
    #[error("ffmpeg failed writing {path}: {message}")]
    Ffmpeg { path: PathBuf, message: String },
}

impl MeshError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = MeshError> = std::result::Result<T, E>;
