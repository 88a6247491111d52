//! Shared by the tracker's integration tests: where MediaPipe's model files are.
#![allow(dead_code)]

use std::path::PathBuf;

/// `M2F_MEDIAPIPE_DIR`, else where `scripts/test.sh` puts the files. Without them the tests
/// fail (they do not skip): `python3 tools/fetch_mediapipe.py DIR` fetches them.
pub fn models_dir() -> PathBuf {
    let dir = match std::env::var_os("M2F_MEDIAPIPE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("M2F_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/media2face"))
            })
            .expect("neither M2F_MEDIAPIPE_DIR, M2F_CACHE nor HOME is set")
            .join("models/mediapipe-face-mesh"),
    };
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
