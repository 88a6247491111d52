//! Rigid head pose: an axis-angle rotation about the template origin, then a translation.

use serde::{Deserialize, Serialize};

/// Head pose θ = [axis-angle rotation (radians), translation (metres)], applied as
/// `v' = R(rotation) · v + translation` in the template's frame (+x subject's left, +y up,
/// +z out of the face). Stored as 6 numbers per frame everywhere in the project.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct HeadPose {
    /// Axis-angle rotation: the axis scaled by the angle in radians.
    pub rotation: [f32; 3],
    /// Translation in metres.
    pub translation: [f32; 3],
}

/// A row-major 3×3 rotation matrix.
pub type Mat3 = [[f32; 3]; 3];

impl HeadPose {
    /// No rotation, no translation.
    pub const IDENTITY: HeadPose = HeadPose {
        rotation: [0.0; 3],
        translation: [0.0; 3],
    };

    /// From the 6-number layout [rx, ry, rz, tx, ty, tz].
    pub fn from_array(a: [f32; 6]) -> Self {
        Self {
            rotation: [a[0], a[1], a[2]],
            translation: [a[3], a[4], a[5]],
        }
    }

    /// The 6-number layout [rx, ry, rz, tx, ty, tz].
    pub fn to_array(self) -> [f32; 6] {
        let [a, b, c] = self.rotation;
        let [d, e, f] = self.translation;
        [a, b, c, d, e, f]
    }

    /// Rotation matrix by Rodrigues' formula (exact near zero through a series).
    pub fn rotation_matrix(&self) -> Mat3 {
        axis_angle_to_matrix(self.rotation)
    }

    /// Builds a pose from a rotation matrix and translation.
    pub fn from_matrix(r: &Mat3, translation: [f32; 3]) -> Self {
        Self {
            rotation: matrix_to_axis_angle(r),
            translation,
        }
    }

    /// The rotation as a unit quaternion [x, y, z, w] (glTF order).
    pub fn quaternion(&self) -> [f32; 4] {
        let [x, y, z] = self.rotation;
        let angle = (x * x + y * y + z * z).sqrt();
        if angle < 1e-12 {
            return [0.0, 0.0, 0.0, 1.0];
        }
        let s = (0.5 * angle).sin() / angle;
        [x * s, y * s, z * s, (0.5 * angle).cos()]
    }

    /// Applies the pose to one point.
    pub fn apply_point(&self, p: [f32; 3]) -> [f32; 3] {
        let r = self.rotation_matrix();
        let q = mat_vec(&r, p);
        [
            q[0] + self.translation[0],
            q[1] + self.translation[1],
            q[2] + self.translation[2],
        ]
    }

    /// Applies the pose to every vertex.
    pub fn apply(&self, vertices: &[[f32; 3]]) -> Vec<[f32; 3]> {
        let r = self.rotation_matrix();
        vertices
            .iter()
            .map(|&p| {
                let q = mat_vec(&r, p);
                [
                    q[0] + self.translation[0],
                    q[1] + self.translation[1],
                    q[2] + self.translation[2],
                ]
            })
            .collect()
    }

    /// The angle in radians of the rotation that takes this pose's rotation to `other`'s.
    pub fn rotation_distance(&self, other: &HeadPose) -> f32 {
        let a = self.rotation_matrix();
        let b = other.rotation_matrix();
        // trace(Aᵀ B) = 1 + 2 cos θ
        let mut tr = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                tr += a[j][i] * b[j][i];
            }
        }
        ((tr - 1.0) * 0.5).clamp(-1.0, 1.0).acos()
    }
}

/// `a · bᵀ`: for rotations, the rotation that takes `b` to `a` (`a` relative to `b`).
pub fn times_transpose(a: &Mat3, b: &Mat3) -> Mat3 {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[j][k]).sum()))
}

