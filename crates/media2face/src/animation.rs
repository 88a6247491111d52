//! What [`crate::Media2Face::generate`] returns: per frame the expression latent, the head
//! pose, the decoded face and its ARKit weights, and the ways to save it.

use std::path::Path;

use m2f_mesh::render::{render, Camera, RenderOptions};
use m2f_mesh::{write_atomic, write_glb, write_obj_sequence, FaceTemplate, HeadPose, Rig};

use crate::error::{Media2FaceError, Result};
use crate::npz::{write_npz, NpyArray};

/// Where the ARKit weights of an animation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArkitSource {
    /// Least squares of the ARKit rig against each decoded face.
    Solver,
    /// GNPFA's bridge M′ from each latent.
    Bridge,
}

/// How closely the rig reproduces the decoded faces with each source of weights: the mean
/// vertex distance in millimetres over frames and vertices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArkitFit {
    /// With the solver's weights.
    pub solver_mm: f32,
    /// With M′'s weights.
    pub bridge_mm: f32,
    /// The source whose weights the animation carries (the closer one).
    pub used: ArkitSource,
}

/// A generated animation.
#[derive(Debug, Clone)]
pub struct Animation {
    /// Frames per second.
    pub fps: f32,
    /// [frames][latent_dim]: GNPFA expression latents.
    pub latents: Vec<Vec<f32>>,
    /// [frames]: head poses (axis-angle rotation, translation in metres).
    pub poses: Vec<HeadPose>,
    /// [frames][vertices]: the decoded face in its own frame, metres (head pose not applied).
    pub vertices: Vec<Vec<[f32; 3]>>,
    /// The ARKit blendshape names, in the order of each row of `arkit_weights`.
    pub arkit_names: Vec<String>,
    /// [frames][names]: ARKit blendshape weights.
    pub arkit_weights: Vec<Vec<f32>>,
    /// Which weights these are and how well each kind fits.
    pub arkit_fit: ArkitFit,
    /// The speech, 16 kHz mono (for previews with sound).
    pub audio: Vec<f32>,
    /// The face the animation is decoded on, with the ARKit rig exported to GLB.
    pub(crate) template: FaceTemplate,
    pub(crate) rig: Rig,
}

