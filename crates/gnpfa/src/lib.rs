//! GNPFA (Generalized Neural Parametric Facial Asset, Media2Face §3) on candle: the geometry
//! VAE (`E_geo`, `G_geo(neutral, z)`, identity only through the neutral), the blendshape bridge
//! (`M`, `M′`), training and self-contained checkpoints that carry their face template.

pub mod bridge;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod model;
pub mod train;
pub mod vae;

pub use bridge::Bridge;
pub use config::GnpfaConfig;
pub use error::{GnpfaError, Result};
pub use eval::{evaluate, EvalReport};
pub use model::{CheckpointConfig, Gnpfa, Provenance};
pub use train::{train, TrainOptions, TrainReport};
pub use vae::GeometryVae;