/// Each of `rotations` relative to their [`mean_rotation`] (`R · meanᵀ`): a clip's head turns
/// about its rest pose, with the camera's constant angle on the face taken out.
pub fn rotations_about_mean(rotations: &[Mat3]) -> Vec<Mat3> {
    let mean = mean_rotation(rotations);
    rotations
        .iter()
        .map(|r| times_transpose(r, &mean))
        .collect()
}

/// The rotation nearest the mean of `rotations`: their unit quaternions summed on one
/// hemisphere and normalised (the chordal mean, exact for rotations about one axis and close for
/// a head's small turns). The identity for an empty list.
pub fn mean_rotation(rotations: &[Mat3]) -> Mat3 {
    let quaternions: Vec<[f32; 4]> = rotations
        .iter()
        .map(|r| HeadPose::from_matrix(r, [0.0; 3]).quaternion())
        .collect();
    let mut sum = [0f32; 4];
    for q in &quaternions {
        let same_side = (0..4).map(|k| q[k] * quaternions[0][k]).sum::<f32>() >= 0.0;
        let sign = if same_side { 1.0 } else { -1.0 };
        for k in 0..4 {
            sum[k] += sign * q[k];
        }
    }
    // [x, y, z, w] (glTF order) → axis-angle.
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm.is_nan() || norm <= 0.0 {
        return axis_angle_to_matrix([0.0; 3]);
    }
    let [x, y, z, w] = sum.map(|v| v / norm);
    let s = (x * x + y * y + z * z).sqrt();
    if s < 1e-9 {
        return axis_angle_to_matrix([0.0; 3]);
    }
    let angle = 2.0 * s.atan2(w);
    axis_angle_to_matrix([x / s * angle, y / s * angle, z / s * angle])
}

/// Rodrigues' formula.
pub fn axis_angle_to_matrix(w: [f32; 3]) -> Mat3 {
    let theta2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    let theta = theta2.sqrt();
    // sin θ / θ and (1 − cos θ) / θ² by series near zero, where the closed forms lose digits.
    let (a, b) = if theta < 1e-4 {
        (1.0 - theta2 / 6.0, 0.5 - theta2 / 24.0)
    } else {
        (theta.sin() / theta, (1.0 - theta.cos()) / theta2)
    };
    let [x, y, z] = w;
    [
        [
            1.0 - b * (y * y + z * z),
            -a * z + b * x * y,
            a * y + b * x * z,
        ],
        [
            a * z + b * x * y,
            1.0 - b * (x * x + z * z),
            -a * x + b * y * z,
        ],
        [
            -a * y + b * x * z,
            a * x + b * y * z,
            1.0 - b * (x * x + y * y),
        ],
    ]
}

/// The logarithm map of a rotation matrix, robust near 0 and π.
pub fn matrix_to_axis_angle(r: &Mat3) -> [f32; 3] {
    let v = [r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]];
    let sin = 0.5 * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let cos = 0.5 * (r[0][0] + r[1][1] + r[2][2] - 1.0);
    // atan2 keeps full precision at both ends, where acos or asin alone lose digits.
    let theta = sin.atan2(cos);
    if theta < 1e-4 {
        return [0.5 * v[0], 0.5 * v[1], 0.5 * v[2]];
    }
    if std::f32::consts::PI - theta < 1e-2 {
        // Near π the antisymmetric part vanishes: read the axis off the symmetric part,
        // R + Rᵀ = 2 cos θ I + 2 (1 − cos θ) a aᵀ.
        let d = [r[0][0], r[1][1], r[2][2]];
        let k = (0..3).max_by(|&i, &j| d[i].total_cmp(&d[j])).unwrap_or(0);
        let mut axis = [0.0f32; 3];
        axis[k] = ((d[k] - cos) / (1.0 - cos)).max(0.0).sqrt();
        for j in 0..3 {
            if j != k {
                axis[j] = (r[k][j] + r[j][k]) / (2.0 * (1.0 - cos) * axis[k].max(1e-12));
            }
        }
        let n = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
        // Choose the sign that agrees with the (small) antisymmetric part.
        let sign = if axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2] < 0.0 {
            -1.0
        } else {
            1.0
        };
        return axis.map(|a| sign * theta * a / n);
    }
    let s = theta / (2.0 * sin);
    v.map(|c| c * s)
}

