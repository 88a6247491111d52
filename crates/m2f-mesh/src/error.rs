use std::path::PathBuf;

/// Everything that can go wrong in `m2f-mesh`. Each variant names the file, field or tensor
/// at fault and what was expected, so that a user can fix the input without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An OBJ file is malformed.
    #[error("{path}:{line}: {message}")]
    Obj {
        /// The file.
        path: PathBuf,
        /// The 1-based line at fault (0: the file as a whole).
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// A vertex array of the wrong length for the mesh.
    #[error("vertex count mismatch in {what}: expected {expected} vertices, got {got}")]
    VertexCount {
        /// The array.
        what: String,
        /// The mesh's vertex count.
        expected: usize,
        /// The array's.
        got: usize,
    },
    /// An argument or field out of its range.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument or field.
        what: String,
        /// What was expected and what was given.
        message: String,
    },
    /// A blendshape name the rig does not have.
    #[error("unknown blendshape {name:?}; the rig has: {known}")]
    UnknownBlendshape {
        /// The name asked for.
        name: String,
        /// The rig's names, comma-separated.
        known: String,
    },
    /// An export that cannot be written as asked (format, size).
    #[error("{path}: {message}")]
    Export {
        /// The output file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// ffmpeg failed or is missing while writing a video.
    #[error("ffmpeg failed writing {path}: {message}")]
    Ffmpeg {
        /// The output file.
        path: PathBuf,
        /// ffmpeg's exit status and the tail of its error output.
        message: String,
    },
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

/// `Result` with [`MeshError`].
pub type Result<T, E = MeshError> = std::result::Result<T, E>;
