//! The synthetic round trip of the video path: a synthetic clip rendered to an MP4 with its
//! audio → `read_video` → `FaceTracker` → `motion_from_points` → latents and head poses, against
//! the clip's truth. Prints the numbers docs/tracking.md reports; the bounds are the measured
//! values with some room. It runs the first clip of each of eight worlds (3, 5, 8, 13, 21, 34,
//! 55 and 89); `M2F_ROUNDTRIP_SEEDS=100,101,…` runs others, and the per-world bounds hold over
//! the 64 worlds 100-131 and 200-231. The expression error is also split into the part that is
//! the same in every frame and the motion within the clip, and measured again on the
//! identity's true neutral face as the tracker reads it.

mod common;

use std::path::Path;

use gnpfa::Gnpfa;
use m2f_dataset::{
    image_estimates, image_rotations, motion_from_points, read_video, MotionOptions,
    SyntheticSource, VideoReadOptions,
};
use m2f_mesh::{mean_rotation, render, times_transpose, Camera, HeadPose, Mat3, RenderOptions};
use m2f_synth::WorldConfig;
use m2f_tracker::{FaceTracker, TrackerOptions};

#[test]
fn a_rendered_synthetic_clip_comes_back_from_its_mp4() {
    let seeds =
        std::env::var("M2F_ROUNDTRIP_SEEDS").unwrap_or_else(|_| "3,5,8,13,21,34,55,89".into());
    let outcomes: Vec<Outcome> = seeds
        .split(',')
        .map(|seed| {
            round_trip(
                seed.trim()
                    .parse()
                    .expect("M2F_ROUNDTRIP_SEEDS: comma-separated world seeds"),
            )
        })
        .collect();
    // Over the worlds, per path: each number's range and median, and how many clips meet the
    // tracking targets (expression error < 1.5 mm, rotation < 2°).
    let sorted = |f: &dyn Fn(&Outcome) -> f32| {
        let mut v: Vec<f32> = outcomes.iter().map(f).collect();
        v.sort_by(f32::total_cmp);
        v
    };
    let summary = |f: &dyn Fn(&Outcome) -> f32, target: f32, unit: &str| {
        let v = sorted(f);
        format!(
            "{:.2}-{:.2}{unit}, median {:.2}{unit} (< {target}{unit} in {})",
            v[0],
            v[v.len() - 1],
            v[v.len() / 2],
            v.iter().filter(|&&x| x < target).count()
        )
    };
    let path = |name: &str, p: &dyn Fn(&Outcome) -> &PathNumbers| {
        println!(
            "over {} worlds, {name}: expression {}, rotation mean {}, max {}",
            outcomes.len(),
            summary(&|o| p(o).expression, 1.5, " mm"),
            summary(&|o| p(o).rotation_mean, 2.0, "°"),
            summary(&|o| p(o).rotation_max, 2.0, "°"),
        );
    };
    path("landmark path", &|o| &o.landmark);
    path("image path", &|o| &o.image);
    println!(
        "over {} worlds, landmark path on the tracked true neutral: expression {}",
        outcomes.len(),
        summary(&|o| o.on_true_neutral, 1.5, " mm")
    );
    let failures: Vec<&String> = outcomes.iter().flat_map(|o| &o.failures).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // The medians, over eight worlds or more (fewer say little). Measured over the default
    // eight: 1.50 mm on the landmark path (1.89 mm when the neutral was the median of every
    // frame), 0.96 mm on the image path; over 64 others: 1.39 and 0.99 mm.
    if outcomes.len() >= 8 {
        let median = |f: &dyn Fn(&Outcome) -> f32| sorted(f)[outcomes.len() / 2];
        let (landmark, image) = (
            median(&|o| o.landmark.expression),
            median(&|o| o.image.expression),
        );
        assert!(
            landmark < 1.65 && image < 1.15,
            "median expression error: landmark path {landmark} mm, image path {image} mm"
        );
    }
}

/// One path's numbers for one world's clip.
struct PathNumbers {
    /// Expression error of the decoded extraction, mm per vertex.
    expression: f32,
    /// Head rotation error, mean over the frames, degrees.
    rotation_mean: f32,
    /// Head rotation error at the worst frame, degrees.
    rotation_max: f32,
}

/// One world's round trip: both paths' numbers, and every bound it broke.
struct Outcome {
    landmark: PathNumbers,
    image: PathNumbers,
    /// The landmark path's expression error on the identity's tracked true neutral, mm.
    on_true_neutral: f32,
    failures: Vec<String>,
}

