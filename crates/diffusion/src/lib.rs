//! The Media2Face diffusion model (Zhao et al. 2024, §5) on candle: a transformer decoder
//! that generates sequences of [GNPFA expression latent z, head pose θ] from per-frame audio
//! features and a style prompt, its training, and guided DDIM sampling.
//!
//! The flow: audio features [N, F] and a style (a sentence embedding of a text prompt, or a
//! face image's GNPFA latent) → the cross-attention [`Denoiser::memory`] and its keys and
//! values, computed once → DDIM steps, each one batch of the guidance terms of Eq. 9 →
//! the clean motion X̂⁰, denormalised with the checkpoint's statistics → [`Motion`], which
//! GNPFA's decoder turns into meshes.
//!
//! ```no_run
//! use candle_core::Device;
//! use diffusion::{DiffusionModel, SamplerOptions, Style};
//!
//! # fn main() -> Result<(), diffusion::DiffusionError> {
//! let model = DiffusionModel::load("runs/diffusion/best".as_ref(), &Device::Cpu)?;
//! let width = model.denoiser.config().audio_dim;
//! let audio = vec![0f32; 90 * width]; // 3 s of features at 30 fps
//! let motion = model.sample(&audio, &Style::None, &SamplerOptions::default())?;
//! assert_eq!(motion.frames(), 90);
//! # Ok(())
//! # }
//! ```

mod attention;
mod checkpoint;
mod conditioning_mask;
mod config;
mod denoiser;
mod error;
mod joint_audio;
mod loss;
mod noise_schedule;
mod sampler;
mod stream;
mod style_track;
mod trainer;
mod warm_start;
mod window_plan;
mod windows;

pub use error::{DiffusionError, Result};
// The model.
pub use attention::{Attention, KeyValues};
pub use conditioning_mask::{
    cross_attention_bias, padded_cross_attention_bias, padding_bias, Conditions,
};
pub use config::{DenoiserConfig, Objective};
pub use denoiser::{sinusoids, Denoiser, StyleInput};
pub use noise_schedule::{NoiseSchedule, NoiseScheduleKind};
// Checkpoints.
pub use checkpoint::{
    save_checkpoint, CheckpointConfig, DiffusionModel, Provenance, CONFIG_FILE, FORMAT,
    FORMAT_VERSION, WEIGHTS_FILE,
};
// Training.
pub use joint_audio::{JointAudioEncoder, JointAudioEncoderBuilder, AUDIO_ENCODER_PREFIX};
pub use loss::{losses, LossWeights, Losses};
pub use trainer::{
    init_denoiser, train, train_with_audio_encoder, DiffusionTrainOptions, DiffusionTrainReport,
};
pub use windows::{MotionStats, TrainingWindows, WindowSource, WindowTensors};
// Sampling.
pub use sampler::{ddim_timesteps, Keyframe, Motion, SamplerOptions, Style};
pub use stream::{MotionStream, StreamOptions};
pub use style_track::{style_masks, StyleSpan};
pub use window_plan::WindowPlan;
