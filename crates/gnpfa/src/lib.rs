//! GNPFA (Generalized Neural Parametric Facial Asset, Media2Face §3) on candle: the geometry
//! VAE (`E_geo`, `G_geo(neutral, z)`, identity only through the neutral), the blendshape bridge
//! (`M`, `M′`), the image encoders (`E_exp`: face crop → z, `E_pose`: face crop → head pose),
//! their training, and self-contained checkpoints that carry their face template.

pub mod bridge;
pub mod checkpoint;
pub mod config;
pub mod crop_camera;
pub mod data;
pub mod error;
pub mod eval;
pub mod image_data;
pub mod image_encoder;
pub mod image_eval;
pub mod model;
pub mod projection;
pub mod train;
pub mod train_image;
pub mod vae;

pub use bridge::Bridge;
pub use checkpoint::{save_checkpoint, CheckpointConfig, Provenance};
pub use config::GnpfaConfig;
pub use crop_camera::CropCamera;
pub use error::{GnpfaError, Result};
pub use eval::{evaluate, EvalReport};
pub use image_encoder::{ImageEncoderConfig, ImageEncoders, ImageEstimate};
pub use image_eval::{evaluate_images, ImageEvalReport};
pub use model::Gnpfa;
pub use train::{train, TrainOptions, TrainReport};
pub use train_image::{train_images, ImageTrainOptions, ImageTrainReport};
pub use vae::GeometryVae;
