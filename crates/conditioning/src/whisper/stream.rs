//! Whisper features for a live stream fed in chunks.
//!
//! A stream cuts the audio into the same 30 s windows, on the same 20 s grid, as
//! [`WhisperEncoder::native_features`] does for a whole recording, so every frame is computed
//! by the same window, at the same positions, as offline. The only difference is the future:
//! a frame is emitted once `lookahead_s` of audio after it has arrived, and the rest of its
//! window is then still zeros (or absent, with [`WindowPolicy::Exact`]). With enough
//! lookahead the streamed features are the offline ones; `docs/whisper.md` gives the drift and
//! cost of each choice.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::encoder::{WhisperEncoder, WindowPlan, WindowPolicy, FRAME_SAMPLES};
use crate::error::{ConditioningError, Result};

/// How a [`WhisperStream`] trades latency and compute for agreement with offline features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Seconds of audio after a frame that must have arrived before it is emitted: latency
    /// bought for frames that see some of their future, as offline frames do.
    pub lookahead_s: f64,
    /// How each window is fed: [`WindowPolicy::Padded`] matches offline features (and costs a
    /// full 30 s window per push); [`WindowPolicy::Exact`] costs only the audio so far.
    pub policy: WindowPolicy,
}

impl Default for StreamConfig {
    /// The choice measured in `docs/whisper.md`.
    fn default() -> Self {
        Self {
            lookahead_s: 0.5,
            policy: WindowPolicy::Exact,
        }
    }
}

/// The state of one stream: the audio its current window needs and how many frames were
/// emitted. Owned by the caller; the encoder itself stays shared and immutable.
#[derive(Debug, Clone)]
pub struct WhisperStream {
    cfg: StreamConfig,
    /// Samples from `buffer_start` (absolute sample index, a window start) on.
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
    /// [`ConditioningError::Invalid`] for a negative or non-finite lookahead.
    pub fn new(cfg: StreamConfig) -> Result<Self> {
        if !(cfg.lookahead_s.is_finite() && cfg.lookahead_s >= 0.0) {
            return Err(ConditioningError::invalid(
                "stream lookahead_s",
                format!(
                    "must be a non-negative number of seconds, got {}",
                    cfg.lookahead_s
                ),
            ));
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
    /// [`ConditioningError::Invalid`] after [`WhisperStream::finish`] or for non-finite
    /// samples.
    pub fn push(&mut self, encoder: &WhisperEncoder, samples: &[f32]) -> Result<Tensor> {
        if self.finished {
            return Err(ConditioningError::invalid(
                "stream",
                "push after finish; start a new stream",
            ));
        }
        self.buffer.extend_from_slice(samples);
        let total = self.buffer_start + self.buffer.len();
        let lookahead = (self.cfg.lookahead_s * crate::audio::SAMPLE_RATE as f64).round() as usize;
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
        let out = self.emit(encoder, encoder.native_frames(total));
        self.finished = true;
        out
    }

    fn emit(&mut self, encoder: &WhisperEncoder, ready: usize) -> Result<Tensor> {
        let total = self.buffer_start + self.buffer.len();
        let ready = ready.min(encoder.native_frames(total));
        let window = encoder.window_samples();
        let plan = WindowPlan::new(usize::MAX, window);
        let mut parts = Vec::new();
        while self.emitted < ready {
            let k = plan.open_window_of(self.emitted);
            let start = k * plan.stride;
            let window_end = plan.open_window_of(ready - 1).max(k) == k;
            // Frames of window k emitted now: up to `ready` or where window k + 1 takes over.
            let upto = if window_end {
                ready
            } else {
                (k + 1) * plan.stride / FRAME_SAMPLES + plan.margin_frames
            };
            let end = total.min(start + window);
            let feats = encoder.encode_window(
                &self.buffer[start - self.buffer_start..end - self.buffer_start],
                self.cfg.policy,
            )?;
            let local = self.emitted - start / FRAME_SAMPLES;
            parts.push(feats.narrow(0, local, upto - self.emitted)?);
            self.emitted = upto;
        }
        // Keep only the audio of the window the next frame belongs to.
        let keep_from = plan.open_window_of(self.emitted) * plan.stride;
        if keep_from > self.buffer_start {
            self.buffer.drain(..keep_from - self.buffer_start);
            self.buffer_start = keep_from;
        }
        if parts.is_empty() {
            let dim = encoder.model().config().d_model;
            return Ok(Tensor::zeros(
                (0, dim),
                candle_core::DType::F32,
                encoder.model_device(),
            )?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }
}
