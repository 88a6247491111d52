//! The two ways `m2f extract video` reads a face, compared on a video without ground truth (a
//! real recording): the landmark path (MediaPipe's points → Procrustes → `E_geo`) and the image
//! path (`E_exp`, `E_pose` on GNPFA's encoder crop), both decoded on the same estimated neutral.
//! What can be measured without truth is how much of the clip was tracked, how each path's
//! decoded mouth follows the opening the tracker saw, how far the two faces are apart, and how
//! steady each head pose is.

use gnpfa::Gnpfa;
use image::RgbImage;
use m2f_dataset::{
    image_estimates, image_rotations, motion_from_points, MotionOptions, TrackedMotion,
};
use m2f_mesh::HeadPose;
use m2f_tracker::FaceTracker;

use crate::{pearson, EvalError, Result};

/// One clip through both extraction paths.
#[derive(Debug, Clone)]
pub struct PathComparison {
    /// `[T]` the tracker's 468 points per frame in pixels, `None` where it found no face.
    pub track: Vec<Option<Vec<[f32; 3]>>>,
    /// The landmark path's latents, head poses, neutral and per-frame fits.
    pub motion: TrackedMotion,
    /// `[T][V]` the landmark path's latents decoded on the neutral, metres.
    pub landmark_faces: Vec<Vec<[f32; 3]>>,
    /// `[T][V]` the image path's `E_exp` latents decoded on the same neutral, metres.
    pub image_faces: Vec<Vec<[f32; 3]>>,
    /// `[T]` the image path's `E_pose` head poses, relative to their clip mean (as the landmark
    /// path's are).
    pub image_poses: Vec<HeadPose>,
}

/// How the two paths compare on one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct PathAgreement {
    /// Frames in the clip.
    pub frames: usize,
    /// Frames with a face.
    pub tracked: usize,
    /// Pearson correlation over frames of the landmark path's decoded inner-lip gap with the
    /// gap in the tracker's own points (head pose undone).
    pub landmark_gap_correlation: f64,
    /// The same for the image path.
    pub image_gap_correlation: f64,
    /// The tracker's inner-lip gap, smallest and largest over the clip, mm.
    pub tracked_gap_mm: (f32, f32),
    /// The landmark path's decoded gap, smallest and largest, mm.
    pub landmark_gap_mm: (f32, f32),
    /// The image path's decoded gap, smallest and largest, mm.
    pub image_gap_mm: (f32, f32),
    /// Mean distance between the two paths' decoded faces, per vertex and frame, mm.
    pub face_distance_mm: f32,
    /// Per axis (pitch, yaw, roll): correlation over frames of the two paths' head rotations.
    pub rotation_correlation: [f64; 3],
    /// RMS frame-to-frame change of the head rotation, degrees: landmark path, image path.
    pub rotation_step_deg: (f32, f32),
}

