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

use m2f_audio::resample;

use std::panic::AssertUnwindSafe;
use std::path::Path;

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use crate::error::{ConditioningError, Result};

/// The sample rate every audio encoder in this crate expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Lowest source sample rate accepted. Anything lower is a broken header, not speech.
pub const MIN_SOURCE_RATE: u32 = 4_000;
/// Highest source sample rate accepted.
pub const MAX_SOURCE_RATE: u32 = 768_000;
/// Most channels accepted (a broken header can claim thousands).
pub const MAX_CHANNELS: usize = 64;
/// Longest corrupt packet or hole in a stream's timestamps (pages or frames the demuxer
/// dropped as corrupt) replaced by silence; a longer one fails the file. Codec packets last
/// milliseconds (an AAC packet 21 ms at 48 kHz, a FLAC frame at most 1.5 s).
pub const MAX_CONCEALED_GAP_SECONDS: f64 = 10.0;

/// Loads an audio file and returns mono f32 samples at [`SAMPLE_RATE`].
///
/// The format is detected from the content (the extension is only a hint), channels are
/// averaged and the result is resampled without time shift.
///
/// # Errors
/// [`ConditioningError::Io`] if the file cannot be read; [`ConditioningError::Audio`] naming the
/// file for an empty, truncated or unrecognised file, a header with an unusable rate or channel
/// count, zero-length audio or non-finite samples.
///
/// A packet the decoder cannot decode is replaced by silence of the packet's duration, so the
/// audio after it keeps its time; [`read_audio`] says how much was replaced.
pub fn load_audio(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    Ok(read_audio(path)?.samples)
}

/// Audio decoded from a file, with what the decoder could not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedAudio {
    /// Mono f32 samples at [`SAMPLE_RATE`].
    pub samples: Vec<f32>,
    /// Corrupt packets the decoder refused, and holes in the stream's timestamps where the
    /// demuxer dropped corrupt pages or frames; each became silence of its duration.
    pub corrupt_packets: usize,
    /// Seconds of silence that stand in for them.
    pub concealed_seconds: f64,
}

/// Like [`load_audio`], and reports the corrupt packets replaced by silence.
///
/// # Errors
/// As [`load_audio`]; also when more than half of the packets are corrupt, or a corrupt
/// packet's duration is unknown or longer than [`MAX_CONCEALED_GAP_SECONDS`].
pub fn read_audio(path: impl AsRef<Path>) -> Result<LoadedAudio> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| ConditioningError::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_to_16k(bytes, ext, &path.display().to_string())
}

/// Like [`read_audio`], from bytes in memory; errors name the origin `<memory>`.
///
/// # Errors
/// As [`read_audio`].
pub fn read_audio_bytes(bytes: &[u8], hint_extension: Option<&str>) -> Result<LoadedAudio> {
    decode_to_16k(bytes.to_vec(), hint_extension, "<memory>")
}

/// Like [`load_audio`], from bytes in memory. `hint_extension` (e.g. `"mp3"`, without the dot)
/// helps the format probe but the content decides.
///
/// # Errors
/// As [`load_audio`]; errors name the origin `<memory>`.
pub fn load_audio_bytes(bytes: &[u8], hint_extension: Option<&str>) -> Result<Vec<f32>> {
    Ok(read_audio_bytes(bytes, hint_extension)?.samples)
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
    corrupt_packets: usize,
    concealed_frames: u64,
}

