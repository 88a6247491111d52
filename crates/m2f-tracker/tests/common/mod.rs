//! Shared by the tracker's integration tests: where MediaPipe's model files are.
#![allow(dead_code)]

use std::path::PathBuf;

/// `m2f_tracker::default_models_dir()`. Without the files the tests fail (they do not skip):
/// `python3 tools/fetch_mediapipe.py DIR` fetches them.
pub fn models_dir() -> PathBuf {
    let dir = m2f_tracker::default_models_dir().expect("neither M2F_MEDIAPIPE_DIR nor HOME is set");
    assert!(
        dir.join("face_landmark.tflite").is_file(),
        "MediaPipe's models are needed in {}: run scripts/test.sh, or \
         `python3 tools/fetch_mediapipe.py {0}`",
        dir.display()
    );
    dir
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// u8 values from a 64-bit LCG (Knuth's MMIX constants), as `tools/make_tracker_fixtures.py`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) & 0xFF) as u8
        })
        .collect()
}
