//! Named vertex regions and landmarks of the MediaPipe face topology.
//!
//! Contours come from MediaPipe's landmark connection lists (`assets/face_regions.json`);
//! the jaw and the upper face, which MediaPipe does not list, are derived from the canonical
//! geometry by the rules documented on each field, so any identity shares the same indices.

use serde::{Deserialize, Serialize};

use crate::error::{MeshError, Result};

/// Vertex count of the MediaPipe face topology without irises.
pub const MEDIAPIPE_VERTEX_COUNT: usize = 468;

/// Single vertices that name a point of the face. "Left" and "right" are the subject's own,
/// as in MediaPipe and ARKit (the subject's left is +x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landmarks {
    /// Middle of the upper lip's inner edge.
    pub upper_inner_lip: u32,
    /// Middle of the lower lip's inner edge; its distance to `upper_inner_lip` is the mouth opening.
    pub lower_inner_lip: u32,
    /// Middle of the upper lip's outer edge.
    pub upper_outer_lip: u32,
    /// Middle of the lower lip's outer edge.
    pub lower_outer_lip: u32,
    /// The subject's left mouth corner.
    pub mouth_corner_left: u32,
    /// The subject's right mouth corner.
    pub mouth_corner_right: u32,
    /// Outer corner of the left eye.
    pub left_eye_outer: u32,
    /// Inner corner of the left eye.
    pub left_eye_inner: u32,
    /// Outer corner of the right eye.
    pub right_eye_outer: u32,
    /// Inner corner of the right eye.
    pub right_eye_inner: u32,
    /// Middle of the left upper eyelid.
    pub left_upper_eyelid: u32,
    /// Middle of the left lower eyelid.
    pub left_lower_eyelid: u32,
    /// Middle of the right upper eyelid.
    pub right_upper_eyelid: u32,
    /// Middle of the right lower eyelid.
    pub right_lower_eyelid: u32,
    /// Tip of the nose.
    pub nose_tip: u32,
    /// Bottom of the chin.
    pub chin: u32,
    /// Top of the forehead on the midline.
    pub forehead: u32,
}

impl Landmarks {
    /// The landmarks of the MediaPipe face mesh.
    pub const MEDIAPIPE: Landmarks = Landmarks {
        upper_inner_lip: 13,
        lower_inner_lip: 14,
        upper_outer_lip: 0,
        lower_outer_lip: 17,
        mouth_corner_left: 291,
        mouth_corner_right: 61,
        left_eye_outer: 263,
        left_eye_inner: 362,
        right_eye_outer: 33,
        right_eye_inner: 133,
        left_upper_eyelid: 386,
        left_lower_eyelid: 374,
        right_upper_eyelid: 159,
        right_lower_eyelid: 145,
        nose_tip: 4,
        chin: 152,
        forehead: 10,
    };
}

/// Vertex index lists of the face's parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceRegions {
    /// Outer lip contour, right corner → left corner along the upper then the lower lip.
    pub lips_outer: Vec<u32>,
    /// Inner lip contour (the mouth opening).
    pub lips_inner: Vec<u32>,
    /// Inner contour of the upper lip, right corner → left corner (corners included).
    pub upper_inner_lip: Vec<u32>,
    /// Inner contour of the lower lip, right corner → left corner (corners included), paired
    /// index by index with `upper_inner_lip`.
    pub lower_inner_lip: Vec<u32>,
    /// Outer contour of the upper lip, right corner → left corner.
    pub upper_outer_lip: Vec<u32>,
    /// Outer contour of the lower lip, right corner → left corner.
    pub lower_outer_lip: Vec<u32>,
    /// Every lip vertex, inner and outer (the LVE region).
    pub lips: Vec<u32>,
    /// Contour of the left eye opening.
    pub left_eye: Vec<u32>,
    /// Contour of the right eye opening.
    pub right_eye: Vec<u32>,
    /// Left upper eyelid contour, outer corner → inner corner.
    pub left_upper_eyelid: Vec<u32>,
    /// Right upper eyelid contour, outer corner → inner corner.
    pub right_upper_eyelid: Vec<u32>,
    /// Left lower eyelid contour, outer corner → inner corner.
    pub left_lower_eyelid: Vec<u32>,
    /// Right lower eyelid contour, outer corner → inner corner.
    pub right_lower_eyelid: Vec<u32>,
    /// Left eyebrow.
    pub left_brow: Vec<u32>,
    /// Right eyebrow.
    pub right_brow: Vec<u32>,
    /// Vertices that ride on the mandible: below the inner lip line and inside the face oval.
    pub jaw: Vec<u32>,
    /// Vertices above the line 1.5 cm under the eye corners: forehead, brows, eyes (the FDD
    /// region, as in FaceFormer and CodeTalker).
    pub upper_face: Vec<u32>,
    /// The face outline.
    pub face_oval: Vec<u32>,
    /// Single named vertices.
    pub landmarks: Landmarks,
}

