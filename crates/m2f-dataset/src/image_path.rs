//! GNPFA's image path on tracked frames: a crop of each frame framed the way GNPFA's image
//! encoders were trained (the checkpoint's crop camera looking at the head's origin), read by
//! `E_exp` (expression latent) and `E_pose` (head pose) — the second way to turn a video into
//! latents, beside the landmark path of `motion_from_points`.
//!
//! The crop is placed from the frame's fit (`m2f_tracker::FaceGeometry`): the head's origin
//! lands where the crop camera sees the template's origin, at the crop camera's scale there, so
//! the head's translation is taken out and its rotation is left for `E_pose` to read. Each crop
//! pixel averages the frame over its footprint (a grid of bilinear samples), since a face in a
//! video is usually several times larger than the encoders' crop.

use gnpfa::{CropCamera, Gnpfa, ImageEstimate};
use image::RgbImage;
use m2f_mesh::{rotations_about_mean, HeadPose, Mat3};
use m2f_tracker::{smooth_series, FaceGeometry};

use crate::error::{DatasetError, Result};

/// Bilinear sample (pixel `i` covering `[i, i + 1)`), the edge repeated outside.
fn sample(frame: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let (x, y) = (x - 0.5, y - 0.5);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let px = |i: i64, j: i64| {
        frame
            .get_pixel(i.clamp(0, w - 1) as u32, j.clamp(0, h - 1) as u32)
            .0
    };
    let (a, b) = (px(x0 as i64, y0 as i64), px(x0 as i64 + 1, y0 as i64));
    let (c, d) = (
        px(x0 as i64, y0 as i64 + 1),
        px(x0 as i64 + 1, y0 as i64 + 1),
    );
    std::array::from_fn(|k| {
        let top = a[k] as f32 + (b[k] as f32 - a[k] as f32) * fx;
        let bottom = c[k] as f32 + (d[k] as f32 - c[k] as f32) * fx;
        top + (bottom - top) * fy
    })
}

/// The `size`-pixel crop of `frame` that `camera` would see of the head fitted by `geometry`
/// (`frame_size` is the frame's (width, height), as given to the fit).
///
/// # Errors
/// [`DatasetError::Invalid`] for an empty frame or a fit with no positive scale.
pub fn encoder_crop(
    frame: &RgbImage,
    geometry: &FaceGeometry,
    frame_size: (u32, u32),
    camera: &CropCamera,
    size: usize,
) -> Result<RgbImage> {
    let s = geometry.pixels_per_metre;
    if frame.width() == 0 || frame.height() == 0 || !(s.is_finite() && s > 0.0) {
        return Err(DatasetError::invalid(
            "encoder crop",
            format!(
                "a {}x{} frame with a face of {s} pixels per metre",
                frame.width(),
                frame.height()
            ),
        ));
    }
    // Where the crop camera sees the template's origin, and its pixels per metre there.
    let cam = camera.camera(size);
    let project = |p: [f32; 3]| m2f_mesh::project(&cam, p);
    let (Some(c0), Some(c1)) = (project([0.0; 3]), project([0.01, 0.0, 0.0])) else {
        return Err(DatasetError::invalid(
            "crop camera",
            "the template's origin is behind it",
        ));
    };
    let k0 = (c1[0] - c0[0]) / 0.01;
    // The head's origin in the frame (the fit's translation, back in image axes).
    let t = geometry.pose.translation;
    let origin = [
        t[0] * s + 0.5 * frame_size.0 as f32,
        0.5 * frame_size.1 as f32 - t[1] * s,
    ];
    let step = s / k0;
    let taps = step.ceil().clamp(1.0, 8.0) as usize;
    Ok(RgbImage::from_fn(size as u32, size as u32, |u, v| {
        let mut acc = [0f32; 3];
        for i in 0..taps {
            for j in 0..taps {
                let du = (i as f32 + 0.5) / taps as f32;
                let dv = (j as f32 + 0.5) / taps as f32;
                let x = origin[0] + (u as f32 + du - c0[0]) * step;
                let y = origin[1] + (v as f32 + dv - c0[1]) * step;
                let p = sample(frame, x, y);
                for k in 0..3 {
                    acc[k] += p[k];
                }
            }
        }
        let n = (taps * taps) as f32;
        image::Rgb(acc.map(|a| (a / n).round().clamp(0.0, 255.0) as u8))
    }))
}

