//! GLB export: written files re-read with the `gltf` crate must carry exactly what was written.

use gltf::animation::util::{MorphTargetWeights, ReadOutputs, Rotations};
use gltf::animation::Property;
use m2f_mesh::{glb_bytes, write_glb, Animation, FaceMesh, FaceTemplate, HeadPose, MeshError, Rig};

const FPS: f32 = 30.0;

/// The template with three made-up blendshapes, each a simple displacement field.
fn test_rig() -> Rig {
    let neutral = FaceTemplate::mediapipe().mesh;
    let v = neutral.vertices.len();
    let deltas = vec![
        (0..v)
            .map(|i| [0.0, -0.001 * (i % 7) as f32, 0.0])
            .collect::<Vec<_>>(),
        vec![[0.002, 0.0, -0.0005]; v],
        (0..v)
            .map(|i| [0.0, 0.0, 0.003 * (i as f32).sin()])
            .collect(),
    ];
    let names = ["jawOpen", "mouthLeft", "cheekPuff"]
        .map(String::from)
        .to_vec();
    Rig::new(neutral, names, deltas).expect("valid test rig")
}

fn test_weights(frames: usize, k: usize) -> Vec<Vec<f32>> {
    (0..frames)
        .map(|t| (0..k).map(|j| ((t * 3 + j) % 5) as f32 * 0.25).collect())
        .collect()
}

/// Includes turns near ±π about y so consecutive quaternions land in opposite hemispheres.
fn test_poses() -> Vec<HeadPose> {
    vec![
        HeadPose::from_array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        HeadPose::from_array([0.1, -0.2, 0.05, 0.001, 0.002, -0.003]),
        HeadPose::from_array([0.0, 3.0, 0.0, 0.01, 0.0, 0.0]),
        HeadPose::from_array([0.0, -3.0, 0.0, 0.0, -0.01, 0.0]),
        HeadPose::from_array([-0.3, 0.2, 0.1, 0.0, 0.0, 0.02]),
    ]
}

