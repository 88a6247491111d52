//! The model bundle on disk: `media2face.json` naming the parts, and where the default one
//! is found.
//!
//! ```text
//! DIR/media2face.json        this manifest
//! DIR/gnpfa/                 GNPFA (geometry VAE, M′ bridge, image encoders)
//! DIR/diffusion/             the denoiser (config.json, model.safetensors)
//! DIR/whisper-tiny.en/       the audio encoder, HF layout (config.json, model.safetensors)
//! DIR/emotions.safetensors   sentence embeddings of the emotion × intensity prompts
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Media2FaceError, Result};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "media2face.json";

/// [`BundleManifest::format`].
pub const BUNDLE_FORMAT: &str = "media2face-bundle";

/// The most DDIM steps a manifest may name (no schedule here has more diffusion steps).
const MAX_STEPS: usize = 10_000;

/// The environment variable that names the default bundle's directory.
pub const WEIGHTS_ENV: &str = "M2F_WEIGHTS";

/// `media2face.json`: the bundle's parts, relative to its directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// 1.
    pub format_version: u32,
    /// GNPFA's directory.
    pub gnpfa: String,
    /// The denoiser's directory.
    pub denoiser: String,
    /// The audio encoder's directory (a Whisper encoder in HF layout).
    pub audio_encoder: String,
    /// The sentence embeddings of the emotion prompts (safetensors, one `[text_style_dim]`
    /// tensor per `EMOTION/INTENSITY`).
    pub emotions: String,
    /// The sentence encoder free-text prompts need (not shipped: about 90 MB), as a hub
    /// repository.
    pub text_encoder: String,
    /// The guidance scales (and DDIM steps) requests get unless they set their own, measured
    /// for this denoiser (absent: the paper's s_A = 2.5, s_P = 1.5, and 25 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Guidance>,
}

/// Guidance scales of Media2Face's Eq. 9, and the DDIM steps they were measured at: the two
/// trade against each other (fewer steps at higher scales give about the same face), so a
/// bundle stores them together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Guidance {
    /// s_A: how strongly the audio steers the motion.
    pub audio: f64,
    /// s_P: how strongly the prompt steers the style.
    pub style: f64,
    /// DDIM steps (absent: `diffusion::SamplerOptions`' default, 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

impl Guidance {
    /// The DDIM steps these scales go with (the sampler's default where the bundle names none).
    pub fn steps_or_default(&self) -> usize {
        self.steps
            .unwrap_or_else(|| diffusion::SamplerOptions::default().steps)
    }
}

impl Default for Guidance {
    /// The paper's scales: s_A = 2.5, s_P = 1.5, at 25 steps.
    fn default() -> Self {
        let d = diffusion::SamplerOptions::default();
        Self {
            audio: d.audio_guidance,
            style: d.style_guidance,
            steps: None,
        }
    }
}

impl BundleManifest {
    /// Reads `DIR/media2face.json`.
    ///
    /// # Errors
    /// A missing or malformed manifest, or one of another format.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Media2FaceError::io(&path, e))?;
        let manifest: Self = serde_json::from_str(&text)
            .map_err(|e| Media2FaceError::invalid(path.display().to_string(), e.to_string()))?;
        if manifest.format != BUNDLE_FORMAT || manifest.format_version != 1 {
            return Err(Media2FaceError::invalid(
                path.display().to_string(),
                format!(
                    "format {:?} version {}, expected {BUNDLE_FORMAT:?} version 1",
                    manifest.format, manifest.format_version
                ),
            ));
        }
        manifest
            .check()
            .map_err(|why| Media2FaceError::invalid(path.display().to_string(), why))?;
        Ok(manifest)
    }

    /// Refuses parts outside the bundle and guidance scales that are not numbers: a bundle
    /// from the hub or another person must not make a loader read elsewhere.
    fn check(&self) -> std::result::Result<(), String> {
        for (field, part) in [
            ("gnpfa", &self.gnpfa),
            ("denoiser", &self.denoiser),
            ("audio_encoder", &self.audio_encoder),
            ("emotions", &self.emotions),
        ] {
            let inside = !part.is_empty()
                && Path::new(part)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(format!(
                    "{field}: {part:?} is not a relative path inside the bundle"
                ));
            }
        }
        if let Some(g) = self.guidance {
            for (field, s) in [("guidance.audio", g.audio), ("guidance.style", g.style)] {
                if !s.is_finite() || s < 0.0 {
                    return Err(format!("{field}: {s} is not a finite scale ≥ 0"));
                }
            }
            // The denoiser's own schedule bounds it further when it is loaded.
            if let Some(n) = g.steps.filter(|n| !(1..=MAX_STEPS).contains(n)) {
                return Err(format!("guidance.steps: {n} is not in 1..={MAX_STEPS}"));
            }
        }
        Ok(())
    }

    /// Writes `DIR/media2face.json` (whole or not at all).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other);
        let path = dir.join(MANIFEST_FILE);
        let text = text.map_err(|e| Media2FaceError::io(&path, e))?;
        m2f_mesh::write_atomic(&path, |w| w.write_all(text.as_bytes()))?;
        Ok(())
    }
}

