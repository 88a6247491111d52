//! Face geometry for media2face, without any ML: the fixed-topology face mesh and its
//! template regions, OBJ files, head pose, an ARKit-named blendshape rig with a bounded
//! least-squares solver, glTF/GLB and OBJ-sequence animation export, and a software renderer
//! for previews (PNG, GIF, MP4 through ffmpeg).
//!
//! ```
//! use m2f_mesh::{arkit_rig, render, write_png, Camera, FaceTemplate, RenderOptions};
//!
//! # fn main() -> m2f_mesh::Result<()> {
//! let face = FaceTemplate::mediapipe();
//! let rig = arkit_rig(&face.mesh, &face.regions)?;
//! // Half-open jaw: every other ARKit weight at 0.
//! let mut weights = vec![0.0; rig.num_blendshapes()];
//! weights[rig.index_of("jawOpen")?] = 0.5;
//! let open = rig.apply(&weights)?;
//! let gap_mm = face.regions.inner_lip_gap(&open) * 1000.0;
//! assert!(gap_mm > face.regions.inner_lip_gap(&face.mesh.vertices) * 1000.0 + 3.0);
//!
//! let camera = Camera::framing(&face.mesh.vertices);
//! let image = render(&open, &face.mesh.triangles, &camera, &RenderOptions::default())?;
//! write_png(&std::env::temp_dir().join("m2f_mesh_open_jaw.png"), &image)?;
//! # Ok(())
//! # }
//! ```

mod arkit;
mod atomic;
mod error;
mod face_mesh;
mod fields;
mod glb;
mod head_pose;
mod obj;
mod obj_sequence;
mod preview;
mod procrustes;
mod regions;
mod render;
mod rig;
mod solver;
mod template;

pub use arkit::{arkit_rig, seal_lips, ARKIT_BLENDSHAPES};
pub use atomic::{publish_permissions, write_atomic};
pub use error::{MeshError, Result};
pub use face_mesh::{bounds, FaceMesh};
pub use glb::{glb_bytes, write_glb, Animation};
pub use head_pose::{
    axis_angle_to_matrix, matrix_to_axis_angle, mean_rotation, rotations_about_mean,
    times_transpose, HeadPose, Mat3,
};
pub use obj::{parse_obj, read_obj, write_obj, Units};
pub use obj_sequence::write_obj_sequence;
pub use preview::{ffmpeg_available, write_gif, write_mp4, write_png, write_preview};
pub use procrustes::{mediapipe_procrustes_weights, weighted_procrustes, Similarity};
pub use regions::{FaceRegions, Landmarks, MEDIAPIPE_VERTEX_COUNT};
pub use render::{
    project, render, Camera, HoleFill, RenderOptions, EYE_COLOR, MAX_IMAGE_SIDE, MOUTH_COLOR,
};
pub use rig::Rig;
pub use solver::RigSolver;
pub use template::FaceTemplate;
