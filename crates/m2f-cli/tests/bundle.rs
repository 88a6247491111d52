//! `m2f bundle` rebuilds the shipped model directory from its parts: from an f32 denoiser
//! whose config names the Whisper model by this machine's path, the same f16 weights, config
//! and Whisper encoder byte for byte, the same emotion embeddings to within float rounding
//! (MiniLM computes them, and the order of its sums depends on the CPU's vector width), and a
//! bundle that loads. Needs the
//! real Whisper tiny.en (CTranslate2) and all-MiniLM-L6-v2 that `scripts/test.sh` fetches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model_dir(env: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME");
    PathBuf::from(home)
        .join(".cache/media2face/models")
        .join(name)
}

fn bundle(gnpfa: &Path, denoiser: &Path, out: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_m2f"));
    c.arg("bundle")
        .arg("--gnpfa")
        .arg(gnpfa)
        .arg("--denoiser")
        .arg(denoiser)
        .arg("--whisper-ct2")
        .arg(model_dir("M2F_WHISPER_CT2_DIR", "whisper-tiny.en-ct2"))
        .arg("--text-encoder")
        .arg(model_dir("M2F_MINILM_DIR", "all-MiniLM-L6-v2"))
        .arg("--out")
        .arg(out);
    // The shipped bundle's measured guidance scales and steps, given as they were when it was
    // built.
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/media2face.json"),
        )
        .unwrap(),
    )
    .unwrap();
    if let Some(g) = shipped.get("guidance") {
        c.args(["--audio-guidance", &g["audio"].to_string()])
            .args(["--style-guidance", &g["style"].to_string()]);
        if let Some(steps) = g.get("steps") {
            c.args(["--steps", &steps.to_string()]);
        }
    }
    c.output().unwrap()
}

#[test]
fn rebuilds_the_shipped_bundle() {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
    let tmp = tempfile::tempdir().unwrap();
    // The shipped denoiser as a training run leaves it: f32, this machine's Whisper path.
    let run_dir = tmp.path().join("best");
    std::fs::create_dir(&run_dir).unwrap();
    let tensors = candle_core::safetensors::load(
        weights.join("diffusion/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
    .into_iter()
    .map(|(n, t)| (n, t.to_dtype(candle_core::DType::F32).unwrap()))
    .collect::<std::collections::HashMap<_, _>>();
    candle_core::safetensors::save(&tensors, run_dir.join("model.safetensors")).unwrap();
    let ct2 = model_dir("M2F_WHISPER_CT2_DIR", "whisper-tiny.en-ct2")
        .canonicalize()
        .unwrap();
    let config = std::fs::read_to_string(weights.join("diffusion/config.json"))
        .unwrap()
        .replace("$M2F_WHISPER_CT2_DIR", &ct2.display().to_string());
    assert!(config.contains(&ct2.display().to_string()));
    std::fs::write(run_dir.join("config.json"), config).unwrap();

    let out = tmp.path().join("bundle");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("README.md"), "kept").unwrap();
    let run = bundle(&weights.join("gnpfa"), &run_dir, &out);
    assert!(
        run.status.success(),
        "{}{} (run scripts/test.sh, which fetches the models)",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // The emotion table is computed: equal names and shapes, values within rounding.
    let emotions = |dir: &Path| {
        candle_core::safetensors::load(dir.join("emotions.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (shipped, rebuilt) = (emotions(&weights), emotions(&out));
    assert_eq!(
        shipped.keys().collect::<std::collections::BTreeSet<_>>(),
        rebuilt.keys().collect::<std::collections::BTreeSet<_>>()
    );
    let mut worst = 0f32;
    for (name, a) in &shipped {
        let b = &rebuilt[name];
        assert_eq!(a.dims(), b.dims(), "emotions.safetensors: {name}");
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        worst = worst.max(diff.to_scalar::<f32>().unwrap());
    }
    println!("emotion table: largest difference from the shipped one {worst:.1e}");
    // A different sentence moves values by about 0.1.
    assert!(worst < 1e-5, "emotions.safetensors differs by {worst}");
    for file in [
        "media2face.json",
        "whisper-tiny.en/model.safetensors",
        "whisper-tiny.en/config.json",
        "diffusion/model.safetensors",
        "diffusion/config.json",
        "gnpfa/model.safetensors",
        "gnpfa/eval.json",
    ] {
        let (a, b) = (weights.join(file), out.join(file));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{file} differs from the shipped one"
        );
    }
    // Other files stay; no staging directory is left.
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "kept"
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");

    // What is not a denoiser is refused, and the bundle is left as it was.
    let before = std::fs::read(out.join("diffusion/model.safetensors")).unwrap();
    let run = bundle(&weights.join("gnpfa"), &weights.join("gnpfa"), &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("loading the denoiser"), "{stderr}");
    assert_eq!(
        std::fs::read(out.join("diffusion/model.safetensors")).unwrap(),
        before
    );
}
