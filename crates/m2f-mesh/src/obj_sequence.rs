//! Animation export as one OBJ file per frame, the lowest common denominator that every DCC
//! tool can import (Blender's "Stop-motion OBJ", Houdini, MeshLab).

use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::{MeshError, Result};
use crate::face_mesh::FaceMesh;
use crate::head_pose::HeadPose;
use crate::obj::{write_obj_to, Units};

/// Writes `frames` as `dir/frame_00000.obj`, `dir/frame_00001.obj`, … in metres, with
/// `mesh`'s triangles and UVs, and returns the paths in frame order.
///
/// `frames` are vertex positions `[T][V]` in the template's frame; if `poses` is given (one per
/// frame) each frame is moved by its head pose before writing. `dir` is created if missing.
/// Every input is checked before the first file is written, so bad input leaves no partial
/// sequence behind; each file is written atomically.
pub fn write_obj_sequence(
    dir: &Path,
    mesh: &FaceMesh,
    frames: &[Vec<[f32; 3]>],
    poses: Option<&[HeadPose]>,
) -> Result<Vec<PathBuf>> {
    for (t, f) in frames.iter().enumerate() {
        mesh.check_vertex_count(&format!("OBJ sequence frame {t}"), f.len())?;
        if let Some(i) = f.iter().position(|v| v.iter().any(|c| !c.is_finite())) {
            return Err(MeshError::invalid(
                format!("OBJ sequence frame {t}, vertex {i}"),
                format!("expected finite coordinates, got {:?}", f[i]),
            ));
        }
    }
    if let Some(poses) = poses {
        if poses.len() != frames.len() {
            return Err(MeshError::invalid(
                "OBJ sequence poses",
                format!(
                    "expected {} poses (one per frame), got {}",
                    frames.len(),
                    poses.len()
                ),
            ));
        }
        if let Some(t) = poses.iter().position(|p| {
            p.rotation
                .iter()
                .chain(&p.translation)
                .any(|c| !c.is_finite())
        }) {
            return Err(MeshError::invalid(
                format!("OBJ sequence poses frame {t}"),
                format!(
                    "expected finite rotation and translation, got {:?} and {:?}",
                    poses[t].rotation, poses[t].translation
                ),
            ));
        }
    }

    std::fs::create_dir_all(dir).map_err(|e| MeshError::io(dir, e))?;

    // One mesh reused for every frame: only the vertices change, the topology is shared.
    let mut out = mesh.clone();
    let mut paths = Vec::with_capacity(frames.len());
    for (t, f) in frames.iter().enumerate() {
        out.vertices = match poses {
            Some(p) => p[t].apply(f),
            None => f.clone(),
        };
        let path = dir.join(format!("frame_{t:05}.obj"));
        write_atomic(&path, |w| write_obj_to(w, &out, Units::Metres))?;
        paths.push(path);
    }
    Ok(paths)
}
