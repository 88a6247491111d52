//! Talking-head video files (MP4, MKV, MOV, WebM) → frames at 30 fps and 16 kHz mono audio on
//! one clock, read through the `ffprobe` and `ffmpeg` programs run as subprocesses.
//!
//! **The clock.** Time 0 is the first frame of the video track as ffmpeg decodes it. Frame `i`
//! is the source frame on screen at `i / 30` s: ffmpeg's `fps` filter repeats or drops frames so
//! that a 25, 60 fps or variable-frame-rate source comes out at a constant 30 fps, rounding the
//! source timestamps to the nearest 1/30 s (so a frame is within half an output frame of its
//! time). Rotation metadata is applied the way ffmpeg does by default (autorotate); the reported
//! width and height are those after it. Audio sample `i` is at `i / 16000` s on the same clock.
//!
//! **The audio rule.** Decoders drop encoder priming themselves (AAC's 1024 samples through the
//! MP4 edit list, Opus' pre-skip), so the first decoded audio sample is at the timestamp of the
//! first decoded audio frame; `ffprobe`'s stream `start_time` is not used for this because it is
//! the first *packet's* time, which still counts the priming (Opus in Matroska: 7 ms early) or
//! misses a demuxer's shift (Vorbis in WebM: 3 ms). With `a` and `v` the first decoded audio and
//! video frames' timestamps: audio starting later (`a > v`) gets `round((a − v) · 16000)` zeros
//! in front; audio starting earlier loses its first `round((v − a) · 16000)` samples. Gaps inside
//! the audio track are not filled (ffmpeg concatenates the decoded samples).
//!
//! Lengths: the frames cover the video track, the audio covers the audio track from time 0; the
//! two may differ by the tracks' durations. `max_seconds` keeps what lies before that time.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use image::RgbImage;
use serde::Deserialize;

use crate::error::{DatasetError, Result};

/// Frames per second of [`VideoClip::frames`] and [`VideoFrames`], whatever the source's.
pub const VIDEO_FPS: u32 = 30;

/// Samples per second of [`VideoClip::audio`] (mono).
pub const AUDIO_RATE: u32 = 16_000;

/// Video packets whose timestamps are checked for a variable frame rate (10 s at 30 fps).
const VFR_PACKETS: usize = 300;

/// Packets decoded to find a track's first frame time (AAC's priming packet decodes to
/// nothing; a few frames of decoder delay).
const FIRST_FRAME_PACKETS: usize = 8;

/// Lines of ffmpeg's stderr kept in an error message.
const STDERR_LINES: usize = 8;

/// What `ffprobe` says about a video file.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Width of the frames in pixels, after rotation metadata is applied.
    pub width: u32,
    /// Height of the frames in pixels, after rotation metadata is applied.
    pub height: u32,
    /// Rotation of the picture in degrees from the display matrix (or the older `rotate` tag),
    /// as `ffprobe` reports it; 0 when there is none.
    pub rotation_deg: f64,
    /// The source's average frame rate (`ffprobe`'s `avg_frame_rate`); 0 when unknown.
    pub source_fps: f64,
    /// The source's base frame rate (`ffprobe`'s `r_frame_rate`, the lowest rate all its
    /// timestamps fit); 0 when unknown.
    pub r_frame_rate: f64,
    /// Duration of the video track in seconds (the file's where the track states none; 0 when
    /// neither is known).
    pub duration_s: f64,
    /// Whether the file has an audio track.
    pub has_audio: bool,
    /// The video codec (`ffprobe`'s `codec_name`: `h264`, `hevc`, `vp9`, …).
    pub video_codec: String,
    /// The audio codec (`aac`, `opus`, …), if there is an audio track.
    pub audio_codec: Option<String>,
    /// Whether the source looked variable-frame-rate: its average and base frame rates differ
    /// by more than 1 %, or the spacing of its first 300 frame timestamps varies by more than
    /// 20 % (a heuristic; the output is constant 30 fps either way).
    pub variable_frame_rate: bool,
    /// Index of the video track in the file (what ffmpeg calls `0:N`); cover art is skipped.
    pub video_stream: usize,
    /// Index of the audio track in the file, if there is one.
    pub audio_stream: Option<usize>,
    /// Time of the first decoded video frame in the file's timeline, seconds (time 0 of the
    /// output clock).
    pub video_start_s: f64,
    /// Time of the first decoded audio sample in the file's timeline, seconds, if there is an
    /// audio track: audio is shifted by `audio_start_s - video_start_s` (see the module docs).
    pub audio_start_s: Option<f64>,
}