/// Where the default bundle is looked for, in order: `$M2F_WEIGHTS`; `weights/` beside the
/// executable and one level up (an unpacked release); the `weights/` directory of the
/// source tree this crate was built from (a clone of the repository).
pub fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(WEIGHTS_ENV) {
        dirs.push(PathBuf::from(d));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("weights"));
        if let Some(up) = exe_dir.parent() {
            dirs.push(up.join("weights"));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights"));
    dirs
}

/// The first of [`default_dirs`] that holds a bundle.
///
/// # Errors
/// [`Media2FaceError::NoModel`] listing the places looked at.
pub fn default_dir() -> Result<PathBuf> {
    // A directory the user named is final: never passed over for another.
    if let Some(d) = std::env::var_os(WEIGHTS_ENV) {
        let d = PathBuf::from(d);
        if !d.join(MANIFEST_FILE).is_file() {
            return Err(Media2FaceError::NoModel {
                tried: format!("{WEIGHTS_ENV}={}", d.display()),
                hint: format!("{WEIGHTS_ENV} must name a directory holding {MANIFEST_FILE}"),
            });
        }
        return Ok(d);
    }
    let dirs = default_dirs();
    dirs.iter()
        .find(|d| d.join(MANIFEST_FILE).is_file())
        .cloned()
        .ok_or_else(|| Media2FaceError::NoModel {
            tried: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            hint: format!(
                "set {WEIGHTS_ENV} to a bundle directory (the repository's weights/ holds the \
                 default one)"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> BundleManifest {
        BundleManifest::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights"))
            .expect("the shipped manifest")
    }

    /// Writes `manifest` into a fresh directory and reads it back.
    fn round_trip(manifest: &BundleManifest, name: &str) -> Result<BundleManifest> {
        let dir = std::env::temp_dir().join(format!("m2f-manifest-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        manifest.write(&dir).unwrap();
        let read = BundleManifest::read(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        read
    }

    #[test]
    fn parts_outside_the_bundle_are_refused() {
        assert_eq!(round_trip(&shipped(), "ok").unwrap(), shipped());
        for (i, bad) in ["../gnpfa", "/etc", "", "gnpfa/../../x"]
            .into_iter()
            .enumerate()
        {
            let m = BundleManifest {
                gnpfa: bad.into(),
                ..shipped()
            };
            let err = round_trip(&m, &format!("path{i}")).unwrap_err().to_string();
            assert!(
                err.contains("media2face.json") && err.contains("gnpfa"),
                "{err}"
            );
        }
        let m = BundleManifest {
            guidance: Some(Guidance {
                audio: -1.0,
                style: 1.5,
                steps: None,
            }),
            ..shipped()
        };
        let err = round_trip(&m, "guidance").unwrap_err().to_string();
        assert!(err.contains("guidance.audio"), "{err}");
        let m = BundleManifest {
            guidance: Some(Guidance {
                audio: 1.0,
                style: 1.5,
                steps: Some(0),
            }),
            ..shipped()
        };
        let err = round_trip(&m, "steps").unwrap_err().to_string();
        assert!(err.contains("guidance.steps"), "{err}");
        // A manifest written before steps were stored reads as 25 steps.
        let old: BundleManifest = serde_json::from_str(
            &serde_json::to_string(&shipped())
                .unwrap()
                .replace(r#","steps":10"#, ""),
        )
        .unwrap();
        assert_eq!(old.guidance.unwrap().steps_or_default(), 25);
    }
}
