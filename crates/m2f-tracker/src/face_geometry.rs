//! From tracked points to a metric face and a head pose: the face mesh's points are a 3D face
//! seen orthographically in image pixels (x right, y down, z away from the camera, in the x
//! scale), so one similarity — scale, rotation, translation — takes a metric reference face
//! onto them. It is fitted by weighted Procrustes on MediaPipe's stable landmarks (forehead,
//! nose bridge, eye corners, cheeks), which expression hardly moves; undoing it puts every point
//! in the reference's frame, in metres, with the head's motion removed.

use m2f_mesh::{matrix_to_axis_angle, weighted_procrustes, HeadPose, Similarity};

use crate::landmarker::MESH_POINTS;
use crate::{Result, TrackerError};

/// The camera assumed to turn the face's image scale into depth: MediaPipe's face geometry
/// pipeline assumes a 63° vertical field of view when the real one is unknown.
pub const DEFAULT_VERTICAL_FOV_DEGREES: f32 = 63.0;

/// One frame's face in metric form.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceGeometry {
    /// The head's rotation (reference frame → camera frame with +y up and +z towards the
    /// camera) and translation in metres: x and y of the reference's origin from the image
    /// centre at the face's depth, z = −depth for the assumed field of view.
    pub pose: HeadPose,
    /// Image pixels per metre at the face (the similarity's scale).
    pub pixels_per_metre: f32,
    /// The 468 points in the reference's frame, metres: the tracked face with the head's pose
    /// undone, in the template's topology.
    pub vertices: Vec<[f32; 3]>,
}

/// Fits the similarity from `reference` (metres, the template's frame: +x the subject's left,
/// +y up, +z out of the face) to the tracked `points` (pixels, as [`crate::FaceLandmarks`]) with
/// per-point `weights` (`m2f_mesh::mediapipe_procrustes_weights()` for MediaPipe's basis), and
/// undoes it. `image_size` is the frame's (width, height); `vertical_fov` in radians.
///
/// # Errors
/// [`TrackerError::Invalid`] when the counts are not 468, or the fit fails (non-finite points,
/// a degenerate face).
pub fn face_geometry(
    points: &[[f32; 3]],
    reference: &[[f32; 3]],
    weights: &[f32],
    image_size: (u32, u32),
    vertical_fov: f32,
) -> Result<FaceGeometry> {
    if points.len() != MESH_POINTS || reference.len() != MESH_POINTS || weights.len() != MESH_POINTS
    {
        return Err(TrackerError::Invalid {
            what: "face geometry".into(),
            message: format!(
                "{} points, {} reference vertices, {} weights; expected {MESH_POINTS} each",
                points.len(),
                reference.len(),
                weights.len()
            ),
        });
    }
    // Image axes (x right, y down, z away) → a right-handed frame with +y up, +z to the camera.
    let seen: Vec<[f32; 3]> = points.iter().map(|p| [p[0], -p[1], -p[2]]).collect();
    let fit =
        weighted_procrustes(reference, &seen, weights).map_err(|e| TrackerError::Invalid {
            what: "face geometry".into(),
            message: e.to_string(),
        })?;
    if !(fit.scale.is_finite() && fit.scale > 0.0) {
        return Err(TrackerError::Invalid {
            what: "face geometry".into(),
            message: format!("the fitted scale {} is not positive", fit.scale),
        });
    }
    Ok(FaceGeometry {
        pose: pose_of(&fit, image_size, vertical_fov),
        pixels_per_metre: fit.scale,
        vertices: seen.iter().map(|&p| fit.invert(p)).collect(),
    })
}

fn pose_of(fit: &Similarity, (width, height): (u32, u32), vertical_fov: f32) -> HeadPose {
    let s = fit.scale;
    let focal = 0.5 * height as f32 / (0.5 * vertical_fov).tan();
    HeadPose {
        rotation: matrix_to_axis_angle(&fit.rotation),
        translation: [
            (fit.translation[0] - 0.5 * width as f32) / s,
            (fit.translation[1] + 0.5 * height as f32) / s,
            -focal / s,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2f_mesh::{axis_angle_to_matrix, mediapipe_procrustes_weights, FaceTemplate};

    #[test]
    fn undoes_a_known_pose_and_scale_exactly() {
        let template = FaceTemplate::mediapipe();
        let neutral = &template.mesh.vertices;
        let truth = Similarity {
            scale: 1500.0,
            rotation: axis_angle_to_matrix([0.1, -0.3, 0.05]),
            translation: [330.0, -250.0, -40.0],
        };
        // What the face mesh would report: y and z flipped back to image axes.
        let points: Vec<[f32; 3]> = neutral
            .iter()
            .map(|&v| truth.apply(v))
            .map(|p| [p[0], -p[1], -p[2]])
            .collect();
        let g = face_geometry(
            &points,
            neutral,
            &mediapipe_procrustes_weights(),
            (640, 480),
            1.0,
        )
        .unwrap();
        assert!((g.pixels_per_metre - 1500.0).abs() < 0.05);
        for (a, b) in g.vertices.iter().zip(neutral) {
            assert!((0..3).all(|k| (a[k] - b[k]).abs() < 1e-5), "{a:?} vs {b:?}");
        }
        let r = g.pose.rotation;
        assert!(
            (r[0] - 0.1).abs() < 1e-4 && (r[1] + 0.3).abs() < 1e-4 && (r[2] - 0.05).abs() < 1e-4,
            "{r:?}"
        );
        assert!((g.pose.translation[0] - 10.0 / 1500.0).abs() < 1e-5);
        assert!((g.pose.translation[1] + 10.0 / 1500.0).abs() < 1e-5);
    }

    #[test]
    fn wrong_counts_are_errors() {
        let template = FaceTemplate::mediapipe();
        let w = mediapipe_procrustes_weights();
        assert!(
            face_geometry(&[[0.0; 3]; 10], &template.mesh.vertices, &w, (10, 10), 1.0).is_err()
        );
        assert!(face_geometry(
            &vec![[0.0; 3]; 468],
            &template.mesh.vertices,
            &w,
            (10, 10),
            1.0
        )
        .is_err());
    }
}