/// How to read a video file.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoReadOptions {
    /// Keep only frames and samples before this time (seconds from the first video frame);
    /// `None` reads everything.
    pub max_seconds: Option<f64>,
    /// Fail on a file without an audio track (the default: training needs the speech). When
    /// false such a file reads with empty audio.
    pub require_audio: bool,
}

impl Default for VideoReadOptions {
    fn default() -> Self {
        Self {
            max_seconds: None,
            require_audio: true,
        }
    }
}

/// A video file read whole: frames at [`VIDEO_FPS`] and mono audio at [`AUDIO_RATE`] on one
/// clock (see the module docs).
#[derive(Debug, Clone)]
pub struct VideoClip {
    /// What `ffprobe` said about the file.
    pub info: VideoInfo,
    /// Frame `i` shows the source at `i / 30` s.
    pub frames: Vec<RgbImage>,
    /// Sample `i` is at `i / 16000` s; empty when the file has no audio track.
    pub audio: Vec<f32>,
}

/// Probes `path` with `ffprobe`: tracks, size, frame rates, codecs, start times.
///
/// # Errors
/// A file that does not exist, `ffprobe` missing, a file it cannot read (corrupt, not media),
/// or no video track (an audio-only file).
pub fn probe_video(path: &Path) -> Result<VideoInfo> {
    std::fs::metadata(path).map_err(|e| DatasetError::io(path, e))?;
    let out = Tool::Ffprobe.run(
        path,
        &["-print_format", "json", "-show_format", "-show_streams"],
    )?;
    if !out.status.success() {
        return Err(DatasetError::UnreadableVideo {
            path: path.to_path_buf(),
            stderr: stderr_tail(&out.stderr),
        });
    }
    let probe: Probe = serde_json::from_slice(&out.stdout).map_err(|e| {
        DatasetError::invalid(
            format!("ffprobe's report on {}", path.display()),
            e.to_string(),
        )
    })?;

    // Cover art in an audio file is a one-picture "video" stream: not a video track.
    let video = probe
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0);
    let Some(video) = video else {
        return Err(DatasetError::MissingTrack {
            path: path.to_path_buf(),
            track: "video".into(),
            found: found_tracks(&probe.streams),
            expected: "expected a talking-head video (MP4, MKV, MOV or WebM) with a picture".into(),
        });
    };
    let audio = probe
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));

    let rotation_deg = video.rotation();
    let (mut width, mut height) = (video.width.unwrap_or(0), video.height.unwrap_or(0));
    if quarter_turn(rotation_deg) {
        std::mem::swap(&mut width, &mut height);
    }
    let source_fps = rate(video.avg_frame_rate.as_deref());
    let r_frame_rate = rate(video.r_frame_rate.as_deref());
    let duration_s = seconds(video.duration.as_deref())
        .or_else(|| seconds(probe.format.as_ref()?.duration.as_deref()))
        .unwrap_or(0.0);

    let video_start_s = first_frame_time(path, video)?;
    let audio_start_s = match audio {
        Some(a) => Some(first_frame_time(path, a)?),
        None => None,
    };
    let rates_differ = source_fps > 0.0
        && r_frame_rate > 0.0
        && (source_fps - r_frame_rate).abs() > 0.01 * r_frame_rate;
    let variable_frame_rate = rates_differ || irregular_timestamps(path, video.index)?;

    Ok(VideoInfo {
        width,
        height,
        rotation_deg,
        source_fps,
        r_frame_rate,
        duration_s,
        has_audio: audio.is_some(),
        video_codec: video.codec_name.clone().unwrap_or_default(),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        variable_frame_rate,
        video_stream: video.index,
        audio_stream: audio.map(|a| a.index),
        video_start_s,
        audio_start_s,
    })
}

