//! Precomputed audio features for a named encoder, stored beside each record so training
//! does not run the audio encoder on every step. The encoder is named by kind, model name,
//! revision and a hash of its config: features of another encoder are never mixed in.

use std::collections::HashMap;

use candle_core::Device;
use conditioning::Ct2Model;
use conditioning::ModelSource;
use conditioning::Wav2Vec2Encoder;
use conditioning::{convert_ct2_encoder, WhisperEncoder, WindowPolicy};
use conditioning::{frames_for, AudioEncoder};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::fingerprint::{sha256_hex, sha256_parts};
use crate::record::tensor;
use crate::store::ShardStore;

/// Which encoder made a feature file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureInfo {
    /// Encoder kind: `whisper` or `wav2vec2`.
    pub kind: String,
    /// Model name: a hub repository (`facebook/wav2vec2-base-960h`) or a local directory's name.
    pub name: String,
    /// Hub revision, or `local` for a directory.
    pub revision: String,
    /// First 16 hex digits of the SHA-256 of the model's `config.json`, its weights file and
    /// the chosen layer: another model under the same name and revision gets another key.
    pub config_hash: String,
    /// Feature width D.
    pub dim: usize,
}

impl FeatureInfo {
    /// The file stem the features are stored under: `<kind>-<name>-<revision>-<config hash>`,
    /// with characters other than letters, digits, `.`, `_` and `-` replaced by `_`.
    pub fn key(&self) -> String {
        let raw = format!(
            "{}-{}-{}-{}",
            self.kind, self.name, self.revision, self.config_hash
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A loaded audio encoder with its name.
pub struct AudioFeatures {
    encoder: Box<dyn AudioEncoder>,
    info: FeatureInfo,
}

impl std::fmt::Debug for AudioFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFeatures")
            .field("info", &self.info)
            .finish()
    }
}

impl AudioFeatures {
    /// Loads the encoder named by `spec`, `KIND:SOURCE[@REVISION][#OPTION]`, where SOURCE is a
    /// local directory or a hub repository, from the hub cache when offline:
    ///
    /// - `wav2vec2:facebook/wav2vec2-base-960h[#LAYER]`: an HF wav2vec2 checkpoint, its last
    ///   hidden state or hidden state LAYER;
    /// - `whisper:openai/whisper-tiny.en[#padded|#exact]`: the encoder of an HF Whisper
    ///   checkpoint, or a directory holding a CTranslate2 Whisper `model.bin` (converted in
    ///   memory), with its window policy (`padded`, Whisper's own, by default).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming `--audio-features` for a spec that does not parse;
    /// [`DatasetError::Conditioning`] when the model cannot be loaded.
    pub fn load(spec: &str, device: &Device) -> Result<Self> {
        let bad = |why: String| DatasetError::invalid(format!("--audio-features {spec:?}"), why);
        let (kind, rest) = spec.split_once(':').ok_or_else(|| {
            bad(
                "expected KIND:SOURCE, e.g. whisper:openai/whisper-tiny.en or \
                 wav2vec2:facebook/wav2vec2-base-960h"
                    .into(),
            )
        })?;
        let (rest, option) = match rest.rsplit_once('#') {
            Some((r, o)) => (r, Some(o)),
            None => (rest, None),
        };
        let local = std::path::Path::new(rest).is_dir();
        let (source, name, revision) = if local {
            let name = std::path::Path::new(rest)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| rest.to_string());
            (ModelSource::local(rest), name, "local".to_string())
        } else {
            let (repo, rev) = rest.split_once('@').unwrap_or((rest, "main"));
            if !repo.contains('/') {
                return Err(bad(format!(
                    "{repo:?} is neither a directory nor a hub repository (owner/name)"
                )));
            }
            (
                ModelSource::Hub {
                    repo: repo.to_string(),
                    revision: rev.to_string(),
                },
                repo.to_string(),
                rev.to_string(),
            )
        };
        let hash_files = |files: &[&str], extra: String| -> Result<String> {
            let mut parts = Vec::new();
            for file in files {
                let path = source.file(file)?;
                let bytes = std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
                parts.push(sha256_hex(&bytes));
            }
            parts.push(extra);
            Ok(sha256_parts(parts.iter().map(|p| p.as_bytes()))[..16].to_string())
        };
        let (encoder, config_hash): (Box<dyn AudioEncoder>, String) = match kind {
            "wav2vec2" => {
                let layer = option
                    .map(|l| {
                        l.parse::<usize>()
                            .map_err(|_| bad(format!("layer {l:?} is not a number")))
                    })
                    .transpose()?;
                let hash = hash_files(
                    &["config.json", "model.safetensors"],
                    format!("layer={layer:?}"),
                )?;
                let encoder = Wav2Vec2Encoder::load_from(&source, layer, device)?;
                (Box::new(encoder), hash)
            }
            "whisper" => {
                let policy = match option {
                    None | Some("padded") => WindowPolicy::Padded,
                    Some("exact") => WindowPolicy::Exact,
                    Some(other) => {
                        return Err(bad(format!(
                            "window policy {other:?}: expected #padded or #exact"
                        )))
                    }
                };
                let ct2 = local && std::path::Path::new(rest).join("model.bin").is_file();
                let (encoder, hash) = if ct2 {
                    let hash = hash_files(&["model.bin"], format!("policy={policy:?}"))?;
                    let model = Ct2Model::read(rest)?;
                    let converted = convert_ct2_encoder(&model, &format!("{rest}/model.bin"))?;
                    let bytes = converted.safetensors_bytes()?;
                    let encoder =
                        WhisperEncoder::from_safetensors(converted.config, &bytes, rest, device)?;
                    (encoder, hash)
                } else {
                    let hash = hash_files(
                        &["config.json", "model.safetensors"],
                        format!("policy={policy:?}"),
                    )?;
                    (WhisperEncoder::load_from(&source, device)?, hash)
                };
                (Box::new(encoder.with_policy(policy)), hash)
            }
            other => {
                return Err(bad(format!(
                    "unknown encoder kind {other:?}; known: whisper, wav2vec2"
                )))
            }
        };
        let info = FeatureInfo {
            kind: kind.to_string(),
            name,
            revision,
            config_hash,
            dim: encoder.feature_dim(),
        };
        Ok(Self { encoder, info })
    }

