//! `load_audio` against ffmpeg: files made by ffmpeg, decoded by ffmpeg to 16 kHz mono f32 and by
//! us; same length within one sample and correlation > 0.99 (so priming is removed as ffmpeg
//! removes it). Skipped with a message when ffmpeg is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use conditioning::{load_audio, load_audio_bytes, read_audio, read_audio_bytes};

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A 2 s stereo chirp at 44.1 kHz, different in each channel, encoded to `path`.
fn make(path: &Path, codec_args: &[&str]) {
    let src = "aevalsrc=0.4*sin(2*PI*(200+900*t)*t)|0.3*sin(2*PI*(350+500*t)*t+1):s=44100:d=2.05";
    let mut args = vec!["-f", "lavfi", "-i", src];
    args.extend_from_slice(codec_args);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

fn ffmpeg_decode(path: &Path) -> Vec<f32> {
    let raw = ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "f32le",
        "-",
    ]);
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64 - ma, *y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

/// Samples of the 2.05 s source at 16 kHz.
const SOURCE_LEN: usize = 32_800;

/// `ffmpeg_keeps_end_padding`: ffmpeg 5.x applies the start of an MP4 edit list (priming) but
/// not its duration, so its AAC output keeps the encoder's end padding; there we check our length
/// against the source and compare with ffmpeg over the common part.
fn compare(name: &str, codec_args: &[&str]) {
    compare_with(name, codec_args, false)
}

fn compare_with(name: &str, codec_args: &[&str], ffmpeg_keeps_end_padding: bool) {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not installed: skipping {name}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(name);
    make(&path, codec_args);
    let want = ffmpeg_decode(&path);
    let got = load_audio(&path).unwrap();
    let corr = correlation(&got, &want);
    println!(
        "{name}: ours {} samples, ffmpeg {}, correlation {corr:.5}",
        got.len(),
        want.len()
    );
    assert!(
        got.len().abs_diff(SOURCE_LEN) <= 1,
        "{name}: {} samples, the source has {SOURCE_LEN}",
        got.len()
    );
    let ffmpeg_len = if ffmpeg_keeps_end_padding {
        assert!(want.len() + 1 >= got.len());
        got.len()
    } else {
        want.len()
    };
    assert!(
        got.len().abs_diff(ffmpeg_len) <= 1,
        "{name}: {} vs {} samples",
        got.len(),
        want.len()
    );
    assert!(corr > 0.99, "{name}: correlation {corr}");
    // Same bytes from memory give the same samples.
    let bytes = std::fs::read(&path).unwrap();
    let ext = path.extension().and_then(|e| e.to_str());
    assert_eq!(load_audio_bytes(&bytes, ext).unwrap(), got);
}

#[test]
fn wav_matches_ffmpeg() {
    compare("chirp.wav", &["-c:a", "pcm_s16le"]);
}

#[test]
fn float_wav_48k_mono_matches_ffmpeg() {
    compare(
        "chirp48.wav",
        &["-ar", "48000", "-ac", "1", "-c:a", "pcm_f32le"],
    );
}

#[test]
fn flac_matches_ffmpeg() {
    compare("chirp.flac", &["-c:a", "flac"]);
}

#[test]
fn mp3_matches_ffmpeg_with_priming_removed() {
    compare("chirp.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"]);
}

#[test]
fn ogg_vorbis_matches_ffmpeg() {
    compare("chirp.ogg", &["-c:a", "libvorbis", "-q:a", "6"]);
}

#[test]
fn m4a_aac_matches_ffmpeg_with_priming_removed() {
    compare_with("chirp.m4a", &["-c:a", "aac", "-b:a", "192k"], true);
}

#[test]
fn mp4_aac_matches_ffmpeg_with_priming_removed() {
    compare_with("chirp.mp4", &["-c:a", "aac", "-b:a", "160k"], true);
}

#[test]
fn wav_with_wrong_extension_still_decodes() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    make(&wav, &["-c:a", "pcm_s16le"]);
    let renamed = dir.path().join("a.mp3");
    std::fs::rename(&wav, &renamed).unwrap();
    assert_eq!(load_audio(&renamed).unwrap().len(), SOURCE_LEN);
}

/// Overwrites `len` bytes at `at` (a fraction of the file) with a pattern no codec accepts.
fn corrupted(bytes: &[u8], at: f64, len: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let start = (bytes.len() as f64 * at) as usize;
    for (i, b) in out[start..start + len].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0xff } else { 0x00 };
    }
    out
}

/// A corrupt packet (AAC in M4A: the decoder refuses it) or frame (FLAC: the demuxer drops
/// it) becomes silence of its length: the audio after it stays where it was.
#[test]
fn corrupt_packets_become_silence_without_shifting_later_audio() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (ext, codec) in [("m4a", "aac"), ("flac", "flac")] {
        let path = dir.path().join(format!("clean.{ext}"));
        make(&path, &["-c:a", codec]);
        let clean = read_audio(&path).unwrap();
        assert_eq!(clean.corrupt_packets, 0, "{ext}");
        assert_eq!(clean.concealed_seconds, 0.0, "{ext}");
        let bad = corrupted(&std::fs::read(&path).unwrap(), 0.5, 64);
        let got = read_audio_bytes(&bad, Some(ext)).unwrap();
        assert_eq!(
            got.samples.len(),
            clean.samples.len(),
            "{ext}: length changed"
        );
        assert!(got.corrupt_packets >= 1, "{ext}: corruption not seen");
        // One AAC packet is 1024 frames, one FLAC frame 4608 at 44.1 kHz.
        assert!(
            got.concealed_seconds > 0.02 && got.concealed_seconds < 0.25,
            "{ext}: {} s concealed",
            got.concealed_seconds
        );
        // The last half second is untouched and in place.
        let tail = clean.samples.len() - 8000..;
        let corr = correlation(&got.samples[tail.clone()], &clean.samples[tail]);
        assert!(corr > 0.999, "{ext}: tail correlation {corr}");
        // `load_audio_bytes` gives the same samples.
        assert_eq!(load_audio_bytes(&bad, Some(ext)).unwrap(), got.samples);
    }
}

#[test]
fn a_corrupt_ogg_page_is_an_error_naming_corruption() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.ogg");
    make(&path, &["-c:a", "libvorbis"]);
    let bad = corrupted(&std::fs::read(&path).unwrap(), 0.3, 64);
    let e = read_audio_bytes(&bad, Some("ogg")).unwrap_err().to_string();
    assert!(e.contains("corrupt"), "{e}");
}
