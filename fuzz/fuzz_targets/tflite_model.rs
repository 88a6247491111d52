//! Bytes of any content as a TFLite model (`m2f_tracker::TfliteModel::from_bytes`): a model or
//! an error naming it, never a panic or an abort. A model that loads runs on zeros of its
//! declared input shapes (when they are small) and gives outputs of its declared shapes or an
//! error naming the operator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    if let Some(dir) = std::env::var_os("M2F_FUZZ_SEEDS") {
        // The seed is MediaPipe's face detector (the smaller of the two models).
        let models = m2f_tracker::default_models_dir().expect("M2F_MEDIAPIPE_DIR or HOME");
        let bytes = std::fs::read(models.join("face_detection_short_range.tflite"))
            .expect("MediaPipe's models (python3 tools/fetch_mediapipe.py DIR; M2F_MEDIAPIPE_DIR)");
        std::fs::write(std::path::Path::new(&dir).join("detector.tflite"), bytes).expect("seed");
        std::process::exit(0);
    }
}, |data: &[u8]| {
    let model = match m2f_tracker::TfliteModel::from_bytes(data, "<fuzz>") {
        Ok(model) => model,
        Err(e) => {
            assert!(e.to_string().contains("<fuzz>"), "{e}");
            return;
        }
    };
    let shapes = model.input_shapes();
    if shapes.iter().map(|s| s.iter().product::<usize>()).sum::<usize>() > 128 * 128 * 3 {
        return;
    }
    let inputs: Vec<candle_core::Tensor> = shapes
        .iter()
        .map(|s| candle_core::Tensor::zeros(s.as_slice(), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap())
        .collect();
    match model.run(&inputs) {
        Ok(outputs) => {
            let dims: Vec<Vec<usize>> = outputs.iter().map(|t| t.dims().to_vec()).collect();
            assert_eq!(dims, model.output_shapes());
        }
        Err(e) => assert!(e.to_string().contains("<fuzz>"), "{e}"),
    }
});
