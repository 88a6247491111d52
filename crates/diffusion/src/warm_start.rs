//! Starting a training run from a saved checkpoint's weights instead of a seeded
//! initialisation: fine-tuning a model on new data, training more steps on a finished
//! schedule, or turning the regression baseline into a denoiser (same network, other
//! objective).

use std::path::Path;

use candle_core::Device;
use candle_nn::VarMap;
use sha2::{Digest, Sha256};

use crate::checkpoint::{CheckpointConfig, WEIGHTS_FILE};
use crate::config::DenoiserConfig;
use crate::error::{DiffusionError, Result};

/// What a run started from: recorded in its resume identity, so that a resume never mixes
/// runs started from different weights.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WarmStart {
    /// SHA-256 of the checkpoint's `model.safetensors`, in hex.
    pub weights_sha256: String,
    /// The step the checkpoint was saved at.
    pub step: u64,
}

/// Sets every variable of `varmap` to the tensor of the same name in checkpoint `dir`.
///
/// The checkpoint must hold a network of architecture `cfg` (its objective may differ), be
/// trained on audio features of key `features_key` (when both name one) with the same
/// jointly trained audio encoder `audio_encoder` (if any), and hold exactly the variables of
/// `varmap`.
///
/// # Errors
/// [`DiffusionError::Config`] / [`DiffusionError::Io`] for an unreadable checkpoint,
/// [`DiffusionError::Invalid`] naming the first field that differs,
/// [`DiffusionError::MissingTensor`] / [`DiffusionError::TensorShape`] for weights that do not
/// fit, and an error naming any tensor the run does not have.
pub(crate) fn warm_start(
    dir: &Path,
    cfg: &DenoiserConfig,
    features_key: &str,
    audio_encoder: Option<&serde_json::Value>,
    varmap: &VarMap,
) -> Result<WarmStart> {
    let dir = &m2f_train::resolve_dir(dir);
    let from = CheckpointConfig::read(dir)?;
    let what = |field: &str| format!("--init-from {}: {field}", dir.display());
    let model = DenoiserConfig {
        objective: cfg.objective,
        ..from.model.clone()
    };
    let (theirs, ours) = (serde_json::json!(model), serde_json::json!(cfg));
    if let Some(field) = m2f_train::first_differing_field(&theirs, &ours) {
        return Err(DiffusionError::invalid(
            what(&format!("model.{field}")),
            format!(
                "{}, but this run's is {} (the run takes the checkpoint's architecture and \
                 style inputs)",
                theirs[field.as_str()],
                ours[field.as_str()]
            ),
        ));
    }
    if !features_key.is_empty()
        && !from.audio_features_key.is_empty()
        && from.audio_features_key != features_key
    {
        return Err(DiffusionError::invalid(
            what("audio_features_key"),
            format!(
                "{:?} ({}), but this run's features are {features_key:?}",
                from.audio_features_key, from.audio_features
            ),
        ));
    }
    if from.audio_encoder.as_ref() != audio_encoder {
        return Err(DiffusionError::invalid(
            what("audio_encoder"),
            "the jointly trained audio encoder differs from this run's",
        ));
    }
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| DiffusionError::io(&path, e))?;
    let weights_sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let device = varmap
        .all_vars()
        .first()
        .map_or(Device::Cpu, |v| v.device().clone());
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &device)
        .map_err(|e| DiffusionError::invalid(path.display().to_string(), e.to_string()))?;
    if let Some(name) = m2f_train::first_non_finite(&tensors)? {
        return Err(DiffusionError::invalid(
            format!("{} tensor {name:?}", path.display()),
            "holds NaN or infinite values (a damaged checkpoint)",
        ));
    }
    for (name, var) in m2f_train::named_vars(varmap)? {
        let expected = var.dims().to_vec();
        let tensor = tensors
            .remove(&name)
            .ok_or_else(|| DiffusionError::MissingTensor {
                path: path.clone(),
                name: name.clone(),
                expected: expected.clone(),
            })?;
        if tensor.dims() != expected.as_slice() {
            return Err(DiffusionError::TensorShape {
                path: path.clone(),
                name,
                expected,
                actual: tensor.dims().to_vec(),
            });
        }
        var.set(&tensor.to_dtype(var.dtype())?)?;
    }
    if let Some(name) = tensors.keys().min() {
        return Err(DiffusionError::invalid(
            format!("{} tensor {name:?}", path.display()),
            "is not a variable of this run's network",
        ));
    }
    Ok(WarmStart {
        weights_sha256,
        step: from.provenance.step,
    })
}
