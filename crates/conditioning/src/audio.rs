//! Audio in: any common file format, rate and channel count → mono f32 at 16 kHz.
//!
//! Decoding is done by symphonia (WAV, FLAC, MP3, Ogg/Vorbis, AAC in MP4/M4A or ADTS).
//! Encoder priming is removed so that sample 0 of the result is sample 0 of what was encoded
//! (a shift here shifts lip sync):
//! - MP3: the LAME/Xing gapless tag (delay and padding), trimmed by symphonia's decoder;
//! - Ogg/Vorbis: granule positions, trimmed by symphonia;
//! - AAC in MP4/M4A: the edit list (`elst`) of the audio track, which symphonia 0.6 does not
//!   apply, so [`mp4`] reads it and we trim here (ffmpeg writes a 1024-sample priming edit).
//!
//! Raw ADTS `.aac` streams carry no priming information and are returned as decoded.

mod mp4;

pub use m2f_audio::{output_len, resample};

use std::panic::AssertUnwindSafe;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{ConditioningError, Result};

/// The sample rate every audio encoder in this crate expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Lowest source sample rate accepted. Anything lower is a broken header, not speech.
pub const MIN_SOURCE_RATE: u32 = 4_000;
/// Highest source sample rate accepted.
pub const MAX_SOURCE_RATE: u32 = 768_000;
/// Most channels accepted (a broken header can claim thousands).
pub const MAX_CHANNELS: usize = 64;

/// Loads an audio file and returns mono f32 samples at [`SAMPLE_RATE`].
///
/// The format is detected from the content (the extension is only a hint), channels are
/// averaged and the result is resampled without time shift.
///
/// # Errors
/// [`ConditioningError::Io`] if the file cannot be read; [`ConditioningError::Audio`] naming the
/// file for an empty, truncated or unrecognised file, a header with an unusable rate or channel
/// count, zero-length audio or non-finite samples.
pub fn load_audio(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| ConditioningError::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_to_16k(bytes, ext, &path.display().to_string())
}

/// Like [`load_audio`], from bytes in memory. `hint_extension` (e.g. `"mp3"`, without the dot)
/// helps the format probe but the content decides.
///
/// # Errors
/// As [`load_audio`]; errors name the origin `<memory>`.
pub fn load_audio_bytes(bytes: &[u8], hint_extension: Option<&str>) -> Result<Vec<f32>> {
    decode_to_16k(bytes.to_vec(), hint_extension, "<memory>")
}

/// Converts interleaved `samples` with `channels` channels at `rate` Hz to mono f32 at
/// [`SAMPLE_RATE`].
///
/// # Errors
/// [`ConditioningError::Audio`] for zero channels, a length that is not a multiple of
/// `channels`, a rate outside [`MIN_SOURCE_RATE`]..=[`MAX_SOURCE_RATE`], no samples or a
/// non-finite sample.
pub fn from_samples(samples: &[f32], rate: u32, channels: usize) -> Result<Vec<f32>> {
    let origin = "<samples>";
    check_format(origin, rate, channels)?;
    if samples.len() % channels != 0 {
        return Err(ConditioningError::audio(
            origin,
            format!(
                "{} interleaved samples is not a multiple of {channels} channels",
                samples.len()
            ),
        ));
    }
    let mono = downmix(origin, samples, channels)?;
    to_16k(origin, &mono, rate)
}

fn check_format(origin: &str, rate: u32, channels: usize) -> Result<()> {
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(ConditioningError::audio(
            origin,
            format!("header says {channels} channels, expected 1..={MAX_CHANNELS}"),
        ));
    }
    if !(MIN_SOURCE_RATE..=MAX_SOURCE_RATE).contains(&rate) {
        return Err(ConditioningError::audio(
            origin,
            format!(
                "header says {rate} Hz, expected a sample rate in \
                 {MIN_SOURCE_RATE}..={MAX_SOURCE_RATE} Hz"
            ),
        ));
    }
    Ok(())
}

/// Averages interleaved channels, rejecting non-finite samples.
fn downmix(origin: &str, samples: &[f32], channels: usize) -> Result<Vec<f32>> {
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(ConditioningError::audio(
            origin,
            format!(
                "sample {} of channel {} is {} (audio must be finite)",
                i / channels,
                i % channels,
                samples[i]
            ),
        ));
    }
    if channels == 1 {
        return Ok(samples.to_vec());
    }
    let scale = 1.0 / channels as f32;
    Ok(samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * scale)
        .collect())
}

fn to_16k(origin: &str, mono: &[f32], rate: u32) -> Result<Vec<f32>> {
    if mono.is_empty() {
        return Err(ConditioningError::audio(
            origin,
            "zero-length audio: no samples",
        ));
    }
    resample(mono, rate, SAMPLE_RATE).map_err(|e| ConditioningError::audio(origin, e.to_string()))
}

/// Decoded interleaved audio before resampling.
struct Decoded {
    samples: Vec<f32>,
    rate: u32,
    channels: usize,
}

