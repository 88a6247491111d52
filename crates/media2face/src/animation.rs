//! What [`crate::Media2Face::generate`] returns: per frame the expression latent, the head
//! pose, the decoded face and its ARKit weights, and the ways to save it.

use std::path::Path;

use m2f_mesh::{glb_bytes, write_atomic, write_glb, write_obj_sequence};
use m2f_mesh::{render, Camera, RenderOptions};
use m2f_mesh::{FaceTemplate, HeadPose, Rig};

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

/// A single-file export format, for [`Animation::to_bytes`] (what a game, a web page or a
/// server that never touches the disk takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// Binary glTF, as [`Animation::save_glb`] writes it.
    Glb,
    /// JSON, as [`Animation::save_json`] writes it.
    Json,
    /// Live Link Face CSV, as [`Animation::save_csv`] writes it.
    Csv,
    /// NumPy arrays, as [`Animation::save_npz`] writes them.
    Npz,
}

/// A generated animation.
#[derive(Debug, Clone)]
pub struct Animation {
    /// Frames per second.
    pub fps: f32,
    /// `[frames][latent_dim]`: GNPFA expression latents.
    pub latents: Vec<Vec<f32>>,
    /// `[frames]`: head poses (axis-angle rotation, translation in metres).
    pub poses: Vec<HeadPose>,
    /// `[frames][vertices]`: the decoded face in its own frame, metres (head pose not applied).
    pub vertices: Vec<Vec<[f32; 3]>>,
    /// The ARKit blendshape names, in the order of each row of `arkit_weights`.
    pub arkit_names: Vec<String>,
    /// `[frames][names]`: ARKit blendshape weights.
    pub arkit_weights: Vec<Vec<f32>>,
    /// Which weights these are and how well each kind fits.
    pub arkit_fit: ArkitFit,
    /// The speech, 16 kHz mono (for previews with sound).
    pub audio: Vec<f32>,
    /// Seconds of the audio file that were corrupt and replaced by silence of their length,
    /// so that the rest keeps its timing (0 for a clean file).
    pub concealed_audio_seconds: f64,
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
    /// (latents and the JSON's arrays, for `numpy.load`), or a directory (a path ending in `/`
    /// or an existing directory: one OBJ file per frame, head pose applied). Every file is
    /// written whole or not at all; missing parent directories are created.
    ///
    /// # Errors
    /// An unknown extension (before anything is created), an animation whose per-frame
    /// arrays disagree in length, or a file that cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let format = OutputFormat::of(path)?;
        self.check()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Media2FaceError::io(parent, e))?;
        }
        match format {
            OutputFormat::Glb => self.save_glb(path),
            OutputFormat::Json => self.save_json(path),
            OutputFormat::Csv => self.save_csv(path),
            OutputFormat::Npz => self.save_npz(path),
            OutputFormat::ObjSequence => self.save_obj_sequence(path),
        }
    }

    /// Every per-frame array has one row per frame, and every row its width.
    fn check(&self) -> Result<()> {
        let t = self.frames();
        let v = self.template.mesh.vertices.len();
        let k = self.arkit_names.len();
        let bad = |what: &str, why: String| Err(Media2FaceError::invalid(what, why));
        if self.poses.len() != t || self.vertices.len() != t || self.arkit_weights.len() != t {
            return bad(
                "animation",
                format!(
                    "{t} latents, {} poses, {} vertex frames and {} weight rows: one per frame \
                     expected",
                    self.poses.len(),
                    self.vertices.len(),
                    self.arkit_weights.len()
                ),
            );
        }
        if let Some(i) = self.vertices.iter().position(|f| f.len() != v) {
            return bad(
                "animation vertices",
                format!("frame {i} has {} of {v}", self.vertices[i].len()),
            );
        }
        if let Some(i) = self.arkit_weights.iter().position(|w| w.len() != k) {
            return bad(
                "animation ARKit weights",
                format!("frame {i} has {} of {k}", self.arkit_weights[i].len()),
            );
        }
        let z = self.latents.first().map_or(0, Vec::len);
        if let Some(i) = self.latents.iter().position(|l| l.len() != z) {
            return bad(
                "animation latents",
                format!("frame {i} has {} of {z}", self.latents[i].len()),
            );
        }
        Ok(())
    }

    /// The file [`Animation::save`] would write for `format`, as bytes.
    ///
    /// # Errors
    /// An animation whose per-frame arrays disagree in length, or (GLB) whose weights, poses
    /// or frame rate are not finite.
    pub fn to_bytes(&self, format: ExportFormat) -> Result<Vec<u8>> {
        self.check()?;
        match format {
            ExportFormat::Glb => Ok(glb_bytes(&self.mesh_animation())?),
            ExportFormat::Json => serde_json::to_vec(&self.json_document())
                .map_err(|e| Media2FaceError::invalid("animation", format!("as JSON: {e}"))),
            ExportFormat::Csv => Ok(self.csv_text().into_bytes()),
            ExportFormat::Npz => {
                let mut bytes = Vec::new();
                self.write_npz_to(&mut bytes)
                    .map_err(|e| Media2FaceError::invalid("animation", format!("as NPZ: {e}")))?;
                Ok(bytes)
            }
        }
    }

    /// The rig, weights and poses as m2f-mesh's exporters take them.
    fn mesh_animation(&self) -> m2f_mesh::Animation<'_> {
        m2f_mesh::Animation {
            rig: &self.rig,
            weights: &self.arkit_weights,
            poses: Some(&self.poses),
            fps: self.fps,
        }
    }

    /// A binary glTF: the neutral face with its ARKit rig as morph targets, the weights and
    /// the head pose animated at the animation's frame rate.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_glb(&self, path: &Path) -> Result<()> {
        Ok(write_glb(path, &self.mesh_animation())?)
    }

    /// JSON: `fps`, `frames`, `arkit_names`, then per frame `head_poses` ([rx, ry, rz]
    /// axis-angle, [tx, ty, tz] metres), `arkit_weights` and `vertices` (metres, the face's
    /// own frame: apply the head pose to place it).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_json(&self, path: &Path) -> Result<()> {
        let doc = self.json_document();
        write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, &doc).map_err(std::io::Error::other)
        })?;
        Ok(())
    }

    fn json_document(&self) -> serde_json::Value {
        let poses: Vec<[f32; 6]> = self.poses.iter().map(|p| p.to_array()).collect();
        serde_json::json!({
            "fps": self.fps,
            "frames": self.frames(),
            "arkit_names": self.arkit_names,
            "head_poses": poses,
            "arkit_weights": self.arkit_weights,
            "vertices": self.vertices,
        })
    }

    /// CSV as Live Link Face writes it: `Timecode` (HH:MM:SS:FF.mmm), `BlendShapeCount`
    /// (61), the 52 ARKit blendshapes in Live Link Face's column order (0 for the shapes this
    /// rig lacks: the eye-look shapes, `mouthClose`, `tongueOut` and others), `HeadYaw`,
    /// `HeadPitch`, `HeadRoll` in radians (R = R_yaw · R_pitch · R_roll about y, x, z), and
    /// the six eye angles (0).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_csv(&self, path: &Path) -> Result<()> {
        self.check()?;
        let text = self.csv_text();
        write_atomic(path, |w| w.write_all(text.as_bytes()))?;
        Ok(())
    }

    /// The CSV of [`Animation::save_csv`] (the arrays already checked).
    fn csv_text(&self) -> String {
        // Where each of this rig's shapes goes among Live Link Face's 52.
        let column: Vec<Option<usize>> = LIVE_LINK_BLENDSHAPES
            .iter()
            .map(|name| {
                self.arkit_names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(name))
            })
            .collect();
        let mut text = String::from("Timecode,BlendShapeCount");
        for name in LIVE_LINK_BLENDSHAPES.iter().chain(&LIVE_LINK_ANGLES) {
            text.push(',');
            text.push_str(name);
        }
        text.push('\n');
        let count = LIVE_LINK_BLENDSHAPES.len() + LIVE_LINK_ANGLES.len();
        for (t, (weights, pose)) in self.arkit_weights.iter().zip(&self.poses).enumerate() {
            let seconds = t as f64 / self.fps as f64;
            let whole = seconds.floor() as u64;
            let frame = ((seconds - whole as f64) * self.fps as f64).floor() as u64;
            let millis = ((seconds * self.fps as f64).fract() * 1000.0).round() as u64 % 1000;
            text.push_str(&format!(
                "{:02}:{:02}:{:02}:{frame:02}.{millis:03},{count}",
                whole / 3600,
                whole / 60 % 60,
                whole % 60,
            ));
            for c in &column {
                text.push_str(&format!(",{:.6}", c.map_or(0.0, |i| weights[i])));
            }
            let (yaw, pitch, roll) = yaw_pitch_roll(pose);
            text.push_str(&format!(",{yaw:.6},{pitch:.6},{roll:.6},0,0,0,0,0,0\n"));
        }
        text
    }

    /// NumPy arrays: `fps` `[]`, `latents` `[T, Z]`, `head_poses` `[T, 6]`, `arkit_names` `[K]`,
    /// `arkit_weights` `[T, K]` and `vertices` `[T, V, 3]` (metres, head pose not applied).
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_npz(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| self.write_npz_to(w))?;
        Ok(())
    }

    /// The NPZ of [`Animation::save_npz`], written to `w`.
    fn write_npz_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
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
        write_npz(w, &arrays)
    }

    /// One OBJ file per frame in `dir` (created), named so that they sort in frame order,
    /// in the template's vertex order, metres, head pose applied.
    ///
    /// # Errors
    /// A directory or file that cannot be written.
    pub fn save_obj_sequence(&self, dir: &Path) -> Result<()> {
        let written =
            write_obj_sequence(dir, &self.template.mesh, &self.vertices, Some(&self.poses))?;
        // Frames of an earlier, longer sequence in the same directory would play on after
        // this one: remove them (other files are left alone).
        let entries = std::fs::read_dir(dir).map_err(|e| Media2FaceError::io(dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let stale = name
                .strip_prefix("frame_")
                .and_then(|n| n.strip_suffix(".obj"))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|t| t >= written.len());
            if stale {
                std::fs::remove_file(&path).map_err(|e| Media2FaceError::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// Renders the animation (head pose applied, a fixed camera) to `path`: `.mp4` with the
    /// speech (needs ffmpeg), `.gif`, or `.png` (the first frame), `size` pixels square
    /// (16 to 2048).
    ///
    /// # Errors
    /// An unknown extension or size (before anything is rendered), ffmpeg missing for an
    /// MP4, or a file that cannot be written.
    pub fn preview(&self, path: &Path, size: u32) -> Result<()> {
        let kind = PreviewFormat::of(path)?;
        if !(16..=2048).contains(&size) {
            return Err(Media2FaceError::invalid(
                "preview size",
                format!("{size} pixels; expected 16 to 2048"),
            ));
        }
        self.check()?;
        let mut camera = Camera::framing_sized(&self.template.mesh.vertices, size, size);
        // Step back a little so that head turns stay in the picture.
        for k in 0..3 {
            camera.eye[k] = camera.target[k] + 1.2 * (camera.eye[k] - camera.target[k]);
        }
        let opts = RenderOptions::default().with_face_fills(&self.template.regions);
        let count = match kind {
            PreviewFormat::Png => self.frames().min(1),
            _ => self.frames(),
        };
        let frames = (0..count)
            .map(|t| {
                render(
                    &self.posed_vertices(t),
                    &self.template.mesh.triangles,
                    &camera,
                    &opts,
                )
            })
            .collect::<m2f_mesh::Result<Vec<_>>>()?;
        if kind != PreviewFormat::Mp4 {
            m2f_mesh::write_preview(path, &frames, self.fps, None)?;
            return Ok(());
        }
        // ffmpeg muxes the speech from a WAV file beside the output; the file is removed when
        // `wav` is dropped, whatever happens.
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let wav = tempfile::Builder::new()
            .prefix(".m2f-preview-")
            .suffix(".wav")
            .tempfile_in(dir)
            .map_err(|e| Media2FaceError::io(dir, e))?;
        std::fs::write(wav.path(), wav_bytes(&self.audio))
            .map_err(|e| Media2FaceError::io(wav.path(), e))?;
        m2f_mesh::write_preview(path, &frames, self.fps, Some(wav.path()))?;
        Ok(())
    }
}

/// What [`Animation::save`] writes, from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputFormat {
    Glb,
    Json,
    Csv,
    Npz,
    ObjSequence,
}

impl OutputFormat {
    fn of(path: &Path) -> Result<Self> {
        let s = path.to_string_lossy();
        if s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir() {
            return Ok(Self::ObjSequence);
        }
        match extension(path).as_str() {
            "glb" => Ok(Self::Glb),
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            "npz" => Ok(Self::Npz),
            _ => Err(Media2FaceError::invalid(
                format!("output path {}", path.display()),
                "expected .glb, .json, .csv, .npz, or a directory (ending in /) for OBJ files",
            )),
        }
    }
}

/// What [`Animation::preview`] writes, from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreviewFormat {
    Mp4,
    Gif,
    Png,
}

impl PreviewFormat {
    fn of(path: &Path) -> Result<Self> {
        match extension(path).as_str() {
            "mp4" => Ok(Self::Mp4),
            "gif" => Ok(Self::Gif),
            "png" => Ok(Self::Png),
            _ => Err(Media2FaceError::invalid(
                format!("preview path {}", path.display()),
                "expected .mp4 (with the speech; needs ffmpeg), .gif or .png",
            )),
        }
    }
}

/// Checks that [`Animation::save`] and [`Animation::preview`] take these paths, without
/// writing anything: for a caller that wants to refuse a bad path before generating.
///
/// # Errors
/// The path that would be refused, and what is accepted.
pub fn check_output_paths(output: &Path, preview: Option<&Path>) -> Result<()> {
    OutputFormat::of(output)?;
    preview.map(PreviewFormat::of).transpose()?;
    Ok(())
}

/// The lower-cased extension, or "".
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

/// Live Link Face's 52 blendshape columns, in its order.
const LIVE_LINK_BLENDSHAPES: [&str; 52] = [
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawRight",
    "JawLeft",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthRight",
    "MouthLeft",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
];

/// Live Link Face's head and eye angle columns, after the blendshapes.
const LIVE_LINK_ANGLES: [&str; 9] = [
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
];

/// Yaw (about y), pitch (about x) and roll (about z) of a head pose's rotation, R = Ry Rx Rz.
fn yaw_pitch_roll(pose: &HeadPose) -> (f32, f32, f32) {
    let r = pose.rotation_matrix();
    let pitch = (-r[1][2]).clamp(-1.0, 1.0).asin();
    let yaw = r[0][2].atan2(r[2][2]);
    let roll = r[1][0].atan2(r[1][1]);
    (yaw, pitch, roll)
}

/// 16 kHz mono 16-bit PCM WAV.
fn wav_bytes(samples: &[f32]) -> Vec<u8> {
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
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_angles_of_pure_rotations() {
        let angle =
            |r: [f32; 3]| yaw_pitch_roll(&HeadPose::from_array([r[0], r[1], r[2], 0.0, 0.0, 0.0]));
        let close = |a: (f32, f32, f32), b: (f32, f32, f32)| {
            (a.0 - b.0).abs() < 1e-5 && (a.1 - b.1).abs() < 1e-5 && (a.2 - b.2).abs() < 1e-5
        };
        // Turning about y is yaw, nodding about x pitch, tilting about z roll.
        assert!(close(angle([0.0, 0.3, 0.0]), (0.3, 0.0, 0.0)));
        assert!(close(angle([0.2, 0.0, 0.0]), (0.0, 0.2, 0.0)));
        assert!(close(angle([0.0, 0.0, -0.25]), (0.0, 0.0, -0.25)));
    }

    #[test]
    fn wav_header_describes_the_samples() {
        let bytes = wav_bytes(&[0.0, 1.0, -1.0, 0.5]);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 36 + 8);
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            16_000
        );
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
        let samples: Vec<i16> = bytes[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples, [0, 32767, -32767, 16384]);
    }

    #[test]
    fn paths_name_their_formats() {
        assert!(check_output_paths(Path::new("a/face.GLB"), Some(Path::new("p.mp4"))).is_ok());
        assert!(check_output_paths(Path::new("frames/"), None).is_ok());
        let e = check_output_paths(Path::new("face.fbx"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("face.fbx") && e.contains(".glb"), "{e}");
        let e = check_output_paths(Path::new("f.glb"), Some(Path::new("p.avi")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.avi") && e.contains(".mp4"), "{e}");
        assert_eq!(LIVE_LINK_BLENDSHAPES.len() + LIVE_LINK_ANGLES.len(), 61);
    }
}