#[derive(Deserialize)]
struct RegionFile {
    connections: std::collections::BTreeMap<String, Vec<[u32; 2]>>,
}

const REGIONS_JSON: &str = include_str!("../../../assets/face_regions.json");

impl FaceRegions {
    /// The regions of the MediaPipe topology, located on `vertices` (metres, the canonical
    /// orientation: +y up, +z out of the face).
    pub fn mediapipe(vertices: &[[f32; 3]]) -> Result<Self> {
        if vertices.len() != MEDIAPIPE_VERTEX_COUNT {
            return Err(MeshError::VertexCount {
                what: "MediaPipe face template".into(),
                expected: MEDIAPIPE_VERTEX_COUNT,
                got: vertices.len(),
            });
        }
        let file: RegionFile = serde_json::from_str(REGIONS_JSON)
            .map_err(|e| MeshError::invalid("assets/face_regions.json", e.to_string()))?;
        let edges = |name: &str| -> Result<&[[u32; 2]]> {
            file.connections
                .get(name)
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    MeshError::invalid("assets/face_regions.json", format!("missing {name:?}"))
                })
        };
        let lips = edges("lips")?;
        // MediaPipe lists the lips as four chains of 10 edges: outer lower, outer upper,
        // inner lower, inner upper, each from the right corner to the left corner.
        let chain = |es: &[[u32; 2]]| -> Vec<u32> {
            let mut c = vec![es[0][0]];
            c.extend(es.iter().map(|e| e[1]));
            c
        };
        if lips.len() != 40 {
            return Err(MeshError::invalid(
                "assets/face_regions.json",
                format!("lips: expected 40 edges, found {}", lips.len()),
            ));
        }
        let outer_lower = chain(&lips[0..10]);
        let outer_upper = chain(&lips[10..20]);
        let inner_lower = chain(&lips[20..30]);
        let inner_upper = chain(&lips[30..40]);
        let eye = |name: &str| -> Result<(Vec<u32>, Vec<u32>)> {
            // Eye lists: 8 lower-lid edges then 8 upper-lid edges, outer → inner corner.
            let es = edges(name)?;
            if es.len() != 16 {
                return Err(MeshError::invalid(
                    "assets/face_regions.json",
                    format!("{name}: expected 16 edges, found {}", es.len()),
                ));
            }
            Ok((chain(&es[8..16]), chain(&es[0..8])))
        };
        let (left_upper_eyelid, left_lower_eyelid) = eye("left_eye")?;
        let (right_upper_eyelid, right_lower_eyelid) = eye("right_eye")?;
        let unique = |lists: &[&[u32]]| -> Vec<u32> {
            let mut v: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let edge_vertices = |name: &str| -> Result<Vec<u32>> {
            let es = edges(name)?;
            let flat: Vec<u32> = es.iter().flat_map(|e| e.iter().copied()).collect();
            Ok(unique(&[&flat]))
        };
        let face_oval = chain(edges("face_oval")?);
        let landmarks = Landmarks::MEDIAPIPE;

        let y = |i: u32| vertices[i as usize][1];
        let lip_line = 0.5 * (y(landmarks.upper_inner_lip) + y(landmarks.lower_inner_lip));
        let oval_half_width = face_oval
            .iter()
            .map(|&i| vertices[i as usize][0].abs())
            .fold(0.0f32, f32::max);
        let jaw: Vec<u32> = (0..vertices.len() as u32)
            .filter(|&i| y(i) < lip_line && vertices[i as usize][0].abs() <= oval_half_width)
            .filter(|i| !inner_upper.contains(i))
            .collect();
        let eye_line = 0.25
            * (y(landmarks.left_eye_outer)
                + y(landmarks.left_eye_inner)
                + y(landmarks.right_eye_outer)
                + y(landmarks.right_eye_inner));
        let upper_face: Vec<u32> = (0..vertices.len() as u32)
            .filter(|&i| y(i) > eye_line - 0.015)
            .collect();

        Ok(Self {
            lips_outer: unique(&[&outer_upper, &outer_lower]),
            lips_inner: unique(&[&inner_upper, &inner_lower]),
            lips: unique(&[&outer_upper, &outer_lower, &inner_upper, &inner_lower]),
            upper_outer_lip: outer_upper,
            lower_outer_lip: outer_lower,
            upper_inner_lip: inner_upper,
            lower_inner_lip: inner_lower,
            left_eye: unique(&[&left_upper_eyelid, &left_lower_eyelid]),
            right_eye: unique(&[&right_upper_eyelid, &right_lower_eyelid]),
            left_upper_eyelid,
            right_upper_eyelid,
            left_lower_eyelid,
            right_lower_eyelid,
            left_brow: edge_vertices("left_eyebrow")?,
            right_brow: edge_vertices("right_eyebrow")?,
            jaw,
            upper_face,
            face_oval,
            landmarks,
        })
    }

    /// Checks that every region is non-empty and every index (regions and landmarks) is a
    /// vertex of a mesh of `num_vertices`: regions read from a file are used as indices.
    ///
    /// # Errors
    /// [`MeshError::Invalid`] naming the region or landmark.
    pub fn check(&self, num_vertices: usize) -> Result<()> {
        // Through the serialised form, so that a region added to the struct is checked too.
        let lists = serde_json::to_value(self)
            .map_err(|e| MeshError::invalid("face regions", e.to_string()))?;
        let Some(object) = lists.as_object() else {
            return Err(MeshError::invalid("face regions", "not an object"));
        };
        for (name, value) in object {
            let indices: Vec<u64> = match value {
                serde_json::Value::Array(list) => list.iter().filter_map(|v| v.as_u64()).collect(),
                serde_json::Value::Object(marks) => {
                    marks.values().filter_map(|v| v.as_u64()).collect()
                }
                _ => Vec::new(),
            };
            if indices.is_empty() {
                return Err(MeshError::invalid(
                    format!("face region {name}"),
                    "is empty",
                ));
            }
            if let Some(bad) = indices.iter().find(|&&i| i >= num_vertices as u64) {
                return Err(MeshError::invalid(
                    format!("face region {name}"),
                    format!("vertex index {bad} out of range for {num_vertices} vertices"),
                ));
            }
        }
        Ok(())
    }

    /// Inner lip gap at the mouth centre: distance between the upper and lower inner lip
    /// centre vertices, metres.
    pub fn inner_lip_gap(&self, vertices: &[[f32; 3]]) -> f32 {
        let a = vertices[self.landmarks.upper_inner_lip as usize];
        let b = vertices[self.landmarks.lower_inner_lip as usize];
        let d = crate::face_mesh::sub(a, b);
        crate::face_mesh::dot(d, d).sqrt()
    }

    /// Signed vertical openings (m) between paired upper and lower eyelid vertices of both
    /// eyes, the corners left out: negative where the upper lid has passed below the lower one.
    pub fn eyelid_openings(&self, vertices: &[[f32; 3]]) -> Vec<f32> {
        [
            (&self.left_upper_eyelid, &self.left_lower_eyelid),
            (&self.right_upper_eyelid, &self.right_lower_eyelid),
        ]
        .iter()
        .flat_map(|(up, lo)| {
            let inner = up.len().min(lo.len()).saturating_sub(1);
            up.iter()
                .zip(lo.iter())
                .take(inner)
                .skip(1)
                .map(|(&a, &b)| vertices[a as usize][1] - vertices[b as usize][1])
                .collect::<Vec<_>>()
        })
        .collect()
    }
}
