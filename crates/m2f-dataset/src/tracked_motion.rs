//! Tracked faces → what a record holds: per-frame GNPFA expression latents, head poses and the
//! clip's neutral, from the face mesh's points in every frame of a clip (a video tracked by
//! `m2f_tracker::FaceTracker`, or a landmark file).
//!
//! 1. Short gaps (frames without a face) are filled by linear interpolation of the points; a
//!    longer gap fails the clip.
//! 2. The points are smoothed without lag (`m2f_tracker::smooth_track`).
//! 3. Each frame's points become a metric face and a head pose (`m2f_tracker::face_geometry`,
//!    weighted Procrustes on MediaPipe's stable landmarks against a reference face).
//! 4. The clip's neutral, when not given, is the per-vertex median of the metric faces (a
//!    talking face is near rest most of the time), and the faces are refitted against it so the
//!    pose fit sees this identity's shape rather than the template's. Measured on rendered
//!    synthetic clips, this estimate gives a smaller expression error than the identity's *true*
//!    neutral (1.42–2.52 mm against 2.01–2.63 mm over four clips): the tracker reads every
//!    frame of a face with the same small bias, and a neutral read through the same tracker
//!    cancels it. `neutral_rounds` can refine the median by taking each frame's expression, as
//!    GNPFA reads it, off the frame before the median; on the same clips every round made the
//!    error larger (docs/tracking.md), so the default is none. A frame known to be at rest
//!    (`neutral_frame`) replaces the median.
//! 5. `E_geo(neutral, face)` gives each frame's latent. Head poses are made relative to the
//!    clip's mean rotation and position: a camera's angle on the face cannot be told from the
//!    head's own turn in one clip, and speech-driven head motion is motion about a rest pose.

use gnpfa::Gnpfa;
use m2f_mesh::{mediapipe_procrustes_weights, rotations_about_mean, HeadPose, Mat3};
use m2f_tracker::{face_geometry, smooth_track, FaceGeometry, DEFAULT_VERTICAL_FOV_DEGREES};

use crate::error::{DatasetError, Result};

/// How tracked points become motion.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionOptions {
    /// The longest run of frames without a face that is filled (at 30 fps, 5 frames = 167 ms,
    /// a blink of the tracker); a longer one fails the clip.
    pub max_gap_frames: usize,
    /// Refinement rounds of the median neutral when no neutral is given: each takes every
    /// frame's expression, as GNPFA reads it, off the frame and takes the median again. 0 by
    /// default: on rendered synthetic clips each round made the expression error larger.
    pub neutral_rounds: usize,
    /// The camera's vertical field of view, radians, for the depth of the head's translation.
    pub vertical_fov: f32,
    /// A frame known to show the face at rest: its metric face is the neutral (instead of the
    /// median) when no neutral is given.
    pub neutral_frame: Option<usize>,
}

impl Default for MotionOptions {
    fn default() -> Self {
        Self {
            max_gap_frames: 5,
            neutral_rounds: 0,
            vertical_fov: DEFAULT_VERTICAL_FOV_DEGREES.to_radians(),
            neutral_frame: None,
        }
    }
}

/// A clip's motion, ready for a record.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedMotion {
    /// `[T][Z]` GNPFA expression latents.
    pub latents: Vec<Vec<f32>>,
    /// `[T]` head poses, relative to the clip's mean rotation and position.
    pub head_pose: Vec<HeadPose>,
    /// The neutral the latents are relative to (given, or estimated), metres.
    pub neutral: Vec<[f32; 3]>,
    /// `[T]` each frame's fit against the neutral: its metric face (head pose removed, metres),
    /// its absolute head pose and its scale in pixels per metre.
    pub geometry: Vec<FaceGeometry>,
    /// Frames whose face was filled in across a gap.
    pub filled_frames: usize,
}

fn invalid(message: String) -> DatasetError {
    DatasetError::Invalid {
        what: "tracked faces".into(),
        message,
    }
}

/// Fills runs of up to `max_gap` frames without a face by linear interpolation between the
/// faces on either side (or the nearest face at the clip's ends); returns how many were filled.
fn fill_gaps(track: &mut [Option<Vec<[f32; 3]>>], max_gap: usize) -> Result<usize> {
    let found: Vec<usize> = (0..track.len()).filter(|&t| track[t].is_some()).collect();
    let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
        return Err(invalid(format!(
            "no face in any of the {} frames",
            track.len()
        )));
    };
    let mut filled = 0;
    let mut check = |start: usize, end: usize| -> Result<()> {
        if end - start > max_gap {
            return Err(invalid(format!(
                "no face in frames {start}..{end} ({:.2} s at 30 fps), longer than the {max_gap} frames filled",
                (end - start) as f32 / 30.0
            )));
        }
        filled += end - start;
        Ok(())
    };
    check(0, first)?;
    check(last + 1, track.len())?;
    for pair in found.windows(2) {
        if pair[1] > pair[0] + 1 {
            check(pair[0] + 1, pair[1])?;
        }
    }
    for t in 0..first {
        track[t] = track[first].clone();
    }
    for t in last + 1..track.len() {
        track[t] = track[last].clone();
    }
    for pair in found.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for t in a + 1..b {
            let f = (t - a) as f32 / (b - a) as f32;
            let (pa, pb) = (
                track[a].as_ref().expect("found"),
                track[b].as_ref().expect("found"),
            );
            let points = pa
                .iter()
                .zip(pb)
                .map(|(p, q)| std::array::from_fn(|k| p[k] + f * (q[k] - p[k])))
                .collect();
            track[t] = Some(points);
        }
    }
    Ok(filled)
}

