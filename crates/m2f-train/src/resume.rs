//! The state a killed run continues from: one file, `resume.safetensors`, beside `last/`,
//! holding everything the next step depends on (the raw weights, AdamW's moments, the EMA
//! weights, the step and best score) and the identity of the run's inputs, so a resumed run
//! takes exactly the steps the uninterrupted one would have and never continues a run made
//! from other inputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::log::write_file_atomic;

/// File name of the resume state inside a run's output directory.
pub const RESUME_FILE: &str = "resume.safetensors";
/// `format` in the file's metadata.
const FORMAT: &str = "media2face-train-resume";
const FORMAT_VERSION: u32 = 1;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: u64,
    /// Best validation score so far (lower is better; its unit depends on the trainer).
    pub best_val_score: Option<f64>,
    /// Training time over all sittings.
    pub train_seconds: f64,
}

/// Everything a run needs to continue.
#[derive(Debug, Clone)]
pub struct ResumeState {
    /// Where the run stands.
    pub state: TrainState,
    /// What the run was made from (the trainee's [`crate::Trainee::identity`]).
    pub identity: serde_json::Value,
    /// The variables' current (not averaged) values, in the loop's variable order.
    pub weights: Vec<Tensor>,
    /// AdamW's (first, second) moments per variable.
    pub moments: Vec<(Tensor, Tensor)>,
    /// AdamW's update count.
    pub optimizer_steps: u64,
    /// The EMA weights, when the run keeps them.
    pub ema: Option<Vec<Tensor>>,
}