fn decode_to_16k(bytes: Vec<u8>, ext: Option<&str>, origin: &str) -> Result<Vec<f32>> {
    if bytes.is_empty() {
        return Err(ConditioningError::audio(
            origin,
            "the file is empty (0 bytes)",
        ));
    }
    // For MP4 the priming edit is read from the container before symphonia consumes the bytes.
    let edit = mp4::audio_edit(&bytes);
    // symphonia is a third-party parser fed untrusted bytes: a panic inside it must become an
    // error naming the file, not take the caller down.
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| decode(bytes, ext, origin)))
        .map_err(|_| {
            ConditioningError::audio(origin, "the decoder panicked on malformed data")
        })??;
    let Decoded {
        mut samples,
        rate,
        channels,
    } = decoded;
    if let Some(edit) = edit {
        samples = edit.apply(samples, rate, channels);
    }
    let mono = downmix(origin, &samples, channels)?;
    to_16k(origin, &mono, rate)
}

fn decode(bytes: Vec<u8>, ext: Option<&str>, origin: &str) -> Result<Decoded> {
    let err = |m: String| ConditioningError::audio(origin, m);
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| {
            err(format!(
                "not a recognised audio file (extension hint {:?}): {e}",
                ext.unwrap_or("none")
            ))
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| err("no audio track".into()))?;
    let track_id = track.id;
    let num_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| err("the audio track has no audio codec parameters".into()))?
        .clone();
    if let Some(rate) = params.sample_rate {
        check_format(
            origin,
            rate,
            params.channels.as_ref().map_or(1, |c| c.count()),
        )?;
    }
    if let Some(ch) = &params.channels {
        check_format(
            origin,
            params.sample_rate.unwrap_or(SAMPLE_RATE),
            ch.count(),
        )?;
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| err(format!("unsupported codec: {e}")))?;

    let mut samples: Vec<f32> = Vec::new();
    let mut buf: Vec<f32> = Vec::new();
    let mut spec: Option<(u32, usize)> = None;
    let mut frames = 0u64;
    let mut bad_packets = 0usize;
    let mut good_packets = 0usize;
    let mut last_decode_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(err(format!(
                    "truncated: the stream ends inside a packet after {frames} frames"
                )));
            }
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(err(format!("cannot read packet: {e}"))),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(audio) => {
                let rate = audio.spec().rate();
                let channels = audio.spec().channels().count();
                match spec {
                    None => {
                        check_format(origin, rate, channels)?;
                        spec = Some((rate, channels));
                    }
                    Some(s) if s != (rate, channels) => {
                        return Err(err(format!(
                            "the stream changes format mid-way from {} Hz x {} to {rate} Hz x \
                             {channels}; not supported",
                            s.0, s.1
                        )));
                    }
                    Some(_) => {}
                }
                frames += audio.frames() as u64;
                audio.copy_to_vec_interleaved(&mut buf);
                samples.extend_from_slice(&buf);
                good_packets += 1;
            }
            // A corrupt packet is skipped as players do; all of them corrupt is an error below.
            Err(SymError::DecodeError(e)) => {
                bad_packets += 1;
                last_decode_error = e.to_string();
            }
            Err(SymError::IoError(e)) => {
                bad_packets += 1;
                last_decode_error = e.to_string();
            }
            Err(e) => return Err(err(format!("decoding failed: {e}"))),
        }
    }
    let Some((rate, channels)) = spec else {
        if bad_packets > 0 {
            return Err(err(format!(
                "none of {bad_packets} packets could be decoded (last error: {last_decode_error})"
            )));
        }
        return Err(err(
            "zero-length audio: the file holds no audio frames".into()
        ));
    };
    if bad_packets > good_packets {
        return Err(err(format!(
            "{bad_packets} of {} packets are corrupt (last error: {last_decode_error})",
            bad_packets + good_packets
        )));
    }
    if let Some(n) = num_frames {
        // The header promised more than the file holds: a cut-off download or copy. Compressed
        // formats' frame counts can disagree with the decoder by part of a packet, so allow one.
        let slack = params.max_frames_per_packet.unwrap_or(0).min(8192);
        if frames + slack < n {
            return Err(err(format!(
                "truncated: the header says {n} frames but only {frames} could be read"
            )));
        }
    }
    Ok(Decoded {
        samples,
        rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_samples_averages_channels_and_resamples() {
        let stereo: Vec<f32> = (0..48_000).flat_map(|_| [0.2f32, 0.4]).collect();
        let y = from_samples(&stereo, 48_000, 2).unwrap();
        assert_eq!(y.len(), 16_000);
        assert!((y[8000] - 0.3).abs() < 1e-3);
    }

    #[test]
    fn from_samples_rejects_bad_input() {
        assert!(from_samples(&[0.0; 10], 16_000, 0).is_err());
        assert!(from_samples(&[0.0; 10], 1, 1).is_err());
        assert!(from_samples(&[0.0; 9], 16_000, 2).is_err());
        assert!(from_samples(&[], 16_000, 1).is_err());
        let e = from_samples(&[0.0, f32::NAN], 16_000, 1).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
        assert!(from_samples(&[f32::INFINITY], 16_000, 1).is_err());
    }
}
