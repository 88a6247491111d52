//! `m2f bundle` rebuilds the shipped model directory from its parts: the same Whisper
//! encoder and emotion embeddings byte for byte, and a bundle that loads. Needs the real
//! Whisper tiny.en (CTranslate2) and all-MiniLM-L6-v2 that `scripts/test.sh` fetches.

use std::path::{Path, PathBuf};
use std::process::Command;

fn model_dir(env: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME");
    PathBuf::from(home)
        .join(".cache/media2face/models")
        .join(name)
}

#[test]
fn rebuilds_the_shipped_bundle() {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .arg("bundle")
        .arg("--gnpfa")
        .arg(weights.join("gnpfa"))
        .arg("--denoiser")
        .arg(weights.join("diffusion"))
        .arg("--whisper-ct2")
        .arg(model_dir("M2F_WHISPER_CT2_DIR", "whisper-tiny.en-ct2"))
        .arg("--text-encoder")
        .arg(model_dir("M2F_MINILM_DIR", "all-MiniLM-L6-v2"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}{} (run scripts/test.sh, which fetches the models)",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [
        "media2face.json",
        "emotions.safetensors",
        "whisper-tiny.en/model.safetensors",
        "whisper-tiny.en/config.json",
        "diffusion/model.safetensors",
        "diffusion/config.json",
    ] {
        let (a, b) = (weights.join(file), out.path().join(file));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{file} differs from the shipped one"
        );
    }
    // A denoiser trained on other features is refused before anything is written.
    let bad = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .args(["bundle", "--gnpfa"])
        .arg(weights.join("gnpfa"))
        .arg("--denoiser")
        .arg(weights.join("gnpfa"))
        .args(["--whisper-ct2", "x", "--text-encoder", "y", "--out"])
        .arg(bad.path().join("b"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(!bad.path().join("b").exists());
}