impl ResumeState {
    /// Writes the state of the variables named `names` to `out/resume.safetensors`, atomically.
    pub fn write(&self, out: &Path, names: &[String]) -> Result<()> {
        let path = out.join(RESUME_FILE);
        let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(names.len() * 4);
        for (i, name) in names.iter().enumerate() {
            let cpu = |t: &Tensor| t.to_device(&Device::Cpu);
            tensors.push((format!("weights.{name}"), cpu(&self.weights[i])?));
            tensors.push((format!("adam_m.{name}"), cpu(&self.moments[i].0)?));
            tensors.push((format!("adam_v.{name}"), cpu(&self.moments[i].1)?));
            if let Some(ema) = &self.ema {
                tensors.push((format!("ema.{name}"), cpu(&ema[i])?));
            }
        }
        let state = serde_json::to_string(&self.state)
            .map_err(|e| TrainError::invalid("train state", e.to_string()))?;
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("state".to_string(), state),
            ("identity".to_string(), self.identity.to_string()),
            (
                "optimizer_steps".to_string(),
                self.optimizer_steps.to_string(),
            ),
        ]);
        let bytes =
            safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
                .map_err(|e| TrainError::invalid(path.display().to_string(), e.to_string()))?;
        write_file_atomic(&path, &bytes)
    }

    /// Reads `out/resume.safetensors` for the variables named `names` onto `device`; `None`
    /// when there is none.
    pub fn read(out: &Path, names: &[String], device: &Device) -> Result<Option<Self>> {
        let path = out.join(RESUME_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let bad = |message: String| TrainError::invalid(path.display().to_string(), message);
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |key: &str| {
            meta.get(key)
                .ok_or_else(|| bad(format!("metadata field {key:?} is missing")))
        };
        if field("format")? != FORMAT {
            return Err(bad(format!("metadata format is not {FORMAT:?}")));
        }
        let version = field("format_version")?;
        if version != &FORMAT_VERSION.to_string() {
            return Err(bad(format!(
                "format_version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let state: TrainState = serde_json::from_str(field("state")?)
            .map_err(|e| bad(format!("metadata field \"state\": {e}")))?;
        let identity: serde_json::Value = serde_json::from_str(field("identity")?)
            .map_err(|e| bad(format!("metadata field \"identity\": {e}")))?;
        let optimizer_steps: u64 = field("optimizer_steps")?
            .parse()
            .map_err(|e| bad(format!("metadata field \"optimizer_steps\": {e}")))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
        let has_ema = tensors.keys().any(|k| k.starts_with("ema."));
        let mut take = |key: String| {
            tensors.remove(&key).ok_or_else(|| {
                bad(format!(
                    "tensor {key:?} is missing (was the model changed?)"
                ))
            })
        };
        let mut weights = Vec::with_capacity(names.len());
        let mut moments = Vec::with_capacity(names.len());
        for name in names {
            weights.push(take(format!("weights.{name}"))?);
            moments.push((
                take(format!("adam_m.{name}"))?,
                take(format!("adam_v.{name}"))?,
            ));
        }
        let ema = if has_ema {
            Some(
                names
                    .iter()
                    .map(|n| take(format!("ema.{n}")))
                    .collect::<Result<Vec<_>>>()?,
            )
        } else {
            None
        };
        if let Some(extra) = tensors.keys().min() {
            return Err(bad(format!(
                "tensor {extra:?} belongs to no variable of this model (was the model changed?)"
            )));
        }
        Ok(Some(Self {
            state,
            identity,
            weights,
            moments,
            optimizer_steps,
            ema,
        }))
    }
}

/// The first top-level field, in key order, whose value differs between two JSON objects (a
/// field one of them lacks counts); `None` when they agree or either is not an object.
pub fn first_differing_field(a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    let (a, b) = (a.as_object()?, b.as_object()?);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().find(|k| a.get(*k) != b.get(*k)).cloned()
}

/// Checks a saved run's identity against this run's; the error names the first differing
/// top-level field.
pub fn check_identity(
    path: PathBuf,
    saved: &serde_json::Value,
    now: &serde_json::Value,
) -> Result<()> {
    if saved == now {
        return Ok(());
    }
    let short = |v: Option<&serde_json::Value>| {
        let s = v.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into());
        if s.chars().count() > 120 {
            format!("{}…", s.chars().take(120).collect::<String>())
        } else {
            s
        }
    };
    let (field, a, b) = match first_differing_field(saved, now) {
        Some(key) => {
            let (x, y) = (short(saved.get(&key)), short(now.get(&key)));
            (key, x, y)
        }
        None => ("inputs".into(), short(Some(saved)), short(Some(now))),
    };
    Err(TrainError::ResumeMismatch {
        path,
        field,
        saved: a,
        now: b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn round_trips_and_refuses_another_model() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let t = |v: f32| Tensor::full(v, (2, 2), &dev).unwrap();
        let names = vec!["a.weight".to_string()];
        let s = ResumeState {
            state: TrainState {
                step: 7,
                best_val_score: Some(0.5),
                train_seconds: 3.0,
            },
            identity: serde_json::json!({"seed": 1}),
            weights: vec![t(1.0)],
            moments: vec![(t(2.0), t(3.0))],
            optimizer_steps: 7,
            ema: Some(vec![t(4.0)]),
        };
        s.write(dir.path(), &names).unwrap();
        let r = ResumeState::read(dir.path(), &names, &dev)
            .unwrap()
            .unwrap();
        assert_eq!(r.state, s.state);
        assert_eq!(r.identity, s.identity);
        assert_eq!(r.optimizer_steps, 7);
        let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v(&r.moments[0].1), vec![3.0; 4]);
        assert_eq!(v(&r.ema.unwrap()[0]), vec![4.0; 4]);
        assert_eq!(r.weights[0].dtype(), DType::F32);
        let other = vec!["b.weight".to_string()];
        let e = ResumeState::read(dir.path(), &other, &dev)
            .unwrap_err()
            .to_string();
        assert!(e.contains("weights.b.weight"), "{e}");
        let e = check_identity(
            dir.path().into(),
            &s.identity,
            &serde_json::json!({"seed": 2}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("different seed (1 there, 2 now)"), "{e}");
    }
}
