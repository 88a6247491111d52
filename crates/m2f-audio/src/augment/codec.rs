//! Lossy codec round trips through the `ffmpeg` program (cargo feature `ffmpeg`).
//!
//! The audio is written as raw f32, encoded to a file (MP3 by LAME, or AAC in an M4A), and
//! decoded back to 16 kHz mono f32. Codecs delay the signal: LAME's encoder and decoder add
//! 1105 samples of priming, AAC 1024. The containers record it (MP3: the LAME/Xing tag's
//! encoder delay and padding; M4A: the edit list), and ffmpeg's decoders cut it, which is why
//! the coded audio goes through a real (seekable) file rather than a pipe: the MP3 muxer can
//! only fill in the LAME tag by seeking back to the start. ffmpeg 5.1 applies an M4A edit
//! list's start but not its duration, so the output is finally cut (or zero-padded) to exactly
//! the input's length. The tests measure the remaining lag by cross-correlation.

#[cfg(feature = "ffmpeg")]
use super::error::AugmentError;
use super::error::Result;
use super::recipe::Codec;

/// Encodes and decodes `x` with `codec` at `bitrate_kbps`; same length as `x`, aligned with it.
#[cfg(feature = "ffmpeg")]
pub(crate) fn round_trip(
    x: &[f32],
    codec: Codec,
    bitrate_kbps: u32,
    step: usize,
) -> Result<Vec<f32>> {
    use super::recipe::SAMPLE_RATE;

    if x.is_empty() {
        return Ok(Vec::new());
    }
    let fail = |message: String| AugmentError::Ffmpeg { step, message };
    let dir = tempfile::Builder::new()
        .prefix("m2f-codec-")
        .tempdir()
        .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
    let raw_in = dir.path().join("in.f32");
    let raw_out = dir.path().join("out.f32");
    let (encoder, coded) = match codec {
        Codec::Mp3 => ("libmp3lame", dir.path().join("coded.mp3")),
        Codec::Aac => ("aac", dir.path().join("coded.m4a")),
    };
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw_in, bytes)
        .map_err(|e| fail(format!("cannot write {}: {e}", raw_in.display())))?;

    let rate = SAMPLE_RATE.to_string();
    let bitrate = format!("{bitrate_kbps}k");
    let path = |p: &std::path::Path| p.as_os_str().to_owned();
    ffmpeg(
        &[
            "-f".into(),
            "f32le".into(),
            "-ar".into(),
            rate.as_str().into(),
            "-ac".into(),
            "1".into(),
            "-i".into(),
            path(&raw_in),
            "-c:a".into(),
            encoder.into(),
            "-b:a".into(),
            bitrate.as_str().into(),
            // No encoder version strings in the file: the same input always makes the same bytes.
            "-fflags".into(),
            "+bitexact".into(),
            "-flags:a".into(),
            "+bitexact".into(),
            path(&coded),
        ],
        &fail,
    )?;
    ffmpeg(
        &[
            "-i".into(),
            path(&coded),
            "-f".into(),
            "f32le".into(),
            "-ac".into(),
            "1".into(),
            "-ar".into(),
            rate.as_str().into(),
            path(&raw_out),
        ],
        &fail,
    )?;
    let bytes = std::fs::read(&raw_out)
        .map_err(|e| fail(format!("cannot read {}: {e}", raw_out.display())))?;
    let mut y: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(fail(format!(
            "the decoder returned a non-finite sample at {i}"
        )));
    }
    // The priming is gone (cut by the decoder); what is left is end padding, or a few missing
    // samples, at the end.
    y.resize(x.len(), 0.0);
    Ok(y)
}

/// Runs `ffmpeg` quietly with `args`; its stderr becomes the error message.
#[cfg(feature = "ffmpeg")]
fn ffmpeg(args: &[std::ffi::OsString], fail: &dyn Fn(String) -> AugmentError) -> Result<()> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            fail(format!(
                "cannot run the `ffmpeg` program ({e}); install it (e.g. apt-get install ffmpeg)"
            ))
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(format!(
            "ffmpeg {} failed ({}): {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Without the `ffmpeg` feature a codec step cannot run: a clear error instead.
#[cfg(not(feature = "ffmpeg"))]
pub(crate) fn round_trip(
    _x: &[f32],
    _codec: Codec,
    _bitrate_kbps: u32,
    step: usize,
) -> Result<Vec<f32>> {
    Err(super::error::AugmentError::CodecUnavailable { step })
}
