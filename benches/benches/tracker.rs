//! MediaPipe's face models on the crate's TFLite interpreter, per frame: the detector (letterbox,
//! model, decoding, NMS) and the face mesh (crop, model, projection), on one core and on all of
//! them, on scikit-image's astronaut photograph.
//!
//! Needs the models where `m2f_tracker::default_models_dir()` looks
//! (`python3 tools/fetch_mediapipe.py DIR`).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use m2f_tracker::{
    region_from_detection, FaceDetector, FaceLandmarker, DETECTOR_FILE, LANDMARK_FILE,
    MIN_DETECTION_SCORE,
};

fn tracker(c: &mut Criterion) {
    let dir = m2f_tracker::default_models_dir().expect("M2F_MEDIAPIPE_DIR or HOME");
    let detector = FaceDetector::load(&dir.join(DETECTOR_FILE)).expect("detector model");
    let landmarker = FaceLandmarker::load(&dir.join(LANDMARK_FILE)).expect("face mesh model");
    let photo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/m2f-tracker/tests/fixtures/astronaut.jpg");
    let image = image::open(photo).expect("astronaut.jpg").to_rgb8();
    let face = detector
        .detect(&image, MIN_DETECTION_SCORE)
        .expect("detect")
        .remove(0);
    let region = region_from_detection(&face);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut g = c.benchmark_group("face tracking, 512 × 512 photo");
    g.sample_size(30);
    for (threads, pool) in [("1 thread", Some(&one)), ("all threads", None)] {
        let run = |f: &(dyn Fn() + Sync)| match pool {
            Some(p) => p.install(f),
            None => f(),
        };
        g.bench_function(format!("detector, {threads}"), |b| {
            b.iter(|| {
                run(&|| {
                    drop(
                        detector
                            .detect(&image, MIN_DETECTION_SCORE)
                            .expect("detect"),
                    )
                })
            })
        });
        g.bench_function(format!("face mesh, {threads}"), |b| {
            b.iter(|| run(&|| drop(landmarker.landmarks(&image, &region).expect("landmarks"))))
        });
    }
    g.finish();
}

criterion_group!(benches, tracker);
criterion_main!(benches);
