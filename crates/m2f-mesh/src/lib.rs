//! Face geometry for media2face, without any ML: the fixed-topology face mesh and its
//! template regions, OBJ files, head pose, an ARKit-named blendshape rig with a bounded
//! least-squares solver, glTF/GLB and OBJ-sequence animation export, and a software renderer
//! for previews (PNG, GIF, MP4 through ffmpeg).

mod atomic;
mod fields;
pub mod arkit;
pub mod error;
pub mod face_mesh;
pub mod glb;
pub mod head_pose;
pub mod obj;
pub mod obj_sequence;
pub mod regions;
pub mod rig;
pub mod solver;
pub mod template;

pub use atomic::write_atomic;
pub use error::{MeshError, Result};
pub use face_mesh::FaceMesh;
pub use glb::{glb_bytes, write_glb, Animation};
pub use head_pose::HeadPose;
pub use obj::{read_obj, write_obj, Units};
pub use obj_sequence::write_obj_sequence;
pub use regions::{FaceRegions, Landmarks, MEDIAPIPE_VERTEX_COUNT};
pub use rig::Rig;
pub use template::FaceTemplate;
pub use arkit::{arkit_rig, seal_lips, ARKIT_BLENDSHAPES};
pub use solver::RigSolver;
