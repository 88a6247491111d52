use std::path::PathBuf;

/// What can go wrong in the training toolkit: each variant names the file, variable or
/// setting at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file of the run failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A setting, state file or value is not what the loop can use.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What is invalid (a setting, a file, a variable).
        what: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The run in the output directory was made from other inputs than this one.
    #[error(
        "{path}: the run there was made with a different {field} ({saved} there, {now} now); \
         use a new --out directory or the same settings"
    )]
    ResumeMismatch {
        /// The saved resume state.
        path: PathBuf,
        /// The input that differs (a key of the trainee's identity, e.g. `model` or `seed`).
        field: String,
        /// Its value in the saved run (JSON, shortened).
        saved: String,
        /// Its value now (JSON, shortened).
        now: String,
    },
    /// Training diverged: a non-finite loss or gradient norm.
    #[error("training diverged at step {step}: {what} became {value}; lower --lr")]
    Diverged {
        /// The step that produced it.
        step: u64,
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A device that this build cannot use or that does not exist.
    #[error("device {name:?}: {message}")]
    Device {
        /// The name as given.
        name: String,
        /// Why it cannot be used and what to do.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl TrainError {
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
}

/// The toolkit's result type.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
