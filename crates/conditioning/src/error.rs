use std::path::PathBuf;

/// Everything that can go wrong while loading media or encoders. Each variant names the file,
/// tensor or field at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConditioningError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A parameter, input or config field is out of range or malformed.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The parameter, input or field at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// Audio that could not be decoded or is unusable; `origin` is the file path or `<memory>`.
    #[error("{origin}: {message}")]
    Audio {
        /// The file path, or `<memory>` for an in-memory buffer.
        origin: String,
        /// What was wrong with the audio.
        message: String,
    },
    /// Resampling the audio failed.
    #[error(transparent)]
    Resample(#[from] m2f_audio::ResampleError),
    /// A model tensor was missing or had the wrong shape; names the tensor and what was expected.
    #[error("weights {tensor}: {message}")]
    Weights {
        /// The tensor at fault (or the weights file, when it cannot be read at all).
        tensor: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A tensor operation in candle failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A model file was found in none of the places searched.
    #[error("missing model file `{file}`; looked in {}{hint}", join_paths(.looked_in))]
    MissingModelFile {
        /// The file name looked for.
        file: String,
        /// Each directory searched, in order.
        looked_in: Vec<PathBuf>,
        /// What to do about it, starting with "; " (or empty).
        hint: String,
    },
    /// Downloading a file from the Hugging Face hub failed.
    #[error("downloading `{file}` from Hugging Face repo `{repo}`: {message}")]
    Download {
        /// The Hugging Face repo id.
        repo: String,
        /// The file within the repo.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A `tokenizer.json` could not be read or could not encode a prompt.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The `tokenizer.json` at fault.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The style encoder does not take this kind of prompt (e.g. an image for sentence-BERT).
    #[error("the {encoder} style encoder does not accept {kind} prompts")]
    UnsupportedPrompt {
        /// The style encoder's name.
        encoder: &'static str,
        /// The kind of prompt given (e.g. `image`).
        kind: &'static str,
    },
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ConditioningError {
    /// Shorthand for [`ConditioningError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`ConditioningError::Audio`] error for the file or buffer `origin`.
    pub fn audio(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Audio {
            origin: origin.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`ConditioningError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`ConditioningError`] as the default error.
pub type Result<T, E = ConditioningError> = std::result::Result<T, E>;
