//! The interpreter against the TFLite runtime: raw outputs of MediaPipe's face detector and face
//! mesh model on a noise input and a photograph, from `tools/make_tracker_fixtures.py`.

mod common;

use candle_core::{Device, Tensor};
use m2f_tracker::TfliteModel;

/// Max abs difference of every output, on the fixture's input `kind` for model `name`.
fn max_errors(
    name: &str,
    file: &str,
    size: usize,
    normalise: fn(u8) -> f32,
    kind: &str,
) -> Vec<f32> {
    let fixtures = safetensors::SafeTensors::deserialize(Box::leak(
        std::fs::read(common::fixtures().join("tflite_parity.safetensors"))
            .unwrap()
            .into_boxed_slice(),
    ))
    .unwrap();
    let model = TfliteModel::load(&common::models_dir().join(file)).unwrap();
    let u8s = match kind {
        "noise" => common::noise(size * size * 3, 7),
        _ => fixtures
            .tensor(&format!("{name}.photo.input"))
            .unwrap()
            .data()
            .to_vec(),
    };
    let x: Vec<f32> = u8s.into_iter().map(normalise).collect();
    let x = Tensor::from_vec(x, (1, size, size, 3), &Device::Cpu).unwrap();
    let outputs = model.run(&[x]).unwrap();
    outputs
        .iter()
        .enumerate()
        .map(|(i, got)| {
            let want = fixtures
                .tensor(&format!("{name}.{kind}.output{i}"))
                .unwrap();
            assert_eq!(got.dims(), want.shape(), "{name} output {i}");
            let want: Vec<f32> = want
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            got.iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        })
        .collect()
}

#[test]
fn detector_matches_the_tflite_runtime() {
    for kind in ["noise", "photo"] {
        let errors = max_errors(
            "detector",
            "face_detection_short_range.tflite",
            128,
            |v| v as f32 / 127.5 - 1.0,
            kind,
        );
        println!("detector {kind}: max abs error per output {errors:?}");
        assert!(
            errors.iter().all(|&e| e < 1e-3),
            "detector on {kind}: {errors:?}"
        );
    }
}

#[test]
fn landmark_model_matches_the_tflite_runtime() {
    for kind in ["noise", "photo"] {
        let errors = max_errors(
            "landmark",
            "face_landmark.tflite",
            192,
            |v| v as f32 / 255.0,
            kind,
        );
        println!("landmark model {kind}: max abs error per output {errors:?}");
        assert!(
            errors.iter().all(|&e| e < 1e-3),
            "landmark model on {kind}: {errors:?}"
        );
    }
}
