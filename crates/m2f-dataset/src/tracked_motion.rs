//! Tracked faces → what a record holds: per-frame GNPFA expression latents, head poses and the
//! clip's neutral, from the face mesh's points in every frame of a clip (a video tracked by
//! `m2f_tracker::FaceTracker`, or a landmark file).
//!
//! 1. Short gaps (frames without a face) are filled by linear interpolation of the points; a
//!    longer gap fails the clip.
//! 2. The points are smoothed without lag (`m2f_tracker::smooth_track`).
//! 3. Each frame's points become a metric face and a head pose (`m2f_tracker::face_geometry`,
//!    weighted Procrustes on MediaPipe's stable landmarks against a reference face).
//! 4. The clip's neutral, when not given, is the per-vertex median of the metric faces of the
//!    fifth of its frames with the lips closest together (`rest_fraction`), and the faces are
//!    refitted against it so the pose fit sees this identity's shape rather than the
//!    template's. Speech only ever opens the mouth from rest, so the median of every frame
//!    holds the jaw part-open; the lips close at rest, on every bilabial and in every pause.
//!    Measured on rendered synthetic clips of 32 worlds not used to choose the fifth, the
//!    expression error's median fell from 1.73 to 1.39 mm (docs/tracking.md). Read through the
//!    same tracker, this estimate cancels the small bias with which the tracker reads every
//!    frame of a face, which the identity's true neutral does not. `neutral_rounds` can refine
//!    it by taking each frame's expression, as GNPFA reads it, off those frames before the
//!    median; on four clips, with the median of every frame as it was then, every round made
//!    the error larger (docs/tracking.md), so the default is none. A frame known to be at
//!    rest (`neutral_frame`) replaces the estimate.
//! 5. `E_geo(neutral, face)` gives each frame's latent. Head poses are made relative to the
//!    clip's mean rotation and position: a camera's angle on the face cannot be told from the
//!    head's own turn in one clip, and speech-driven head motion is motion about a rest pose.

use gnpfa::Gnpfa;
use m2f_mesh::{mediapipe_procrustes_weights, rotations_about_mean, FaceRegions, HeadPose, Mat3};
use m2f_tracker::{face_geometry, smooth_track, FaceGeometry, DEFAULT_VERTICAL_FOV_DEGREES};

use crate::error::{DatasetError, Result};

/// Bumped whenever [`motion_from_points`] would make other latents, poses or neutrals from the
/// same points and options, so that a resumed extraction redoes records made before: 2, the
/// neutral estimated from the most closed mouths.
pub(crate) const TRACKED_MOTION_REVISION: u32 = 2;

/// How tracked points become motion.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionOptions {
    /// The longest run of frames without a face that is filled (at 30 fps, 5 frames = 167 ms,
    /// a blink of the tracker); a longer one fails the clip.
    pub max_gap_frames: usize,
    /// The share of the clip's frames, those with the lips closest together, whose per-vertex
    /// median is the neutral when none is given: in (0, 1], 0.2 by default; 1 takes the median
    /// of every frame.
    pub rest_fraction: f32,
    /// Refinement rounds of the estimated neutral when no neutral is given: each takes every
    /// frame's expression, as GNPFA reads it, off the frame and takes the median of the same
    /// frames again. 0 by default: on rendered synthetic clips each round made the expression
    /// error larger (measured with the median of every frame).
    pub neutral_rounds: usize,
    /// The camera's vertical field of view, radians, for the depth of the head's translation.
    pub vertical_fov: f32,
    /// A frame known to show the face at rest: its metric face is the neutral (instead of the
    /// estimate from the most closed mouths) when no neutral is given.
    pub neutral_frame: Option<usize>,
}

impl Default for MotionOptions {
    fn default() -> Self {
        Self {
            max_gap_frames: 5,
            rest_fraction: 0.2,
            neutral_rounds: 0,
            vertical_fov: DEFAULT_VERTICAL_FOV_DEGREES.to_radians(),
            neutral_frame: None,
        }
    }
}

