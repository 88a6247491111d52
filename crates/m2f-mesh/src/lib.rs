//! Face geometry for media2face, without any ML: the fixed-topology face mesh and its
//! template regions, OBJ files, head pose, an ARKit-named blendshape rig with a bounded
//! least-squares solver, glTF/GLB and OBJ-sequence animation export, and a software renderer
//! for previews (PNG, GIF, MP4 through ffmpeg).

pub mod arkit;
mod atomic;
pub mod error;
pub mod face_mesh;
mod fields;
pub mod glb;
pub mod head_pose;
pub mod obj;
pub mod obj_sequence;
pub mod preview;
pub mod regions;
pub mod render;
pub mod rig;
pub mod solver;
pub mod template;

pub use arkit::{arkit_rig, seal_lips, ARKIT_BLENDSHAPES};
pub use atomic::{publish_permissions, write_atomic};
pub use error::{MeshError, Result};
pub use face_mesh::FaceMesh;
pub use glb::{glb_bytes, write_glb, Animation};
pub use head_pose::HeadPose;
pub use obj::{parse_obj, read_obj, write_obj, Units};
pub use obj_sequence::write_obj_sequence;
pub use preview::{ffmpeg_available, write_gif, write_mp4, write_png, write_preview};
pub use regions::{FaceRegions, Landmarks, MEDIAPIPE_VERTEX_COUNT};
pub use render::{project, render, Camera, HoleFill, RenderOptions, MAX_IMAGE_SIDE};
pub use rig::Rig;
pub use solver::RigSolver;
pub use template::FaceTemplate;