/// The per-coordinate median over frames.
fn median_face(faces: &[Vec<[f32; 3]>]) -> Vec<[f32; 3]> {
    let n = faces[0].len();
    let mut column = Vec::with_capacity(faces.len());
    (0..n)
        .map(|v| {
            std::array::from_fn(|k| {
                column.clear();
                column.extend(faces.iter().map(|f| f[v][k]));
                column.sort_by(f32::total_cmp);
                column[column.len() / 2]
            })
        })
        .collect()
}

/// Turns a clip's tracked points (`[T]` frames of 468 points in pixels, `None` where no face
/// was found) into latents, head poses and a neutral. `image_size` is the frames' (width,
/// height). With `neutral` given (metres, the template's topology) it is used as it is.
///
/// # Errors
/// [`DatasetError::Invalid`] when a gap is longer than `options.max_gap_frames`, no frame has a
/// face, a frame does not have 468 points, or a face cannot be fitted; GNPFA's errors.
pub fn motion_from_points(
    gnpfa: &Gnpfa,
    track: &[Option<Vec<[f32; 3]>>],
    image_size: (u32, u32),
    neutral: Option<&[[f32; 3]]>,
    options: &MotionOptions,
) -> Result<TrackedMotion> {
    let mut track = track.to_vec();
    let filled = fill_gaps(&mut track, options.max_gap_frames)?;
    smooth_track(&mut track);
    let points: Vec<Vec<[f32; 3]>> = track.into_iter().map(|p| p.expect("gaps filled")).collect();
    let weights = mediapipe_procrustes_weights();
    let fit = |reference: &[[f32; 3]]| -> Result<Vec<FaceGeometry>> {
        points
            .iter()
            .enumerate()
            .map(|(t, p)| {
                face_geometry(p, reference, &weights, image_size, options.vertical_fov)
                    .map_err(|e| invalid(format!("frame {t}: {e}")))
            })
            .collect()
    };
    let encode = |neutral: &[[f32; 3]], faces: &[Vec<[f32; 3]>]| -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(256) {
            let refs: Vec<&[[f32; 3]]> = chunk.iter().map(Vec::as_slice).collect();
            out.extend(gnpfa.encode_frames(neutral, &refs)?);
        }
        Ok(out)
    };

    let template = &gnpfa.template.mesh.vertices;
    let mut geometry = fit(neutral.unwrap_or(template))?;
    let neutral: Vec<[f32; 3]> = match neutral {
        Some(n) => n.to_vec(),
        None => {
            let faces: Vec<Vec<[f32; 3]>> = geometry.iter().map(|g| g.vertices.clone()).collect();
            let mut estimate = match options.neutral_frame {
                Some(t) => faces.get(t).cloned().ok_or_else(|| {
                    invalid(format!(
                        "neutral frame {t} is past the clip's {} frames",
                        faces.len()
                    ))
                })?,
                None => median_face(&faces),
            };
            for _ in 0..options.neutral_rounds {
                geometry = fit(&estimate)?;
                let faces: Vec<Vec<[f32; 3]>> =
                    geometry.iter().map(|g| g.vertices.clone()).collect();
                let latents = encode(&estimate, &faces)?;
                let mut decoded = Vec::with_capacity(faces.len());
                for chunk in latents.chunks(256) {
                    decoded.extend(gnpfa.decode_frames(&estimate, chunk)?);
                }
                // Each frame with its expression (as GNPFA reads it) taken off.
                let at_rest: Vec<Vec<[f32; 3]>> = faces
                    .iter()
                    .zip(&decoded)
                    .map(|(f, d)| {
                        f.iter()
                            .zip(d)
                            .zip(&estimate)
                            .map(|((p, q), n)| std::array::from_fn(|k| p[k] - (q[k] - n[k])))
                            .collect()
                    })
                    .collect();
                estimate = median_face(&at_rest);
            }
            geometry = fit(&estimate)?;
            estimate
        }
    };
    let faces: Vec<Vec<[f32; 3]>> = geometry.iter().map(|g| g.vertices.clone()).collect();
    let latents = encode(&neutral, &faces)?;

    let rotations: Vec<Mat3> = geometry.iter().map(|g| g.pose.rotation_matrix()).collect();
    let rotations = rotations_about_mean(&rotations);
    let n = geometry.len() as f32;
    let centre: [f32; 3] =
        std::array::from_fn(|k| geometry.iter().map(|g| g.pose.translation[k]).sum::<f32>() / n);
    let head_pose = geometry
        .iter()
        .zip(&rotations)
        .map(|(g, r)| {
            HeadPose::from_matrix(
                r,
                std::array::from_fn(|k| g.pose.translation[k] - centre[k]),
            )
        })
        .collect();
    Ok(TrackedMotion {
        latents,
        head_pose,
        neutral,
        geometry,
        filled_frames: filled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_gaps_are_interpolated_and_long_ones_refused() {
        let face = |x: f32| Some(vec![[x, 0.0, 0.0]; 2]);
        let mut track = vec![None, face(0.0), None, None, face(3.0), None];
        assert_eq!(fill_gaps(&mut track, 2).unwrap(), 4);
        let xs: Vec<f32> = track.iter().map(|p| p.as_ref().unwrap()[0][0]).collect();
        assert_eq!(xs, [0.0, 0.0, 1.0, 2.0, 3.0, 3.0]);
        let mut long = vec![face(0.0), None, None, None, face(1.0)];
        assert!(fill_gaps(&mut long, 2)
            .unwrap_err()
            .to_string()
            .contains("frames 1..4"));
        assert!(fill_gaps(&mut [None, None], 5).is_err());
    }
}
