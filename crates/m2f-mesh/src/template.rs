//! The face template: the canonical neutral mesh of the topology and its regions.

use std::path::Path;

use crate::error::{MeshError, Result};
use crate::face_mesh::FaceMesh;
use crate::obj::{parse_obj, read_obj, Units};
use crate::regions::{FaceRegions, MEDIAPIPE_VERTEX_COUNT};

const CANONICAL_OBJ: &str = include_str!("../../../assets/canonical_face_model.obj");

/// A neutral face mesh of the MediaPipe topology with its named regions.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceTemplate {
    /// The neutral mesh, metres.
    pub mesh: FaceMesh,
    /// Its named vertex lists.
    pub regions: FaceRegions,
}

impl FaceTemplate {
    /// MediaPipe's 468-vertex canonical face (Apache-2.0, see NOTICE), in metres.
    pub fn mediapipe() -> Self {
        let mesh = parse_obj(
            CANONICAL_OBJ,
            Path::new("assets/canonical_face_model.obj"),
            Units::Centimetres,
        )
        .expect("the embedded canonical face model is valid OBJ");
        let regions =
            FaceRegions::mediapipe(&mesh.vertices).expect("the embedded template has 468 vertices");
        Self { mesh, regions }
    }

    /// A user's own neutral of the MediaPipe topology, read from OBJ. Fails with the file
    /// name and counts when the vertex count is not 468.
    pub fn from_obj(path: &Path, units: Units) -> Result<Self> {
        let mesh = read_obj(path, units)?;
        if mesh.num_vertices() != MEDIAPIPE_VERTEX_COUNT {
            return Err(MeshError::VertexCount {
                what: format!("{} (MediaPipe face topology)", path.display()),
                expected: MEDIAPIPE_VERTEX_COUNT,
                got: mesh.num_vertices(),
            });
        }
        Self::from_mesh(mesh)
    }

    /// Wraps a mesh of the MediaPipe topology.
    pub fn from_mesh(mesh: FaceMesh) -> Result<Self> {
        let regions = FaceRegions::mediapipe(&mesh.vertices)?;
        Ok(Self { mesh, regions })
    }

    /// A stable 64-bit fingerprint of the topology and neutral geometry (FNV-1a over the
    /// little-endian bytes), so checkpoints can say which template they were trained on.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for v in &self.mesh.vertices {
            for c in v {
                eat(&c.to_le_bytes());
            }
        }
        for t in &self.mesh.triangles {
            for i in t {
                eat(&i.to_le_bytes());
            }
        }
        h
    }
}
