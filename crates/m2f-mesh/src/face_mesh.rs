use crate::error::{MeshError, Result};

/// A triangle mesh of fixed topology, in metres.
///
/// All faces of one topology share `triangles` and `uvs`; only `vertices` change between
/// identities and frames, which is what lets expressions live in one latent space.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMesh {
    /// Vertex positions [V, 3], metres.
    pub vertices: Vec<[f32; 3]>,
    /// Triangles as vertex indices, counter-clockwise seen from outside.
    pub triangles: Vec<[u32; 3]>,
    /// Per-vertex texture coordinates, if the source had them.
    pub uvs: Option<Vec<[f32; 2]>>,
}

impl FaceMesh {
    /// Builds a mesh, checking that every triangle index and the UV count fit the vertices.
    pub fn new(
        vertices: Vec<[f32; 3]>,
        triangles: Vec<[u32; 3]>,
        uvs: Option<Vec<[f32; 2]>>,
    ) -> Result<Self> {
        let n = vertices.len();
        check_triangles(&triangles, n)?;
        if let Some(uv) = &uvs {
            if uv.len() != n {
                return Err(MeshError::VertexCount {
                    what: "uvs".into(),
                    expected: n,
                    got: uv.len(),
                });
            }
        }
        if let Some(i) = vertices
            .iter()
            .position(|v| v.iter().any(|c| !c.is_finite()))
        {
            return Err(MeshError::invalid(
                format!("vertex {i}"),
                "coordinates must be finite",
            ));
        }
        Ok(Self {
            vertices,
            triangles,
            uvs,
        })
    }

    /// Number of vertices V.
    pub fn num_vertices(&self) -> usize {
        self.vertices.len()
    }

    /// The same topology with other vertex positions.
    pub fn with_vertices(&self, vertices: Vec<[f32; 3]>) -> Result<Self> {
        if vertices.len() != self.vertices.len() {
            return Err(MeshError::VertexCount {
                what: "replacement vertices".into(),
                expected: self.vertices.len(),
                got: vertices.len(),
            });
        }
        Ok(Self {
            vertices,
            triangles: self.triangles.clone(),
            uvs: self.uvs.clone(),
        })
    }

    /// Fails unless `vertices` has this mesh's vertex count.
    pub fn check_vertex_count(&self, what: &str, got: usize) -> Result<()> {
        if got != self.vertices.len() {
            return Err(MeshError::VertexCount {
                what: what.into(),
                expected: self.vertices.len(),
                got,
            });
        }
        Ok(())
    }

    /// Area-weighted vertex normals, unit length.
    pub fn vertex_normals(&self) -> Vec<[f32; 3]> {
        vertex_normals(&self.vertices, &self.triangles)
    }

    /// Axis-aligned bounds (min, max).
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        bounds(&self.vertices)
    }
}

/// Fails, naming the first bad triangle, unless every index of `triangles` is below
/// `num_vertices`.
pub fn check_triangles(triangles: &[[u32; 3]], num_vertices: usize) -> Result<()> {
    match triangles
        .iter()
        .enumerate()
        .find(|(_, t)| t.iter().any(|&v| v as usize >= num_vertices))
    {
        Some((i, t)) => Err(MeshError::invalid(
            format!("triangle {i}"),
            format!("indices {t:?} out of range for {num_vertices} vertices"),
        )),
        None => Ok(()),
    }
}

/// Area-weighted vertex normals of `vertices` under `triangles`, unit length.
pub fn vertex_normals(vertices: &[[f32; 3]], triangles: &[[u32; 3]]) -> Vec<[f32; 3]> {
    let mut normals = vec![[0.0f32; 3]; vertices.len()];
    for t in triangles {
        let [a, b, c] = t.map(|i| vertices[i as usize]);
        let n = cross(sub(b, a), sub(c, a));
        for &i in t {
            let acc = &mut normals[i as usize];
            for k in 0..3 {
                acc[k] += n[k];
            }
        }
    }
    for n in &mut normals {
        let len = dot(*n, *n).sqrt();
        if len > 0.0 {
            *n = n.map(|c| c / len);
        }
    }
    normals
}

/// Axis-aligned bounds (min, max) of a point set.
pub fn bounds(points: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in points {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

pub(crate) fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
