//! `m2f extract synth` as a user runs it: killed mid-run with SIGKILL and resumed, bad
//! arguments, and another seed into the same output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn m2f() -> Command {
    Command::new(env!("CARGO_BIN_EXE_m2f"))
}

fn weights() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa")
}

fn synth(dir: &Path, clips: u64) {
    let out = m2f()
        .args([
            "synth",
            "--clips",
            &clips.to_string(),
            "--seed",
            "21",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn extract(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = m2f();
    c.args(["extract", "synth", "--data"])
        .arg(data)
        .arg("--gnpfa")
        .arg(weights())
        .arg("--out")
        .arg(out)
        .args(["--variants", "1", "--seed", "2"])
        .args(extra);
    c
}

/// Every file under `dir` with its bytes, sorted; the extractor's temporary files (names with
/// `#`) and files that vanish while we look (a running extractor renames them) are left out.
fn records(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains('#') {
                if let Ok(bytes) = std::fs::read(&p) {
                    out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn killed_with_sigkill_resumes_to_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("synth");
    synth(&data, 24);
    let out = tmp.path().join("shards");
    let mut child = extract(&data, &out, &["--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some records exist but well before the end.
    let started = Instant::now();
    loop {
        let done = records(&out)
            .iter()
            .filter(|(p, _)| p.ends_with("meta.json"))
            .count();
        if done >= 3 || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("extraction ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = records(&out);
    let metas: Vec<_> = partial
        .iter()
        .filter(|(p, _)| p.ends_with("meta.json"))
        .collect();
    assert!(
        !metas.is_empty() && metas.len() < 48,
        "{} records when killed",
        metas.len()
    );
    assert!(!out.join("manifests/shard-00000-of-00001.jsonl").exists());
    // Every record whose metadata exists is complete and intact.
    let store = m2f_dataset::ShardStore::open(out.to_str().unwrap()).unwrap();
    for (path, _) in &metas {
        let id = path
            .parent()
            .unwrap()
            .strip_prefix("records")
            .unwrap()
            .to_string_lossy()
            .to_string();
        m2f_dataset::Record::read(&store, &id).unwrap();
    }
    // The re-run finishes, keeping what was there.
    let rerun = extract(&data, &out, &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(
        stdout.contains(&format!("{} already there", metas.len())),
        "{stdout}"
    );
    // And gives exactly what an uninterrupted run gives.
    let clean = tmp.path().join("clean");
    let run = extract(&data, &clean, &[]).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let a = records(&out);
    let b = records(&clean);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x == y, "{} differs after the resume", x.0.display());
    }
    // Another augmentation seed into the same output: refused, listed, exit code 1.
    let other = m2f()
        .args(["extract", "synth", "--data"])
        .arg(&data)
        .arg("--gnpfa")
        .arg(weights())
        .arg("--out")
        .arg(&out)
        .args(["--variants", "1", "--seed", "3"])
        .output()
        .unwrap();
    assert_eq!(
        other.status.code(),
        Some(3),
        "some clips failed, the rest was done"
    );
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        stderr.contains("failed") && stderr.contains("failures/shard-00000-of-00001.jsonl"),
        "{stderr}"
    );
    assert!(
        a == records(&out)
            .into_iter()
            .filter(|(p, _)| !p.starts_with("failures"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn bad_arguments_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    for (shard, needle) in [
        ("3/2", "less than COUNT"),
        ("0/0", "at least 1"),
        ("x", "INDEX/COUNT"),
    ] {
        let out = m2f()
            .args(["extract", "synth", "--data", "nowhere", "--out"])
            .arg(tmp.path().join("o"))
            .args(["--shard", shard])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--shard") && stderr.contains(needle),
            "{shard}: {stderr}"
        );
    }
    // An object store this build cannot reach is named before any work.
    let out = m2f()
        .args([
            "extract",
            "synth",
            "--data",
            "nowhere",
            "--out",
            "s3://bucket/shards",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("s3://bucket/shards")
            && stderr.contains("feature"),
        "{stderr}"
    );
    let out = m2f()
        .args(["extract", "synth", "--data"])
        .arg(tmp.path().join("missing"))
        .arg("--out")
        .arg(tmp.path().join("o"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("manifest.json"),
        "{stderr}"
    );
}
