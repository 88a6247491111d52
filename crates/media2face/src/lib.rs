//! # media2face
//!
//! Speech to 3D facial animation guided by text and image prompts: a Rust implementation of
//! Media2Face (Zhao et al., SIGGRAPH 2024) on candle. The data flow of
//! [`Media2Face::generate`]:
//!
//! ```text
//! audio → Whisper features → denoiser (guided DDIM) → GNPFA latents + head poses
//!       → GNPFA decoder → face meshes → ARKit weights → GLB / JSON / CSV / OBJ / MP4
//! ```
//!
//! ```no_run
//! use media2face::{Intensity, Media2Face, Prompt, Request};
//!
//! # fn main() -> media2face::Result<()> {
//! // The default model: the repository's weights/ (or $M2F_WEIGHTS).
//! let model = Media2Face::new()?;
//! let request = Request::from_file("assets/speech.wav")
//!     .prompt(Prompt::Emotion { name: "happy".into(), intensity: Intensity::High })
//!     .seed(7);
//! let animation = model.generate(&request)?;
//! animation.save("face.glb".as_ref())?; // Blender, three.js: ARKit morph targets
//! animation.preview("face.mp4".as_ref(), 320)?; // with the speech (needs ffmpeg)
//! # Ok(())
//! # }
//! ```
//!
//! Without a file system (a game engine, a web page, a server),
//! `animation.to_bytes(ExportFormat::Glb)` gives the same file in memory, as it does for
//! JSON, CSV and NPZ.
//!
//! The crates underneath: `conditioning` (audio and text encoders), `diffusion` (the
//! denoiser and its sampler), `gnpfa` (the expression latent space), `m2f-mesh` (the face,
//! its ARKit rig and the exporters). Hardware features are forwarded to candle: `cuda`,
//! `metal`, `mkl`, `accelerate`. The default feature `hub` lets `from_hub` and the text
//! encoders download from the Hugging Face hub; without it (`default-features = false`, as a
//! browser build needs) they read the hub cache or a directory only, and the library type-checks for
//! `wasm32-unknown-unknown` (`tools/check_wasm.sh`).

mod animation;
mod emotions;
mod error;
mod manifest;
mod npz;
mod pipeline;
mod request;

pub use animation::{check_output_paths, Animation, ArkitFit, ArkitSource, ExportFormat};
pub use error::{Media2FaceError, Result};
pub use manifest::{
    default_dir, default_dirs, BundleManifest, Guidance, BUNDLE_FORMAT, MANIFEST_FILE, WEIGHTS_ENV,
};
pub use pipeline::{Media2Face, TEXT_ENCODER_ENV};
pub use request::{AudioInput, Intensity, KeyframePrompt, Prompt, PromptSpan, Request};

pub use candle_core::Device;
pub use m2f_mesh::HeadPose;

/// The first GPU this build and machine have (CUDA, then Metal), else the CPU.
///
/// # Errors
/// A GPU that is present but cannot be opened.
pub fn best_device() -> Result<Device> {
    m2f_train::best_device().map_err(|e| Media2FaceError::invalid("device", e.to_string()))
}