    /// Wraps any encoder under a name of the caller's choosing.
    pub fn from_encoder(encoder: Box<dyn AudioEncoder>, info: FeatureInfo) -> Self {
        Self { encoder, info }
    }

    /// Which encoder this is.
    pub fn info(&self) -> &FeatureInfo {
        &self.info
    }

    /// 16 kHz audio → features [T, D] (flat) at `fps`, T = `frames_for(len, fps)`.
    ///
    /// # Errors
    /// [`DatasetError::Conditioning`] from the encoder.
    pub fn compute(&self, audio: &[f32], fps: f64) -> Result<Vec<f32>> {
        let t = self.encoder.encode(audio, fps)?;
        Ok(t.flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?)
    }
}

/// Key of a record's features of encoder `key`.
pub fn features_key(record_id: &str, key: &str) -> String {
    format!("records/{record_id}/features/{key}.safetensors")
}

/// Features of one record as stored: [T, D] f16 plus who made them from which record inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeatures {
    /// The encoder.
    pub info: FeatureInfo,
    /// The `inputs` hash of the record they were computed from.
    pub record_inputs: String,
    /// T.
    pub frames: usize,
    /// [T, D] as f32.
    pub values: Vec<f32>,
}

impl StoredFeatures {
    /// Writes the features of record `record_id` (values stored as f16).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] for values of the wrong size; [`DatasetError::Store`].
    pub fn write(&self, store: &ShardStore, record_id: &str) -> Result<()> {
        let d = self.info.dim;
        if self.values.len() != self.frames * d {
            return Err(DatasetError::invalid(
                format!("features of record {record_id}"),
                format!("{} values for [{}, {d}]", self.values.len(), self.frames),
            ));
        }
        let bytes: Vec<u8> = self
            .values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let view = TensorView::new(Dtype::F16, vec![self.frames, d], &bytes)
            .map_err(|e| DatasetError::invalid("features tensor", e.to_string()))?;
        let info = serde_json::to_string(&self.info)
            .map_err(|e| DatasetError::invalid("feature info", e.to_string()))?;
        let metadata = HashMap::from([
            ("encoder".to_string(), info),
            ("record_inputs".to_string(), self.record_inputs.clone()),
        ]);
        let out = safetensors::tensor::serialize([("features", view)], Some(metadata))
            .map_err(|e| DatasetError::invalid("features", e.to_string()))?;
        store.put(&features_key(record_id, &self.info.key()), out)
    }