fn decode_to_16k(bytes: Vec<u8>, ext: Option<&str>, origin: &str) -> Result<LoadedAudio> {
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
        corrupt_packets,
        concealed_frames,
    } = decoded;
    if let Some(edit) = edit {
        samples = edit.apply(samples, rate, channels);
    }
    let mono = downmix(origin, &samples, channels)?;
    Ok(LoadedAudio {
        samples: to_16k(origin, &mono, rate)?,
        corrupt_packets,
        concealed_seconds: concealed_frames as f64 / rate as f64,
    })
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
        .map_err(|e| match e {
            SymError::DecodeError(_) | SymError::IoError(_) => {
                err(format!("a corrupt or cut-off audio file: {e}"))
            }
            e => err(format!(
                "not a recognised audio file (extension hint {:?}): {e}",
                ext.unwrap_or("none")
            )),
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| err("no audio track".into()))?;
    let track_id = track.id;
    let num_frames = track.num_frames;
    let time_base = track.time_base;
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
    let mut concealment = Concealment::new(&params, time_base);
    let mut gaps = 0usize;
    let mut next_pts: Option<i64> = None;
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
        // Demuxers drop pages or frames they find corrupt (Ogg's CRC, FLAC's frame sync)
        // without a word; the next packet's timestamp shows the hole. Fill it with silence.
        let pts = packet.pts.get();
        if let Some(gap) = next_pts
            .and_then(|next| pts.checked_sub(next))
            .filter(|&g| g > 0)
        {
            let what = format!(
                "the stretch before packet {}",
                bad_packets + good_packets + 1
            );
            frames += concealment
                .fill(&mut samples, gap as u64, spec, frames, &what)
                .map_err(err)?;
            gaps += 1;
        }
        // A packet spans its trimmed priming, its valid frames and its trimmed padding.
        let span = packet.trim_start.get() + packet.dur.get() + packet.trim_end.get();
        next_pts = pts.checked_add_unsigned(span).or(next_pts);
        match decoder.decode(&packet) {
            Ok(audio) => {
                let rate = audio.spec().rate();
                let channels = audio.spec().channels().count();
                match spec {
                    None => {
                        check_format(origin, rate, channels)?;
                        if let Some(c) = concealment.spec.filter(|&c| c != (rate, channels)) {
                            return Err(err(format!(
                                "the first packets are corrupt and the header's format ({} Hz x \
                                 {}) differs from the stream's ({rate} Hz x {channels})",
                                c.0, c.1
                            )));
                        }
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
            // A corrupt packet becomes silence of its duration, as players conceal it, so
            // that what follows keeps its time (a shift here shifts lip sync). Mostly corrupt
            // is an error below.
            Err(e @ (SymError::DecodeError(_) | SymError::IoError(_))) => {
                bad_packets += 1;
                last_decode_error = e.to_string();
                let what = format!("packet {} ({e})", bad_packets + good_packets);
                frames += concealment
                    .fill(&mut samples, packet.dur.get(), spec, frames, &what)
                    .map_err(err)?;
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
                "truncated or corrupt: the header says {n} frames but only {frames} could be \
                 read"
            )));
        }
    }
    Ok(Decoded {
        samples,
        rate,
        channels,
        corrupt_packets: bad_packets + gaps,
        concealed_frames: concealment.frames,
    })
}

/// Silence put in for what could not be decoded, so that later audio keeps its time.
#[derive(Debug)]
struct Concealment {
    /// The header's format (rate, channels), for silence before any packet decoded.
    header: Option<(u32, usize)>,
    /// The unit of packet timestamps and durations.
    time_base: Option<TimeBase>,
    /// The format the silence was written in before any packet decoded: the header's.
    spec: Option<(u32, usize)>,
    /// Frames of silence so far.
    frames: u64,
}

impl Concealment {
    fn new(params: &AudioCodecParameters, time_base: Option<TimeBase>) -> Self {
        let channels = params.channels.as_ref().map_or(1, |c| c.count());
        Self {
            header: params.sample_rate.map(|rate| (rate, channels)),
            time_base,
            spec: None,
            frames: 0,
        }
    }

    /// Appends silence for `ticks` of the time base in the stream's format (`decoded`, or the
    /// header's when nothing has decoded yet) and returns how many frames it added; `what`
    /// names the lost stretch in errors.
    /// `frames` is the stream's length so far: the silence in all may not outgrow it by more
    /// than [`MAX_CONCEALED_GAP_SECONDS`], or a crafted file could claim hours of holes.
    fn fill(
        &mut self,
        samples: &mut Vec<f32>,
        ticks: u64,
        decoded: Option<(u32, usize)>,
        frames: u64,
        what: &str,
    ) -> std::result::Result<u64, String> {
        let (rate, channels) = match decoded.or(self.spec) {
            Some(s) => s,
            None => {
                let s = self.header.ok_or_else(|| {
                    format!(
                        "{what} is corrupt and the header gives no sample rate to replace it \
                         with silence"
                    )
                })?;
                self.spec = Some(s);
                s
            }
        };
        let lost = packet_frames(ticks, self.time_base, rate);
        if lost == 0 {
            return Err(format!(
                "{what} is corrupt and the container gives no duration to replace it with \
                 silence; dropping it would shift the audio after it"
            ));
        }
        let limit = MAX_CONCEALED_GAP_SECONDS * rate as f64;
        if lost as f64 > limit
            || (self.frames + lost) as f64 > (frames - self.frames) as f64 + limit
        {
            return Err(format!(
                "{what} is corrupt or missing: {:.2} s of silence would stand in for it, {:.2} \
                 s in all, against {:.2} s decoded",
                lost as f64 / rate as f64,
                (self.frames + lost) as f64 / rate as f64,
                (frames - self.frames) as f64 / rate as f64
            ));
        }
        samples.resize(samples.len() + lost as usize * channels, 0.0);
        self.frames += lost;
        Ok(lost)
    }
}

/// Frames at `rate` in a packet lasting `dur` ticks of `time_base` (one frame per tick when
/// the container gives none, as symphonia's audio tracks do).
fn packet_frames(dur: u64, time_base: Option<TimeBase>, rate: u32) -> u64 {
    match time_base {
        Some(tb) => {
            let (numer, denom) = (tb.numer.get() as u128, tb.denom.get() as u128);
            ((dur as u128 * numer * rate as u128 + denom / 2) / denom).min(u64::MAX as u128) as u64
        }
        None => dur,
    }
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