/// Reads `path` whole: probes it, decodes its audio and its frames (both at once, in two
/// `ffmpeg` processes).
///
/// # Errors
/// Those of [`probe_video`]; no audio track while `options.require_audio`; an invalid
/// `max_seconds`; `ffmpeg` failing on either track; a video track of zero frames.
pub fn read_video(path: &Path, options: &VideoReadOptions) -> Result<VideoClip> {
    // Refuse bad options before any work.
    limit(options.max_seconds, VIDEO_FPS)?;
    let info = probe_video(path)?;
    if options.require_audio && !info.has_audio {
        return Err(DatasetError::MissingTrack {
            path: path.to_path_buf(),
            track: "audio".into(),
            found: format!("video ({})", info.video_codec),
            expected: "training needs the speech: give a video with sound, or read the frames \
                       alone with require_audio = false"
                .into(),
        });
    }
    let frames = VideoFrames::open(path, &info, options.max_seconds)?;
    let (frames, audio) = std::thread::scope(|scope| {
        let audio = scope.spawn(|| {
            if info.has_audio {
                read_video_audio(path, &info, options.max_seconds)
            } else {
                Ok(Vec::new())
            }
        });
        let frames: Result<Vec<RgbImage>> = frames.collect();
        let audio = audio
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (frames, audio)
    });
    Ok(VideoClip {
        info,
        frames: frames?,
        audio: audio?,
    })
}

/// The audio track of `path` (probed as `info`) as mono f32 at [`AUDIO_RATE`], shifted onto
/// the video's clock (the module docs give the rule) and cut at `max_seconds`.
///
/// # Errors
/// No audio track, an invalid `max_seconds`, or `ffmpeg` failing.
pub fn read_video_audio(
    path: &Path,
    info: &VideoInfo,
    max_seconds: Option<f64>,
) -> Result<Vec<f32>> {
    let (Some(stream), Some(audio_start)) = (info.audio_stream, info.audio_start_s) else {
        return Err(DatasetError::MissingTrack {
            path: path.to_path_buf(),
            track: "audio".into(),
            found: format!("video ({})", info.video_codec),
            expected: "expected a video with sound".into(),
        });
    };
    let max_samples = limit(max_seconds, AUDIO_RATE)?;
    // Positive: audio starts later than the video, zeros go in front.
    let shift = ((audio_start - info.video_start_s) * AUDIO_RATE as f64).round() as i64;
    let mut args: Vec<String> = vec![
        "-map".into(),
        format!("0:{stream}"),
        "-ac".into(),
        "1".into(),
        "-ar".into(),
        AUDIO_RATE.to_string(),
    ];
    if let Some(max) = max_samples {
        // Decode no further than needed (with a margin); the exact cut is below.
        let needed = max as f64 + (-shift).max(0) as f64;
        args.push("-t".into());
        args.push(format!("{:.3}", needed / AUDIO_RATE as f64 + 0.5));
    }
    args.extend(["-f", "f32le", "pipe:1"].map(String::from));
    let out = Tool::Ffmpeg.run(path, &args)?;
    if !out.status.success() {
        return Err(DatasetError::FfmpegFailed {
            path: path.to_path_buf(),
            track: "audio".into(),
            status: out.status.to_string(),
            stderr: stderr_tail(&out.stderr),
        });
    }
    if out.stdout.len() % 4 != 0 {
        return Err(DatasetError::invalid(
            format!("audio of {}", path.display()),
            format!(
                "ffmpeg wrote {} bytes, not whole 32-bit samples",
                out.stdout.len()
            ),
        ));
    }
    let decoded = out
        .stdout
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let mut audio: Vec<f32> = if shift >= 0 {
        std::iter::repeat_n(0.0, shift as usize)
            .chain(decoded)
            .collect()
    } else {
        decoded.skip(shift.unsigned_abs() as usize).collect()
    };
    if let Some(max) = max_samples {
        audio.truncate(max);
    }
    if let Some(i) = audio.iter().position(|v| !v.is_finite()) {
        return Err(DatasetError::invalid(
            format!("audio of {}", path.display()),
            format!("the decoder returned a non-finite sample at {i}"),
        ));
    }
    Ok(audio)
}

/// The frames of a video file at [`VIDEO_FPS`], read one at a time from `ffmpeg`'s pipe, so a
/// long video never sits in memory whole.
///
/// Yields `Err` once if `ffmpeg` fails, stops mid-frame or decodes zero frames, then ends.
/// Dropping it early stops `ffmpeg` (the process is killed and reaped).
pub struct VideoFrames {
    path: PathBuf,
    width: u32,
    height: u32,
    /// `None` once the stream has ended.
    ffmpeg: Option<Running>,
    produced: usize,
}