impl MotionOptions {
    /// Checks the options before any clip is read.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming the field when `rest_fraction` is not in (0, 1] or
    /// `vertical_fov` is not an angle in (0, π).
    pub fn validate(&self) -> Result<()> {
        let field = |name: &str, message: String| {
            Err(DatasetError::invalid(
                format!("MotionOptions::{name}"),
                message,
            ))
        };
        if !(self.rest_fraction > 0.0 && self.rest_fraction <= 1.0) {
            return field(
                "rest_fraction",
                format!(
                    "{}: expected a share of the frames in (0, 1]",
                    self.rest_fraction
                ),
            );
        }
        if !(self.vertical_fov > 0.0 && self.vertical_fov < std::f32::consts::PI) {
            return field(
                "vertical_fov",
                format!("{} rad: expected an angle in (0, π)", self.vertical_fov),
            );
        }
        Ok(())
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

/// The indices of the `fraction` of `faces` (at least one) with the smallest inner-lip gap,
/// most closed first.
fn rest_frames(faces: &[Vec<[f32; 3]>], regions: &FaceRegions, fraction: f32) -> Vec<usize> {
    let mut by_gap: Vec<(f32, usize)> = faces
        .iter()
        .enumerate()
        .map(|(t, f)| (regions.inner_lip_gap(f), t))
        .collect();
    by_gap.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The product a little under, so that a share stored a hair above its decimal value (0.3
    // as f32) does not keep one frame more than it says.
    let share = faces.len() as f64 * f64::from(fraction) * (1.0 - 1e-6);
    let keep = (share.ceil() as usize).max(1).min(faces.len());
    by_gap[..keep].iter().map(|&(_, t)| t).collect()
}

/// The per-coordinate median over frames (at least one).
fn median_face<F: AsRef<[[f32; 3]]>>(faces: &[F]) -> Vec<[f32; 3]> {
    let n = faces[0].as_ref().len();
    let mut column = Vec::with_capacity(faces.len());
    (0..n)
        .map(|v| {
            std::array::from_fn(|k| {
                column.clear();
                column.extend(faces.iter().map(|f| f.as_ref()[v][k]));
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
/// [`DatasetError::Invalid`] when `options` are out of range ([`MotionOptions::validate`]), a
/// point is not finite, a gap is longer than `options.max_gap_frames`, no frame has a face, a
/// frame does not have 468 points, or a face cannot be fitted; GNPFA's errors.
pub fn motion_from_points(
    gnpfa: &Gnpfa,
    track: &[Option<Vec<[f32; 3]>>],
    image_size: (u32, u32),
    neutral: Option<&[[f32; 3]]>,
    options: &MotionOptions,
) -> Result<TrackedMotion> {
    options.validate()?;
    for (t, points) in track.iter().enumerate() {
        if let Some(i) = points
            .iter()
            .flatten()
            .position(|p| p.iter().any(|x| !x.is_finite()))
        {
            return Err(invalid(format!("frame {t}: point {i} is not finite")));
        }
    }
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
            // The frames the estimate is the median of, in every round.
            let rest = rest_frames(&faces, &gnpfa.template.regions, options.rest_fraction);
            let mut estimate = match options.neutral_frame {
                Some(t) => faces.get(t).cloned().ok_or_else(|| {
                    invalid(format!(
                        "neutral frame {t} is past the clip's {} frames",
                        faces.len()
                    ))
                })?,
                None => median_face(&rest.iter().map(|&t| &faces[t]).collect::<Vec<_>>()),
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
                estimate = median_face(&rest.iter().map(|&t| &at_rest[t]).collect::<Vec<_>>());
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

    #[test]
    fn the_rest_frames_are_the_most_closed_mouths() {
        let template = m2f_mesh::FaceTemplate::mediapipe();
        let (upper, lower) = (
            template.regions.landmarks.upper_inner_lip as usize,
            template.regions.landmarks.lower_inner_lip as usize,
        );
        // Ten frames whose mouths open by 1..10 mm in a shuffled order.
        let openings = [7, 2, 9, 1, 5, 10, 3, 8, 6, 4];
        let faces: Vec<Vec<[f32; 3]>> = openings
            .iter()
            .map(|&mm| {
                let mut f = template.mesh.vertices.clone();
                f[lower] = [f[upper][0], f[upper][1] - mm as f32 * 1e-3, f[upper][2]];
                f
            })
            .collect();
        let mm = |frames: Vec<usize>| -> Vec<i32> { frames.iter().map(|&t| openings[t]).collect() };
        let rest = |fraction| mm(rest_frames(&faces, &template.regions, fraction));
        assert_eq!(rest(0.25), [1, 2, 3]);
        // 0.3 as f32 is a hair above 0.3: still three frames, not four.
        assert_eq!(rest(0.3), [1, 2, 3]);
        assert_eq!(rest(1.0), (1..=10).collect::<Vec<_>>());
        // A share smaller than one frame still takes the most closed one.
        assert_eq!(rest(0.01), [1]);
        // The median of the three picks each coordinate's middle value: the 2 mm frame's lips.
        let three: Vec<&Vec<[f32; 3]>> = rest_frames(&faces, &template.regions, 0.25)
            .iter()
            .map(|&t| &faces[t])
            .collect();
        let gap = 1e3 * template.regions.inner_lip_gap(&median_face(&three));
        assert!((gap - 2.0).abs() < 1e-3, "{gap}");
    }

    #[test]
    fn a_point_that_is_not_finite_is_named() {
        let gnpfa = Gnpfa::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa"),
        )
        .unwrap();
        let face: Vec<[f32; 3]> = gnpfa
            .template
            .mesh
            .vertices
            .iter()
            .map(|v| [200.0 + 800.0 * v[0], 200.0 - 800.0 * v[1], -800.0 * v[2]])
            .collect();
        let mut bad = face.clone();
        bad[5][2] = f32::NAN;
        let track = [Some(face), Some(bad)];
        let options = MotionOptions::default();
        let err = motion_from_points(&gnpfa, &track, (400, 400), None, &options).unwrap_err();
        assert!(
            err.to_string().contains("frame 1: point 5 is not finite"),
            "{err}"
        );
    }

    #[test]
    fn options_out_of_range_are_named() {
        for (options, field) in [
            (
                MotionOptions {
                    rest_fraction: 0.0,
                    ..MotionOptions::default()
                },
                "rest_fraction",
            ),
            (
                MotionOptions {
                    rest_fraction: f32::NAN,
                    ..MotionOptions::default()
                },
                "rest_fraction",
            ),
            (
                MotionOptions {
                    rest_fraction: 1.5,
                    ..MotionOptions::default()
                },
                "rest_fraction",
            ),
            (
                MotionOptions {
                    vertical_fov: 0.0,
                    ..MotionOptions::default()
                },
                "vertical_fov",
            ),
        ] {
            let message = options.validate().unwrap_err().to_string();
            assert!(message.contains(field), "{message}");
        }
        MotionOptions::default().validate().unwrap();
    }
}
