//! `m2f generate` with the default model on the shipped clip, and its bad inputs: each exits
//! non-zero with a message that names the problem and writes no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn m2f(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m2f"))
        .args(args)
        .env_remove("M2F_WEIGHTS")
        .output()
        .unwrap()
}

fn speech() -> String {
    repo().join("assets/speech.wav").display().to_string()
}

#[test]
fn generates_a_glb_and_a_preview() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("face.glb");
    let gif = dir.path().join("face.gif");
    let run = m2f(&[
        "generate",
        &speech(),
        "-o",
        glb.to_str().unwrap(),
        "--emotion",
        "happy",
        "--intensity",
        "high",
        "--steps",
        "10",
        "--preview",
        gif.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("105 frames"), "{stdout}");
    assert!(std::fs::metadata(&glb).unwrap().len() > 10_000);
    assert!(std::fs::metadata(&gif).unwrap().len() > 1_000);
}

/// The inner-lip gap (landmarks 13 and 14) of every frame of a `.json` animation, in mm.
fn lip_gaps(json: &Path) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|frame| {
            let p = |i: usize| -> Vec<f64> {
                let xyz = frame[i].as_array().unwrap();
                xyz.iter().map(|c| c.as_f64().unwrap()).collect()
            };
            let (a, b) = (p(13), p(14));
            1000.0
                * a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f64>()
                    .sqrt()
        })
        .collect()
}

#[test]
fn audio_weight_under_one_is_warned_about() {
    // Eq. 9 with no prompt is (1 − s_A)·G(X_t) + s_A·G(X_t, A): s_A = 0 leaves a face that does
    // not listen, s_A = 1 the plain audio-conditioned prediction.
    let dir = tempfile::tempdir().unwrap();
    let run_with = |scale: &str| {
        let out = dir.path().join(format!("face_{scale}.json"));
        let run = m2f(&[
            "generate",
            &speech(),
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "2",
            "--audio-guidance",
            scale,
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "{stderr}");
        let gaps = lip_gaps(&out);
        let (lo, hi) = gaps
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        (stderr, lo, hi)
    };
    let (stderr, lo, hi) = run_with("0");
    assert!(stderr.contains("will not follow the audio"), "{stderr}");
    assert!(stderr.contains("--audio-guidance 1"), "{stderr}");
    // The unconditional face barely moves its lips; the audio-conditioned one closes them at
    // the bilabials of "Paula jump the big pepper" and opens them wide at its vowels.
    assert!(
        lo > 1.0 && hi - lo < 5.0,
        "unconditional lip gap {lo:.1}–{hi:.1} mm"
    );
    // A quarter of the weight on the audio: the lips are damped, and the warning says so.
    let (stderr, _, damped_hi) = run_with("0.25");
    assert!(stderr.contains("only 25 % as strongly"), "{stderr}");
    let (stderr, lo, hi) = run_with("1");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(damped_hi < hi, "damped {damped_hi:.1} mm, plain {hi:.1} mm");
    assert!(
        lo < 0.5 && hi > 8.0,
        "audio-conditioned lip gap {lo:.1}–{hi:.1} mm"
    );
}

/// Runs `m2f generate` with `args` after the audio path, expecting a failure whose stderr
/// holds `expect`, and no file at `-o`.
fn refuses(audio: &str, args: &[&str], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("face.glb");
    let mut all = vec!["generate", audio, "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = m2f(&all);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(expect), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    refuses("no/such.wav", &[], "no/such.wav: no such audio file");
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(&corrupt, b"RIFF\x10\x00\x00\x00WAVEfmt garbage").unwrap();
    refuses(corrupt.to_str().unwrap(), &[], "corrupt.wav");
    refuses(
        &speech(),
        &["--intensity", "extreme"],
        "expected low, medium or high",
    );
    refuses(&speech(), &["--emotion", "bored"], "bored");
    let empty = dir.path().join("empty-model");
    std::fs::create_dir(&empty).unwrap();
    refuses(
        &speech(),
        &["--model", empty.to_str().unwrap()],
        "media2face.json",
    );
    let face = dir.path().join("face.png");
    image::RgbImage::new(8, 8).save(&face).unwrap();
    let keyframe = format!("500:{}", face.display());
    refuses(
        &speech(),
        &["--keyframe", &keyframe],
        "keyframe at frame 500",
    );
    refuses(
        &speech(),
        &["--keyframe", "x:face.png"],
        "is not a frame number",
    );
    refuses(
        &speech(),
        &["--image", face.to_str().unwrap()],
        "image prompt 0",
    );
    // Bad output paths are refused before the model loads.
    let fbx = dir.path().join("face.fbx");
    let run = m2f(&["generate", &speech(), "-o", fbx.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains(".glb"), "{stderr}");
    assert!(!fbx.exists());
    refuses(&speech(), &["--preview", "x.avi"], "expected .mp4");
}
