//! One record of a shard: a clip (or one augmented variant of it) as the diffusion model
//! learns from it — per-frame expression latents and head poses, the audio, the labels.
//!
//! On a store a record is `records/<id>/tensors.safetensors` then `records/<id>/meta.json`
//! (written last: a record whose metadata exists is complete). Format: `docs/dataset-format.md`.

use std::collections::HashMap;

use m2f_audio::AugmentRecipe;
use m2f_synth::Split;
use m2f_synth::{Emotion, Intensity};
use m2f_synth::{PhonemeTiming, WordTiming, SAMPLE_RATE};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::fingerprint::sha256_hex;
use crate::store::ShardStore;

/// `format` of every record's metadata.
pub const RECORD_FORMAT: &str = "media2face-shard-record";
/// Version of the shard format (records, manifests, features, statistics); bumped on any
/// incompatible change.
pub const SHARD_FORMAT_VERSION: u32 = 1;
/// Bumped whenever the extractor would make different bytes from the same inputs, so that
/// records of an older extractor are recognised as made from other inputs.
pub const EXTRACTOR_REVISION: u32 = 1;

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// The kind of source: `synthetic` (an `m2f synth` dataset).
    pub kind: String,
    /// The source dataset's tag, e.g. `synth-seed1`.
    pub dataset: String,
    /// The clip's id within it, e.g. `clip_0000042`.
    pub clip: String,
}

/// The labels the diffusion model is conditioned or evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// One of the 8 MEAD emotions.
    pub emotion: Emotion,
    /// low / medium / high.
    pub intensity: Intensity,
    /// A sentence describing the speaking style (the text prompt).
    pub style: String,
    /// What is said.
    pub text: String,
    /// The voice (engine and voice name), e.g. `espeak-ng:en-us+f3`.
    pub voice: String,
    /// The identity's index in the source's pool.
    pub identity: u32,
    /// Free-form tags from a video manifest (absent from synthetic records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `records/<id>/meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMeta {
    /// Always [`RECORD_FORMAT`].
    pub format: String,
    /// [`SHARD_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// `<dataset>/<clip>/v<variant>`.
    pub id: String,
    /// Where it came from.
    pub source: SourceInfo,
    /// 0 for the clip as spoken, 1.. for augmented variants.
    pub variant: u32,
    /// The augmentation applied to the audio (none for variant 0).
    pub augmentation: Option<AugmentRecipe>,
    /// Source clips mixed in as babble noise, in the order the recipe uses them.
    pub babble: Vec<String>,
    /// Effective speed factor of the augmentation (1 without speed perturbation): the audio
    /// and the animation are both `1 / speed` times as long as the source.
    pub speed: f64,
    /// train / val / test, the source clip's split.
    pub split: Split,
    /// Emotion, style, text, voice, identity.
    pub labels: Labels,
    /// Animation frame rate (frame t is at t / fps seconds).
    pub fps: f32,
    /// T.
    pub num_frames: usize,
    /// Audio sample rate (16 000).
    pub sample_rate: u32,
    /// Audio length in samples.
    pub num_samples: usize,
    /// Z, the GNPFA latent size.
    pub latent_dim: usize,
    /// Fingerprint of the GNPFA checkpoint whose `E_geo` made the latents.
    pub gnpfa: String,
    /// SHA-256 over the source clip's files.
    pub source_hash: String,
    /// [`EXTRACTOR_REVISION`] of the writer.
    pub extractor_revision: u32,
    /// Hash of every input (source bytes, GNPFA fingerprint, recipe, babble talkers' audio,
    /// extractor revision): a re-run keeps the record only when it would make the same one.
    pub inputs: String,
    /// SHA-256 of `tensors.safetensors`.
    pub tensors_sha256: String,
    /// Phonemes with times in seconds of this record's audio (scaled by the speed factor).
    pub phonemes: Vec<PhonemeTiming>,
    /// Words with times in seconds of this record's audio.
    pub words: Vec<WordTiming>,
    /// The program that wrote it.
    pub extractor: String,
}

/// A record in memory. Arrays are row-major and flat.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Everything but the arrays.
    pub meta: RecordMeta,
    /// [T, Z] GNPFA expression latents (`E_geo`'s posterior mean).
    pub latents: Vec<f32>,
    /// [T, 6] head pose: axis-angle rotation (rad), translation (m).
    pub head_pose: Vec<f32>,
    /// `[N]` 16 kHz mono audio as 16-bit PCM.
    pub audio: Vec<i16>,
    /// [V, 3] the identity's neutral face, metres.
    pub neutral: Vec<f32>,
}

