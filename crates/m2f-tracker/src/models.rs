//! Where MediaPipe's model files are looked for when no folder is given.

use std::path::PathBuf;

/// The environment variable naming the folder with MediaPipe's two model files.
pub const MODELS_DIR_VAR: &str = "M2F_MEDIAPIPE_DIR";

/// `$M2F_MEDIAPIPE_DIR`, else `~/.cache/media2face/models/mediapipe-face-mesh` (where the test
/// command and `tools/fetch_mediapipe.py` put them); `None` when neither variable is set. The
/// folder may not exist: loading says so with [`crate::MODELS_HINT`].
pub fn default_models_dir() -> Option<PathBuf> {
    std::env::var_os(MODELS_DIR_VAR)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| {
                PathBuf::from(home).join(".cache/media2face/models/mediapipe-face-mesh")
            })
        })
}
