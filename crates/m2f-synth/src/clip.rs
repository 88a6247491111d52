//! One synthetic clip in memory and on disk.
//!
//! On disk a clip is a directory (see `docs/data-format.md`):
//! - `audio.wav`: 16 kHz mono, 16-bit PCM;
//! - `tensors.safetensors`: `vertices` [T, V, 3] f32 metres in the face's own frame (head
//!   pose not applied), `neutral` [V, 3], `rig_weights` [T, K], `head_pose` [T, 6]
//!   (axis-angle radians, translation metres), `articulation` [T, 6];
//! - `meta.json`: [`ClipMeta`]: text, engine and voice, labels, style sentence, phoneme and word
//!   timings.
//!
//! The directory is written under a temporary name and renamed into place, so a reader never
//! sees half a clip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::emotion::{Emotion, Intensity};
use crate::error::SynthError;
use crate::espeak::VoiceSettings;
use crate::identity::IdentityParams;
use crate::speech::SpeechSettings;
use crate::viseme::Viseme;
use crate::voices::Split;

/// Version of the on-disk clip format; bumped on any incompatible change.
///
/// Version 2 added the speech engine: `spoken_with` is the engine's settings tagged with
/// `"engine"`, its voice a plain name. Version 1 clips (all espeak-ng) are still read.
pub const CLIP_FORMAT_VERSION: u32 = 2;

/// Clip format versions [`Clip::read`] accepts.
pub const READABLE_FORMAT_VERSIONS: &[u32] = &[1, 2];

/// Sample rate of clip audio.
pub const SAMPLE_RATE: u32 = 16_000;

/// A phoneme as the engine spoke it (IPA, Flite's phones mapped to it), with the visemes it
/// maps to. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhonemeTiming {
    /// The phoneme in IPA; empty for a pause.
    pub ipa: String,
    /// Start time, seconds.
    pub start: f32,
    /// End time, seconds.
    pub end: f32,
    /// The visemes it maps to, in order (a diphthong gives two).
    pub visemes: Vec<Viseme>,
}

/// A word and its time span, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    /// The word as the engine read it.
    pub text: String,
    /// Start time, seconds.
    pub start: f32,
    /// End time, seconds: where its last phoneme ends.
    pub end: f32,
    /// Loudness relative to the clip's average word.
    pub loudness: f32,
    /// Whether the word carries stress (loud, or long and not quiet).
    pub stressed: bool,
}

/// The engine, voice and settings a clip was spoken with: `meta.json`'s `spoken_with`.
pub type SpokenWith = SpeechSettings;

/// `spoken_with` of a format version 1 clip: always espeak-ng, the voice as accent and variant,
/// no word gap recorded.
#[derive(Deserialize)]
struct SpokenWithV1 {
    voice: VoiceV1,
    rate_wpm: u32,
    pitch: u32,
    pitch_range: u32,
    volume: u32,
}

#[derive(Deserialize)]
struct VoiceV1 {
    accent: String,
    variant: String,
}

/// Reads `spoken_with` of either format version: with an `engine` field (version 2) or
/// without (version 1, espeak-ng; its word gap, which version 1 did not record, reads as 0).
fn spoken_with_any_version<'de, D>(d: D) -> Result<SpeechSettings, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let value = serde_json::Value::deserialize(d)?;
    if value.get("engine").is_some() {
        return SpeechSettings::deserialize(value).map_err(D::Error::custom);
    }
    let v1 = SpokenWithV1::deserialize(value).map_err(D::Error::custom)?;
    Ok(SpeechSettings::EspeakNg(VoiceSettings {
        voice: format!("{}+{}", v1.voice.accent, v1.voice.variant),
        rate_wpm: v1.rate_wpm,
        pitch: v1.pitch,
        pitch_range: v1.pitch_range,
        volume: v1.volume,
        word_gap_10ms: 0,
    }))
}

