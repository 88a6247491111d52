//! The clips a model is judged on: a split of an `m2f synth` dataset, with the truth every
//! metric needs (true faces without head pose, head poses, phone timings, labels).

use std::path::Path;

use m2f_synth::Clip;
use m2f_synth::Manifest;
use m2f_synth::Split;
use m2f_synth::{Emotion, Intensity};

use crate::error::{EvalError, Result};
use crate::lip_sync::PhoneSpan;

/// One test clip and its truth.
#[derive(Debug, Clone)]
pub struct EvalClip {
    /// The clip id.
    pub id: String,
    /// The synthesis engine that spoke it (`espeak-ng`, `flite`).
    pub engine: String,
    /// Its emotion label.
    pub emotion: Emotion,
    /// Its intensity label.
    pub intensity: Intensity,
    /// Animation frames per second.
    pub fps: f32,
    /// 16 kHz mono speech.
    pub audio: Vec<f32>,
    /// The identity's neutral face, metres.
    pub neutral: Vec<[f32; 3]>,
    /// The true faces, one per frame, without head pose, metres.
    pub frames: Vec<Vec<[f32; 3]>>,
    /// The true head poses (axis-angle radians, translation metres).
    pub head_pose: Vec<[f32; 6]>,
    /// Phone timings.
    pub phones: Vec<PhoneSpan>,
}

impl EvalClip {
    /// The clip in directory `dir`, spoken by `engine`.
    ///
    /// # Errors
    /// A clip that cannot be read (named by its path).
    pub fn read(dir: &Path, engine: &str) -> Result<Self> {
        let clip = Clip::read(dir)?;
        let v = clip.num_vertices();
        if v == 0 || clip.meta.sample_rate != conditioning::SAMPLE_RATE {
            return Err(EvalError::invalid(
                format!("clip {}", dir.display()),
                format!(
                    "{v} vertices at {} Hz; expected a face and 16 kHz audio",
                    clip.meta.sample_rate
                ),
            ));
        }
        Ok(Self {
            id: clip.meta.id.clone(),
            engine: engine.to_string(),
            emotion: clip.meta.emotion,
            intensity: clip.meta.intensity,
            fps: clip.meta.fps,
            audio: clip.audio.clone(),
            neutral: clip.neutral.clone(),
            frames: clip.vertices.chunks(v).map(<[_]>::to_vec).collect(),
            head_pose: clip.head_pose.clone(),
            phones: clip
                .meta
                .phonemes
                .iter()
                .map(PhoneSpan::of_phoneme)
                .collect(),
        })
    }

    /// Frames.
    pub fn num_frames(&self) -> usize {
        self.frames.len()
    }
}

/// The clips of `split` in the dataset at `root`, in manifest order: the first `limit`
/// (all when `None`), only those spoken by `engines` when it is not empty.
///
/// # Errors
/// An unreadable manifest or clip.
pub fn read_split(
    root: &Path,
    split: Split,
    limit: Option<usize>,
    engines: &[String],
) -> Result<Vec<EvalClip>> {
    let manifest = Manifest::read(root)?;
    let mut out = Vec::new();
    for entry in manifest.clips.iter().filter(|c| c.split == split) {
        let engine = entry.voice.split_once(':').map_or("", |(e, _)| e);
        if !engines.is_empty() && !engines.iter().any(|e| e == engine) {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.push(EvalClip::read(&root.join("clips").join(&entry.id), engine)?);
    }
    Ok(out)
}
