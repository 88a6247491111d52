//! The detector and the face mesh on a real photograph (scikit-image's astronaut, NASA, public
//! domain): one face found, and the mesh lands on it. `docs/images/tracker_astronaut.png` shows
//! it (`cargo run --release -p m2f-tracker --example mesh_on_photo`).

mod common;

use m2f_tracker::{
    region_from_detection, FaceDetector, FaceLandmarker, DETECTOR_FILE, LANDMARK_FILE, MESH_POINTS,
    MIN_DETECTION_SCORE,
};

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn mean(points: &[[f32; 3]], ids: &[usize]) -> [f32; 2] {
    let n = ids.len() as f32;
    [
        ids.iter().map(|&i| points[i][0]).sum::<f32>() / n,
        ids.iter().map(|&i| points[i][1]).sum::<f32>() / n,
    ]
}

#[test]
fn finds_the_astronaut_and_her_mesh_lands_on_the_detected_features() {
    let image = image::open(common::fixtures().join("astronaut.jpg"))
        .unwrap()
        .to_rgb8();
    let dir = common::models_dir();
    let detector = FaceDetector::load(&dir.join(DETECTOR_FILE)).unwrap();
    let landmarker = FaceLandmarker::load(&dir.join(LANDMARK_FILE)).unwrap();
    let faces = detector.detect(&image, MIN_DETECTION_SCORE).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let face = &faces[0];
    assert!(face.score > 0.9, "{face:?}");
    // Her face is about 100 px wide, left of the picture's centre and in its upper third.
    let size = face.max[0] - face.min[0];
    assert!((80.0..130.0).contains(&size), "{face:?}");
    assert!(
        distance(
            [
                (face.min[0] + face.max[0]) / 2.0,
                (face.min[1] + face.max[1]) / 2.0
            ],
            [225.0, 130.0]
        ) < 20.0
    );

    let mesh = landmarker
        .landmarks(&image, &region_from_detection(face))
        .unwrap();
    assert_eq!(mesh.points.len(), MESH_POINTS);
    assert!(mesh.presence > 0.9, "presence {}", mesh.presence);
    // The two models agree on where the eyes, nose tip and mouth are (mesh: eye corners 33/133
    // and 362/263, nose tip 1, inner lip 13/14; detector: keypoints 0-3), within 8 % of the box.
    let pairs = [
        (
            "right eye",
            mean(&mesh.points, &[33, 133]),
            face.keypoints[0],
        ),
        (
            "left eye",
            mean(&mesh.points, &[362, 263]),
            face.keypoints[1],
        ),
        ("nose tip", mean(&mesh.points, &[1]), face.keypoints[2]),
        ("mouth", mean(&mesh.points, &[13, 14]), face.keypoints[3]),
    ];
    for (name, from_mesh, from_detector) in pairs {
        let d = distance(from_mesh, from_detector);
        println!("{name}: mesh {from_mesh:?}, detector {from_detector:?}, {d:.1} px");
        assert!(d < 0.08 * size, "{name}: {d:.1} px apart");
    }
    // Tracking: the next frame's crop from the mesh stays on the same face.
    let next = mesh.next_region();
    assert!(
        distance(next.center, mesh.region.center) < 0.1 * size,
        "{next:?} vs {:?}",
        mesh.region
    );
    assert!(
        (next.size[0] / mesh.region.size[0] - 1.0).abs() < 0.2,
        "{next:?} vs {:?}",
        mesh.region
    );
}

#[test]
fn a_picture_without_a_face_has_no_detection_and_a_low_presence() {
    let dir = common::models_dir();
    let detector = FaceDetector::load(&dir.join(DETECTOR_FILE)).unwrap();
    let landmarker = FaceLandmarker::load(&dir.join(LANDMARK_FILE)).unwrap();
    // Smooth colour gradients, and the photograph's bottom-right corner (the helmet, no face).
    let gradient = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x * 255 / 320) as u8, (y * 255 / 240) as u8, 90])
    });
    let photo = image::open(common::fixtures().join("astronaut.jpg"))
        .unwrap()
        .to_rgb8();
    let helmet = image::imageops::crop_imm(&photo, 280, 330, 232, 182).to_image();
    for (name, image) in [("gradient", gradient), ("helmet", helmet)] {
        let faces = detector.detect(&image, MIN_DETECTION_SCORE).unwrap();
        assert!(faces.is_empty(), "{name}: {faces:?}");
        let (w, h) = (image.width() as f32, image.height() as f32);
        let region = m2f_tracker::RotatedRect {
            center: [w / 2.0, h / 2.0],
            size: [h, h],
            rotation: 0.0,
        };
        let mesh = landmarker.landmarks(&image, &region).unwrap();
        println!("{name}: presence {}", mesh.presence);
        assert!(mesh.presence < 0.5, "{name}: presence {}", mesh.presence);
    }
}

/// The whole pipeline (letterbox, anchors, NMS, rotated crop, projection back) against
/// MediaPipe's own FaceDetection and FaceMesh solutions on the same photograph
/// (`tools/make_tracker_fixtures.py`). Measured: box and keypoints within 0.16 px, the 468
/// points within 0.13 px (mean 0.06 px) in a 512-px picture.
#[test]
fn matches_mediapipe_s_own_pipeline_on_the_photograph() {
    let image = image::open(common::fixtures().join("astronaut.jpg"))
        .unwrap()
        .to_rgb8();
    let want: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::fixtures().join("mediapipe_astronaut.json")).unwrap(),
    )
    .unwrap();
    let xy = |v: &serde_json::Value| [v[0].as_f64().unwrap() as f32, v[1].as_f64().unwrap() as f32];
    let dir = common::models_dir();
    let face = FaceDetector::load(&dir.join(DETECTOR_FILE))
        .unwrap()
        .detect(&image, MIN_DETECTION_SCORE)
        .unwrap()
        .remove(0);
    let d = &want["detection"];
    let mut worst_detection = (face.score - d["score"].as_f64().unwrap() as f32).abs() * 100.0;
    for (got, want) in [(face.min, xy(&d["min"])), (face.max, xy(&d["max"]))]
        .into_iter()
        .chain(
            face.keypoints
                .iter()
                .zip(d["keypoints"].as_array().unwrap())
                .map(|(g, w)| (*g, xy(w))),
        )
    {
        worst_detection = worst_detection.max(distance(got, want));
    }
    let mesh = FaceLandmarker::load(&dir.join(LANDMARK_FILE))
        .unwrap()
        .landmarks(&image, &region_from_detection(&face))
        .unwrap();
    let points = want["points"].as_array().unwrap();
    assert_eq!(points.len(), mesh.points.len());
    let (mut worst, mut worst_z, mut sum) = (0f32, 0f32, 0f32);
    for (got, want) in mesh.points.iter().zip(points) {
        let d = distance([got[0], got[1]], xy(want));
        worst = worst.max(d);
        sum += d;
        worst_z = worst_z.max((got[2] - want[2].as_f64().unwrap() as f32).abs());
    }
    println!(
        "against mediapipe {}: detection {worst_detection:.3} px (score × 100), points max {worst:.3} px, \
         mean {:.3} px, z max {worst_z:.3}",
        want["mediapipe"],
        sum / points.len() as f32
    );
    assert!(worst_detection < 0.5, "detection off by {worst_detection}");
    assert!(
        worst < 0.5 && worst_z < 0.5,
        "points off by {worst} px, z by {worst_z}"
    );
}