impl VideoFrames {
    /// Starts decoding the video track of `path` (probed as `info`), keeping the frames before
    /// `max_seconds`.
    ///
    /// # Errors
    /// An invalid `max_seconds`, a size of zero, or `ffmpeg` missing.
    pub fn open(path: &Path, info: &VideoInfo, max_seconds: Option<f64>) -> Result<Self> {
        let max_frames = limit(max_seconds, VIDEO_FPS)?;
        if info.width == 0 || info.height == 0 {
            return Err(DatasetError::invalid(
                path.display().to_string(),
                format!(
                    "the video track has size {}x{}; expected a picture of at least 1x1",
                    info.width, info.height
                ),
            ));
        }
        let mut args: Vec<String> = vec![
            "-map".into(),
            format!("0:{}", info.video_stream),
            // Time 0 is the first decoded frame; `fps` then picks the frame on screen at
            // every 1/30 s (repeating or dropping source frames).
            "-vf".into(),
            format!("setpts=PTS-STARTPTS,fps={VIDEO_FPS}"),
            // Frames as the filter made them: no duplication to the muxer's idea of time.
            "-vsync".into(),
            "passthrough".into(),
        ];
        if let Some(max) = max_frames {
            args.push("-frames:v".into());
            args.push(max.to_string());
        }
        args.extend(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"].map(String::from));
        let ffmpeg = Running::spawn(Tool::Ffmpeg, path, &args)?;
        Ok(Self {
            path: path.to_path_buf(),
            width: info.width,
            height: info.height,
            ffmpeg: Some(ffmpeg),
            produced: 0,
        })
    }

    /// Width of every frame in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of every frame in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The error, if any, that ends the stream after `filled` bytes of a frame were read.
    fn end(&mut self, filled: usize, frame_bytes: usize) -> Option<DatasetError> {
        let ffmpeg = self.ffmpeg.take()?;
        let (status, stderr) = ffmpeg.finish();
        let path = self.path.clone();
        match status {
            Err(e) => Some(DatasetError::io(&path, e)),
            Ok(status) if self.produced == 0 && filled == 0 => Some(DatasetError::NoFrames {
                path,
                stderr: if status.success() {
                    String::new()
                } else {
                    stderr_tail(&stderr)
                },
            }),
            Ok(status) if !status.success() => Some(DatasetError::FfmpegFailed {
                path,
                track: "video".into(),
                status: status.to_string(),
                stderr: stderr_tail(&stderr),
            }),
            Ok(_) if filled > 0 => Some(DatasetError::invalid(
                format!("video of {}", path.display()),
                format!(
                    "ffmpeg stopped {filled} bytes into frame {} of {frame_bytes} bytes \
                     ({}x{} RGB)",
                    self.produced, self.width, self.height
                ),
            )),
            Ok(_) => None,
        }
    }
}

impl Iterator for VideoFrames {
    type Item = Result<RgbImage>;

    fn next(&mut self) -> Option<Self::Item> {
        let frame_bytes = self.width as usize * self.height as usize * 3;
        let stdout = self.ffmpeg.as_mut()?.stdout.as_mut()?;
        let mut buf = vec![0u8; frame_bytes];
        match read_full(stdout, &mut buf) {
            Ok(filled) if filled == frame_bytes => {
                self.produced += 1;
                // The buffer is exactly width × height × 3, which is all `from_raw` checks.
                RgbImage::from_raw(self.width, self.height, buf).map(Ok)
            }
            Ok(filled) => self.end(filled, frame_bytes).map(Err),
            Err(e) => {
                // Reading the pipe failed: stop ffmpeg and report.
                self.ffmpeg = None;
                Some(Err(DatasetError::io(&self.path, e)))
            }
        }
    }
}

impl std::fmt::Debug for VideoFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrames")
            .field("path", &self.path)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("produced", &self.produced)
            .field("running", &self.ffmpeg.is_some())
            .finish()
    }
}

/// Reads until `buf` is full or the pipe ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The number of frames or samples at `rate` per second before `max_seconds`.
fn limit(max_seconds: Option<f64>, rate: u32) -> Result<Option<usize>> {
    match max_seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => {
            // Items at i / rate < s; the epsilon keeps 3.0 s at 30 fps at 90, not 91.
            Ok(Some((s * rate as f64 - 1e-9).ceil().max(1.0) as usize))
        }
        Some(s) => Err(DatasetError::invalid(
            "max_seconds",
            format!("{s}: expected a positive number of seconds"),
        )),
    }
}

