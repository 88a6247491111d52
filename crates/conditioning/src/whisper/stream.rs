//! Whisper features for a live stream fed in chunks: each chunk re-encodes a short window of
//! recent audio and emits the frames that have become final.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::encoder::{WhisperEncoder, WindowPolicy, FRAME_SAMPLES};
use crate::error::{ConditioningError, Result};

/// How a [`WhisperStream`] trades latency and compute for agreement with offline features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Seconds of past audio re-encoded with each chunk, before the first new frame.
    pub context_s: f64,
    /// Seconds of audio after a frame that must have arrived before it is emitted: the added
    /// latency, bought for frames that see some future, as offline frames do.
    pub lookahead_s: f64,
    /// How each window is fed: [`WindowPolicy::Exact`] costs only its own length.
    pub policy: WindowPolicy,
}

impl Default for StreamConfig {
    /// The choice measured in `docs/whisper.md`.
    fn default() -> Self {
        Self {
            context_s: 5.0,
            lookahead_s: 0.2,
            policy: WindowPolicy::Exact,
        }
    }
}

/// The state of one stream: the audio still needed and how many frames were emitted. Owned by
/// the caller; the encoder itself stays shared and immutable.
#[derive(Debug, Clone)]
pub struct WhisperStream {
    cfg: StreamConfig,
    /// Samples from `buffer_start` (absolute sample index, a multiple of 320) on.
    buffer: Vec<f32>,
    buffer_start: usize,
    /// Native (50 Hz) frames emitted so far.
    emitted: usize,
    finished: bool,
}

impl WhisperStream {
    /// A new, empty stream.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for negative or non-finite seconds.
    pub fn new(cfg: StreamConfig) -> Result<Self> {
        for (name, v) in [
            ("context_s", cfg.context_s),
            ("lookahead_s", cfg.lookahead_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConditioningError::invalid(
                    format!("stream {name}"),
                    format!("must be a non-negative number of seconds, got {v}"),
                ));
            }
        }
        Ok(Self {
            cfg,
            buffer: Vec::new(),
            buffer_start: 0,
            emitted: 0,
            finished: false,
        })
    }

    /// Native frames emitted so far (frame j is centred on sample 320 j of the stream).
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// Appends `samples` and returns the native frames [k, d_model] that became final (k may
    /// be 0).
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] after [`WhisperStream::finish`], for non-finite samples,
    /// or when context + lookahead + the chunk exceed one 30 s window.
    pub fn push(&mut self, encoder: &WhisperEncoder, samples: &[f32]) -> Result<Tensor> {
        if self.finished {
            return Err(ConditioningError::invalid(
                "stream",
                "push after finish; start a new stream",
            ));
        }
        self.buffer.extend_from_slice(samples);
        let total = self.buffer_start + self.buffer.len();
        let lookahead = seconds_to_samples(self.cfg.lookahead_s);
        // Frame j is final once its 20 ms and the lookahead after it have arrived.
        let ready = total.saturating_sub(lookahead) / FRAME_SAMPLES;
        self.emit(encoder, ready)
    }

    /// Emits every remaining frame (the stream has ended: no more future will come).
    ///
    /// # Errors
    /// As [`WhisperStream::push`].
    pub fn finish(&mut self, encoder: &WhisperEncoder) -> Result<Tensor> {
        let total = self.buffer_start + self.buffer.len();
        let all = encoder.native_frames(total);
        let out = self.emit(encoder, all);
        self.finished = true;
        out
    }

    fn emit(&mut self, encoder: &WhisperEncoder, ready: usize) -> Result<Tensor> {
        let dim = encoder.model().config().d_model;
        let device = encoder.model_device();
        let total = self.buffer_start + self.buffer.len();
        let ready = ready.min(encoder.native_frames(total));
        if ready <= self.emitted {
            return Ok(Tensor::zeros((0, dim), candle_core::DType::F32, device)?);
        }
        let context = seconds_to_samples(self.cfg.context_s);
        let first_new = self.emitted * FRAME_SAMPLES;
        let start = first_new.saturating_sub(context) / FRAME_SAMPLES * FRAME_SAMPLES;
        let start = start.max(self.buffer_start);
        let window = &self.buffer[start - self.buffer_start..];
        if window.len() > encoder.window_samples() {
            return Err(ConditioningError::invalid(
                "stream",
                format!(
                    "{:.2} s of context, chunk and lookahead exceed Whisper's {} s window; \
                     push smaller chunks or use less context",
                    window.len() as f64 / crate::audio::SAMPLE_RATE as f64,
                    encoder.window_samples() / crate::audio::SAMPLE_RATE as usize
                ),
            ));
        }
        let feats = encoder.encode_window(window, self.cfg.policy)?;
        let local = self.emitted - start / FRAME_SAMPLES;
        let out = feats.narrow(0, local, ready - self.emitted)?;
        self.emitted = ready;
        // Keep only what the next window can need.
        let keep_from =
            (self.emitted * FRAME_SAMPLES).saturating_sub(context) / FRAME_SAMPLES * FRAME_SAMPLES;
        if keep_from > self.buffer_start {
            self.buffer.drain(..keep_from - self.buffer_start);
            self.buffer_start = keep_from;
        }
        Ok(out)
    }
}

fn seconds_to_samples(s: f64) -> usize {
    (s * crate::audio::SAMPLE_RATE as f64).round() as usize
}
