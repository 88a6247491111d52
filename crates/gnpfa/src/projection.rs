//! Differentiable head-pose and camera maths on tensors, for the image encoders' losses:
//! rotations from the continuous 6D representation, rigid posing, and pinhole projection
//! into the crop (the same pixel convention as `m2f_mesh::project`).

use candle_core::{Device, Tensor, D};
use m2f_mesh::HeadPose;

use crate::crop_camera::CropCamera;
use crate::error::{GnpfaError, Result};

fn cross(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let c = |t: &Tensor, i: usize| t.narrow(D::Minus1, i, 1);
    let (a0, a1, a2) = (c(a, 0)?, c(a, 1)?, c(a, 2)?);
    let (b0, b1, b2) = (c(b, 0)?, c(b, 1)?, c(b, 2)?);
    Ok(Tensor::cat(
        &[
            ((&a1 * &b2)? - (&a2 * &b1)?)?,
            ((&a2 * &b0)? - (&a0 * &b2)?)?,
            ((&a0 * &b1)? - (&a1 * &b0)?)?,
        ],
        D::Minus1,
    )?)
}

fn normalize(v: &Tensor) -> Result<Tensor> {
    let norm = (v.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok(v.broadcast_div(&norm)?)
}

/// Rotation matrices from the 6D representation of Zhou et al. (2019), continuous unlike
/// axis-angles or quaternions, which makes it easy to regress: `raw` [B, 6] holds offsets of
/// the first two columns from the identity's; Gram–Schmidt makes them orthonormal and their
/// cross product is the third. → [B, 3, 3], `R[b, i, j]` = component i of column j.
pub fn rotation_from_6d(raw: &Tensor) -> Result<Tensor> {
    let device = raw.device();
    let a1 = raw
        .narrow(D::Minus1, 0, 3)?
        .broadcast_add(&Tensor::new(&[[1f32, 0.0, 0.0]], device)?)?;
    let a2 = raw
        .narrow(D::Minus1, 3, 3)?
        .broadcast_add(&Tensor::new(&[[0f32, 1.0, 0.0]], device)?)?;
    let b1 = normalize(&a1)?;
    let along = (&b1 * &a2)?.sum_keepdim(D::Minus1)?;
    let b2 = normalize(&(&a2 - b1.broadcast_mul(&along)?)?)?;
    let b3 = cross(&b1, &b2)?;
    Ok(Tensor::stack(&[b1, b2, b3], D::Minus1)?)
}

/// `R · p + t` for every point: points [B, V, 3], rotation [B, 3, 3], translation [B, 3]
/// → [B, V, 3].
pub fn pose_points(points: &Tensor, rotation: &Tensor, translation: &Tensor) -> Result<Tensor> {
    let rotated = points.matmul(&rotation.transpose(1, 2)?.contiguous()?)?;
    Ok(rotated.broadcast_add(&translation.unsqueeze(1)?)?)
}

/// Pixel coordinates in a `size`×`size` crop of `camera` (origin top-left, y down, pixel
/// centres at half-integers): points [B, V, 3] metres → [B, V, 2]. Points must lie in front
/// of the camera (they do for any face in its crop).
pub fn project_points(points: &Tensor, camera: &CropCamera, size: usize) -> Result<Tensor> {
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let unit = |v: [f32; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        [v[0] / n, v[1] / n, v[2] / n]
    };
    let cross3 = |a: [f32; 3], b: [f32; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let fwd = unit(sub(camera.target, camera.eye));
    let right = unit(cross3(fwd, [0.0, 1.0, 0.0]));
    let up = cross3(right, fwd);
    let device = points.device();
    // Columns right, up, fwd: (p − eye) · basis = camera coordinates (x, y, depth).
    let basis = Tensor::new(
        &[
            [right[0], up[0], fwd[0]],
            [right[1], up[1], fwd[1]],
            [right[2], up[2], fwd[2]],
        ],
        device,
    )?;
    let eye = Tensor::new(&[camera.eye], device)?.unsqueeze(0)?;
    let (b, v, _) = points.dims3()?;
    let cam = points
        .broadcast_sub(&eye)?
        .reshape((b * v, 3))?
        .matmul(&basis)?
        .reshape((b, v, 3))?;
    let focal = 0.5 * size as f64 / (0.5 * camera.fov_y as f64).tan();
    let centre = 0.5 * size as f64;
    let depth = cam.narrow(D::Minus1, 2, 1)?;
    let x = ((cam.narrow(D::Minus1, 0, 1)? / &depth)? * focal)? + centre;
    let y = ((cam.narrow(D::Minus1, 1, 1)? / &depth)? * (-focal))? + centre;
    Ok(Tensor::cat(&[x?, y?], D::Minus1)?)
}

/// Row-major rotation matrices of `poses` → [B, 3, 3], and translations → [B, 3].
pub fn poses_to_tensors(poses: &[HeadPose], device: &Device) -> Result<(Tensor, Tensor)> {
    let b = poses.len();
    let r: Vec<f32> = poses
        .iter()
        .flat_map(|p| p.rotation_matrix().into_iter().flatten())
        .collect();
    let t: Vec<f32> = poses.iter().flat_map(|p| p.translation).collect();
    Ok((
        Tensor::from_vec(r, (b, 3, 3), device)?,
        Tensor::from_vec(t, (b, 3), device)?,
    ))
}

/// The inverse of [`poses_to_tensors`].
pub fn tensors_to_poses(rotation: &Tensor, translation: &Tensor) -> Result<Vec<HeadPose>> {
    let b = rotation.dim(0)?;
    if rotation.dims() != [b, 3, 3] || translation.dims() != [b, 3] {
        return Err(GnpfaError::invalid(
            "pose tensors",
            format!(
                "expected rotations [B, 3, 3] and translations [B, 3], got {:?} and {:?}",
                rotation.dims(),
                translation.dims()
            ),
        ));
    }
    let r = rotation.to_vec3::<f32>()?;
    let t = translation.to_vec2::<f32>()?;
    Ok(r.iter()
        .zip(&t)
        .map(|(m, t)| {
            let m = [
                [m[0][0], m[0][1], m[0][2]],
                [m[1][0], m[1][1], m[1][2]],
                [m[2][0], m[2][1], m[2][2]],
            ];
            HeadPose::from_matrix(&m, [t[0], t[1], t[2]])
        })
        .collect())
}
