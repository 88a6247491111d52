//! The synthetic source: an `m2f synth` dataset, whose clips carry the true face of every
//! frame, so the latents come from `E_geo` over the true vertices.

use std::path::{Path, PathBuf};

use gnpfa::Gnpfa;
use m2f_synth::{Clip, SAMPLE_RATE};
use m2f_synth::{Manifest, ManifestEntry};

use crate::error::{DatasetError, Result};
use crate::fingerprint::{sha256_hex, sha256_parts};

/// An `m2f synth` dataset opened for extraction.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    root: PathBuf,
    manifest: Manifest,
    tag: String,
}

/// A source clip read from disk, with the hash of its files.
#[derive(Debug, Clone)]
pub struct SourceClip {
    /// The clip.
    pub clip: Clip,
    /// SHA-256 over its `meta.json`, `tensors.safetensors` and `audio.wav`.
    pub hash: String,
}

impl SyntheticSource {
    /// Opens the dataset at `root` (its `manifest.json` must exist: the synthesis finished).
    ///
    /// # Errors
    /// [`DatasetError::Synth`] naming `manifest.json` when it is missing or damaged.
    pub fn open(root: &Path) -> Result<Self> {
        let manifest = Manifest::read(root)?;
        let tag = format!("synth-seed{}", manifest.config.seed);
        Ok(Self {
            root: root.to_path_buf(),
            manifest,
            tag,
        })
    }

    /// The dataset's tag in record ids, `synth-seed<seed>`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The manifest's clips, in manifest order.
    pub fn clips(&self) -> &[ManifestEntry] {
        &self.manifest.clips
    }

    /// The synthesis manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The directory of clip `id`.
    pub fn clip_dir(&self, id: &str) -> PathBuf {
        self.root.join("clips").join(id)
    }

    /// Checks that `gnpfa` was trained on this dataset's face template: otherwise its latents
    /// would describe other vertices.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming both fingerprints.
    pub fn check_template(&self, gnpfa: &Gnpfa) -> Result<()> {
        let ours = &self.manifest.template_fingerprint;
        let theirs = format!("{:016x}", gnpfa.template.fingerprint());
        if *ours != theirs {
            return Err(DatasetError::invalid(
                "GNPFA checkpoint",
                format!(
                    "its face template (fingerprint {theirs}) is not the one the clips at {} \
                     were made on ({ours})",
                    self.root.display()
                ),
            ));
        }
        Ok(())
    }

    /// Reads a clip and hashes its files.
    ///
    /// # Errors
    /// [`DatasetError::Io`] or [`DatasetError::Synth`] naming the file.
    pub fn read(&self, entry: &ManifestEntry) -> Result<SourceClip> {
        check_clip_id(&entry.id)?;
        let dir = self.clip_dir(&entry.id);
        let mut parts = Vec::new();
        for name in ["meta.json", "tensors.safetensors", "audio.wav"] {
            let path = dir.join(name);
            parts.push(std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?);
        }
        let hash = sha256_parts(parts.iter().map(|p| p.as_slice()));
        let clip = Clip::read(&dir)?;
        let m = &clip.meta;
        let voice = m.spoken_with.voice_id().id();
        if m.id != entry.id
            || m.num_frames != entry.num_frames
            || m.split != entry.split
            || voice != entry.voice
        {
            return Err(DatasetError::invalid(
                dir.join("meta.json").display().to_string(),
                format!(
                    "holds clip {} ({} frames, {} split, voice {voice}), the manifest lists {} \
                     ({} frames, {} split, voice {})",
                    m.id,
                    m.num_frames,
                    m.split.name(),
                    entry.id,
                    entry.num_frames,
                    entry.split.name(),
                    entry.voice
                ),
            ));
        }
        if m.sample_rate != SAMPLE_RATE || !(m.fps.is_finite() && m.fps > 0.0) {
            return Err(DatasetError::invalid(
                dir.join("meta.json").display().to_string(),
                format!(
                    "sample rate {} Hz and {} fps: expected {SAMPLE_RATE} Hz and a positive frame rate",
                    m.sample_rate, m.fps
                ),
            ));
        }
        Ok(SourceClip { clip, hash })
    }

    /// The audio of clip `id` (for babble noise) and the hash of its file.
    ///
    /// # Errors
    /// [`DatasetError::Io`] or [`DatasetError::Invalid`] naming the file.
    pub fn read_audio(&self, id: &str) -> Result<(Vec<f32>, String)> {
        check_clip_id(id)?;
        let path = self.clip_dir(id).join("audio.wav");
        let bytes = std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
        let hash = sha256_hex(&bytes);
        let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes))
            .map_err(|e| DatasetError::invalid(path.display().to_string(), e.to_string()))?;
        let audio = reader
            .samples::<i16>()
            .map(|s| s.map(|x| x as f32 / 32767.0))
            .collect::<std::result::Result<Vec<f32>, _>>()
            .map_err(|e| DatasetError::invalid(path.display().to_string(), e.to_string()))?;
        Ok((audio, hash))
    }
}

/// `E_geo` over every frame of a clip: latents [T, Z], flat. The posterior mean, through the
/// mesh-level API (the frames are displacements from the clip's own neutral).
///
/// # Errors
/// [`DatasetError::Gnpfa`] if the clip's meshes do not fit the checkpoint's template.
pub fn encode_clip(gnpfa: &Gnpfa, clip: &Clip) -> Result<Vec<f32>> {
    let frames: Vec<&[[f32; 3]]> = (0..clip.num_frames()).map(|t| clip.frame(t)).collect();
    // Chunks bound the memory of one call on long clips.
    let mut out = Vec::with_capacity(frames.len() * gnpfa.config.latent_dim);
    for chunk in frames.chunks(256) {
        for z in gnpfa.encode_frames(&clip.neutral, chunk)? {
            out.extend(z);
        }
    }
    Ok(out)
}

/// A clip id names a directory under `clips/`: one plain path component, so a crafted manifest
/// cannot make the extractor read elsewhere.
pub(crate) fn check_clip_id(id: &str) -> Result<()> {
    let plain = !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains(['/', '\\'])
        && !id.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(DatasetError::invalid(
            format!("clip id {id:?}"),
            "a clip id is one plain directory name under clips/",
        ))
    }
}
