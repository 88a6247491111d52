use std::path::Path;
use std::process::Command;

fn weights() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa")
}

#[test]
fn inspect_prints_the_shipped_checkpoint() {
    let out = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .arg("inspect")
        .arg(weights())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "template.neutral",
        "[468, 3]",
        "fingerprint",
        "provenance",
        "vae.decoder.identity.weight",
        "image.expression.stage0.weight",
        "image.pose.out.weight",
        "image encoders provenance",
        "image encoders: 96×96 crops",
        "loads: yes",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn inspect_fails_clearly_on_a_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir(&ckpt).unwrap();
    std::fs::copy(weights().join("config.json"), ckpt.join("config.json")).unwrap();
    let bytes = std::fs::read(weights().join("model.safetensors")).unwrap();
    std::fs::write(ckpt.join("model.safetensors"), &bytes[..bytes.len() / 3]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .arg("inspect")
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.safetensors"), "{stderr}");

    std::fs::remove_file(ckpt.join("config.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_m2f"))
        .arg("inspect")
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"));
}