fn round_trip(seed: u64) -> Outcome {
    let data = tempfile::tempdir().unwrap();
    let speech = m2f_synth::Speech::load_all().unwrap();
    let world = WorldConfig {
        seed,
        ..WorldConfig::default()
    };
    m2f_synth::write_dataset(data.path(), &world, 1, &speech, |_| {}).unwrap();
    let source = SyntheticSource::open(data.path()).unwrap();
    let entry = source.clips()[0].clone();
    let clip = source.read(&entry).unwrap().clip;
    let gnpfa =
        Gnpfa::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa")).unwrap();
    let template = &gnpfa.template;

    // Render every frame with its true head pose: 512 × 512, the face about 170 px wide.
    let mut camera = Camera::framing_sized(&clip.neutral, 512, 512);
    camera.eye =
        std::array::from_fn(|k| camera.target[k] + 2.0 * (camera.eye[k] - camera.target[k]));
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    let truth_pose: Vec<HeadPose> = clip
        .head_pose
        .iter()
        .map(|&p| HeadPose::from_array(p))
        .collect();
    let frames: Vec<image::RgbImage> = (0..clip.num_frames())
        .map(|t| {
            render(
                &truth_pose[t].apply(clip.frame(t)),
                &template.mesh.triangles,
                &camera,
                &opts,
            )
            .unwrap()
        })
        .collect();
    let mp4 = data.path().join("clip.mp4");
    m2f_mesh::write_mp4(
        &mp4,
        &frames,
        clip.meta.fps,
        Some(&source.clip_dir(&entry.id).join("audio.wav")),
    )
    .unwrap();

    let video = read_video(&mp4, &VideoReadOptions::default()).unwrap();
    // Audio offset: the lag that best lines the decoded audio up with the clip's.
    let best_lag = (-800i32..=800)
        .max_by(|&a, &b| {
            let score = |lag: i32| -> f32 {
                (0..clip.audio.len().min(video.audio.len()) as i32)
                    .step_by(3)
                    .filter_map(|i| {
                        Some(
                            clip.audio.get(i as usize)?
                                * video.audio.get((i + lag).max(0) as usize)?,
                        )
                    })
                    .sum()
            };
            score(a).total_cmp(&score(b))
        })
        .unwrap();
    let mut tracker = FaceTracker::load(&common::models_dir(), TrackerOptions::default()).unwrap();
    let track: Vec<Option<Vec<[f32; 3]>>> = video
        .frames
        .iter()
        .map(|f| tracker.track(f).unwrap().map(|face| face.landmarks.points))
        .collect();
    let found = track.iter().filter(|p| p.is_some()).count();
    let motion = motion_from_points(
        &gnpfa,
        &track,
        (video.info.width, video.info.height),
        None,
        &MotionOptions::default(),
    )
    .unwrap();

    // Rotation: both relative to their clip's mean rotation.
    let truth_r: Vec<Mat3> = truth_pose.iter().map(HeadPose::rotation_matrix).collect();
    let truth_mean = mean_rotation(&truth_r);
    let n = clip.num_frames().min(motion.head_pose.len());
    let rotation_errors: Vec<f32> = (0..n)
        .map(|t| {
            let truth = HeadPose::from_matrix(&times_transpose(&truth_r[t], &truth_mean), [0.0; 3]);
            motion.head_pose[t].rotation_distance(&truth).to_degrees()
        })
        .collect();
    // Geometry: the decoded extraction's expression (decoded face − its neutral) against the
    // truth's (frame − the identity's neutral), per vertex, mm; and the same for GNPFA's own
    // round trip of the true faces (the ceiling).
    let decoded = gnpfa
        .decode_frames(&motion.neutral, &motion.latents[..n])
        .unwrap();
    let truth_frames: Vec<&[[f32; 3]]> = (0..n).map(|t| clip.frame(t)).collect();
    let ceiling = gnpfa
        .decode_frames(
            &clip.neutral,
            &gnpfa.encode_frames(&clip.neutral, &truth_frames).unwrap(),
        )
        .unwrap();
    let error_mm = |faces: &[Vec<[f32; 3]>], neutral: &[[f32; 3]], ids: &[usize]| -> f32 {
        let mut sum = 0f32;
        for (t, face) in faces.iter().enumerate() {
            for &v in ids {
                let d: [f32; 3] = std::array::from_fn(|k| {
                    (face[v][k] - neutral[v][k]) - (truth_frames[t][v][k] - clip.neutral[v][k])
                });
                sum += 1000.0 * (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            }
        }
        sum / (faces.len() * ids.len()) as f32
    };
    // The same error split in two: the part that stays the same in every frame (per vertex,
    // the error's mean over the clip: a held expression the neutral estimate absorbed or the
    // tracker misread) and what is left (the motion within the clip), mm.
    let split_mm = |faces: &[Vec<[f32; 3]>], neutral: &[[f32; 3]], ids: &[usize]| -> (f32, f32) {
        let offset: Vec<[f32; 3]> = ids
            .iter()
            .map(|&v| {
                std::array::from_fn(|k| {
                    faces
                        .iter()
                        .enumerate()
                        .map(|(t, f)| {
                            (f[v][k] - neutral[v][k]) - (truth_frames[t][v][k] - clip.neutral[v][k])
                        })
                        .sum::<f32>()
                        / faces.len() as f32
                })
            })
            .collect();
        let norm_mm = |d: [f32; 3]| 1000.0 * (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        let constant = offset.iter().map(|&d| norm_mm(d)).sum::<f32>() / ids.len() as f32;
        let mut varying = 0f32;
        for (t, f) in faces.iter().enumerate() {
            for (i, &v) in ids.iter().enumerate() {
                varying += norm_mm(std::array::from_fn(|k| {
                    (f[v][k] - neutral[v][k])
                        - (truth_frames[t][v][k] - clip.neutral[v][k])
                        - offset[i][k]
                }));
            }
        }
        (constant, varying / (faces.len() * ids.len()) as f32)
    };
    let all: Vec<usize> = (0..clip.neutral.len()).collect();
    let lips: Vec<usize> = template.regions.lips.iter().map(|&v| v as usize).collect();
    let (geo, geo_lips) = (
        error_mm(&decoded, &motion.neutral, &all),
        error_mm(&decoded, &motion.neutral, &lips),
    );
    let (ceil, ceil_lips) = (
        error_mm(&ceiling, &clip.neutral, &all),
        error_mm(&ceiling, &clip.neutral, &lips),
    );
    // The image path on the same frames: E_exp's latents decoded on the same neutral, E_pose's
    // rotations about their mean.
    let size = (video.info.width, video.info.height);
    let estimates =
        image_estimates(&gnpfa, &video.frames[..n], &motion.geometry[..n], size).unwrap();
    let image_latents: Vec<Vec<f32>> = estimates.iter().map(|e| e.latent.clone()).collect();
    let image_decoded = gnpfa
        .decode_frames(&motion.neutral, &image_latents)
        .unwrap();
    let image_rotations = image_rotations(&estimates);
    let image_rotation_errors: Vec<f32> = (0..n)
        .map(|t| {
            let got = HeadPose {
                rotation: image_rotations[t],
                translation: [0.0; 3],
            };
            let truth = HeadPose::from_matrix(&times_transpose(&truth_r[t], &truth_mean), [0.0; 3]);
            got.rotation_distance(&truth).to_degrees()
        })
        .collect();
    let image_rotation = image_rotation_errors.iter().sum::<f32>() / n as f32;
    let image_rotation_max = image_rotation_errors.iter().copied().fold(0f32, f32::max);
    let (image_geo, image_lips) = (
        error_mm(&image_decoded, &motion.neutral, &all),
        error_mm(&image_decoded, &motion.neutral, &lips),
    );
    println!(
        "world {seed}, image path (E_exp, E_pose on 96-px crops): expression error {image_geo:.2} mm \
         (lips {image_lips:.2} mm), rotation error mean {image_rotation:.2}°, max {image_rotation_max:.2}°"
    );
    let (image_constant, image_varying) = split_mm(&image_decoded, &motion.neutral, &all);
    println!(
        "world {seed}, image path: constant part {image_constant:.2} mm, the rest {image_varying:.2} mm"
    );
    let (constant, varying) = split_mm(&decoded, &motion.neutral, &all);
    let (lips_constant, lips_varying) = split_mm(&decoded, &motion.neutral, &lips);
    println!(
        "world {seed} ({:?}, {:?}), landmark path: constant part {constant:.2} mm (lips \
         {lips_constant:.2} mm), the rest {varying:.2} mm (lips {lips_varying:.2} mm)",
        clip.meta.emotion, clip.meta.intensity
    );
    // The identity's true neutral face, rendered under the first frame's head pose and
    // tracked like the clip (what a neutral take of the speaker gives, `neutral_clip`), in
    // place of the clip's median.
    let neutral_image = render(
        &truth_pose[0].apply(&clip.neutral),
        &template.mesh.triangles,
        &camera,
        &opts,
    )
    .unwrap();
    // A fresh tracker: one that kept the clip's last crop would read it through that crop.
    let neutral_points = FaceTracker::load(&common::models_dir(), TrackerOptions::default())
        .unwrap()
        .track(&neutral_image)
        .unwrap()
        .expect("the neutral render has a face")
        .landmarks
        .points;
    let tracked_neutral = motion_from_points(
        &gnpfa,
        &[Some(neutral_points)],
        size,
        None,
        &MotionOptions::default(),
    )
    .unwrap()
    .neutral;
    let with_neutral = motion_from_points(
        &gnpfa,
        &track,
        size,
        Some(&tracked_neutral),
        &MotionOptions::default(),
    )
    .unwrap();
    let decoded_on_neutral = gnpfa
        .decode_frames(&tracked_neutral, &with_neutral.latents[..n])
        .unwrap();
    let (neutral_constant, neutral_varying) = split_mm(&decoded_on_neutral, &tracked_neutral, &all);
    let on_true_neutral = error_mm(&decoded_on_neutral, &tracked_neutral, &all);
    println!(
        "world {seed}, landmark path on the tracked true neutral: expression error \
         {on_true_neutral:.2} mm (lips {:.2} mm): constant part {neutral_constant:.2} mm, the rest \
         {neutral_varying:.2} mm",
        error_mm(&decoded_on_neutral, &tracked_neutral, &lips),
    );
    let mean_rot = rotation_errors.iter().sum::<f32>() / n as f32;
    let max_rot = rotation_errors.iter().copied().fold(0f32, f32::max);
    println!(
        "world {seed}: {} frames of {} ({} with a face, {} filled); audio lag {best_lag} samples ({:.2} frames); \
         rotation error mean {mean_rot:.2}°, max {max_rot:.2}°; expression error {geo:.2} mm (lips \
         {geo_lips:.2} mm), GNPFA's own round trip {ceil:.2} mm (lips {ceil_lips:.2} mm)",
        video.frames.len(),
        clip.num_frames(),
        found,
        motion.filled_frames,
        best_lag as f32 * 30.0 / 16000.0
    );
    // Every world's bounds are checked, and the breaks collected, so that a run over many worlds
    // reports all of them.
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(format!("world {seed}: {what}"));
        }
    };
    check(
        video.frames.len().abs_diff(clip.num_frames()) <= 1,
        format!(
            "{} frames decoded of {}",
            video.frames.len(),
            clip.num_frames()
        ),
    );
    check(
        best_lag.abs() * 30 / 16000 == 0,
        format!("audio off by {best_lag} samples"),
    );
    check(
        found == video.frames.len(),
        format!("a face in {found} frames of {}", video.frames.len()),
    );
    // The landmark path, measured over the default eight worlds: rotation 0.57-1.39° mean,
    // 1.86-3.31° max; expression 0.82-1.98 mm, lips 1.89-3.92 mm. Over 64 others: rotation at
    // most 1.19° mean and 3.77° max, expression at most 2.50 mm, lips 6.95 mm (the bounds leave
    // room over the worst of the 72).
    check(
        mean_rot < 2.0 && max_rot < 4.5,
        format!("rotation {mean_rot}° mean, {max_rot}° max"),
    );
    check(
        geo < 3.0 && geo_lips < 8.0,
        format!("expression error {geo} mm, lips {geo_lips} mm"),
    );
    // The motion within the clip, measured over the 72 worlds: at most 1.07 mm on the
    // estimated neutral, 1.08 mm on the tracked true neutral, 0.55 mm on the image path.
    check(
        varying < 1.2 && neutral_varying < 1.2 && image_varying < 0.7,
        format!(
            "motion within the clip: {varying} mm, {neutral_varying} mm on the true neutral, \
             image path {image_varying} mm"
        ),
    );
    // The image path, measured over the default eight worlds: 0.61-1.11 mm (lips 1.69-2.94
    // mm), rotation 0.45-1.01° mean, 1.08-2.02° max. Over 64 others: at most 1.60 mm (lips 3.81
    // mm), 1.00° mean and 2.76° max.
    check(
        image_geo < 2.0 && image_lips < 5.0,
        format!("image path: {image_geo} mm, lips {image_lips} mm"),
    );
    check(
        image_rotation < 1.5 && image_rotation_max < 3.0,
        format!("image path: rotation {image_rotation}° mean, {image_rotation_max}° max"),
    );
    Outcome {
        landmark: PathNumbers {
            expression: geo,
            rotation_mean: mean_rot,
            rotation_max: max_rot,
        },
        image: PathNumbers {
            expression: image_geo,
            rotation_mean: image_rotation,
            rotation_max: image_rotation_max,
        },
        on_true_neutral,
        failures,
    }
}