fn quat_to_matrix([x, y, z, w]: [f32; 4]) -> [[f32; 3]; 3] {
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - z * w),
            2.0 * (x * z + y * w),
        ],
        [
            2.0 * (x * y + z * w),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - x * w),
        ],
        [
            2.0 * (x * z - y * w),
            2.0 * (y * z + x * w),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn json_chunk(bytes: &[u8]) -> serde_json::Value {
    let glb = gltf::Glb::from_slice(bytes).expect("GLB container");
    serde_json::from_slice(&glb.json).expect("JSON chunk")
}

#[test]
fn round_trip_geometry_morph_targets_and_names() {
    let rig = test_rig();
    let weights = test_weights(5, 3);
    let poses = test_poses();
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: Some(&poses),
        fps: FPS,
    };
    let bytes = glb_bytes(&anim).expect("export");
    let (doc, buffers, _) = gltf::import_slice(&bytes).expect("gltf re-reads the GLB");

    assert_eq!(doc.meshes().len(), 1);
    let mesh = doc.meshes().next().expect("one mesh");
    let prim = mesh.primitives().next().expect("one primitive");
    let neutral = rig.neutral();

    let pos = prim.get(&gltf::Semantic::Positions).expect("POSITION");
    assert_eq!(pos.count(), 468);
    let (lo, hi) = neutral.bounds();
    let as_json = |a: [f32; 3]| a.iter().map(|&c| serde_json::json!(c as f64)).collect();
    assert_eq!(pos.min(), Some(serde_json::Value::Array(as_json(lo))));
    assert_eq!(pos.max(), Some(serde_json::Value::Array(as_json(hi))));

    let reader = prim.reader(|b| Some(&buffers[b.index()]));
    let positions: Vec<[f32; 3]> = reader.read_positions().expect("positions").collect();
    assert_eq!(positions, neutral.vertices);
    let normals: Vec<[f32; 3]> = reader.read_normals().expect("normals").collect();
    assert_eq!(normals.len(), 468);
    for n in &normals {
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        assert!((len - 1.0).abs() < 1e-5, "normal {n:?} is not unit length");
    }
    let uvs: Vec<[f32; 2]> = reader
        .read_tex_coords(0)
        .expect("TEXCOORD_0")
        .into_f32()
        .collect();
    let obj_uvs = neutral.uvs.as_ref().expect("template has UVs");
    for (g, o) in uvs.iter().zip(obj_uvs) {
        assert_eq!(g[0], o[0]);
        assert_eq!(g[1], 1.0 - o[1], "glTF V must be flipped from OBJ");
    }
    let indices: Vec<u32> = reader.read_indices().expect("indices").into_u32().collect();
    let expected: Vec<u32> = neutral.triangles.iter().flatten().copied().collect();
    assert_eq!(indices, expected);

    // Morph targets: count, min/max and values.
    assert_eq!(prim.morph_targets().len(), 3);
    for (k, target) in prim.morph_targets().enumerate() {
        let acc = target.positions().expect("target POSITION");
        assert_eq!(acc.count(), 468);
        let (lo, hi) = m2f_mesh::bounds(rig.delta(k));
        assert_eq!(acc.min(), Some(serde_json::Value::Array(as_json(lo))));
        assert_eq!(acc.max(), Some(serde_json::Value::Array(as_json(hi))));
    }
    for (k, (p, _, _)) in reader.read_morph_targets().enumerate() {
        let d: Vec<[f32; 3]> = p.expect("target positions").collect();
        assert_eq!(d, rig.delta(k), "blendshape {k}");
    }
    assert_eq!(mesh.weights(), Some(&[0.0f32; 3][..]));

    // Names live in mesh.extras.targetNames.
    let json = json_chunk(&bytes);
    let names: Vec<String> =
        serde_json::from_value(json["meshes"][0]["extras"]["targetNames"].clone())
            .expect("targetNames");
    assert_eq!(names, rig.names());
    assert_eq!(json["asset"]["generator"], "media2face");
    assert_eq!(json["nodes"][0]["name"], "head");
}

#[test]
fn round_trip_animation_channels() {
    let rig = test_rig();
    let weights = test_weights(5, 3);
    let poses = test_poses();
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: Some(&poses),
        fps: FPS,
    };
    let bytes = glb_bytes(&anim).expect("export");
    let (doc, buffers, _) = gltf::import_slice(&bytes).expect("gltf re-reads the GLB");

    let animation = doc.animations().next().expect("one animation");
    assert_eq!(animation.name(), Some("speech"));
    let mut seen = Vec::new();
    for channel in animation.channels() {
        assert_eq!(channel.target().node().name(), Some("head"));
        let sampler = channel.sampler();
        assert_eq!(
            sampler.interpolation(),
            gltf::animation::Interpolation::Linear
        );
        let input = sampler.input();
        assert_eq!(input.count(), 5);
        assert_eq!(input.min(), Some(serde_json::json!([0.0])));
        assert_eq!(
            input.max(),
            Some(serde_json::json!([(4.0f32 / FPS) as f64]))
        );

        let reader = channel.reader(|b| Some(&buffers[b.index()]));
        let times: Vec<f32> = reader.read_inputs().expect("inputs").collect();
        let expected: Vec<f32> = (0..5).map(|t| t as f32 / FPS).collect();
        assert_eq!(times, expected);

        match reader.read_outputs().expect("outputs") {
            ReadOutputs::MorphTargetWeights(MorphTargetWeights::F32(w)) => {
                assert_eq!(sampler.output().count(), 5 * 3);
                let w: Vec<f32> = w.collect();
                let expected: Vec<f32> = weights.iter().flatten().copied().collect();
                assert_eq!(w, expected);
                seen.push(Property::MorphTargetWeights);
            }
            ReadOutputs::Rotations(Rotations::F32(q)) => {
                let q: Vec<[f32; 4]> = q.collect();
                assert_eq!(q.len(), 5);
                for (t, (qt, pose)) in q.iter().zip(&poses).enumerate() {
                    let norm: f32 = qt.iter().map(|c| c * c).sum::<f32>().sqrt();
                    assert!((norm - 1.0).abs() < 1e-5, "frame {t}: |q| = {norm}");
                    let got = quat_to_matrix(*qt);
                    let want = pose.rotation_matrix();
                    for i in 0..3 {
                        for j in 0..3 {
                            assert!(
                                (got[i][j] - want[i][j]).abs() < 1e-5,
                                "frame {t}: quaternion {qt:?} is not rotation {:?}",
                                pose.rotation
                            );
                        }
                    }
                    if t > 0 {
                        let d: f32 = q[t - 1].iter().zip(qt).map(|(a, b)| a * b).sum();
                        assert!(d >= 0.0, "frames {} and {t} in opposite hemispheres", t - 1);
                    }
                }
                seen.push(Property::Rotation);
            }
            ReadOutputs::Translations(tr) => {
                let tr: Vec<[f32; 3]> = tr.collect();
                let expected: Vec<[f32; 3]> = poses.iter().map(|p| p.translation).collect();
                assert_eq!(tr, expected);
                seen.push(Property::Translation);
            }
            _ => panic!("unexpected output kind"),
        }
    }
    assert_eq!(
        seen,
        [
            Property::MorphTargetWeights,
            Property::Rotation,
            Property::Translation
        ]
    );
}

