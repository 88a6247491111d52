//! Conditioning for media2face: everything that turns a user's media into the tensors the
//! denoiser is conditioned on — audio in, audio features, and text or image style embeddings.
//!
//! ```
//! use candle_core::Device;
//! use conditioning::{frames_for, LogMel, DEFAULT_FPS, SAMPLE_RATE};
//!
//! # fn main() -> conditioning::Result<()> {
//! // One second of a 220 Hz tone at the 16 kHz every encoder takes.
//! let rate = SAMPLE_RATE as f32;
//! let samples: Vec<f32> =
//!     (0..SAMPLE_RATE).map(|i| 0.1 * (i as f32 / rate * 220.0 * std::f32::consts::TAU).sin()).collect();
//! let mel = LogMel::new().compute(&samples, &Device::Cpu)?; // Whisper's front end
//! assert_eq!(mel.dims(), &[80, 101]); // [mel bands, 100 Hz frames]
//! assert_eq!(frames_for(samples.len(), DEFAULT_FPS), 30); // animation frames at 30 fps
//! # Ok(())
//! # }
//! ```
//!
//! With a checkpoint, any [`AudioEncoder`] turns speech into features at the animation's
//! frame rate:
//!
//! ```no_run
//! use candle_core::Device;
//! use conditioning::{load_audio, AudioEncoder, ModelSource, WhisperEncoder};
//!
//! # fn main() -> conditioning::Result<()> {
//! let whisper = WhisperEncoder::load_from(&ModelSource::hub("openai/whisper-tiny.en"), &Device::Cpu)?;
//! let features = whisper.encode_default(&load_audio("speech.wav")?)?; // [frames at 30 fps, 384]
//! # Ok(())
//! # }
//! ```

mod audio;
mod audio_encoder;
mod bert;
mod clip;
mod ctranslate2;
mod error;
mod log_mel;
mod model_files;
mod sentence;
mod style;
mod wav2vec2;
mod weights;
mod whisper;

pub use error::{ConditioningError, Result};

// Audio in: any container symphonia reads, as 16 kHz mono f32.
pub use audio::{
    from_samples, load_audio, load_audio_bytes, read_audio, read_audio_bytes, LoadedAudio,
    MAX_CHANNELS, MAX_CONCEALED_GAP_SECONDS, MAX_SOURCE_RATE, MIN_SOURCE_RATE, SAMPLE_RATE,
};

// Audio features: the encoder trait and its three implementations.
pub use audio_encoder::{
    frames_for, resample_frames, resample_weights, time_mean, AudioEncoder, FrameTiming,
    DEFAULT_FPS, MAX_FPS,
};
pub use log_mel::{mel_filterbank, LogMel, LogMelEncoder, LogMelEncoderConfig, HOP, N_FFT, N_MELS};
pub use wav2vec2::{
    normalize as wav2vec2_normalize, Config as Wav2Vec2Config, FeatExtractNorm,
    FeatureExtractorConfig, Wav2Vec2, Wav2Vec2Encoder,
};
pub use whisper::{
    convert_ct2_encoder, ct2_encoder_names, Config as WhisperConfig, ConvertedEncoder,
    StreamConfig as WhisperStreamConfig, WhisperEncoder, WhisperEncoderModel, WhisperStream,
    WindowPolicy, FRAME_SAMPLES as WHISPER_FRAME_SAMPLES,
};

// Style: text and image prompts as embeddings.
pub use bert::{BertModel, Config as BertConfig, PositionEmbeddingType};
pub use clip::{
    preprocess_image, ClipActivation, ClipStyleEncoder, ClipTextTower, ClipVisionTower,
    HfClipConfig, HfClipTextConfig, HfClipVisionConfig, CLIP_MEAN, CLIP_STD, CLIP_VIT_B32_REPO,
};
pub use sentence::{SentenceEncoder, MINILM_REPO};
pub use style::{StyleEncoder, StylePrompt};

// Model files: local directories, the Hugging Face hub cache, CTranslate2 models.
pub use ctranslate2::{Ct2Model, Ct2Type, Ct2Variable, BINARY_VERSION as CT2_BINARY_VERSION};
pub use weights::{hub_cache_dir, hub_offline, ModelSource};