    /// Reads the features of encoder `key` of record `record_id`, or `None` if there are none.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming the object when it is damaged.
    pub fn read(store: &ShardStore, record_id: &str, key: &str) -> Result<Option<Self>> {
        let object = features_key(record_id, key);
        let Some(bytes) = store.get(&object)? else {
            return Ok(None);
        };
        let what = format!("{}: {object}", store.name());
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| DatasetError::invalid(what.clone(), e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let info: FeatureInfo = meta
            .get("encoder")
            .ok_or_else(|| DatasetError::invalid(what.clone(), "no \"encoder\" metadata"))
            .and_then(|s| {
                serde_json::from_str(s)
                    .map_err(|e| DatasetError::invalid(what.clone(), e.to_string()))
            })?;
        let record_inputs = meta
            .get("record_inputs")
            .cloned()
            .ok_or_else(|| DatasetError::invalid(what.clone(), "no \"record_inputs\" metadata"))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| DatasetError::invalid(what.clone(), e.to_string()))?;
        let view = tensor(&st, &what, "features", Dtype::F16, &[None, Some(info.dim)])?;
        let frames = view.shape()[0];
        let values = view
            .data()
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        Ok(Some(Self {
            info,
            record_inputs,
            frames,
            values,
        }))
    }
}

/// [`ensure_features`] of a whole record, from its own 16-bit audio, so that features see
/// exactly what is stored. Returns whether it computed them.
///
/// # Errors
/// As [`ensure_features`].
pub(crate) fn ensure_record_features(
    store: &ShardStore,
    features: &AudioFeatures,
    record: &crate::record::Record,
) -> Result<bool> {
    let m = &record.meta;
    let audio = record.audio_f32();
    ensure_features(
        store,
        features,
        &m.id,
        &m.inputs,
        &audio,
        m.fps,
        m.num_frames,
    )
}

/// Computes and stores the features of a record unless up-to-date ones exist. Returns whether
/// it computed them.
///
/// # Errors
/// As [`AudioFeatures::compute`] and [`StoredFeatures::write`]; a feature file made from other
/// record inputs is replaced (the record itself was checked before).
pub fn ensure_features(
    store: &ShardStore,
    features: &AudioFeatures,
    record_id: &str,
    record_inputs: &str,
    audio: &[f32],
    fps: f32,
    num_frames: usize,
) -> Result<bool> {
    let key = features.info().key();
    if let Some(old) = StoredFeatures::read(store, record_id, &key)? {
        if old.record_inputs == record_inputs
            && old.frames == num_frames
            && old.info == *features.info()
        {
            return Ok(false);
        }
    }
    let mut values = features.compute(audio, fps as f64)?;
    let d = features.info().dim;
    let frames = frames_for(audio.len(), fps as f64);
    // Frame counts are round(duration · fps) everywhere, but computed in f32 by some writers:
    // a count on a .5 boundary may differ by one. The record's count rules; more is refused.
    if frames.abs_diff(num_frames) > 1 || frames == 0 {
        return Err(DatasetError::invalid(
            format!("features of record {record_id}"),
            format!("the encoder gave {frames} frames, the record has {num_frames}"),
        ));
    }
    if frames > num_frames {
        values.truncate(num_frames * d);
    } else if frames < num_frames {
        let last = values[(frames - 1) * d..].to_vec();
        values.extend(last);
    }
    StoredFeatures {
        info: features.info().clone(),
        record_inputs: record_inputs.to_string(),
        frames: num_frames,
        values,
    }
    .write(store, record_id)?;
    Ok(true)
}