#[test]
fn container_and_buffer_views_are_four_byte_aligned() {
    let rig = test_rig();
    // An odd triangle count makes the u16 index view a non-multiple of 4 bytes long.
    let weights = test_weights(7, 3);
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: None,
        fps: 25.0,
    };
    let bytes = glb_bytes(&anim).expect("export");
    assert_eq!(&bytes[..4], b"glTF");
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!(word(4), 2);
    assert_eq!(word(8) as usize, bytes.len());
    let json_len = word(12) as usize;
    assert_eq!(json_len % 4, 0);
    assert_eq!(&bytes[16..20], b"JSON");
    let bin_at = 20 + json_len;
    let bin_len = word(bin_at) as usize;
    assert_eq!(bin_len % 4, 0);
    assert_eq!(&bytes[bin_at + 4..bin_at + 8], b"BIN\0");
    assert_eq!(bin_at + 8 + bin_len, bytes.len());

    let json = json_chunk(&bytes);
    for view in json["bufferViews"].as_array().expect("bufferViews") {
        let offset = view["byteOffset"].as_u64().expect("byteOffset");
        assert_eq!(offset % 4, 0, "bufferView {view} is not 4-aligned");
    }
    // No poses: only the weights channel.
    assert_eq!(
        json["animations"][0]["channels"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn write_glb_writes_the_same_bytes() {
    let rig = test_rig();
    let weights = test_weights(3, 3);
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: None,
        fps: FPS,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("speech.glb");
    write_glb(&path, &anim).expect("write");
    let on_disk = std::fs::read(&path).expect("read back");
    assert_eq!(on_disk, glb_bytes(&anim).expect("export"));
    gltf::Gltf::from_slice(&on_disk).expect("valid glTF");
}

#[test]
fn rig_without_blendshapes_exports_pose_only() {
    let rig = Rig::new(FaceTemplate::mediapipe().mesh, vec![], vec![]).expect("rig");
    let weights = vec![vec![]; 5];
    let poses = test_poses();
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: Some(&poses),
        fps: FPS,
    };
    let bytes = glb_bytes(&anim).expect("export");
    let (doc, _, _) = gltf::import_slice(&bytes).expect("valid glTF");
    let mesh = doc.meshes().next().expect("mesh");
    assert_eq!(
        mesh.primitives().next().map(|p| p.morph_targets().len()),
        Some(0)
    );
    let anim = doc.animations().next().expect("animation");
    assert_eq!(anim.channels().count(), 2);

    // No blendshapes and no poses: nothing to animate, so no (invalid, empty) animation.
    let still = Animation {
        rig: &rig,
        weights: &weights,
        poses: None,
        fps: FPS,
    };
    let (doc, _, _) = gltf::import_slice(glb_bytes(&still).expect("export")).expect("valid");
    assert_eq!(doc.animations().count(), 0);
}

#[test]
fn mesh_without_uvs_has_no_texcoords() {
    let t = FaceTemplate::mediapipe().mesh;
    let neutral = FaceMesh::new(t.vertices, t.triangles, None).expect("mesh");
    let rig = Rig::new(neutral, vec![], vec![]).expect("rig");
    let weights = vec![vec![]; 2];
    let poses = vec![HeadPose::IDENTITY; 2];
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: Some(&poses),
        fps: FPS,
    };
    let (doc, _, _) = gltf::import_slice(glb_bytes(&anim).expect("export")).expect("valid");
    let prim = doc
        .meshes()
        .next()
        .and_then(|m| m.primitives().next())
        .expect("primitive");
    assert!(prim.get(&gltf::Semantic::TexCoords(0)).is_none());
}

