//! `m2f extract video` as a user runs it on a real recording (the carphone clip that
//! `scripts/test.sh` fetches, with the shipped speech clip as its sound): records and a preview
//! per clip, a failing clip that keeps the failure exit code and gets no preview, and options
//! and manifests refused before any work.

use std::path::{Path, PathBuf};
use std::process::Command;

fn m2f() -> Command {
    Command::new(env!("CARGO_BIN_EXE_m2f"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample_video() -> PathBuf {
    let dir = std::env::var_os("M2F_SAMPLE_VIDEO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/media2face/videos")
        });
    let path = dir.join("carphone.mp4");
    assert!(
        path.is_file(),
        "{} is needed: run scripts/test.sh or python3 tools/fetch_sample_video.py DIR",
        path.display()
    );
    path
}

fn extract(manifest: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    m2f()
        .args(["extract", "video", "--manifest"])
        .arg(manifest)
        .arg("--gnpfa")
        .arg(repo().join("weights/gnpfa"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_real_clip_is_extracted_and_previewed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample_video(), dir.path().join("carphone.mp4")).unwrap();
    std::fs::copy(
        repo().join("assets/speech.wav"),
        dir.path().join("speech.wav"),
    )
    .unwrap();
    let manifest = dir.path().join("videos.jsonl");
    std::fs::write(
        &manifest,
        "{\"id\": \"carphone\", \"video\": \"carphone.mp4\", \"audio\": \"speech.wav\"}\n\
         {\"id\": \"lost\", \"video\": \"nowhere.mp4\"}\n",
    )
    .unwrap();
    let (out, previews) = (dir.path().join("shards"), dir.path().join("previews"));
    let run = extract(&manifest, &out, &["--preview", previews.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("lost") && stderr.contains("nowhere.mp4"),
        "{stderr}"
    );
    assert!(stdout.contains("wrote 1 previews"), "{stdout}");
    assert!(previews.join("carphone.mp4").is_file());
    assert!(!previews.join("lost.mp4").exists());
    assert!(out.join("records/videos/carphone/v0/meta.json").is_file());

    // A preview directory that cannot be made is refused before any clip is extracted.
    let blocked = dir.path().join("a_file");
    std::fs::write(&blocked, "").unwrap();
    let fresh = dir.path().join("fresh");
    let run = extract(
        &manifest,
        &fresh,
        &["--preview", blocked.join("sub").to_str().unwrap()],
    );
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--preview"), "{stderr}");
    assert!(!fresh.join("records").exists(), "nothing extracted");

    // So is a --rest-fraction that is not a share of the frames.
    for bad in ["0", "1.5", "NaN"] {
        let run = extract(&manifest, &fresh, &["--rest-fraction", bad]);
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("--rest-fraction") && stderr.contains("expected a share"),
            "{bad}: {stderr}"
        );
        assert!(!fresh.join("records").exists(), "nothing extracted");
    }

    // A neutral_clip naming no clip of the manifest names the line.
    std::fs::write(
        &manifest,
        "{\"id\": \"carphone\", \"video\": \"carphone.mp4\", \"audio\": \"speech.wav\", \"neutral_clip\": \"rest\"}\n",
    )
    .unwrap();
    let run = extract(&manifest, &fresh, &[]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("videos.jsonl line 1") && stderr.contains("\"rest\""),
        "{stderr}"
    );
}