impl PathComparison {
    /// Tracks every frame (one video's frames in order, as `m2f_dataset::read_video` gives
    /// them) and runs both paths with the default [`MotionOptions`].
    ///
    /// # Errors
    /// The tracker's errors, a clip with too few faces for `motion_from_points`, a GNPFA
    /// checkpoint without image encoders.
    pub fn run(gnpfa: &Gnpfa, tracker: &mut FaceTracker, frames: &[RgbImage]) -> Result<Self> {
        let Some(first) = frames.first() else {
            return Err(EvalError::invalid("video", "no frames"));
        };
        let size = first.dimensions();
        let track = frames
            .iter()
            .enumerate()
            .map(|(t, frame)| {
                tracker
                    .track(frame)
                    .map(|face| face.map(|f| f.landmarks.points))
                    .map_err(|e| EvalError::invalid(format!("frame {t}"), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let motion = motion_from_points(gnpfa, &track, size, None, &MotionOptions::default())?;
        // In chunks, as extraction decodes: one call on a long clip would hold every
        // intermediate activation at once.
        let decode = |latents: &[Vec<f32>]| -> Result<Vec<Vec<[f32; 3]>>> {
            let mut faces = Vec::with_capacity(latents.len());
            for chunk in latents.chunks(256) {
                faces.extend(gnpfa.decode_frames(&motion.neutral, chunk)?);
            }
            Ok(faces)
        };
        let landmark_faces = decode(&motion.latents)?;
        let estimates = image_estimates(gnpfa, frames, &motion.geometry, size)?;
        let latents: Vec<Vec<f32>> = estimates.iter().map(|e| e.latent.clone()).collect();
        let image_faces = decode(&latents)?;
        let image_poses = image_rotations(&estimates)
            .into_iter()
            .map(|rotation| HeadPose {
                rotation,
                translation: [0.0; 3],
            })
            .collect();
        Ok(Self {
            track,
            motion,
            landmark_faces,
            image_faces,
            image_poses,
        })
    }

    /// `[T]` the inner-lip gap in the tracker's points with the head's pose undone, mm.
    pub fn tracked_gaps_mm(&self, gnpfa: &Gnpfa) -> Vec<f32> {
        let faces: Vec<&[[f32; 3]]> = self
            .motion
            .geometry
            .iter()
            .map(|g| g.vertices.as_slice())
            .collect();
        gaps_mm(gnpfa, &faces)
    }

    /// The comparison's numbers.
    pub fn agreement(&self, gnpfa: &Gnpfa) -> PathAgreement {
        let tracked = self.tracked_gaps_mm(gnpfa);
        let as_refs = |faces: &[Vec<[f32; 3]>]| -> Vec<f32> {
            gaps_mm(gnpfa, &faces.iter().map(Vec::as_slice).collect::<Vec<_>>())
        };
        let (by_landmarks, by_image) = (as_refs(&self.landmark_faces), as_refs(&self.image_faces));
        let vertices = self.motion.neutral.len();
        let distance: f32 = self
            .landmark_faces
            .iter()
            .zip(&self.image_faces)
            .flat_map(|(a, b)| a.iter().zip(b))
            .map(|(p, q)| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f32>().sqrt())
            .sum();
        let landmark_rotations = degrees(&self.motion.head_pose);
        let image_rotations = degrees(&self.image_poses);
        let axis = |rotations: &[[f32; 3]], k: usize| -> Vec<f32> {
            rotations.iter().map(|r| r[k]).collect()
        };
        PathAgreement {
            frames: self.track.len(),
            tracked: self.track.iter().filter(|p| p.is_some()).count(),
            landmark_gap_correlation: pearson(&by_landmarks, &tracked),
            image_gap_correlation: pearson(&by_image, &tracked),
            tracked_gap_mm: range(&tracked),
            landmark_gap_mm: range(&by_landmarks),
            image_gap_mm: range(&by_image),
            face_distance_mm: 1000.0 * distance
                / (vertices * self.landmark_faces.len()).max(1) as f32,
            rotation_correlation: std::array::from_fn(|k| {
                pearson(&axis(&landmark_rotations, k), &axis(&image_rotations, k))
            }),
            rotation_step_deg: (step_rms(&landmark_rotations), step_rms(&image_rotations)),
        }
    }
}

fn gaps_mm(gnpfa: &Gnpfa, faces: &[&[[f32; 3]]]) -> Vec<f32> {
    faces
        .iter()
        .map(|f| 1000.0 * gnpfa.template.regions.inner_lip_gap(f))
        .collect()
}

fn range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Axis-angle rotations in degrees.
fn degrees(poses: &[HeadPose]) -> Vec<[f32; 3]> {
    poses
        .iter()
        .map(|p| p.rotation.map(f32::to_degrees))
        .collect()
}

/// RMS of the frame-to-frame change.
fn step_rms(rotations: &[[f32; 3]]) -> f32 {
    let steps = rotations.len().saturating_sub(1).max(1) as f32;
    let sum: f32 = rotations
        .windows(2)
        .map(|w| (0..3).map(|k| (w[1][k] - w[0][k]).powi(2)).sum::<f32>())
        .sum();
    (sum / steps).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_steps() {
        assert_eq!(range(&[3.0, -1.0, 2.0]), (-1.0, 3.0));
        let rotations = [[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [3.0, 4.0, 0.0]];
        // Steps of 5° and 0°: RMS sqrt(25 / 2).
        assert!((step_rms(&rotations) - 12.5f32.sqrt()).abs() < 1e-6);
        assert_eq!(step_rms(&[[1.0, 2.0, 3.0]]), 0.0);
    }
}
