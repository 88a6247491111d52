//! Model files that are not what they should be: a clear error naming the file, never a panic.

mod common;

use m2f_tracker::{
    FaceDetector, FaceLandmarker, TfliteModel, TrackerError, DETECTOR_FILE, LANDMARK_FILE,
};

#[test]
fn missing_truncated_and_foreign_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.tflite");
    let err = TfliteModel::load(&missing).unwrap_err();
    assert!(
        matches!(err, TrackerError::Io { .. }) && err.to_string().contains("nothing.tflite"),
        "{err}"
    );

    let json = dir.path().join("config.json");
    std::fs::write(&json, br#"{"model_type": "bert", "hidden_size": 384}"#).unwrap();
    let err = TfliteModel::load(&json).unwrap_err();
    assert!(
        err.to_string().contains("config.json") && err.to_string().contains("identifier"),
        "{err}"
    );

    // Every cut of the real detector fails cleanly (a cut inside the trailing weights may still
    // parse: then the graph refuses the short buffer).
    let bytes = std::fs::read(common::models_dir().join(DETECTOR_FILE)).unwrap();
    for cut in (0..bytes.len()).step_by(997).chain([bytes.len() - 1]) {
        let short = dir.path().join("short.tflite");
        std::fs::write(&short, &bytes[..cut]).unwrap();
        match TfliteModel::load(&short) {
            Err(e) => assert!(e.to_string().contains("short.tflite"), "cut {cut}: {e}"),
            Ok(m) => panic!("a {cut}-byte prefix loaded as {:?}", m.input_shapes()),
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let bytes = std::fs::read(common::models_dir().join(DETECTOR_FILE)).unwrap();
    let mut state = 1u64;
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..8 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (state >> 20) as usize % b.len();
            b[i] ^= (state >> 8) as u8 | 1;
        }
        // Either loads (a weight changed) or fails with a message; running it must not panic.
        if let Ok(model) = TfliteModel::from_bytes(&b, "flipped") {
            if let Ok(detector) = FaceDetector::new(model) {
                let _ = detector.detect(&image::RgbImage::new(64, 64), 0.5);
            }
        }
    }
}

#[test]
fn the_wrong_model_is_named_as_such() {
    let dir = common::models_dir();
    let err = FaceLandmarker::load(&dir.join(DETECTOR_FILE)).unwrap_err();
    assert!(matches!(err, TrackerError::WrongModel { .. }), "{err}");
    assert!(
        err.to_string().contains(DETECTOR_FILE) && err.to_string().contains("face mesh"),
        "{err}"
    );
    let err = FaceDetector::load(&dir.join(LANDMARK_FILE)).unwrap_err();
    assert!(matches!(err, TrackerError::WrongModel { .. }), "{err}");
}

#[test]
fn inputs_of_the_wrong_shape_are_errors() {
    let model = TfliteModel::load(&common::models_dir().join(DETECTOR_FILE)).unwrap();
    let x = candle_core::Tensor::zeros(
        (1, 64, 64, 3),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let err = model.run(&[x]).unwrap_err();
    assert!(err.to_string().contains("[1, 128, 128, 3]"), "{err}");
    assert!(model.run(&[]).is_err());
}

/// Found by fuzzing: a PAD whose paddings (int32 constants) ask for far more than the tensor
/// the file declares must be refused at load, not allocated at run time.
#[test]
fn paddings_that_contradict_the_declared_shape_are_refused() {
    let mut bytes = std::fs::read(common::models_dir().join(DETECTOR_FILE)).unwrap();
    // The detector pads channels 72 → 80 ([[0, 0], [0, 0], [0, 0], [0, 8]] as int32).
    let pattern: Vec<u8> = [0i32, 0, 0, 0, 0, 0, 0, 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern.as_slice())
        .expect("the paddings");
    bytes[at..at + 4].copy_from_slice(&65536i32.to_le_bytes());
    let err = TfliteModel::from_bytes(&bytes, "padded").unwrap_err();
    assert!(
        err.to_string().contains("PAD") && err.to_string().contains("declares"),
        "{err}"
    );
}

/// Found by fuzzing: an operator whose output index is -1 (TFLite's "omitted", valid only for
/// optional inputs) must be refused, not used as an index.
#[test]
fn an_omitted_output_is_refused() {
    let mut bytes = std::fs::read(common::models_dir().join(DETECTOR_FILE)).unwrap();
    // The first operator's `outputs` vector holds one tensor index at this offset of the file
    // (checked by its SHA-256 when fetched).
    bytes[212272..212276].copy_from_slice(&(-1i32).to_le_bytes());
    let err = TfliteModel::from_bytes(&bytes, "omitted").unwrap_err();
    assert!(err.to_string().contains("output tensor -1"), "{err}");
}
