//! Writing a whole synthetic dataset: clips in parallel, then a manifest.

use std::path::{Path, PathBuf};

use m2f_mesh::{FaceTemplate, ARKIT_BLENDSHAPES};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clip::{Clip, CLIP_FORMAT_VERSION};
use crate::emotion::{Emotion, Intensity};
use crate::error::SynthError;
use crate::speech::Speech;
use crate::voices::Split;
use crate::world::WorldConfig;

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Clip id, also its directory name under `clips/`.
    pub id: String,
    /// The dataset split the clip belongs to.
    pub split: Split,
    /// Number of animation frames.
    pub num_frames: usize,
    /// The emotion acted.
    pub emotion: Emotion,
    /// The emotion's intensity.
    pub intensity: Intensity,
    /// The identity's index in the pool.
    pub identity: u32,
    /// The voice as `engine:name`, e.g. `espeak-ng:en-us+f3` or `flite:cmu_us_slt`.
    pub voice: String,
}

/// `manifest.json` at the dataset root: what was generated and how to regenerate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Clip format version of the clips ([`CLIP_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The crate and version that wrote the dataset: `m2f-synth <version>`.
    pub generator: String,
    /// The world settings the clips were generated with.
    pub config: WorldConfig,
    /// Fingerprint of the template topology and canonical geometry.
    pub template_fingerprint: String,
    /// Names of the rig's blendshapes, in rig weight order.
    pub blendshapes: Vec<String>,
    /// One entry per clip, in index order.
    pub clips: Vec<ManifestEntry>,
}

impl Manifest {
    /// Reads `manifest.json` from the dataset root `root`.
    pub fn read(root: &Path) -> Result<Self, SynthError> {
        let path = root.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| SynthError::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| SynthError::invalid(path.display().to_string(), e.to_string()))
    }

    /// Clip directories of one split.
    pub fn clip_dirs(&self, root: &Path, split: Split) -> Vec<PathBuf> {
        self.clips
            .iter()
            .filter(|c| c.split == split)
            .map(|c| root.join("clips").join(&c.id))
            .collect()
    }
}

/// Generates clips `0..count` of `config` into `root/clips/<id>` and writes
/// `root/manifest.json`. Clips that already exist are kept (generation is deterministic),
/// so an interrupted run resumes where it stopped. `on_clip` is called after each clip.
pub fn write_dataset(
    root: &Path,
    config: &WorldConfig,
    count: u64,
    speech: &Speech,
    on_clip: impl Fn(&ManifestEntry) + Sync,
) -> Result<Manifest, SynthError> {
    let clips_dir = root.join("clips");
    std::fs::create_dir_all(&clips_dir).map_err(|e| SynthError::io(&clips_dir, e))?;
    // Fail before any work if the directory cannot be written.
    tempfile::NamedTempFile::new_in(&clips_dir).map_err(|e| SynthError::io(&clips_dir, e))?;
    let template = FaceTemplate::mediapipe();
    if root.join("manifest.json").exists() {
        let old = Manifest::read(root)?;
        if old.config != *config {
            return Err(SynthError::invalid(
                root.join("manifest.json").display().to_string(),
                format!(
                    "the dataset here was made with {:?}, this run asks for {config:?}: \
                     write to another directory or delete this one",
                    old.config
                ),
            ));
        }
    }
    let entries: Vec<ManifestEntry> = (0..count)
        .into_par_iter()
        .map(|i| {
            let id = format!("clip_{i:07}");
            let existing = clips_dir.join(&id);
            let entry = if existing.join("meta.json").exists() {
                let clip = Clip::read(&existing)?;
                check_resumed_clip(&clip, config, i, &existing)?;
                entry_of(&clip)
            } else {
                let clip = config.generate(i, &template, speech)?;
                clip.write(&clips_dir)?;
                entry_of(&clip)
            };
            on_clip(&entry);
            Ok(entry)
        })
        .collect::<Result<_, SynthError>>()?;
    let manifest = Manifest {
        format_version: CLIP_FORMAT_VERSION,
        generator: format!("m2f-synth {}", env!("CARGO_PKG_VERSION")),
        config: config.clone(),
        template_fingerprint: format!("{:016x}", template.fingerprint()),
        blendshapes: ARKIT_BLENDSHAPES.iter().map(|s| s.to_string()).collect(),
        clips: entries,
    };
    let path = root.join("manifest.json");
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| SynthError::invalid("manifest", e.to_string()))?;
    m2f_mesh::write_atomic(&path, |w| w.write_all(&json))?;
    Ok(manifest)
}

/// A clip found on disk is kept only if this run would have made it: same seed and index,
/// and the same plan (sentence, identity, split, emotion). Anything else is an error, never
/// silently kept under a manifest that names other settings.
fn check_resumed_clip(
    clip: &Clip,
    config: &WorldConfig,
    index: u64,
    dir: &Path,
) -> Result<(), SynthError> {
    let m = &clip.meta;
    let plan = config.plan(index)?;
    let mismatch = if m.seed != config.seed {
        Some(format!("seed {} (this run: {})", m.seed, config.seed))
    } else if m.index != index {
        Some(format!("index {} (expected {index})", m.index))
    } else if m.fps != config.fps {
        Some(format!("{} fps (this run: {})", m.fps, config.fps))
    } else if m.spoken_with.voice_id() != plan.voice_id {
        // The engine is drawn apart from the rest of the plan: only the voice tells a clip of
        // another engine set (`WorldConfig::engines`) from this run's.
        Some(format!(
            "voice {} (this run: {})",
            m.spoken_with.voice_id().id(),
            plan.voice_id.id()
        ))
    } else if m.text != plan.text
        || m.identity != plan.identity
        || m.split != plan.split
        || m.emotion != plan.emotion
        || m.intensity != plan.intensity
    {
        Some(format!(
            "another plan (identity {}, {:?} {:?}, {:?}) than this run's (identity {}, {:?} {:?}, {:?}): \
             the identity pool or the generator differs",
            m.identity, m.emotion, m.intensity, m.text, plan.identity, plan.emotion, plan.intensity, plan.text
        ))
    } else {
        None
    };
    match mismatch {
        Some(what) => Err(SynthError::invalid(
            dir.join("meta.json").display().to_string(),
            format!("this clip was made with {what}; write to another directory or delete it"),
        )),
        None => Ok(()),
    }
}

fn entry_of(clip: &Clip) -> ManifestEntry {
    ManifestEntry {
        id: clip.meta.id.clone(),
        split: clip.meta.split,
        num_frames: clip.meta.num_frames,
        emotion: clip.meta.emotion,
        intensity: clip.meta.intensity,
        identity: clip.meta.identity,
        voice: clip.meta.spoken_with.voice_id().id(),
    }
}
