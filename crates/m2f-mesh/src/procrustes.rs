//! Weighted similarity alignment (Procrustes with scale): the scale, rotation and translation
//! that best map one point set onto another in the weighted least-squares sense, and the
//! weighted landmark basis MediaPipe's face geometry pipeline fits head pose with.
//!
//! The rotation is Horn's closed form ("Closed-form solution of absolute orientation using unit
//! quaternions", 1987): the unit quaternion is the top eigenvector of a symmetric 4 × 4 matrix
//! built from the weighted cross-covariance, so the result is always a proper rotation (never a
//! reflection), with no 3 × 3 SVD and its sign fix-ups.

use serde::Deserialize;

use crate::error::{MeshError, Result};
use crate::head_pose::Mat3;

/// MediaPipe's 33 stable landmarks and their weights (`assets/procrustes_landmark_basis.json`,
/// from the face geometry pipeline's metadata): forehead, nose bridge, eye corners and cheeks,
/// which move little with expression.
const BASIS_JSON: &str = include_str!("../../../assets/procrustes_landmark_basis.json");

/// `p ↦ scale · R · p + translation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Uniform scale.
    pub scale: f32,
    /// Rotation, row-major.
    pub rotation: Mat3,
    /// Translation, applied last.
    pub translation: [f32; 3],
}

impl Similarity {
    /// Maps a point.
    pub fn apply(&self, p: [f32; 3]) -> [f32; 3] {
        let r = &self.rotation;
        std::array::from_fn(|i| {
            self.scale * (r[i][0] * p[0] + r[i][1] * p[1] + r[i][2] * p[2]) + self.translation[i]
        })
    }

    /// Maps a point back: `Rᵀ (q − translation) / scale`.
    pub fn invert(&self, q: [f32; 3]) -> [f32; 3] {
        let r = &self.rotation;
        let d = [
            q[0] - self.translation[0],
            q[1] - self.translation[1],
            q[2] - self.translation[2],
        ];
        std::array::from_fn(|i| (r[0][i] * d[0] + r[1][i] * d[1] + r[2][i] * d[2]) / self.scale)
    }
}

/// The similarity that maps `source[i]` onto `target[i]` with least `Σ wᵢ |s R sᵢ + t − tᵢ|²`,
/// over the points with a positive weight.
///
/// # Errors
/// [`MeshError::Invalid`] when the lengths differ, a weight or coordinate is not finite, a
/// weight is negative, or fewer than three points carry weight or they do not span a plane.
pub fn weighted_procrustes(
    source: &[[f32; 3]],
    target: &[[f32; 3]],
    weights: &[f32],
) -> Result<Similarity> {
    if source.len() != target.len() || source.len() != weights.len() {
        return Err(MeshError::invalid(
            "procrustes points",
            format!(
                "{} source points, {} target points and {} weights; expected equal counts",
                source.len(),
                target.len(),
                weights.len()
            ),
        ));
    }
    let used: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    let finite = |p: &[f32; 3]| p.iter().all(|c| c.is_finite());
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
        || used
            .iter()
            .any(|&i| !finite(&source[i]) || !finite(&target[i]))
    {
        return Err(MeshError::invalid(
            "procrustes points",
            "weights must be finite and non-negative, and weighted points finite",
        ));
    }
    if used.len() < 3 {
        return Err(MeshError::invalid(
            "procrustes points",
            format!("{} points carry weight; at least 3 are needed", used.len()),
        ));
    }
    let total: f64 = used.iter().map(|&i| weights[i] as f64).sum();
    let centroid = |pts: &[[f32; 3]]| -> [f64; 3] {
        std::array::from_fn(|k| {
            used.iter()
                .map(|&i| weights[i] as f64 * pts[i][k] as f64)
                .sum::<f64>()
                / total
        })
    };
    let (ca, cb) = (centroid(source), centroid(target));
    // Weighted cross-covariance m[j][k] = Σ w a'_j b'_k and the source's spread.
    let mut m = [[0f64; 3]; 3];
    let mut spread = 0f64;
    for &i in &used {
        let w = weights[i] as f64;
        let a: [f64; 3] = std::array::from_fn(|k| source[i][k] as f64 - ca[k]);
        let b: [f64; 3] = std::array::from_fn(|k| target[i][k] as f64 - cb[k]);
        for j in 0..3 {
            for k in 0..3 {
                m[j][k] += w * a[j] * b[k];
            }
        }
        spread += w * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    }
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = m;
    let n = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let (values, vectors) = symmetric_eigen4(n);
    let top = (0..4)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    // Points on a line (or one point) leave the rotation about that line free: the top two
    // eigenvalues tie.
    if spread <= 0.0 || (sorted[3] - sorted[2]) <= 1e-9 * sorted[3].abs().max(1e-30) {
        return Err(MeshError::invalid(
            "procrustes points",
            "the weighted points do not span a plane; the rotation is not determined",
        ));
    }
    let q: [f64; 4] = std::array::from_fn(|k| vectors[k][top]);
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [w, x, y, z] = q.map(|v| v / norm);
    let r = [
        [
            w * w + x * x - y * y - z * z,
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            w * w - x * x + y * y - z * z,
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            w * w - x * x - y * y + z * z,
        ],
    ];
    // s = Σ w b'·(R a') / Σ w |a'|² = trace(R M) / spread with M = Σ w a' b'ᵀ.
    let mut rm = 0f64;
    for j in 0..3 {
        for k in 0..3 {
            rm += r[j][k] * m[k][j];
        }
    }
    let scale = rm / spread;
    let translation: [f64; 3] = std::array::from_fn(|i| {
        cb[i] - scale * (r[i][0] * ca[0] + r[i][1] * ca[1] + r[i][2] * ca[2])
    });
    Ok(Similarity {
        scale: scale as f32,
        rotation: r.map(|row| row.map(|v| v as f32)),
        translation: translation.map(|v| v as f32),
    })
}

