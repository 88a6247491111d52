//! Wavefront OBJ read and write, for meshes of one fixed topology.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::{MeshError, Result};
use crate::face_mesh::FaceMesh;

/// The length unit of an OBJ file's coordinates. Meshes are metres inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// Metres (the template's unit).
    #[default]
    Metres,
    /// Centimetres.
    Centimetres,
    /// Millimetres (MediaPipe's canonical face).
    Millimetres,
}

impl Units {
    /// Metres per file unit.
    pub fn metres_per_unit(self) -> f32 {
        match self {
            Units::Metres => 1.0,
            Units::Centimetres => 0.01,
            Units::Millimetres => 0.001,
        }
    }
}

/// A face corner: vertex index and optional texture-coordinate index, 0-based.
type Corner = (usize, Option<usize>);

/// Reads an OBJ file whose coordinates are in `units`.
pub fn read_obj(path: &Path, units: Units) -> Result<FaceMesh> {
    let text = std::fs::read_to_string(path).map_err(|e| MeshError::io(path, e))?;
    parse_obj(&text, path, units)
}

/// Parses OBJ text; `source` names it in errors. Polygons are fan-triangulated; texture
/// coordinates are kept per vertex when every vertex has exactly one.
pub fn parse_obj(text: &str, source: &Path, units: Units) -> Result<FaceMesh> {
    let scale = units.metres_per_unit();
    let err = |line: usize, message: String| MeshError::Obj {
        path: PathBuf::from(source),
        line,
        message,
    };
    let mut vertices = Vec::new();
    let mut texcoords: Vec<[f32; 2]> = Vec::new();
    let mut faces: Vec<(usize, Vec<Corner>)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        let mut fields = line.split_whitespace();
        let Some(tag) = fields.next() else { continue };
        match tag {
            "v" => {
                let coords =
                    parse_floats(fields, 3).map_err(|m| err(line_no, format!("vertex: {m}")))?;
                vertices.push([coords[0] * scale, coords[1] * scale, coords[2] * scale]);
            }
            "vt" => {
                let uv = parse_floats(fields, 2)
                    .map_err(|m| err(line_no, format!("texture coordinate: {m}")))?;
                texcoords.push([uv[0], uv[1]]);
            }
            "f" => {
                let mut corners = Vec::new();
                for f in fields {
                    let mut parts = f.split('/');
                    let v = parse_index(parts.next().unwrap_or(""), vertices.len())
                        .map_err(|m| err(line_no, format!("face vertex {f:?}: {m}")))?;
                    let vt = match parts.next() {
                        Some(s) if !s.is_empty() => Some(
                            parse_index(s, texcoords.len())
                                .map_err(|m| err(line_no, format!("face texcoord {f:?}: {m}")))?,
                        ),
                        _ => None,
                    };
                    corners.push((v, vt));
                }
                if corners.len() < 3 {
                    return Err(err(
                        line_no,
                        format!("face has {} corners, expected at least 3", corners.len()),
                    ));
                }
                faces.push((line_no, corners));
            }
            // Normals, groups, materials and smoothing do not change a fixed-topology mesh.
            _ => {}
        }
    }
    if vertices.is_empty() {
        return Err(err(0, "no vertices ('v' lines) found".into()));
    }
    let mut triangles = Vec::new();
    let mut uv_of_vertex: Vec<Option<usize>> = vec![None; vertices.len()];
    let mut uvs_consistent = !texcoords.is_empty();
    for (line_no, corners) in &faces {
        for &(v, vt) in corners {
            if v >= vertices.len() {
                return Err(err(
                    *line_no,
                    format!(
                        "vertex index {} refers past the {} vertices",
                        v + 1,
                        vertices.len()
                    ),
                ));
            }
            if let Some(t) = vt.filter(|&t| t >= texcoords.len()) {
                return Err(err(
                    *line_no,
                    format!(
                        "texture coordinate index {} refers past the {} texture coordinates",
                        t + 1,
                        texcoords.len()
                    ),
                ));
            }
            match (vt, uv_of_vertex[v]) {
                (None, _) => uvs_consistent = false,
                (Some(t), None) => uv_of_vertex[v] = Some(t),
                (Some(t), Some(prev)) if texcoords[t] != texcoords[prev] => uvs_consistent = false,
                _ => {}
            }
        }
        for k in 1..corners.len() - 1 {
            triangles.push([
                corners[0].0 as u32,
                corners[k].0 as u32,
                corners[k + 1].0 as u32,
            ]);
        }
    }
    let uvs = if uvs_consistent && uv_of_vertex.iter().all(Option::is_some) {
        Some(
            uv_of_vertex
                .iter()
                .map(|t| texcoords[t.unwrap_or_default()])
                .collect(),
        )
    } else {
        None
    };
    FaceMesh::new(vertices, triangles, uvs)
}

fn parse_floats<'a>(fields: impl Iterator<Item = &'a str>, n: usize) -> Result<Vec<f32>, String> {
    let values: Vec<f32> = fields
        .take(n)
        .map(|s| {
            s.parse::<f32>()
                .map_err(|_| format!("{s:?} is not a number"))
                .and_then(|x| {
                    if x.is_finite() {
                        Ok(x)
                    } else {
                        Err(format!("{s:?} is not finite"))
                    }
                })
        })
        .collect::<Result<_, _>>()?;
    if values.len() < n {
        return Err(format!("expected {n} numbers, found {}", values.len()));
    }
    Ok(values)
}

/// OBJ indices are 1-based; negative ones count back from the end of the list so far.
fn parse_index(s: &str, count: usize) -> Result<usize, String> {
    let i: i64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not an integer index"))?;
    match i {
        0 => Err("index 0 is not valid (OBJ indices start at 1)".into()),
        // Past `usize` (possible on 32-bit targets) saturates, so the bounds check refuses it.
        i if i > 0 => Ok(usize::try_from(i - 1).unwrap_or(usize::MAX)),
        i => {
            let back = usize::try_from(i.unsigned_abs()).unwrap_or(usize::MAX);
            if back > count {
                Err(format!(
                    "relative index {i} reaches before the first element"
                ))
            } else {
                Ok(count - back)
            }
        }
    }
}

/// Writes `mesh` as OBJ in `units`, atomically.
pub fn write_obj(path: &Path, mesh: &FaceMesh, units: Units) -> Result<()> {
    write_atomic(path, |w| write_obj_to(w, mesh, units))
}

/// Writes `mesh` as OBJ text to any writer.
pub fn write_obj_to(w: &mut dyn Write, mesh: &FaceMesh, units: Units) -> std::io::Result<()> {
    let inv = 1.0 / units.metres_per_unit();
    writeln!(
        w,
        "# media2face mesh, {} vertices, units: {units:?}",
        mesh.vertices.len()
    )?;
    for v in &mesh.vertices {
        writeln!(w, "v {} {} {}", v[0] * inv, v[1] * inv, v[2] * inv)?;
    }
    if let Some(uvs) = &mesh.uvs {
        for uv in uvs {
            writeln!(w, "vt {} {}", uv[0], uv[1])?;
        }
    }
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|i| i + 1);
        if mesh.uvs.is_some() {
            writeln!(w, "f {a}/{a} {b}/{b} {c}/{c}")?;
        } else {
            writeln!(w, "f {a} {b} {c}")?;
        }
    }
    Ok(())
}
