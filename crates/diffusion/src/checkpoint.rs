//! A diffusion checkpoint: a directory with `config.json` (the denoiser's architecture, the
//! motion normalisation, the audio features and style encoders it was trained with, how it
//! was made) and `model.safetensors`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::config::DenoiserConfig;
use crate::denoiser::Denoiser;
use crate::error::{DiffusionError, Result};
use crate::noise_schedule::NoiseSchedule;
use crate::windows::MotionStats;

/// File names inside a checkpoint directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// `format` in `config.json`.
pub const FORMAT: &str = "media2face-diffusion";
/// The version of the format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// How a checkpoint was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// The program and version.
    pub created_by: String,
    /// The command line.
    pub command: String,
    /// The training seed.
    pub seed: u64,
    /// The step of this checkpoint and of the whole run.
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Windows per step.
    pub batch_size: usize,
    /// The data ([`crate::WindowSource::describe`]).
    pub data: serde_json::Value,
    /// Training time up to this checkpoint.
    pub train_seconds: f64,
    /// Validation loss at this checkpoint.
    pub val_loss: Option<f64>,
    /// Whether the weights are the EMA average.
    pub ema: bool,
    /// SHA-256 of the weights the run started from, when it started from a checkpoint's
    /// rather than a seeded initialisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_weights_sha256: Option<String>,
}

/// `config.json` of a diffusion checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The denoiser.
    pub model: DenoiserConfig,
    /// The motion normalisation.
    pub motion_stats: MotionStats,
    /// The audio features' encoder as it was named for training, e.g. `whisper:DIR#padded`.
    pub audio_features: String,
    /// The key of those features (encoder kind, name, revision and a hash of its config and
    /// weights): inference must compute features with an encoder of this key.
    #[serde(default)]
    pub audio_features_key: String,
    /// The audio encoder trained with the denoiser ([`crate::JointAudioEncoder::config`]),
    /// its tensors under `audio_encoder.` in the weights; `None` when the features come from
    /// a frozen encoder named by `audio_features`.
    #[serde(default)]
    pub audio_encoder: Option<serde_json::Value>,
    /// The sentence encoder whose embeddings the text style takes (`None`: no text style).
    #[serde(default)]
    pub text_encoder: Option<String>,
    /// How it was made.
    pub provenance: Provenance,
}

impl CheckpointConfig {
    /// Reads and checks `config.json` of the checkpoint directory `dir` (the weights are not
    /// read).
    ///
    /// # Errors
    /// [`DiffusionError::Io`] when it cannot be read, [`DiffusionError::Config`] when it is
    /// not a config of this format and version or its sizes do not fit together.
    pub fn read(dir: &Path) -> Result<Self> {
        let dir = &m2f_train::resolve_dir(dir);
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| DiffusionError::io(&config_path, e))?;
        let bad = |message: String| DiffusionError::Config {
            path: config_path.clone(),
            message,
        };
        let config: CheckpointConfig =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if config.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                config.format
            )));
        }
        if config.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} (this build reads {FORMAT_VERSION})",
                config.format_version
            )));
        }
        config
            .model
            .validate("model")
            .map_err(|e| bad(e.to_string()))?;
        config
            .motion_stats
            .validate(config.model.motion_dim())
            .map_err(|e| bad(e.to_string()))?;
        Ok(config)
    }

    /// The config of a model of architecture `model` that was not trained on data: identity
    /// normalisation, no named encoders (for benchmarks and memory measurements, whose cost
    /// does not depend on the weights).
    pub fn untrained(model: &DenoiserConfig) -> Self {
        let c = model.motion_dim();
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            model: model.clone(),
            motion_stats: MotionStats {
                mean: vec![0.0; c],
                std: vec![1.0; c],
            },
            audio_features: String::new(),
            audio_features_key: String::new(),
            audio_encoder: None,
            text_encoder: None,
            provenance: Provenance::default(),
        }
    }
}

/// A loaded diffusion model: the denoiser, its noise schedule and its checkpoint config.
#[derive(Debug, Clone)]
pub struct DiffusionModel {
    /// `config.json`.
    pub config: CheckpointConfig,
    /// The network.
    pub denoiser: Denoiser,
    /// ᾱ_t of its T steps.
    pub schedule: NoiseSchedule,
    device: Device,
}