/// The two FFmpeg programs, each run on one input file.
#[derive(Debug, Clone, Copy)]
enum Tool {
    /// `ffprobe -v error ARGS file:PATH`.
    Ffprobe,
    /// `ffmpeg -nostdin -hide_banner -v error -i file:PATH ARGS`.
    Ffmpeg,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Self::Ffprobe => "ffprobe",
            Self::Ffmpeg => "ffmpeg",
        }
    }

    /// The command reading `path`, with stdout and stderr piped.
    fn command(self, path: &Path, args: &[impl AsRef<OsStr>]) -> Command {
        let mut cmd = Command::new(self.name());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match self {
            Self::Ffprobe => cmd.args(["-v", "error"]).args(args).arg(input(path)),
            Self::Ffmpeg => cmd
                .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
                .arg(input(path))
                .args(args),
        };
        cmd
    }

    /// Runs to the end and collects the output (`output` waits, so no process is left).
    fn run(self, path: &Path, args: &[impl AsRef<OsStr>]) -> Result<std::process::Output> {
        self.command(path, args)
            .output()
            .map_err(|e| missing(self.name(), path, e))
    }
}

/// `path` as an ffmpeg input: the `file:` protocol, so a name starting with `-` or holding a
/// `:` is not read as an option or another protocol.
fn input(path: &Path) -> OsString {
    let mut s = OsString::from("file:");
    s.push(path.as_os_str());
    s
}

fn missing(program: &str, path: &Path, source: std::io::Error) -> DatasetError {
    DatasetError::FfmpegMissing {
        program: program.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

/// A running `ffmpeg` whose stdout is read as it goes. Its stderr is drained on a thread (a
/// full stderr pipe would stall the process while we wait on stdout); on drop an unfinished
/// process is killed and reaped, so an early error or an abandoned iterator leaves no process
/// or zombie behind.
struct Running {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    finished: bool,
}

impl Running {
    fn spawn(tool: Tool, path: &Path, args: &[String]) -> Result<Self> {
        let mut child = tool
            .command(path, args)
            .spawn()
            .map_err(|e| missing(tool.name(), path, e))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                // Keep the end: that is where ffmpeg says what went wrong.
                const KEEP: usize = 64 * 1024;
                let mut kept = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => kept.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                    if kept.len() > 2 * KEEP {
                        kept.drain(..kept.len() - KEEP);
                    }
                }
                kept
            })
        });
        Ok(Self {
            child,
            stdout,
            stderr,
            finished: false,
        })
    }

    /// Waits for the process to exit (its stdout has ended) and returns its status and stderr.
    fn finish(mut self) -> (std::io::Result<ExitStatus>, Vec<u8>) {
        self.stdout = None;
        let status = self.child.wait();
        self.finished = true;
        let stderr = self.join_stderr();
        (status, stderr)
    }

    fn join_stderr(&mut self) -> Vec<u8> {
        self.stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.stdout = None;
            // Errors here mean it has already exited; `wait` reaps it either way.
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.join_stderr();
        }
    }
}

