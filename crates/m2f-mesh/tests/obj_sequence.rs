//! OBJ-sequence export: one file per frame, re-readable, posed when poses are given.

use m2f_mesh::{read_obj, write_obj_sequence, FaceTemplate, HeadPose, MeshError, Units};

fn frames(n: usize) -> Vec<Vec<[f32; 3]>> {
    let neutral = FaceTemplate::mediapipe().mesh.vertices;
    (0..n)
        .map(|t| {
            neutral
                .iter()
                .map(|v| [v[0], v[1] - 0.001 * t as f32, v[2]])
                .collect()
        })
        .collect()
}

#[test]
fn writes_frames_that_read_back() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let frames = frames(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("nested/seq");
    let paths = write_obj_sequence(&out, &mesh, &frames, None).expect("export");
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
        .collect();
    assert_eq!(
        names,
        ["frame_00000.obj", "frame_00001.obj", "frame_00002.obj"].map(|s| Some(s.to_string()))
    );
    for (p, f) in paths.iter().zip(&frames) {
        assert!(p.is_file(), "{} missing", p.display());
        let back = read_obj(p, Units::Metres).expect("re-read");
        assert_eq!(&back.vertices, f);
        assert_eq!(back.triangles, mesh.triangles);
        assert_eq!(back.uvs, mesh.uvs);
    }
}

#[test]
fn applies_head_poses() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let frames = frames(2);
    let poses = [
        HeadPose::from_array([0.1, -0.2, 0.05, 0.01, 0.0, -0.02]),
        HeadPose::from_array([0.0, 0.4, 0.0, 0.0, 0.03, 0.0]),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = write_obj_sequence(dir.path(), &mesh, &frames, Some(&poses)).expect("export");
    for ((p, f), pose) in paths.iter().zip(&frames).zip(&poses) {
        let back = read_obj(p, Units::Metres).expect("re-read");
        let want = pose.apply(f);
        for (a, b) in back.vertices.iter().zip(&want) {
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1e-6, "{a:?} vs {b:?}");
            }
        }
    }
}

#[test]
fn rejects_wrong_vertex_count_before_writing() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let mut frames = frames(3);
    frames[2].pop();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("seq");
    let err = write_obj_sequence(&out, &mesh, &frames, None).expect_err("must fail");
    assert!(
        matches!(
            err,
            MeshError::VertexCount {
                expected: 468,
                got: 467,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("frame 2"), "{err}");
    assert!(!out.exists(), "no partial sequence on bad input");
}

#[test]
fn rejects_pose_count_mismatch() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let dir = tempfile::tempdir().expect("tempdir");
    let err = write_obj_sequence(dir.path(), &mesh, &frames(3), Some(&[HeadPose::IDENTITY]))
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("poses"), "{err}");
    assert!(err.contains("expected 3 poses"), "{err}");
}

#[test]
fn rejects_non_finite_vertex() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let mut frames = frames(2);
    frames[1][7][0] = f32::NAN;
    let dir = tempfile::tempdir().expect("tempdir");
    let err = write_obj_sequence(dir.path(), &mesh, &frames, None)
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("frame 1, vertex 7"), "{err}");
}

#[test]
fn uncreatable_directory_names_the_path() {
    let mesh = FaceTemplate::mediapipe().mesh;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not_a_dir");
    std::fs::write(&file, b"x").expect("write");
    let target = file.join("seq");
    let err = write_obj_sequence(&target, &mesh, &frames(1), None).expect_err("must fail");
    assert!(matches!(err, MeshError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not_a_dir"), "{err}");
}
