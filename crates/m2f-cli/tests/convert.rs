//! `m2f convert whisper-ct2` on the real faster-whisper tiny.en `model.bin` that
//! `scripts/test.sh` fetches (`M2F_WHISPER_CT2_DIR`), and its errors.

use std::path::PathBuf;
use std::process::Command;

fn ct2_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("M2F_WHISPER_CT2_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("M2F_WHISPER_CT2_DIR or HOME");
    PathBuf::from(home).join(".cache/media2face/models/whisper-tiny.en-ct2")
}

#[test]
fn converts_tiny_en_to_an_hf_encoder_directory() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("whisper-tiny.en");
    let run = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .args(["convert", "whisper-ct2"])
        .arg(ct2_dir().join("model.bin"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{} (run scripts/test.sh, which fetches Whisper tiny.en)",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("4 layers, width 384, 6 heads, 80 mel bands"),
        "{stdout}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.json",
            "model.safetensors",
            "preprocessor_config.json"
        ]
    );
    // f16 encoder only: 8.2 M parameters in about 16.4 MB.
    let size = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len();
    assert!((16_000_000..17_000_000).contains(&size), "{size} bytes");
}

#[test]
fn truncated_and_missing_models_are_named() {
    let out = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(ct2_dir().join("model.bin")).unwrap();
    let cut = out.path().join("model.bin");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    for (input, want) in [
        (cut.clone(), "truncated"),
        (out.path().join("absent.bin"), "absent.bin"),
    ] {
        let run = Command::new(env!("CARGO_BIN_EXE_m2f"))
            .args(["convert", "whisper-ct2"])
            .arg(&input)
            .arg("--out")
            .arg(out.path().join("never"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success());
        assert!(
            stderr.contains(&*input.display().to_string()) && stderr.contains(want),
            "{stderr}"
        );
        assert!(!out.path().join("never").exists());
    }
}
