//! Writing a whole synthetic dataset: clips in parallel, then a manifest.

use std::path::{Path, PathBuf};

use m2f_mesh::{FaceTemplate, ARKIT_BLENDSHAPES};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clip::{Clip, CLIP_FORMAT_VERSION};
use crate::emotion::{Emotion, Intensity};
use crate::error::SynthError;
use crate::espeak::Espeak;
use crate::voices::Split;
use crate::world::WorldConfig;

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub id: String,
    pub split: Split,
    pub num_frames: usize,
    pub emotion: Emotion,
    pub intensity: Intensity,
    pub identity: u32,
    pub voice: String,
}

/// `manifest.json` at the dataset root: what was generated and how to regenerate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub generator: String,
    pub config: WorldConfig,
    /// Fingerprint of the template topology and canonical geometry.
    pub template_fingerprint: String,
    pub blendshapes: Vec<String>,
    pub clips: Vec<ManifestEntry>,
}

impl Manifest {
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
    espeak: &Espeak,
    on_clip: impl Fn(&ManifestEntry) + Sync,
) -> Result<Manifest, SynthError> {
    let clips_dir = root.join("clips");
    std::fs::create_dir_all(&clips_dir).map_err(|e| SynthError::io(&clips_dir, e))?;
    // Fail before any work if the directory cannot be written.
    tempfile::NamedTempFile::new_in(&clips_dir).map_err(|e| SynthError::io(&clips_dir, e))?;
    let template = FaceTemplate::mediapipe();
    let entries: Vec<ManifestEntry> = (0..count)
        .into_par_iter()
        .map(|i| {
            let id = format!("clip_{i:07}");
            let existing = clips_dir.join(&id);
            let entry = if existing.join("meta.json").exists() {
                entry_of(&Clip::read(&existing)?)
            } else {
                let clip = config.generate(i, &template, espeak)?;
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

fn entry_of(clip: &Clip) -> ManifestEntry {
    ManifestEntry {
        id: clip.meta.id.clone(),
        split: clip.meta.split,
        num_frames: clip.meta.num_frames,
        emotion: clip.meta.emotion,
        intensity: clip.meta.intensity,
        identity: clip.meta.identity,
        voice: clip.meta.spoken_with.voice.espeak_name(),
    }
}
