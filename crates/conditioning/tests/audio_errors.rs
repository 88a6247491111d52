//! Bad audio input: each case is an error naming the file and what was wrong, never a panic.

use std::path::Path;

use conditioning::{load_audio, load_audio_bytes};

/// A WAV file: `format` 1 (PCM i16) or 3 (float), `data` as raw bytes.
fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels as u32 * bits as u32 / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * block).to_le_bytes());
    v.extend_from_slice(&(block as u16).to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn pcm16(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (((i as f32 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Loads `bytes` as file `name` and returns the error message, which must name the file and
/// contain `needle`.
fn error_for(name: &str, bytes: &[u8], needle: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let err = load_audio(&path).expect_err("expected an error");
    let msg = err.to_string();
    assert!(msg.contains(name), "error does not name the file: {msg}");
    assert!(
        msg.to_lowercase().contains(needle),
        "error for {name} lacks {needle:?}: {msg}"
    );
    msg
}

#[test]
fn good_wav_loads() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ok.wav", &wav(1, 1, 16_000, 16, &pcm16(1600)));
    assert_eq!(load_audio(p).unwrap().len(), 1600);
}

#[test]
fn empty_file() {
    error_for("empty.wav", &[], "empty");
}

#[test]
fn missing_file() {
    let err = load_audio("/nonexistent/dir/x.wav").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir/x.wav"), "{err}");
}

#[test]
fn truncated_wav() {
    let full = wav(1, 1, 16_000, 16, &pcm16(16_000));
    error_for("cut.wav", &full[..full.len() / 2], "truncated");
}

#[test]
fn truncated_header() {
    let full = wav(1, 1, 16_000, 16, &pcm16(100));
    let msg = error_for("header.wav", &full[..20], "");
    println!("{msg}");
}

#[test]
fn text_with_audio_extension() {
    error_for(
        "notes.wav",
        b"these are not the samples you are looking for\n",
        "recognised",
    );
    error_for("notes.mp3", &[b'x'; 5000], "");
    error_for("notes.m4a", &[0u8; 3000], "");
}

#[test]
fn zero_length_audio() {
    error_for("silent.wav", &wav(1, 1, 16_000, 16, &[]), "zero-length");
}

#[test]
fn nan_and_inf_samples() {
    let mut data: Vec<u8> = (0..200).flat_map(|_| 0.25f32.to_le_bytes()).collect();
    data[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
    error_for("nan.wav", &wav(3, 1, 16_000, 32, &data), "nan");
    data[40..44].copy_from_slice(&f32::INFINITY.to_le_bytes());
    error_for("inf.wav", &wav(3, 1, 16_000, 32, &data), "inf");
}

#[test]
fn zero_channels() {
    let msg = error_for("nochan.wav", &wav(1, 0, 16_000, 16, &pcm16(100)), "");
    assert!(msg.contains("channel"), "{msg}");
}

#[test]
fn one_hertz() {
    error_for("slow.wav", &wav(1, 1, 1, 16, &pcm16(100)), "1 hz");
}

#[test]
fn memory_errors_name_memory() {
    let err = load_audio_bytes(&[], Some("wav")).unwrap_err();
    assert!(err.to_string().contains("<memory>"), "{err}");
    let err = load_audio_bytes(b"garbage garbage", None).unwrap_err();
    assert!(err.to_string().contains("<memory>"), "{err}");
}

#[test]
fn truncated_compressed_files_do_not_panic() {
    // Cut real encodes at several points; each must be Ok (a decodable prefix with no length
    // promise) or an error naming the file, never a panic.
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("ffmpeg not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (ext, codec) in [
        ("mp3", "libmp3lame"),
        ("m4a", "aac"),
        ("ogg", "libvorbis"),
        ("flac", "flac"),
    ] {
        let p = dir.path().join(format!("full.{ext}"));
        let st = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .args(["sine=f=440:d=1", "-c:a", codec])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let bytes = std::fs::read(&p).unwrap();
        for frac in [0.1, 0.5, 0.9] {
            let cut = &bytes[..(bytes.len() as f64 * frac) as usize];
            let name = format!("cut{frac}.{ext}");
            let q = write(dir.path(), &name, cut);
            match load_audio(&q) {
                Ok(x) => assert!(!x.is_empty()),
                Err(e) => assert!(e.to_string().contains(&name), "{e}"),
            }
        }
    }
}