// ---- bad input -------------------------------------------------------------------------

fn export_error(weights: &[Vec<f32>], poses: Option<&[HeadPose]>, fps: f32) -> String {
    let rig = test_rig();
    let anim = Animation {
        rig: &rig,
        weights,
        poses,
        fps,
    };
    match glb_bytes(&anim) {
        Ok(_) => panic!("export should have failed"),
        Err(e) => {
            assert!(matches!(e, MeshError::Invalid { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn rejects_bad_fps() {
    let w = test_weights(2, 3);
    for fps in [0.0, -30.0, f32::NAN, f32::INFINITY] {
        let msg = export_error(&w, None, fps);
        assert!(msg.contains("fps"), "{msg}");
        assert!(msg.contains("finite number > 0"), "{msg}");
    }
}

#[test]
fn rejects_no_frames() {
    let msg = export_error(&[], None, FPS);
    assert!(msg.contains("weights"), "{msg}");
    assert!(msg.contains("at least 1 frame"), "{msg}");
}

#[test]
fn rejects_short_weights_row() {
    let mut w = test_weights(20, 3);
    w[12].pop();
    let msg = export_error(&w, None, FPS);
    assert!(msg.contains("weights frame 12: expected 3 values"), "{msg}");
    assert!(msg.contains("got 2"), "{msg}");
}

#[test]
fn rejects_non_finite_weight() {
    let mut w = test_weights(4, 3);
    w[3][1] = f32::NAN;
    let msg = export_error(&w, None, FPS);
    assert!(msg.contains("weights frame 3"), "{msg}");
    assert!(msg.contains("mouthLeft"), "{msg}");
    assert!(msg.contains("finite"), "{msg}");
}

#[test]
fn rejects_pose_count_mismatch() {
    let w = test_weights(6, 3);
    let poses = test_poses();
    let msg = export_error(&w, Some(&poses), FPS);
    assert!(msg.contains("poses"), "{msg}");
    assert!(msg.contains("expected 6 poses"), "{msg}");
    assert!(msg.contains("got 5"), "{msg}");
}

#[test]
fn rejects_non_finite_pose() {
    let w = test_weights(5, 3);
    let mut poses = test_poses();
    poses[2].translation[1] = f32::INFINITY;
    let msg = export_error(&w, Some(&poses), FPS);
    assert!(msg.contains("poses frame 2"), "{msg}");
    assert!(msg.contains("finite"), "{msg}");
}

#[test]
fn write_glb_error_names_the_file_and_leaves_nothing() {
    let rig = test_rig();
    let w = test_weights(2, 2);
    let anim = Animation {
        rig: &rig,
        weights: &w,
        poses: None,
        fps: FPS,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.glb");
    let msg = write_glb(&path, &anim).expect_err("must fail").to_string();
    assert!(msg.contains("bad.glb"), "{msg}");
    assert!(msg.contains("weights frame 0"), "{msg}");
    assert!(!path.exists());
}
