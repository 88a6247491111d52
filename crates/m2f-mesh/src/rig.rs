//! A linear blendshape rig: named displacement fields over a neutral mesh.

use crate::error::{MeshError, Result};
use crate::face_mesh::FaceMesh;

/// Named blendshapes over one neutral: `vertices = neutral + Σ_k w_k · deltas[k]`.
///
/// Linear on purpose: it is exactly what glTF morph targets, ARKit and every game engine
/// evaluate, so an animation exported as weights plays back identically everywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    neutral: FaceMesh,
    names: Vec<String>,
    /// [K][V] displacement at weight 1, metres.
    deltas: Vec<Vec<[f32; 3]>>,
}

impl Rig {
    /// Builds a rig, checking that every delta field covers the neutral's vertices and that
    /// names are unique.
    pub fn new(neutral: FaceMesh, names: Vec<String>, deltas: Vec<Vec<[f32; 3]>>) -> Result<Self> {
        if names.len() != deltas.len() {
            return Err(MeshError::invalid(
                "rig",
                format!("{} names for {} blendshapes", names.len(), deltas.len()),
            ));
        }
        for (name, d) in names.iter().zip(&deltas) {
            neutral.check_vertex_count(&format!("blendshape {name}"), d.len())?;
            if d.iter().flatten().any(|c| !c.is_finite()) {
                return Err(MeshError::invalid(
                    format!("blendshape {name}"),
                    "displacements must be finite",
                ));
            }
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(MeshError::invalid(
                    "rig",
                    format!("blendshape {n:?} appears twice"),
                ));
            }
        }
        Ok(Self {
            neutral,
            names,
            deltas,
        })
    }

    /// The face all deltas are added to.
    pub fn neutral(&self) -> &FaceMesh {
        &self.neutral
    }

    /// The blendshape names, in weight order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of blendshapes K.
    pub fn num_blendshapes(&self) -> usize {
        self.names.len()
    }

    /// Displacement field of blendshape `k` at weight 1, `[V][3]` metres.
    pub fn delta(&self, k: usize) -> &[[f32; 3]] {
        &self.deltas[k]
    }

    /// Every blendshape's displacement field, `[K][V][3]` metres.
    pub fn deltas(&self) -> &[Vec<[f32; 3]>] {
        &self.deltas
    }

    /// Index of a blendshape by name.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| MeshError::UnknownBlendshape {
                name: name.into(),
                known: self.names.join(", "),
            })
    }

    /// Vertices for one frame of weights `[K]`.
    pub fn apply(&self, weights: &[f32]) -> Result<Vec<[f32; 3]>> {
        if weights.len() != self.names.len() {
            return Err(MeshError::invalid(
                "rig weights",
                format!(
                    "expected {} weights (one per blendshape), got {}",
                    self.names.len(),
                    weights.len()
                ),
            ));
        }
        let mut out = self.neutral.vertices.clone();
        for (w, d) in weights.iter().zip(&self.deltas) {
            if *w == 0.0 {
                continue;
            }
            for (o, dv) in out.iter_mut().zip(d) {
                o[0] += w * dv[0];
                o[1] += w * dv[1];
                o[2] += w * dv[2];
            }
        }
        Ok(out)
    }

    /// The same blendshapes moved onto another neutral of the same topology. Delta fields are
    /// kept as they are: use a rig builder to adapt them to a new face's proportions.
    pub fn with_neutral(&self, neutral: FaceMesh) -> Result<Self> {
        Self::new(neutral, self.names.clone(), self.deltas.clone())
    }
}
