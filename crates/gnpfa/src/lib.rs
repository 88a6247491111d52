//! GNPFA (Generalized Neural Parametric Facial Asset, Media2Face §3) on candle: the geometry
//! VAE (`E_geo`, `G_geo(neutral, z)`, identity only through the neutral), the blendshape bridge
//! (`M`, `M′`), the image encoders (`E_exp`: face crop → z, `E_pose`: face crop → head pose),
//! their training, and self-contained checkpoints that carry their face template.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use gnpfa::Gnpfa;
//!
//! # fn main() -> gnpfa::Result<()> {
//! let gnpfa = Gnpfa::load(Path::new("weights/gnpfa"))?;
//! let neutral = gnpfa.template.mesh.vertices.clone(); // the template's own face, metres
//! let latents = gnpfa.encode_frames(&neutral, &[neutral.as_slice()])?; // E_geo: one z per frame
//! let faces = gnpfa.decode_frames(&neutral, &latents)?; // G_geo: back to vertices
//! let weights = gnpfa.weights_from_latents(&latents)?; // M′: ARKit blendshape weights
//! assert_eq!(faces[0].len(), neutral.len());
//! # Ok(())
//! # }
//! ```

mod bridge;
mod checkpoint;
mod config;
mod crop_camera;
mod data;
mod error;
mod eval;
mod image_data;
mod image_encoder;
mod image_eval;
mod model;
mod projection;
mod train;
mod train_image;
mod vae;

pub use error::{GnpfaError, Result};

// The model: the geometry VAE, its bridge to rig weights, the image encoders.
pub use bridge::Bridge;
pub use config::GnpfaConfig;
pub use crop_camera::CropCamera;
pub use image_encoder::{
    images_to_tensor, ImageEncoder, ImageEncoderConfig, ImageEncoders, ImageEstimate, POSE_OUTPUTS,
};
pub use model::{vertices_tensor, Gnpfa};
pub use projection::{
    pose_points, poses_to_tensors, project_points, rotation_from_6d, tensors_to_poses,
};
pub use vae::{kl_divergence, GeoDecoder, GeoEncoder, GeometryVae};

// Checkpoints: `config.json` + `model.safetensors`.
pub use checkpoint::{
    read_checkpoint, save_checkpoint, CheckpointConfig, Provenance, TemplateInfo, CONFIG_FILE,
    WEIGHTS_FILE,
};

// Training data and training.
pub use data::{
    displacement, flat_neutral, mirror_partners, rig_rows, Batch, Frame, FrameSet, Rows, TrainData,
};
pub use image_data::{render_crop, render_rows, ImageBatch, ImageBatchSource, RenderRanges};
pub use train::{losses, train, Losses, TrainOptions, TrainReport};
pub use train_image::{
    image_losses, image_vars, init_with_geometry, train_images, ImageLosses, ImageTrainOptions,
    ImageTrainReport, IMAGE_PREFIX,
};

// Evaluation.
pub use eval::{evaluate, evaluate_frames, vertex_errors, EvalReport, FrameEvalReport};
pub use image_eval::{evaluate_image_frames, evaluate_images, ImageEvalReport};