impl DiffusionModel {
    /// Loads the checkpoint directory `dir` onto `device`.
    ///
    /// # Errors
    /// [`DiffusionError::Config`] for an unreadable or unsupported `config.json`,
    /// [`DiffusionError::MissingTensor`] / [`DiffusionError::TensorShape`] when the weights do
    /// not match it.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let dir = &m2f_train::resolve_dir(dir);
        let config = CheckpointConfig::read(dir)?;
        let weights = dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&weights, device)
            .map_err(|e| DiffusionError::invalid(weights.display().to_string(), e.to_string()))?;
        let denoiser = build_checked(&config.model, &tensors, &weights, device)?;
        Self::new(config, denoiser, device)
    }

    /// A model from a denoiser in memory and its checkpoint config. (A denoiser built on
    /// training variables samples correctly but keeps every op's inputs for a backward pass:
    /// load saved checkpoints for inference.)
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] when the config does not validate, does not describe the
    /// denoiser, or its statistics do not fit the motion.
    pub fn new(config: CheckpointConfig, denoiser: Denoiser, device: &Device) -> Result<Self> {
        config.model.validate("checkpoint config: model")?;
        if denoiser.config() != &config.model {
            return Err(DiffusionError::invalid(
                "checkpoint config: model",
                "it differs from the denoiser's own config",
            ));
        }
        config.motion_stats.validate(config.model.motion_dim())?;
        let schedule =
            NoiseSchedule::new(config.model.noise_schedule, config.model.diffusion_steps);
        Ok(Self {
            config,
            denoiser,
            schedule,
            device: device.clone(),
        })
    }

    /// A model for inference from training variables (e.g. those [`crate::train`] returns):
    /// the denoiser is built on detached copies of them, so sampling takes the fused inference
    /// path instead of keeping every op's inputs for a backward pass.
    ///
    /// # Errors
    /// As [`DiffusionModel::new`], and when `varmap` lacks a tensor the config implies.
    pub fn from_variables(
        config: CheckpointConfig,
        varmap: &VarMap,
        device: &Device,
    ) -> Result<Self> {
        let tensors: HashMap<String, Tensor> = m2f_train::named_vars(varmap)?
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().detach()))
            .collect();
        let denoiser = build_checked(
            &config.model,
            &tensors,
            Path::new("(training variables)"),
            device,
        )?;
        Self::new(config, denoiser, device)
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// Builds a denoiser from `tensors`, naming the first tensor that is missing or of the wrong
/// shape. Each is checked as the network asks for it, so a config of sizes its weights do not
/// have is refused before anything of those sizes is allocated.
fn build_checked(
    cfg: &DenoiserConfig,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    device: &Device,
) -> Result<Denoiser> {
    if let Some(name) = m2f_train::first_non_finite(tensors)? {
        return Err(DiffusionError::invalid(
            format!("{} tensor {name:?}", path.display()),
            "holds NaN or infinite values (a damaged checkpoint)",
        ));
    }
    let checked = m2f_train::CheckedTensors::new(tensors.clone());
    let built = Denoiser::new(cfg, checked.var_builder(DType::F32, device));
    if let Some(m) = checked.first_mismatch() {
        return Err(match m.actual {
            None => DiffusionError::MissingTensor {
                path: path.to_path_buf(),
                name: m.name,
                expected: m.expected,
            },
            Some(actual) => DiffusionError::TensorShape {
                path: path.to_path_buf(),
                name: m.name,
                expected: m.expected,
                actual,
            },
        });
    }
    Ok(built?)
}

/// Writes the checkpoint of `varmap`'s variables with `config` to `dir`, replacing it
/// atomically.
pub fn save_checkpoint(dir: &Path, config: &CheckpointConfig, varmap: &VarMap) -> Result<()> {
    let json = serde_json::to_string_pretty(config)
        .map_err(|e| DiffusionError::invalid("checkpoint config", e.to_string()))?;
    let tensors: HashMap<String, Tensor> = m2f_train::named_vars(varmap)?
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    m2f_train::write_dir_atomic(dir, |tmp: &Path| -> Result<()> {
        let config_path: PathBuf = tmp.join(CONFIG_FILE);
        std::fs::write(&config_path, json + "\n")
            .map_err(|e| DiffusionError::io(&config_path, e))?;
        let weights = tmp.join(WEIGHTS_FILE);
        candle_core::safetensors::save(&tensors, &weights)?;
        // The safetensors writer creates the file private (0600); a checkpoint is for sharing.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&weights, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| DiffusionError::io(&weights, e))?;
        }
        Ok(())
    })
}