/// `E_exp` and `E_pose` on the encoder crops of `frames`, one estimate per frame.
///
/// # Errors
/// A checkpoint without image encoders, a frame count that differs from the fits', or the
/// crop's errors.
pub fn image_estimates(
    gnpfa: &Gnpfa,
    frames: &[RgbImage],
    geometry: &[FaceGeometry],
    frame_size: (u32, u32),
) -> Result<Vec<ImageEstimate>> {
    let Some(config) = &gnpfa.config.image else {
        return Err(DatasetError::invalid(
            "GNPFA checkpoint",
            "it has no image encoders (train them with `m2f train gnpfa-image`)",
        ));
    };
    if frames.len() != geometry.len() {
        return Err(DatasetError::invalid(
            "image path",
            format!(
                "{} frames for {} fitted faces",
                frames.len(),
                geometry.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(frames.len());
    for (chunk, fits) in frames.chunks(64).zip(geometry.chunks(64)) {
        let crops = chunk
            .iter()
            .zip(fits)
            .map(|(f, g)| encoder_crop(f, g, frame_size, &config.camera, config.image_size))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&RgbImage> = crops.iter().collect();
        out.extend(gnpfa.encode_images(&refs)?);
    }
    Ok(out)
}

/// Bumped whenever the image path would read other latents or rotations from the same frames
/// (2: rotations smoothed); part of the inputs of the records it makes, beside the extractor's
/// revision, so that a resume does not keep records of an older image path.
pub(crate) const IMAGE_PATH_REVISION: u32 = 2;

/// Half the window, in frames, over which [`image_rotations`] smooths `E_pose`'s readings:
/// 13 frames at 30 fps, passing head motion up to about 2 Hz (gain 0.86 there).
const POSE_SMOOTHING_HALF_WINDOW: usize = 6;

/// A clip's head rotations from its image estimates: about the clip's mean rotation (one clip
/// cannot tell the camera's angle on the face from the head's own turn), then smoothed without
/// lag. `E_pose` reads every crop alone, so its error is independent from frame to frame while
/// a head turns slowly; the zero-phase quadratic filter over 13 frames
/// (`m2f_tracker::smooth_series`) cut the worst frame's error on the synthetic round trip from
/// 1.1–4.4° to 1.1–2.1° over eight clips (`docs/tracking.md`) while the mean moved by
/// 0.1° or less. Axis-angle vectors, as [`HeadPose::rotation`].
pub fn image_rotations(estimates: &[ImageEstimate]) -> Vec<[f32; 3]> {
    let rotations: Vec<Mat3> = estimates.iter().map(|e| e.pose.rotation_matrix()).collect();
    let mut vectors: Vec<[f32; 3]> = rotations_about_mean(&rotations)
        .iter()
        .map(|r| HeadPose::from_matrix(r, [0.0; 3]).rotation)
        .collect();
    smooth_series(&mut vectors, POSE_SMOOTHING_HALF_WINDOW);
    vectors
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady turn comes out about its mean and unchanged by the smoothing (a straight line
    /// passes the quadratic filter), and a one-frame misreading is mostly smoothed away.
    #[test]
    fn rotations_are_about_their_mean_and_smoothed() {
        let estimate = |yaw: f32| ImageEstimate {
            latent: vec![0.0],
            pose: HeadPose {
                rotation: [0.0, yaw, 0.0],
                translation: [0.0; 3],
            },
        };
        let yaws: Vec<f32> = (0..21).map(|t| 0.01 * t as f32).collect();
        let mut estimates: Vec<ImageEstimate> = yaws.iter().map(|&y| estimate(y)).collect();
        let yaw_of = |r: &[f32; 3]| r[1];
        let got: Vec<f32> = image_rotations(&estimates).iter().map(yaw_of).collect();
        for (t, g) in got.iter().enumerate() {
            assert!((g - (yaws[t] - 0.1)).abs() < 1e-4, "frame {t}: {got:?}");
        }
        estimates[10] = estimate(0.1 + 0.05);
        let got: Vec<f32> = image_rotations(&estimates).iter().map(yaw_of).collect();
        // What is left of it at its own frame: the centre tap of 13 frames (25 / 143) of it,
        // less the clip mean's share (1 / 21), which every frame loses.
        let want = 0.05 * 25.0 / 143.0 - 0.05 / 21.0;
        assert!((got[10] - want).abs() < 1e-4, "{} vs {want}", got[10]);
        assert!(image_rotations(&[]).is_empty());
    }
}