pub fn mat_vec(r: &Mat3, p: [f32; 3]) -> [f32; 3] {
    [
        r[0][0] * p[0] + r[0][1] * p[1] + r[0][2] * p[2],
        r[1][0] * p[0] + r[1][1] * p[1] + r[1][2] * p[2],
        r[2][0] * p[0] + r[2][1] * p[1] + r[2][2] * p[2],
    ]
}

#[cfg(test)]
mod mean_tests {
    use super::*;

    #[test]
    fn the_mean_of_rotations_about_one_axis_is_their_mean_angle() {
        let rs: Vec<Mat3> = [0.1f32, 0.2, 0.3]
            .iter()
            .map(|&a| axis_angle_to_matrix([0.0, a, 0.0]))
            .collect();
        let m = matrix_to_axis_angle(&mean_rotation(&rs));
        assert!(
            (m[1] - 0.2).abs() < 1e-4 && m[0].abs() < 1e-6 && m[2].abs() < 1e-6,
            "{m:?}"
        );
        let rel = times_transpose(&rs[2], &rs[0]);
        assert!((matrix_to_axis_angle(&rel)[1] - 0.2).abs() < 1e-5);
        assert_eq!(mean_rotation(&[]), axis_angle_to_matrix([0.0; 3]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_about_their_mean_take_the_mean_out() {
        let turns: Vec<Mat3> = [0.1f32, 0.2, 0.3]
            .iter()
            .map(|&yaw| axis_angle_to_matrix([0.0, yaw, 0.0]))
            .collect();
        let yaws: Vec<f32> = rotations_about_mean(&turns)
            .iter()
            .map(|r| matrix_to_axis_angle(r)[1])
            .collect();
        for (got, want) in yaws.iter().zip([-0.1f32, 0.0, 0.1]) {
            assert!((got - want).abs() < 1e-5, "{yaws:?}");
        }
    }

    #[test]
    fn matrix_round_trip_over_the_range() {
        for (i, w) in [
            [0.0, 0.0, 0.0],
            [1e-6, -2e-6, 0.0],
            [0.3, -0.2, 0.1],
            [0.0, 1.5, 0.0],
            [2.0, 1.0, -0.5],
            [0.0, 0.0, 3.1],
        ]
        .iter()
        .enumerate()
        {
            let r = axis_angle_to_matrix(*w);
            let back = matrix_to_axis_angle(&r);
            let err: f32 = (0..3).map(|k| (back[k] - w[k]).abs()).sum();
            assert!(err < 2e-3, "case {i}: {w:?} came back as {back:?}");
        }
    }

    #[test]
    fn quaternion_agrees_with_matrix() {
        let pose = HeadPose::from_array([0.2, -0.4, 0.1, 0.0, 0.0, 0.0]);
        let [x, y, z, w] = pose.quaternion();
        // Rotate e_x by the quaternion and compare with the matrix's first column.
        let r = pose.rotation_matrix();
        let qx = [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + z * w),
            2.0 * (x * z - y * w),
        ];
        for k in 0..3 {
            assert!((qx[k] - r[k][0]).abs() < 1e-5);
        }
    }

    #[test]
    fn rotation_distance_of_known_turn() {
        let a = HeadPose::from_array([0.0, 0.1, 0.0, 0.0, 0.0, 0.0]);
        let b = HeadPose::from_array([0.0, 0.3, 0.0, 0.0, 0.0, 0.0]);
        assert!((a.rotation_distance(&b) - 0.2).abs() < 1e-4);
    }
}
