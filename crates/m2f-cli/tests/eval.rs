//! `m2f eval` on a small synthetic test set with the default model: the table it writes
//! ranks the truth above the model above the mean face, and bad inputs are named.

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

/// The numbers a successful `m2f eval --out report` wrote beside `report`.
fn numbers(run: &Output, report: &std::path::Path) -> serde_json::Value {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(report.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn the_default_model_is_judged_between_the_mean_face_and_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth");
    let data_s = data.to_str().unwrap();
    let synth = m2f(&["synth", "--clips", "40", "--seed", "5", "--out", data_s]);
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    // A directory that does not exist yet is made.
    let report = dir.path().join("reports/eval.md");
    let weights = repo().join("weights");
    let run = m2f(&[
        "eval",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--data",
        data_s,
        "--clips",
        "3",
        "--seeds",
        "2",
        "--prompt-clips",
        "1",
        "--classifier-clips",
        "24",
        "--steps",
        "10",
        "--out",
        report.to_str().unwrap(),
    ]);
    let json = numbers(&run, &report);
    let rows = json["synthetic"]["rows"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["candidate"] == name && r["speech"] == "all")
            .unwrap_or_else(|| panic!("no row for {name}: {json}"))
    };
    let lve = |name: &str| row(name)["lve_mm"].as_f64().unwrap();
    let (model, mean, truth) = (
        lve("media2face"),
        lve("mean face"),
        lve("truth through GNPFA"),
    );
    eprintln!("LVE: model {model:.2} mm, mean face {mean:.2}, truth {truth:.2}");
    assert!(
        truth < 0.5 && truth < model && model < mean,
        "{model} {mean} {truth}"
    );
    assert_eq!(
        row("truth through GNPFA")["bilabial_closure"].as_f64(),
        Some(1.0)
    );
    assert!(row("media2face")["lip_gap_correlation"].as_f64().unwrap() > 0.5);
    assert!(row("media2face")["diversity_mm"].as_f64().unwrap() > 0.0);
    assert!(row("mean face")["diversity_mm"].is_null());
    // Samples of different seeds differ on the lips too; their mean is a face with its own
    // lip error.
    assert!(row("media2face")["lip_spread_mm"].as_f64().unwrap() > 0.0);
    assert!(row("media2face")["seed_mean_lve_mm"].as_f64().unwrap() > truth);
    assert!(row("mean face")["seed_mean_lve_mm"].is_null());
    assert_eq!(row("media2face")["clips"].as_u64(), Some(3));
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("Measured with `m2f eval"), "{text}");
    assert!(text.contains("| media2face | all | 3 |"), "{text}");

    // Bad inputs: a missing dataset and a malformed --denoiser, named; the report is kept.
    let missing = m2f(&[
        "eval",
        "--data",
        "no/such/dataset",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no/such/dataset"), "{err}");
    let malformed = m2f(&["eval", "--data", data_s, "--denoiser", "just-a-dir"]);
    assert!(!malformed.status.success());
    let err = String::from_utf8_lossy(&malformed.stderr);
    assert!(err.contains("NAME=DIR"), "{err}");
    let unknown = m2f(&["eval", "--data", data_s, "--only", "nobody"]);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("nobody") && err.contains("mean face"), "{err}");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), text);

    // --only judges the named candidates alone, with the same numbers.
    let only = dir.path().join("only.md");
    let run = m2f(&[
        "eval",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--data",
        data_s,
        "--clips",
        "3",
        "--classifier-clips",
        "24",
        "--only",
        "mean face",
        "--out",
        only.to_str().unwrap(),
    ]);
    let json = numbers(&run, &only);
    let rows = json["synthetic"]["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["candidate"] == "mean face"), "{json}");
    let all = rows.iter().find(|r| r["speech"] == "all").unwrap();
    assert_eq!(all["lve_mm"].as_f64(), Some(mean));
}

#[test]
fn recordings_with_aligned_phones_are_scored_and_bad_phone_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    std::fs::copy(repo().join("assets/speech.wav"), rec.join("paula.wav")).unwrap();
    // "Paula": /p/ then the open vowel of "au" (times read off the clip's waveform).
    std::fs::write(
        rec.join("paula.phones"),
        "0.00\t0.12\tSIL\n0.12\t0.20\tP\n0.20\t0.36\tAO1\n",
    )
    .unwrap();
    let weights = repo().join("weights");
    let run = m2f(&[
        "eval",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--recordings",
        rec.to_str().unwrap(),
        "--steps",
        "10",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.contains("| media2face | 1 | "), "{out}");
    assert!(out.contains("| media2face | paula | "), "{out}");
    std::fs::write(rec.join("paula.phones"), "0.0 0.1 P\n").unwrap();
    let bad = m2f(&[
        "eval",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--recordings",
        rec.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("paula.phones line 1"), "{err}");
}
