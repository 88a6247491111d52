//! Conditioning for media2face: everything that turns a user's media into the tensors the
//! denoiser is conditioned on — audio in, audio features, and text or image style embeddings.

pub mod audio;
pub mod audio_encoder;
pub mod clip;
pub mod ctranslate2;
pub mod error;
pub mod log_mel;
mod model_files;
pub mod sentence;
pub mod style;
pub mod wav2vec2;
pub mod weights;
pub mod whisper;

pub use error::{ConditioningError, Result};
pub use style::{StyleEncoder, StylePrompt};
