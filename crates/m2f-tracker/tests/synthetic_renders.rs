//! The tracker on renders of the synthetic world (`m2f-synth` identities and ARKit rigs, the
//! project's software renderer): the face is found, the mesh lands near the true projected
//! vertices, and the metric face and head pose come back. The numbers are printed; the bounds
//! are what was measured with some room (docs/tracking.md has the table).

mod common;

use m2f_mesh::{
    mediapipe_procrustes_weights, project, render, times_transpose, Camera, FaceTemplate, HeadPose,
    RenderOptions,
};
use m2f_tracker::{
    face_geometry, region_from_detection, FaceGeometry, FaceTracker, TrackerOptions,
    DEFAULT_VERTICAL_FOV_DEGREES,
};

#[test]
fn rendered_identities_are_tracked_and_their_pose_comes_back() {
    let template = FaceTemplate::mediapipe();
    let tracker = FaceTracker::load(&common::models_dir(), TrackerOptions::default()).unwrap();
    let weights = mediapipe_procrustes_weights();
    let fov = DEFAULT_VERTICAL_FOV_DEGREES.to_radians();
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    let (mut worst_2d, mut worst_relative, mut worst_gap) = (0f32, 0f32, 0f32);
    for id in 0..3 {
        let rig = m2f_synth::identity_rig(1, id, &template).unwrap();
        let neutral = rig.neutral().vertices.clone();
        // A 512-pixel frame with the face about 170 pixels wide.
        let mut camera = Camera::framing_sized(&neutral, 512, 512);
        camera.eye =
            std::array::from_fn(|k| camera.target[k] + 2.0 * (camera.eye[k] - camera.target[k]));
        let track = |vertices: &[[f32; 3]], pose: HeadPose| -> (f32, FaceGeometry) {
            let posed = pose.apply(vertices);
            let image = render(&posed, &template.mesh.triangles, &camera, &opts).unwrap();
            let faces = tracker.detector().detect(&image, 0.5).unwrap();
            assert_eq!(faces.len(), 1, "identity {id}: {faces:?}");
            let mesh = tracker
                .landmarker()
                .landmarks(&image, &region_from_detection(&faces[0]))
                .unwrap();
            assert!(
                mesh.presence > 0.9,
                "identity {id}: presence {}",
                mesh.presence
            );
            let truth: Vec<[f32; 2]> = posed
                .iter()
                .map(|&p| project(&camera, p).unwrap())
                .collect();
            let width = truth.iter().map(|p| p[0]).fold(f32::MIN, f32::max)
                - truth.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
            let error = mesh
                .points
                .iter()
                .zip(&truth)
                .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
                .sum::<f32>()
                / truth.len() as f32;
            let geometry = face_geometry(
                &mesh.points,
                &template.mesh.vertices,
                &weights,
                (512, 512),
                fov,
            )
            .unwrap();
            (error / width, geometry)
        };
        let (_, rest) = track(&neutral, HeadPose::IDENTITY);
        let jaw = rig.index_of("jawOpen").unwrap();
        for (name, jaw_open, rotation) in [
            ("jaw open", 0.6, [0.0, 0.0, 0.0]),
            ("yaw 20°", 0.3, [0.0, 0.35, 0.0]),
            ("pitch 11°, roll 10°", 0.3, [0.2, 0.0, 0.17]),
        ] {
            let mut w = vec![0f32; rig.num_blendshapes()];
            w[jaw] = jaw_open;
            let face = rig.apply(&w).unwrap();
            let pose = HeadPose {
                rotation,
                translation: [0.0; 3],
            };
            let (error_2d, g) = track(&face, pose);
            // The rotation relative to the rest frame's, against the truth: the face mesh sees
            // these renders with a slight constant tilt, which the rest frame cancels.
            let relative = times_transpose(&g.pose.rotation_matrix(), &rest.pose.rotation_matrix());
            let rotation_error = HeadPose::from_matrix(&relative, [0.0; 3])
                .rotation_distance(&pose)
                .to_degrees();
            let gap = |v: &[[f32; 3]]| 1000.0 * (v[13][1] - v[14][1]).abs();
            let (true_gap, tracked_gap) = (gap(&face), gap(&g.vertices) - gap(&rest.vertices));
            println!(
                "identity {id}, {name}: points {:.1} % of the face width from the truth, rotation \
                 {rotation_error:.2}° off, lip gap {tracked_gap:.1} mm (true {true_gap:.1} mm)",
                100.0 * error_2d
            );
            worst_2d = worst_2d.max(error_2d);
            worst_relative = worst_relative.max(rotation_error);
            if jaw_open > 0.5 {
                worst_gap = worst_gap.max((tracked_gap - true_gap).abs() / true_gap);
            }
        }
    }
    println!(
        "worst: {:.1} % of the width, {worst_relative:.2}°, a wide-open lip gap off by {:.0} %",
        100.0 * worst_2d,
        100.0 * worst_gap
    );
    // Measured: 2.6 %, 2.98°, 31 %. The face mesh reads a small opening of these renders
    // (6 mm) as 1-3 mm and a wide one (12-13 mm) as 15-16 mm: the round trip's lip error
    // comes from here (docs/tracking.md).
    assert!(
        worst_2d < 0.03,
        "points {:.1} % of the width off",
        100.0 * worst_2d
    );
    assert!(worst_relative < 4.0, "rotation {worst_relative}° off");
    assert!(
        worst_gap < 0.45,
        "a wide-open lip gap off by {:.0} %",
        100.0 * worst_gap
    );
}