/// Everything about a clip except its arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipMeta {
    /// Format version of the clip ([`CLIP_FORMAT_VERSION`] when written).
    pub format_version: u32,
    /// Clip name and directory name: `clip_` and the index in seven digits.
    pub id: String,
    /// The dataset split the clip belongs to.
    pub split: Split,
    /// The dataset seed and the clip's index under it: together they regenerate the clip.
    pub seed: u64,
    /// The clip's index in the dataset.
    pub index: u64,
    /// The sentence spoken.
    pub text: String,
    /// The engine, voice and settings that spoke `text`.
    #[serde(deserialize_with = "spoken_with_any_version")]
    pub spoken_with: SpokenWith,
    /// The emotion acted.
    pub emotion: Emotion,
    /// The emotion's intensity.
    pub intensity: Intensity,
    /// A sentence describing the speaking style (the text prompt).
    pub style: String,
    /// The identity's index in the pool.
    pub identity: u32,
    /// That identity's shape parameters.
    pub identity_params: IdentityParams,
    /// Animation frame rate, frames per second.
    pub fps: f32,
    /// Sample rate of the audio, Hz ([`SAMPLE_RATE`]).
    pub sample_rate: u32,
    /// Number of animation frames, T.
    pub num_frames: usize,
    /// Number of audio samples.
    pub num_samples: usize,
    /// Names of the rig's blendshapes, in rig weight order (K).
    pub blendshapes: Vec<String>,
    /// Phonemes as spoken, with their visemes and times.
    pub phonemes: Vec<PhonemeTiming>,
    /// Words as spoken, with their times, loudness and stress.
    pub words: Vec<WordTiming>,
}

/// A clip in memory. Arrays are row-major and flat; shapes are in the field docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Everything but the arrays; written as `meta.json`.
    pub meta: ClipMeta,
    /// `[num_samples]` at 16 kHz.
    pub audio: Vec<f32>,
    /// `[V]` neutral of the clip's identity.
    pub neutral: Vec<[f32; 3]>,
    /// `[T × V]` vertices, frame-major, without head pose.
    pub vertices: Vec<[f32; 3]>,
    /// `[T × K]` rig weights.
    pub rig_weights: Vec<f32>,
    /// `[T]` head poses `[rx, ry, rz, tx, ty, tz]`.
    pub head_pose: Vec<[f32; 6]>,
    /// `[T]` articulatory parameters (jaw, closure, round, funnel, spread, tuck).
    pub articulation: Vec<[f32; 6]>,
}

impl Clip {
    /// Number of animation frames, T.
    pub fn num_frames(&self) -> usize {
        self.meta.num_frames
    }

    /// Number of vertices of the face mesh, V.
    pub fn num_vertices(&self) -> usize {
        self.neutral.len()
    }

    /// Vertices of frame `t`, `[V]`.
    pub fn frame(&self, t: usize) -> &[[f32; 3]] {
        let v = self.neutral.len();
        &self.vertices[t * v..(t + 1) * v]
    }

    /// Rig weights of frame `t`, `[K]`.
    pub fn weights(&self, t: usize) -> &[f32] {
        let k = self.meta.blendshapes.len();
        &self.rig_weights[t * k..(t + 1) * k]
    }

