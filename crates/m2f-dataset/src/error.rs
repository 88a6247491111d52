//! The error type of `m2f-dataset`.

use std::path::PathBuf;

/// Everything that can go wrong while making or reading training shards.
///
/// Each variant names the clip, file, store path or field at fault and what was expected, so
/// a user can act on the message without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The object store (local directory, memory or cloud bucket) refused an operation.
    #[error("{store}{}: {message}", if location.is_empty() { String::new() } else { format!(": {location}") })]
    Store {
        /// The store, as the user named it (directory or URL).
        store: String,
        /// The object within the store.
        location: String,
        /// What the store said.
        message: String,
    },

    /// A value, file or field holds something other than what is expected.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The clip, file or field at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// A record on the store was made from other inputs (source clip, GNPFA checkpoint,
    /// augmentation recipe or extractor version) than this run's: it is never silently kept.
    #[error(
        "{location}: made from other inputs than this run ({message}); \
         write to another output or delete it"
    )]
    OtherInputs {
        /// The record's metadata object.
        location: String,
        /// Which input differs.
        message: String,
    },

    /// A shard was made with another GNPFA checkpoint than the one asked for: its latents
    /// live in another latent space.
    #[error(
        "{location}: made with GNPFA checkpoint {found}, but {expected} was asked for \
         (re-extract the data with this checkpoint)"
    )]
    OtherGnpfa {
        /// The record or manifest at fault.
        location: String,
        /// The fingerprint it carries.
        found: String,
        /// The fingerprint asked for.
        expected: String,
    },

    /// The `ffmpeg` or `ffprobe` program, which reads video files, could not be started.
    #[error(
        "cannot run `{program}` to read {path}: {source}; reading video needs FFmpeg's \
         programs on PATH (Debian/Ubuntu: `apt-get install ffmpeg`, macOS: `brew install ffmpeg`)"
    )]
    FfmpegMissing {
        /// `ffmpeg` or `ffprobe`.
        program: String,
        /// The video file it was to read.
        path: PathBuf,
        /// Why it could not be started (usually: not found).
        #[source]
        source: std::io::Error,
    },

    /// `ffprobe` could not read a file as media: corrupt, truncated, or another kind of file.
    #[error(
        "{path}: not a readable video file (expected MP4, MKV, MOV or WebM with a video \
         track); ffprobe says: {stderr}"
    )]
    UnreadableVideo {
        /// The file at fault.
        path: PathBuf,
        /// The last lines of ffprobe's error output.
        stderr: String,
    },

    /// A video file lacks a track that is needed: no picture (an audio-only file), or no
    /// sound where the speech is required.
    #[error("{path}: no {track} track (it has: {found}); {expected}")]
    MissingTrack {
        /// The file at fault.
        path: PathBuf,
        /// `video` or `audio`.
        track: String,
        /// The tracks the file has, with their codecs.
        found: String,
        /// What is expected, and what to do.
        expected: String,
    },

    /// `ffmpeg` failed while decoding a track of a video file.
    #[error("{path}: ffmpeg failed decoding the {track} track ({status}): {stderr}")]
    FfmpegFailed {
        /// The file at fault.
        path: PathBuf,
        /// `video` or `audio`.
        track: String,
        /// How ffmpeg exited.
        status: String,
        /// The last lines of ffmpeg's error output.
        stderr: String,
    },

    /// The video track of a file decoded to no frame at all.
    #[error(
        "{path}: the video track decoded to zero frames (expected at least one picture){}",
        if stderr.is_empty() { String::new() } else { format!("; ffmpeg says: {stderr}") }
    )]
    NoFrames {
        /// The file at fault.
        path: PathBuf,
        /// The last lines of ffmpeg's error output, if it failed; empty if it did not.
        stderr: String,
    },

    /// A face landmark file (JSON lines, JSON or CSV) holds something other than what is
    /// expected: a malformed line, an unknown field or column, a point count other than 468 or
    /// 478, frames out of order, a missing image size or frame rate.
    #[error(
        "{path}{}: {message}",
        match line { Some(line) => format!(", line {line}"), None => String::new() }
    )]
    LandmarkFile {
        /// The file at fault.
        path: PathBuf,
        /// The line at fault, counting from 1 (a CSV file's header is line 1); `None` for a
        /// fault of the whole file.
        line: Option<usize>,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// An image file (a frame of a frame directory) could not be decoded.
    #[error("{path}: not a readable image (expected a PNG or JPEG file): {message}")]
    UnreadableImage {
        /// The file at fault.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },

    /// An error of the synthetic world (reading a clip).
    #[error(transparent)]
    Synth(#[from] m2f_synth::SynthError),

    /// An error of GNPFA (loading the checkpoint, encoding).
    #[error(transparent)]
    Gnpfa(#[from] gnpfa::GnpfaError),

    /// An error of the audio encoders (computing features).
    #[error(transparent)]
    Conditioning(#[from] conditioning::ConditioningError),

    /// An error of the audio augmentation.
    #[error(transparent)]
    Augment(#[from] m2f_audio::AugmentError),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl DatasetError {
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

/// `Result` with [`DatasetError`].
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
