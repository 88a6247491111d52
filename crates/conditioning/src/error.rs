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
    /// Audio that could not be decoded or is unusable; `origin` is the file path or `<memory>`.
    #[error("{origin}: {message}")]
    Audio { origin: String, message: String },
    /// Resampling the audio failed.
    #[error(transparent)]
    Resample(#[from] m2f_audio::ResampleError),
    /// A model tensor was missing or had the wrong shape; names the tensor and what was expected.
    #[error("weights {tensor}: {message}")]
    Weights { tensor: String, message: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A model file was found in none of the places searched.
    #[error("missing model file `{file}`; looked in {}{hint}", join_paths(.looked_in))]
    MissingModelFile {
        file: String,
        looked_in: Vec<PathBuf>,
        /// What to do about it, starting with "; " (or empty).
        hint: String,
    },
    /// Downloading a file from the Hugging Face hub failed.
    #[error("downloading `{file}` from Hugging Face repo `{repo}`: {message}")]
    Download {
        repo: String,
        file: String,
        message: String,
    },
    /// A `tokenizer.json` could not be read or could not encode a prompt.
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    /// The style encoder does not take this kind of prompt (e.g. an image for sentence-BERT).
    #[error("the {encoder} style encoder does not accept {kind} prompts")]
    UnsupportedPrompt {
        encoder: &'static str,
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

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ConditioningError> = std::result::Result<T, E>;