    /// Writes the clip as directory `dir/<id>`, atomically. Returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, SynthError> {
        std::fs::create_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
        let final_dir = dir.join(&self.meta.id);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}-", self.meta.id))
            .tempdir_in(dir)
            .map_err(|e| SynthError::io(dir, e))?;
        self.write_wav(&tmp.path().join("audio.wav"))?;
        let tensors = self.tensor_bytes()?;
        let path = tmp.path().join("tensors.safetensors");
        std::fs::write(&path, tensors).map_err(|e| SynthError::io(&path, e))?;
        let meta = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| SynthError::invalid("clip metadata", e.to_string()))?;
        let path = tmp.path().join("meta.json");
        std::fs::write(&path, meta).map_err(|e| SynthError::io(&path, e))?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(|e| SynthError::io(&final_dir, e))?;
        }
        let handle = std::fs::File::open(tmp.path()).map_err(|e| SynthError::io(tmp.path(), e))?;
        m2f_mesh::publish_permissions(&handle, true).map_err(|e| SynthError::io(tmp.path(), e))?;
        let tmp_path = tmp.keep();
        std::fs::rename(&tmp_path, &final_dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp_path);
            SynthError::io(&final_dir, e)
        })?;
        Ok(final_dir)
    }

    fn write_wav(&self, path: &Path) -> Result<(), SynthError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.meta.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav_err =
            |e: hound::Error| SynthError::invalid(path.display().to_string(), e.to_string());
        let mut w = hound::WavWriter::create(path, spec).map_err(wav_err)?;
        for &s in &self.audio {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .map_err(wav_err)?;
        }
        w.finalize().map_err(wav_err)
    }

    fn tensor_bytes(&self) -> Result<Vec<u8>, SynthError> {
        let t = self.meta.num_frames;
        let v = self.neutral.len();
        let k = self.meta.blendshapes.len();
        let flat3 = |x: &[[f32; 3]]| f32_bytes(x.iter().flatten().copied());
        let flat6 = |x: &[[f32; 6]]| f32_bytes(x.iter().flatten().copied());
        let arrays: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("vertices", vec![t, v, 3], flat3(&self.vertices)),
            ("neutral", vec![v, 3], flat3(&self.neutral)),
            (
                "rig_weights",
                vec![t, k],
                f32_bytes(self.rig_weights.iter().copied()),
            ),
            ("head_pose", vec![t, 6], flat6(&self.head_pose)),
            ("articulation", vec![t, 6], flat6(&self.articulation)),
        ];
        let views: Vec<(String, TensorView)> = arrays
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.to_string(), view))
                    .map_err(|e| SynthError::invalid(format!("tensor {name}"), e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let info: Option<HashMap<String, String>> = Some(HashMap::from([(
            "format".to_string(),
            format!("media2face-clip-v{CLIP_FORMAT_VERSION}"),
        )]));
        safetensors::tensor::serialize(views, info)
            .map_err(|e| SynthError::invalid("clip tensors", e.to_string()))
    }

    /// Reads a clip directory written by [`Clip::write`], of any of the
    /// [`READABLE_FORMAT_VERSIONS`]. `meta.format_version` stays the version read.
    pub fn read(dir: &Path) -> Result<Clip, SynthError> {
        let meta_path = dir.join("meta.json");
        let meta_text =
            std::fs::read_to_string(&meta_path).map_err(|e| SynthError::io(&meta_path, e))?;
        let bad_meta = |e: serde_json::Error| {
            SynthError::invalid(meta_path.display().to_string(), e.to_string())
        };
        let value: serde_json::Value = serde_json::from_str(&meta_text).map_err(bad_meta)?;
        // The version first: a newer format may not parse as this one.
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if !version.is_some_and(|v| READABLE_FORMAT_VERSIONS.iter().any(|&r| u64::from(r) == v)) {
            return Err(SynthError::invalid(
                meta_path.display().to_string(),
                format!(
                    "clip format version {} is not one of the supported versions {:?}",
                    version.map_or_else(|| "(missing)".to_owned(), |v| v.to_string()),
                    READABLE_FORMAT_VERSIONS
                ),
            ));
        }
        let meta: ClipMeta = serde_json::from_value(value).map_err(bad_meta)?;
        let tensor_path = dir.join("tensors.safetensors");
        let bytes = std::fs::read(&tensor_path).map_err(|e| SynthError::io(&tensor_path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| SynthError::invalid(tensor_path.display().to_string(), e.to_string()))?;
        let t = meta.num_frames;
        let k = meta.blendshapes.len();
        let get = |name: &str, shape: &[Option<usize>]| -> Result<Vec<f32>, SynthError> {
            let view = st.tensor(name).map_err(|_| {
                SynthError::invalid(
                    tensor_path.display().to_string(),
                    format!("missing tensor {name:?}"),
                )
            })?;
            let ok = view.dtype() == Dtype::F32
                && view.shape().len() == shape.len()
                && view
                    .shape()
                    .iter()
                    .zip(shape)
                    .all(|(a, b)| b.is_none_or(|b| b == *a));
            if !ok {
                return Err(SynthError::invalid(
                    tensor_path.display().to_string(),
                    format!(
                        "tensor {name:?} is {:?} {:?}, expected F32 {:?} (None = any)",
                        view.dtype(),
                        view.shape(),
                        shape
                    ),
                ));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let neutral = triples(get("neutral", &[None, Some(3)])?);
        let v = neutral.len();
        let vertices = triples(get("vertices", &[Some(t), Some(v), Some(3)])?);
        let rig_weights = get("rig_weights", &[Some(t), Some(k)])?;
        let head_pose = sixes(get("head_pose", &[Some(t), Some(6)])?);
        let articulation = sixes(get("articulation", &[Some(t), Some(6)])?);
        let wav_path = dir.join("audio.wav");
        let mut reader = hound::WavReader::open(&wav_path)
            .map_err(|e| SynthError::invalid(wav_path.display().to_string(), e.to_string()))?;
        let audio = reader
            .samples::<i16>()
            .map(|s| s.map(|x| x as f32 / 32767.0))
            .collect::<Result<Vec<f32>, _>>()
            .map_err(|e| SynthError::invalid(wav_path.display().to_string(), e.to_string()))?;
        Ok(Clip {
            meta,
            audio,
            neutral,
            vertices,
            rig_weights,
            head_pose,
            articulation,
        })
    }
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

fn triples(v: Vec<f32>) -> Vec<[f32; 3]> {
    v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

fn sixes(v: Vec<f32>) -> Vec<[f32; 6]> {
    v.chunks_exact(6)
        .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5]])
        .collect()
}
