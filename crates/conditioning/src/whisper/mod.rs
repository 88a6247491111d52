//! Whisper's audio encoder (Radford et al. 2022) as an audio-feature extractor: pretrained on
//! 680 000 hours of real speech, so its features carry over from synthetic training voices to
//! real recordings far better than a log-mel encoder trained on synthetic speech alone.
//!
//! - [`WhisperEncoderModel`]: the network, equal to HF transformers' `WhisperEncoder`, loading
//!   any HF Whisper checkpoint (tiny … large-v3 with 128 mel bands; decoder weights skipped).
//! - [`WhisperEncoder`]: Whisper's log-mel front end + the network + the rule for audio of any
//!   length ([`WindowPolicy`]); implements [`crate::audio_encoder::AudioEncoder`].
//! - [`WhisperStream`]: chunked features for live audio.
//! - [`convert_ct2_encoder`]: CTranslate2 (faster-whisper) `model.bin` → HF safetensors.

mod convert;
mod encoder;
mod model;
mod stream;

pub use convert::{convert_ct2_encoder, ct2_encoder_names, ConvertedEncoder};
pub use encoder::{WhisperEncoder, WindowPolicy, FRAME_SAMPLES};
pub use model::{Config, WhisperEncoderModel};
pub use stream::{StreamConfig, WhisperStream};
