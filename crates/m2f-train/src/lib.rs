//! What every media2face trainer shares: the training loop ([`run`] over a [`Trainee`]:
//! AdamW with saved moments, warm-up + cosine decay, gradient clipping, EMA weights,
//! validation with best/last checkpoints, a JSON-lines log, a progress line, and a resume
//! that makes a killed run indistinguishable from an uninterrupted one), seeded
//! initialisation, the trainable layers candle-nn lacks, the check that every variable gets
//! a gradient, and the choice of device.
//!
//! ```
//! use std::path::Path;
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! use m2f_train::{named_vars, run, Mlp, Schedule, StepLoss, Trainee, TrainError};
//!
//! /// Fits y = 2x with a one-layer MLP.
//! struct Fit { mlp: Mlp, x: Tensor }
//!
//! impl Trainee for Fit {
//!     type Error = TrainError;
//!     fn loss(&mut self, _step: u64) -> Result<StepLoss, TrainError> {
//!         let y = (&self.x * 2.0)?;
//!         let total = (self.mlp.forward(&self.x)? - y)?.sqr()?.mean_all()?;
//!         Ok(StepLoss { total, terms: vec![] })
//!     }
//!     fn validate(&mut self, _: u64) -> Result<Option<(f64, serde_json::Value)>, TrainError> {
//!         Ok(None)
//!     }
//!     fn save(&self, _: &Path, _: u64, _: f64, _: Option<f64>) -> Result<(), TrainError> {
//!         Ok(())
//!     }
//!     fn identity(&self) -> serde_json::Value { serde_json::json!({ "seed": 0 }) }
//!     fn message(&self, _: &serde_json::Map<String, serde_json::Value>) -> String {
//!         String::new()
//!     }
//! }
//!
//! # fn main() -> Result<(), TrainError> {
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let mlp = Mlp::new(&[1, 1], candle_nn::Activation::Silu, vb.pp("mlp"))?;
//! m2f_train::init_linear_uniform(&varmap, 0)?;
//! let x = Tensor::new(&[[0.5f32], [-1.0], [2.0]], &Device::Cpu)?;
//! let out = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
//! let schedule = Schedule {
//!     steps: 300, lr: 0.05, min_lr: 0.0, warmup_steps: 10, weight_decay: 0.0,
//!     grad_clip: 1.0, ema_decay: None, log_every: 100, val_every: 300,
//!     samples_per_step: 3, out: out.path().into(), resume: true, progress: false,
//!     score_key: "val", stop_after: None,
//! };
//! let report = run(&mut Fit { mlp, x }, &named_vars(&varmap)?, &schedule)?;
//! assert!(report.last_loss < 1e-3);
//! # Ok(())
//! # }
//! ```

mod adamw;
mod checked_vars;
mod checkpoint_dir;
mod device;
mod ema;
mod error;
mod gradients;
mod init;
mod layer_norm;
mod log;
mod lr_schedule;
mod mlp;
mod resume;
mod run;

pub use error::{Result, TrainError};
// The loop.
pub use checked_vars::{first_non_finite, CheckedTensors, VarMismatch};
pub use checkpoint_dir::{recover_dir, resolve_dir, write_dir_atomic};
pub use log::{progress_bar, write_file_atomic, TrainLog};
pub use resume::{first_differing_field, ResumeState, TrainState, RESUME_FILE};
pub use run::{run, RunReport, Schedule, StepLoss, Trainee};
// Its parts.
pub use adamw::{AdamW, AdamWParams};
pub use ema::{set_vars, snapshot, Ema};
pub use gradients::{clip_grad_norm, variables_without_gradient};
pub use lr_schedule::lr_at;
// Models.
pub use device::{best_device, device_from_name};
pub use init::{init_linear_uniform, named_vars};
pub use layer_norm::LayerNorm;
pub use mlp::Mlp;