/// Eigenvalues and eigenvectors (as columns) of a symmetric 4 × 4 matrix by cyclic Jacobi
/// rotations.
fn symmetric_eigen4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0f64; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..4).map(|i| a[i][i] * a[i][i]).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J: columns p and q, then rows p and q.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p], a[q]);
                a[p] = std::array::from_fn(|k| c * row_p[k] - s * row_q[k]);
                a[q] = std::array::from_fn(|k| s * row_p[k] + c * row_q[k]);
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

#[derive(Deserialize)]
struct BasisEntry {
    landmark_id: usize,
    weight: f32,
}

/// Per-vertex weights of MediaPipe's Procrustes landmark basis over the 468-point face: its 33
/// stable landmarks carry their weights, every other point 0.
pub fn mediapipe_procrustes_weights() -> Vec<f32> {
    let entries: Vec<BasisEntry> =
        serde_json::from_str(BASIS_JSON).expect("the bundled Procrustes basis is valid JSON");
    let mut weights = vec![0f32; crate::MEDIAPIPE_VERTEX_COUNT];
    for e in entries {
        weights[e.landmark_id] = e.weight;
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_pose::axis_angle_to_matrix;

    fn cloud() -> Vec<[f32; 3]> {
        (0..40)
            .map(|i| {
                let t = i as f32;
                [
                    (t * 0.7).sin() * 0.08,
                    (t * 1.3).cos() * 0.1,
                    (t * 0.37).sin() * 0.03,
                ]
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_similarity_and_weights_ignore_outliers() {
        let src = cloud();
        let truth = Similarity {
            scale: 1730.0,
            rotation: axis_angle_to_matrix([0.3, -0.5, 2.9]),
            translation: [320.0, -240.0, 15.0],
        };
        let mut dst: Vec<[f32; 3]> = src.iter().map(|&p| truth.apply(p)).collect();
        let mut w = vec![1f32; src.len()];
        // An outlier with no weight must not matter.
        dst[5] = [1e4, 1e4, 1e4];
        w[5] = 0.0;
        let got = weighted_procrustes(&src, &dst, &w).unwrap();
        assert!((got.scale - truth.scale).abs() < 1e-2, "{}", got.scale);
        for i in 0..3 {
            for j in 0..3 {
                assert!((got.rotation[i][j] - truth.rotation[i][j]).abs() < 1e-5);
            }
            assert!((got.translation[i] - truth.translation[i]).abs() < 1e-2);
        }
        for (k, &p) in src.iter().enumerate().filter(|(k, _)| *k != 5) {
            let back = got.invert(dst[k]);
            assert!(
                (0..3).all(|i| (back[i] - p[i]).abs() < 1e-5),
                "{back:?} vs {p:?}"
            );
        }
    }

    #[test]
    fn a_mirror_image_still_gives_a_rotation() {
        let src = cloud();
        let dst: Vec<[f32; 3]> = src.iter().map(|p| [-p[0], p[1], p[2]]).collect();
        let r = weighted_procrustes(&src, &dst, &vec![1.0; src.len()])
            .unwrap()
            .rotation;
        let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
            - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
        assert!((det - 1.0).abs() < 1e-5, "det {det}");
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let line: Vec<[f32; 3]> = (0..5).map(|i| [i as f32, 0.0, 0.0]).collect();
        assert!(weighted_procrustes(&line, &line, &[1.0; 5]).is_err());
        let src = cloud();
        assert!(weighted_procrustes(&src, &src[1..], &[1.0; 40]).is_err());
        let mut w = vec![0.0; 40];
        w[0] = 1.0;
        assert!(weighted_procrustes(&src, &src, &w).is_err());
        let mut w = vec![1.0; 40];
        w[3] = f32::NAN;
        assert!(weighted_procrustes(&src, &src, &w).is_err());
    }

    #[test]
    fn the_basis_has_33_weighted_landmarks() {
        let w = mediapipe_procrustes_weights();
        assert_eq!(w.iter().filter(|&&x| x > 0.0).count(), 33);
        assert!(w[4] > 0.07 && w[33] > 0.05);
    }
}