impl Animation {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.latents.len()
    }

    /// Length in seconds.
    pub fn duration(&self) -> f32 {
        self.frames() as f32 / self.fps
    }

    /// Per frame, the gap between the inner lips at the middle of the mouth, in millimetres:
    /// how far the mouth is open.
    pub fn mouth_opening_mm(&self) -> Vec<f32> {
        let lm = &self.template.regions.landmarks;
        let (u, l) = (lm.upper_inner_lip as usize, lm.lower_inner_lip as usize);
        self.vertices
            .iter()
            .map(|v| {
                let d: f32 = (0..3).map(|k| (v[u][k] - v[l][k]).powi(2)).sum();
                d.sqrt() * 1000.0
            })
            .collect()
    }

    /// The face of frame `t` with its head pose applied.
    pub fn posed_vertices(&self, t: usize) -> Vec<[f32; 3]> {
        self.poses[t].apply(&self.vertices[t])
    }

    /// Saves in the format the path names: `.glb` (the ARKit rig as morph targets, the
    /// weights and head pose animated), `.json` (fps, head poses, ARKit weights, vertices),
    /// `.csv` (ARKit weights and head angles per frame, as Live Link Face writes them), `.npz`
    /// (the same arrays as the JSON, for `numpy.load`), or a
    /// path ending in `/` (a directory of OBJ files, one per frame, head pose applied).
    /// Every file is written whole or not at all.
    ///
    /// # Errors
    /// An unknown extension, or a file that cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Media2FaceError::io(parent, e))?;
        }
        let s = path.to_string_lossy();
        if s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) {
            return self.save_obj_sequence(path);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "glb" => self.save_glb(path),
            "json" => self.save_json(path),
            "csv" => self.save_csv(path),
            "npz" => self.save_npz(path),
            _ => Err(Media2FaceError::invalid(
                format!("output path {}", path.display()),
                "expected .glb, .json, .csv, .npz, or a directory ending in / for OBJ files",
            )),
        }
    }

    /// A binary glTF: the neutral face with its ARKit rig as morph targets, the weights and
    /// the head pose animated at the animation's frame rate.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_glb(&self, path: &Path) -> Result<()> {
        let anim = m2f_mesh::Animation {
            rig: &self.rig,
            weights: &self.arkit_weights,
            poses: Some(&self.poses),
            fps: self.fps,
        };
        Ok(write_glb(path, &anim)?)
    }

    /// JSON: `fps`, `frames`, `arkit_names`, then per frame `head_poses` ([rx, ry, rz]
    /// axis-angle, [tx, ty, tz] metres), `arkit_weights` and `vertices` (metres, the face's
    /// own frame: apply the head pose to place it).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_json(&self, path: &Path) -> Result<()> {
        let poses: Vec<[f32; 6]> = self.poses.iter().map(|p| p.to_array()).collect();
        let doc = serde_json::json!({
            "fps": self.fps,
            "frames": self.frames(),
            "arkit_names": self.arkit_names,
            "head_poses": poses,
            "arkit_weights": self.arkit_weights,
            "vertices": self.vertices,
        });
        write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, &doc).map_err(std::io::Error::other)
        })?;
        Ok(())
    }

    /// CSV as Live Link Face writes it: `Timecode` (HH:MM:SS:FF.mmm), `BlendshapeCount`,
    /// one column per ARKit weight (capitalised names, as Live Link Face's), then `HeadYaw`,
    /// `HeadPitch`, `HeadRoll` in radians.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_csv(&self, path: &Path) -> Result<()> {
        let mut text = String::from("Timecode,BlendshapeCount");
        for name in &self.arkit_names {
            let mut c = name.chars();
            text.push(',');
            if let Some(first) = c.next() {
                text.extend(first.to_uppercase());
                text.push_str(c.as_str());
            }
        }
        text.push_str(",HeadYaw,HeadPitch,HeadRoll\n");
        let fps = self.fps.round().max(1.0) as usize;
        for (t, (weights, pose)) in self.arkit_weights.iter().zip(&self.poses).enumerate() {
            let seconds = t / fps;
            text.push_str(&format!(
                "{:02}:{:02}:{:02}:{:02}.000,{}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60,
                t % fps,
                weights.len() + 3
            ));
            for w in weights {
                text.push_str(&format!(",{w:.6}"));
            }
            let (yaw, pitch, roll) = yaw_pitch_roll(pose);
            text.push_str(&format!(",{yaw:.6},{pitch:.6},{roll:.6}\n"));
        }
        write_atomic(path, |w| w.write_all(text.as_bytes()))?;
        Ok(())
    }

    /// NumPy arrays: `fps` [], `latents` [T, Z], `head_poses` [T, 6], `arkit_names` [K],
    /// `arkit_weights` [T, K] and `vertices` [T, V, 3] (metres, head pose not applied).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_npz(&self, path: &Path) -> Result<()> {
        let t = self.frames();
        let flat = |rows: &[Vec<f32>]| -> Vec<f32> { rows.iter().flatten().copied().collect() };
        let latents = flat(&self.latents);
        let weights = flat(&self.arkit_weights);
        let poses: Vec<f32> = self.poses.iter().flat_map(|p| p.to_array()).collect();
        let vertices: Vec<f32> = self.vertices.iter().flatten().flatten().copied().collect();
        let fps = [self.fps];
        let arrays = [
            (
                "fps",
                NpyArray::F32 {
                    shape: vec![],
                    values: &fps,
                },
            ),
            (
                "latents",
                NpyArray::F32 {
                    shape: vec![t, latents.len() / t.max(1)],
                    values: &latents,
                },
            ),
            (
                "head_poses",
                NpyArray::F32 {
                    shape: vec![t, 6],
                    values: &poses,
                },
            ),
            ("arkit_names", NpyArray::Strings(&self.arkit_names)),
            (
                "arkit_weights",
                NpyArray::F32 {
                    shape: vec![t, self.arkit_names.len()],
                    values: &weights,
                },
            ),
            (
                "vertices",
                NpyArray::F32 {
                    shape: vec![t, self.template.mesh.vertices.len(), 3],
                    values: &vertices,
                },
            ),
        ];
        write_atomic(path, |w| write_npz(w, &arrays))?;
        Ok(())
    }

    /// One OBJ file per frame in `dir` (created), named so that they sort in frame order,
    /// in the template's vertex order, metres, head pose applied.
    ///
    /// # Errors
    /// A directory or file that cannot be written.
    pub fn save_obj_sequence(&self, dir: &Path) -> Result<()> {
        write_obj_sequence(dir, &self.template.mesh, &self.vertices, Some(&self.poses))?;
        Ok(())
    }

    /// Renders the animation (head pose applied, a fixed camera) to `path`: `.mp4` with the
    /// speech (needs ffmpeg), `.gif`, or `.png` (the first frame), `size` pixels square.
    ///
    /// # Errors
    /// An unknown extension, ffmpeg missing for an MP4, or a file that cannot be written.
    pub fn preview(&self, path: &Path, size: u32) -> Result<()> {
        let mut camera = Camera::framing_sized(&self.template.mesh.vertices, size, size);
        // Step back a little so that head turns stay in the picture.
        for k in 0..3 {
            camera.eye[k] = camera.target[k] + 1.2 * (camera.eye[k] - camera.target[k]);
        }
        let opts = RenderOptions::default().with_face_fills(&self.template.regions);
        let frames = (0..self.frames())
            .map(|t| {
                render(
                    &self.posed_vertices(t),
                    &self.template.mesh.triangles,
                    &camera,
                    &opts,
                )
            })
            .collect::<m2f_mesh::Result<Vec<_>>>()?;
        let is_mp4 = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
        if !is_mp4 {
            m2f_mesh::write_preview(path, &frames, self.fps, None)?;
            return Ok(());
        }
        // ffmpeg muxes the speech from a WAV file beside the output, removed afterwards.
        let wav = tempfile_beside(path, "wav")?;
        write_wav(&wav, &self.audio)?;
        let result = m2f_mesh::write_preview(path, &frames, self.fps, Some(&wav));
        let _ = std::fs::remove_file(&wav);
        Ok(result?)
    }
}

/// Yaw (about y), pitch (about x) and roll (about z) of a head pose's rotation, R = Ry Rx Rz.
fn yaw_pitch_roll(pose: &HeadPose) -> (f32, f32, f32) {
    let r = pose.rotation_matrix();
    let pitch = (-r[1][2]).clamp(-1.0, 1.0).asin();
    let yaw = r[0][2].atan2(r[2][2]);
    let roll = r[1][0].atan2(r[1][1]);
    (yaw, pitch, roll)
}

/// A path for a temporary file next to `path`, with extension `ext`.
fn tempfile_beside(path: &Path, ext: &str) -> Result<std::path::PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = format!(
        ".{}.{}.{ext}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    );
    Ok(dir.join(name))
}

/// 16 kHz mono 16-bit PCM WAV.
fn write_wav(path: &Path, samples: &[f32]) -> Result<()> {
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    let data_len = (samples.len() * 2) as u32;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&32_000u32.to_le_bytes()); // bytes per second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // block align
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| Media2FaceError::io(path, e))
}
