//! The error type of `m2f-synth`.

use std::path::PathBuf;

/// What to tell a user whose system lacks libespeak-ng.
pub const ESPEAK_INSTALL_HINT: &str = "install the libespeak-ng1 package \
(Debian/Ubuntu: apt-get install libespeak-ng1; Fedora: dnf install espeak-ng; \
macOS: brew install espeak-ng), or point M2F_ESPEAK_LIB at the shared library";

/// What to tell a user whose system lacks libflite or one of its voices.
pub const FLITE_INSTALL_HINT: &str = "install the libflite1 package, which holds libflite and \
its voices (Debian/Ubuntu: apt-get install libflite1; Fedora: dnf install flite; \
macOS: brew install flite), or point M2F_FLITE_DIR at a directory holding libflite and its \
voice libraries; or leave Flite out (`m2f synth --engines espeak-ng`)";

/// Everything that can go wrong in `m2f-synth`.
///
/// Each variant names the input, file or library call at fault so that a user can act on the
/// message without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A parameter or input is out of range or malformed.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The parameter or input at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// libespeak-ng could not be loaded (or lacks a symbol we need).
    #[error("libespeak-ng could not be loaded (tried: {}); {hint}", tried.join("; "))]
    EspeakMissing {
        /// Each library name tried, with the loader's reason for refusing it.
        tried: Vec<String>,
        /// How to install the library.
        hint: String,
    },

    /// libespeak-ng was loaded but a call into it failed.
    #[error("espeak-ng call {call} failed with code {code}")]
    Espeak {
        /// The C function that failed.
        call: &'static str,
        /// Its return code (`EE_INTERNAL_ERROR` = -1, `EE_BUFFER_FULL` = 1, `EE_NOT_FOUND` = 2).
        code: i32,
    },

    /// espeak-ng does not know the requested voice.
    #[error(
        "unknown espeak-ng voice {voice:?}: give a voice name or file name as listed by \
         `espeak-ng --voices` (e.g. \"en-us\", \"en\" for British English, \"en-gb-x-rp\"), \
         optionally with a variant from `espeak-ng --voices=variant` (e.g. \"en-us+f3\")"
    )]
    UnknownVoice {
        /// The voice name as given.
        voice: String,
    },

    /// libflite, or the shared library of one of its voices, could not be loaded (or lacks a
    /// symbol we need).
    #[error("libflite could not be loaded (tried: {}); {hint}", tried.join("; "))]
    FliteMissing {
        /// Each library name tried, with the loader's reason for refusing it.
        tried: Vec<String>,
        /// How to install the library.
        hint: String,
    },

    /// libflite was loaded but a call into it failed.
    #[error("flite call {call} failed: {message}")]
    Flite {
        /// The C function that failed.
        call: String,
        /// What went wrong.
        message: String,
    },

    /// Flite has no voice of the requested name.
    #[error("unknown flite voice {voice:?}: give one of {}", known.join(", "))]
    UnknownFliteVoice {
        /// The voice name as given.
        voice: String,
        /// The voice names the wrapper knows.
        known: Vec<String>,
    },

    /// Settings ask for a speech engine this process has not loaded.
    #[error(
        "the {engine} speech engine is not loaded (loaded: {}): load it (Speech::load), or \
         make a world that does not use it (WorldConfig::engines, `m2f synth --engines`)",
        if loaded.is_empty() { "none".to_owned() } else { loaded.join(", ") }
    )]
    EngineNotLoaded {
        /// The engine asked for.
        engine: String,
        /// The engines that are loaded.
        loaded: Vec<String>,
    },

    /// The text to synthesise is empty or only whitespace.
    #[error("the text to synthesise is empty")]
    EmptyText,

    /// Resampling the speech failed.
    #[error(transparent)]
    Resample(#[from] m2f_audio::ResampleError),
    /// Geometry, rig, rendering or preview failed.
    #[error(transparent)]
    Mesh(#[from] m2f_mesh::MeshError),
}

impl SynthError {
    /// Shorthand for [`SynthError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`SynthError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`SynthError`] as the default error.
pub type Result<T, E = SynthError> = std::result::Result<T, E>;