/// Keys of a record's objects.
pub fn meta_key(id: &str) -> String {
    format!("records/{id}/meta.json")
}

/// Key of a record's tensors.
pub fn tensors_key(id: &str) -> String {
    format!("records/{id}/tensors.safetensors")
}

impl Record {
    /// The audio as f32 in [-1, 1].
    pub fn audio_f32(&self) -> Vec<f32> {
        self.audio.iter().map(|&s| s as f32 / 32767.0).collect()
    }

    /// Checks that array sizes agree with the metadata.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming the record and array.
    pub fn validate(&self) -> Result<()> {
        let m = &self.meta;
        let check = |name: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(DatasetError::invalid(
                    format!("record {} tensor {name:?}", m.id),
                    format!("has {got} values, the metadata implies {want}"),
                ))
            }
        };
        check("latents", self.latents.len(), m.num_frames * m.latent_dim)?;
        check("head_pose", self.head_pose.len(), m.num_frames * 6)?;
        check("audio", self.audio.len(), m.num_samples)?;
        if self.neutral.is_empty() || self.neutral.len() % 3 != 0 {
            return Err(DatasetError::invalid(
                format!("record {} tensor \"neutral\"", m.id),
                format!("has {} values, expected [V, 3]", self.neutral.len()),
            ));
        }
        let bad = |field: &str, message: String| {
            Err(DatasetError::invalid(
                format!("record {} field {field:?}", m.id),
                message,
            ))
        };
        if m.num_frames == 0 {
            return bad("num_frames", "the record has no frames".into());
        }
        if !(m.fps.is_finite() && m.fps > 0.0 && m.fps <= 1000.0) {
            return bad("fps", format!("{} is not a frame rate in (0, 1000]", m.fps));
        }
        if m.sample_rate != SAMPLE_RATE {
            return bad(
                "sample_rate",
                format!("{} Hz, expected {SAMPLE_RATE}", m.sample_rate),
            );
        }
        if !(m.speed.is_finite() && (0.5..=2.0).contains(&m.speed)) {
            return bad("speed", format!("{} is outside 0.5..=2", m.speed));
        }
        let frames = (m.num_samples as f64 / SAMPLE_RATE as f64 * m.fps as f64).round() as usize;
        if frames.abs_diff(m.num_frames) > 1 {
            return bad(
                "num_frames",
                format!(
                    "{} frames for {} samples at {} fps (expected {frames})",
                    m.num_frames, m.num_samples, m.fps
                ),
            );
        }
        Ok(())
    }

    /// Serialises the arrays as safetensors.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] if an array does not match its shape.
    pub fn tensor_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let m = &self.meta;
        let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let arrays: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "latents",
                Dtype::F32,
                vec![m.num_frames, m.latent_dim],
                f32s(&self.latents),
            ),
            (
                "head_pose",
                Dtype::F32,
                vec![m.num_frames, 6],
                f32s(&self.head_pose),
            ),
            (
                "audio",
                Dtype::I16,
                vec![m.num_samples],
                self.audio.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            (
                "neutral",
                Dtype::F32,
                vec![self.neutral.len() / 3, 3],
                f32s(&self.neutral),
            ),
        ];
        let views: Vec<(String, TensorView)> = arrays
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|v| (name.to_string(), v))
                    .map_err(|e| DatasetError::invalid(format!("tensor {name}"), e.to_string()))
            })
            .collect::<Result<_>>()?;
        let info = HashMap::from([(
            "format".to_string(),
            format!("media2face-shard-v{SHARD_FORMAT_VERSION}"),
        )]);
        safetensors::tensor::serialize(views, Some(info))
            .map_err(|e| DatasetError::invalid(format!("record {} tensors", m.id), e.to_string()))
    }

    /// Writes the record: tensors first, metadata last, each object whole. `meta.tensors_sha256`
    /// is filled in here.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] if the arrays do not match the metadata;
    /// [`DatasetError::Store`] naming the object.
    pub fn write(&mut self, store: &ShardStore) -> Result<()> {
        let tensors = self.tensor_bytes()?;
        self.meta.tensors_sha256 = sha256_hex(&tensors);
        let meta = serde_json::to_vec_pretty(&self.meta).map_err(|e| {
            DatasetError::invalid(format!("record {}", self.meta.id), e.to_string())
        })?;
        store.put(&tensors_key(&self.meta.id), tensors)?;
        store.put(&meta_key(&self.meta.id), meta)
    }

    /// Reads a record's metadata, or `None` if it has none (not written, or interrupted before
    /// its metadata).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming the object and field when it does not parse.
    pub fn read_meta(store: &ShardStore, id: &str) -> Result<Option<RecordMeta>> {
        let key = meta_key(id);
        let Some(bytes) = store.get(&key)? else {
            return Ok(None);
        };
        parse_meta(&bytes, &format!("{}: {key}", store.name())).map(Some)
    }

    /// Reads a whole record and checks it: format version, tensor hash, shapes.
    ///
    /// # Errors
    /// [`DatasetError::Store`] for a missing object; [`DatasetError::Invalid`] naming the object
    /// and tensor for damage.
    pub fn read(store: &ShardStore, id: &str) -> Result<Record> {
        let meta = Self::read_meta(store, id)?.ok_or_else(|| DatasetError::Store {
            store: store.name().to_string(),
            location: meta_key(id),
            message: "missing".into(),
        })?;
        let key = tensors_key(id);
        let bytes = store.get_required(&key)?;
        let what = format!("{}: {key}", store.name());
        if sha256_hex(&bytes) != meta.tensors_sha256 {
            return Err(DatasetError::invalid(
                what,
                "its SHA-256 differs from the one in meta.json: the file is damaged or was replaced",
            ));
        }
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| DatasetError::invalid(what.clone(), e.to_string()))?;
        let (t, z, n) = (meta.num_frames, meta.latent_dim, meta.num_samples);
        let latents = read_f32(&st, &what, "latents", &[Some(t), Some(z)])?;
        let head_pose = read_f32(&st, &what, "head_pose", &[Some(t), Some(6)])?;
        let neutral = read_f32(&st, &what, "neutral", &[None, Some(3)])?;
        let audio_view = tensor(&st, &what, "audio", Dtype::I16, &[Some(n)])?;
        let audio = audio_view
            .data()
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let record = Record {
            meta,
            latents,
            head_pose,
            audio,
            neutral,
        };
        record.validate()?;
        Ok(record)
    }
}

