//! Shared by the dataset's integration tests: where the fetched models are.
#![allow(dead_code)]

use std::path::PathBuf;

/// MediaPipe's face models (`m2f_tracker::default_models_dir()`, where `scripts/test.sh` puts
/// them). Without them the tests fail (they do not skip).
pub fn models_dir() -> PathBuf {
    let dir = m2f_tracker::default_models_dir().expect("neither M2F_MEDIAPIPE_DIR nor HOME is set");
    assert!(
        dir.join("face_landmark.tflite").is_file(),
        "MediaPipe's models are needed in {}: run scripts/test.sh or python3 tools/fetch_mediapipe.py",
        dir.display()
    );
    dir
}

/// Whisper tiny.en as CTranslate2 (`M2F_WHISPER_CT2_DIR`, else where `scripts/test.sh` puts it).
pub fn ct2_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("M2F_WHISPER_CT2_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("M2F_WHISPER_CT2_DIR or HOME");
    PathBuf::from(home).join(".cache/media2face/models/whisper-tiny.en-ct2")
}