/// The last lines of a program's stderr, on one line.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "(no message)".into();
    }
    let tail = &lines[lines.len().saturating_sub(STDERR_LINES)..];
    tail.iter()
        .map(|l| {
            if l.chars().count() > 300 {
                format!("{}…", l.chars().take(300).collect::<String>())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `ffprobe -show_format -show_streams`, the parts used here.
#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbeStream {
    index: usize,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    start_time: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    disposition: Disposition,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: i64,
}

impl ProbeStream {
    /// Degrees from the display matrix, else the `rotate` tag older files carry.
    fn rotation(&self) -> f64 {
        self.side_data_list
            .iter()
            .find_map(|d| d.get("rotation")?.as_f64())
            .or_else(|| self.tags.get("rotate")?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// Whether ffmpeg's autorotate turns the picture a quarter turn (it acts on angles within 1°
/// of a multiple of 90°), which swaps width and height.
fn quarter_turn(degrees: f64) -> bool {
    let d = degrees.rem_euclid(360.0);
    (d - 90.0).abs() < 1.0 || (d - 270.0).abs() < 1.0
}

/// `"30000/1001"` → 29.97; 0 for `"0/0"` or nothing.
fn rate(text: Option<&str>) -> f64 {
    let Some((num, den)) = text.and_then(|t| t.split_once('/')) else {
        return 0.0;
    };
    match (num.trim().parse::<f64>(), den.trim().parse::<f64>()) {
        (Ok(n), Ok(d)) if d > 0.0 && n.is_finite() && n > 0.0 => n / d,
        _ => 0.0,
    }
}

/// `"3.000000"` → 3.0; `None` for `"N/A"` or nothing.
fn seconds(text: Option<&str>) -> Option<f64> {
    text?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// What tracks a file has, for messages: `"audio (aac)"`.
fn found_tracks(streams: &[ProbeStream]) -> String {
    let found: Vec<String> = streams
        .iter()
        .map(|s| {
            let kind = match (s.codec_type.as_deref(), s.disposition.attached_pic) {
                (Some("video"), 1) => "cover art",
                (Some(kind), _) => kind,
                (None, _) => "unknown",
            };
            format!("{kind} ({})", s.codec_name.as_deref().unwrap_or("?"))
        })
        .collect();
    if found.is_empty() {
        "no tracks".into()
    } else {
        found.join(", ")
    }
}

/// The timestamp of the first frame the decoder outputs for `stream` (priming dropped), in
/// the file's timeline; the stream's `start_time` where no frame decodes from its first
/// packets.
fn first_frame_time(path: &Path, stream: &ProbeStream) -> Result<f64> {
    #[derive(Deserialize)]
    struct Frames {
        #[serde(default)]
        frames: Vec<Frame>,
    }
    #[derive(Deserialize)]
    struct Frame {
        best_effort_timestamp_time: Option<String>,
    }
    let out = Tool::Ffprobe.run(
        path,
        &[
            "-select_streams".to_string(),
            stream.index.to_string(),
            "-read_intervals".into(),
            format!("%+#{FIRST_FRAME_PACKETS}"),
            "-show_entries".into(),
            "frame=best_effort_timestamp_time".into(),
            "-print_format".into(),
            "json".into(),
        ],
    )?;
    // A failure here (a track that does not decode) shows up, with ffmpeg's message, when
    // the track is read; the container's start time stands in until then.
    let first = serde_json::from_slice::<Frames>(&out.stdout)
        .ok()
        .filter(|_| out.status.success())
        .and_then(|f| {
            f.frames
                .iter()
                .filter_map(|fr| seconds(fr.best_effort_timestamp_time.as_deref()))
                .min_by(f64::total_cmp)
        });
    Ok(first
        .or_else(|| seconds(stream.start_time.as_deref()))
        .unwrap_or(0.0))
}

/// Whether the spacing of the first [`VFR_PACKETS`] video timestamps varies by more than
/// 20 % of its median (plus 1 ms for containers that round timestamps to milliseconds).
fn irregular_timestamps(path: &Path, stream: usize) -> Result<bool> {
    #[derive(Deserialize)]
    struct Packets {
        #[serde(default)]
        packets: Vec<Packet>,
    }
    #[derive(Deserialize)]
    struct Packet {
        pts_time: Option<String>,
        flags: Option<String>,
    }
    let out = Tool::Ffprobe.run(
        path,
        &[
            "-select_streams".to_string(),
            stream.to_string(),
            "-read_intervals".into(),
            format!("%+#{VFR_PACKETS}"),
            "-show_entries".into(),
            "packet=pts_time,flags".into(),
            "-print_format".into(),
            "json".into(),
        ],
    )?;
    let Ok(packets) = serde_json::from_slice::<Packets>(&out.stdout) else {
        return Ok(false);
    };
    // Packets the demuxer marks to discard (before an edit list's start) are never shown.
    let mut pts: Vec<f64> = packets
        .packets
        .iter()
        .filter(|p| !p.flags.as_deref().unwrap_or("").contains('D'))
        .filter_map(|p| seconds(p.pts_time.as_deref()))
        .collect();
    // Packets come in decoding order; B-frames make presentation order differ.
    pts.sort_by(f64::total_cmp);
    pts.dedup();
    let mut deltas: Vec<f64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    if deltas.len() < 2 {
        return Ok(false);
    }
    deltas.sort_by(f64::total_cmp);
    let median = deltas[deltas.len() / 2];
    let slack = 0.2 * median + 0.001;
    Ok(deltas.iter().any(|d| (d - median).abs() > slack))
}