/// Parses record metadata; `what` names it in errors.
///
/// # Errors
/// [`DatasetError::Invalid`] for bad JSON, unknown fields, another format or version.
pub(crate) fn parse_meta(bytes: &[u8], what: &str) -> Result<RecordMeta> {
    let meta: RecordMeta = serde_json::from_slice(bytes)
        .map_err(|e| DatasetError::invalid(what.to_string(), e.to_string()))?;
    if meta.format != RECORD_FORMAT || meta.format_version != SHARD_FORMAT_VERSION {
        return Err(DatasetError::invalid(
            what.to_string(),
            format!(
                "format {:?} version {} is not {RECORD_FORMAT:?} version {SHARD_FORMAT_VERSION}",
                meta.format, meta.format_version
            ),
        ));
    }
    Ok(meta)
}

/// A tensor of `dtype` whose shape matches `shape` (`None` = any size).
pub(crate) fn tensor<'a>(
    st: &'a safetensors::SafeTensors<'a>,
    what: &str,
    name: &str,
    dtype: Dtype,
    shape: &[Option<usize>],
) -> Result<TensorView<'a>> {
    let view = st
        .tensor(name)
        .map_err(|_| DatasetError::invalid(what.to_string(), format!("missing tensor {name:?}")))?;
    let ok = view.dtype() == dtype
        && view.shape().len() == shape.len()
        && view
            .shape()
            .iter()
            .zip(shape)
            .all(|(a, b)| b.is_none_or(|b| b == *a));
    if !ok {
        return Err(DatasetError::invalid(
            what.to_string(),
            format!(
                "tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?} (None = any)",
                view.dtype(),
                view.shape()
            ),
        ));
    }
    Ok(view)
}

fn read_f32(
    st: &safetensors::SafeTensors,
    what: &str,
    name: &str,
    shape: &[Option<usize>],
) -> Result<Vec<f32>> {
    let view = tensor(st, what, name, Dtype::F32, shape)?;
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(DatasetError::invalid(
            what.to_string(),
            format!("tensor {name:?} holds a non-finite value at {i}"),
        ));
    }
    Ok(values)
}
