//! Preview files from rendered frames: PNG stills, looping GIFs, and MP4 through ffmpeg,
//! optionally with the speech audio. Every writer is atomic: on failure the destination is
//! left as it was.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use image::{ImageEncoder, RgbImage};

use crate::atomic::write_atomic;
use crate::error::{MeshError, Result};

/// Writes one image as PNG, atomically.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<()> {
    if image.width() == 0 || image.height() == 0 {
        return Err(MeshError::invalid(
            "image",
            "expected a non-empty image, got 0 pixels",
        ));
    }
    write_atomic(path, |w| {
        image::codecs::png::PngEncoder::new(w)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)
    })
}

/// Checks that `frames` is non-empty and of one non-empty size, returning that size.
fn check_frames(frames: &[RgbImage]) -> Result<(u32, u32)> {
    let first = frames
        .first()
        .ok_or_else(|| MeshError::invalid("frames", "expected at least one frame, got none"))?;
    let size = first.dimensions();
    if size.0 == 0 || size.1 == 0 {
        return Err(MeshError::invalid(
            "frames[0]",
            format!("expected a non-empty image, got {}×{}", size.0, size.1),
        ));
    }
    if let Some((i, f)) = frames
        .iter()
        .enumerate()
        .find(|(_, f)| f.dimensions() != size)
    {
        return Err(MeshError::invalid(
            format!("frames[{i}]"),
            format!(
                "is {}×{}, expected {}×{} like frames[0]",
                f.width(),
                f.height(),
                size.0,
                size.1
            ),
        ));
    }
    Ok(size)
}

fn check_fps(fps: f32) -> Result<()> {
    if fps.is_finite() && fps > 0.0 {
        Ok(())
    } else {
        Err(MeshError::invalid(
            "fps",
            format!("expected a positive frame rate, got {fps}"),
        ))
    }
}

/// GIF quantiser speed (1 best … 30 fastest): 10 is the gif crate's own recommendation, and
/// a shaded grey face needs few colours.
const GIF_QUANTISE_SPEED: i32 = 10;

/// Writes `frames` as an infinitely looping animated GIF at `fps`, atomically. Each frame
/// gets its own 256-colour palette (NeuQuant).
///
/// GIF delays are whole centiseconds, so frame delays alternate (e.g. 3, 3, 4 cs at 30 fps)
/// to keep the total duration right. Viewers treat delays under 2 cs as 10 cs, so delays
/// never go below 2 cs: above 50 fps the GIF plays slower than `fps`.
pub fn write_gif(path: &Path, frames: &[RgbImage], fps: f32) -> Result<()> {
    let (width, height) = check_frames(frames)?;
    check_fps(fps)?;
    let too_big = |n: u32| u16::try_from(n).ok();
    let (Some(w16), Some(h16)) = (too_big(width), too_big(height)) else {
        return Err(MeshError::invalid(
            "frames[0]",
            format!("GIF images are at most 65535×65535, got {width}×{height}"),
        ));
    };
    write_atomic(path, |w| {
        let mut encoder = gif::Encoder::new(w, w16, h16, &[]).map_err(std::io::Error::other)?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(std::io::Error::other)?;
        let centis = |i: usize| (i as f64 * 100.0 / fps as f64).round();
        for (i, image) in frames.iter().enumerate() {
            let mut frame =
                gif::Frame::from_rgb_speed(w16, h16, image.as_raw(), GIF_QUANTISE_SPEED);
            frame.delay = (centis(i + 1) - centis(i)).clamp(2.0, u16::MAX as f64) as u16;
            encoder.write_frame(&frame).map_err(std::io::Error::other)?;
        }
        encoder.into_inner().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Whether an `ffmpeg` executable is on the `PATH` and runs.
pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Lines of ffmpeg's error output quoted in a failure.
const FFMPEG_STDERR_TAIL: usize = 12;

/// Writes `frames` as an H.264 MP4 (yuv420p, CRF 20) at `fps` by piping raw RGB frames to
/// `ffmpeg`, muxing `audio_wav` as AAC when given. The video is written to a temporary
/// file next to `path` and renamed into place only when ffmpeg succeeds.
///
/// yuv420p needs even sizes, so odd widths or heights are padded by one pixel in the colour
/// of the first frame's top-left pixel (the background, for a render). With audio, `-shortest` ends the file with the
/// shorter of the two streams. Fails with ffmpeg's last lines of output if it fails, and
/// says so if ffmpeg is not installed.
pub fn write_mp4(
    path: &Path,
    frames: &[RgbImage],
    fps: f32,
    audio_wav: Option<&Path>,
) -> Result<()> {
    let (width, height) = check_frames(frames)?;
    check_fps(fps)?;
    let ffmpeg_err = |message: String| MeshError::Ffmpeg {
        path: path.to_path_buf(),
        message,
    };
    if let Some(audio) = audio_wav {
        std::fs::metadata(audio).map_err(|e| MeshError::io(audio, e))?;
    }
    if !ffmpeg_available() {
        return Err(ffmpeg_err(
            "ffmpeg was not found on PATH; install ffmpeg, or write a .gif preview instead".into(),
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".m2f-tmp-")
        .suffix(".mp4")
        .tempfile_in(dir)
        .map_err(|e| MeshError::io(path, e))?;

    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args([
            "-s",
            &format!("{width}x{height}"),
            "-r",
            &format!("{fps}"),
            "-i",
            "-",
        ]);
    if let Some(audio) = audio_wav {
        cmd.arg("-i").arg(audio);
    }
    cmd.args(["-map", "0:v:0"]);
    if audio_wav.is_some() {
        cmd.args(["-map", "1:a:0"]);
    }
    let [r, g, b] = frames[0].get_pixel(0, 0).0;
    let pad = format!("pad=ceil(iw/2)*2:ceil(ih/2)*2:color=0x{r:02x}{g:02x}{b:02x}");
    cmd.args(["-vf", &pad])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20"]);
    if audio_wav.is_some() {
        cmd.args(["-c:a", "aac", "-shortest"]);
    }
    cmd.args(["-movflags", "+faststart", "-f", "mp4"])
        .arg(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| ffmpeg_err(format!("could not start ffmpeg: {e}")))?;

    // Drain stderr on its own thread: a chatty ffmpeg blocked on a full pipe would stop
    // reading its stdin and deadlock the frame writes below.
    let stderr_reader = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text
        })
    });
    let mut write_error = None;
    if let Some(mut stdin) = child.stdin.take() {
        for frame in frames {
            if let Err(e) = stdin.write_all(frame.as_raw()) {
                // Most likely ffmpeg exited early; its own message explains why.
                write_error = Some(e);
                break;
            }
        }
        // Dropping stdin closes the pipe, which tells ffmpeg the video has ended.
    }
    let status = child
        .wait()
        .map_err(|e| ffmpeg_err(format!("waiting for ffmpeg: {e}")))?;
    let stderr = stderr_reader
        .and_then(|h| h.join().ok())
        .unwrap_or_default();
    if !status.success() || write_error.is_some() {
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(FFMPEG_STDERR_TAIL)..].join("\n");
        let mut message = format!("ffmpeg exited with {status}");
        if let Some(e) = write_error {
            message.push_str(&format!(" (writing frames: {e})"));
        }
        if !tail.is_empty() {
            message.push_str(":\n");
            message.push_str(&tail);
        }
        return Err(ffmpeg_err(message));
    }
    crate::atomic::publish_permissions(tmp.as_file(), false).map_err(|e| MeshError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| MeshError::io(path, e.error))?;
    Ok(())
}

/// Writes a preview chosen by `path`'s extension (case-insensitive): `.gif` and `.mp4`
/// animate all `frames` at `fps` (`.mp4` with `audio_wav` if given), `.png` writes the first
/// frame only. Other extensions are an error naming the supported ones.
pub fn write_preview(
    path: &Path,
    frames: &[RgbImage],
    fps: f32,
    audio_wav: Option<&Path>,
) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "gif" => write_gif(path, frames, fps),
        "mp4" => write_mp4(path, frames, fps, audio_wav),
        "png" => {
            check_frames(frames)?;
            write_png(path, &frames[0])
        }
        _ => Err(MeshError::Export {
            path: path.to_path_buf(),
            message: format!(
                "unknown preview format {:?}: expected a .gif, .mp4 or .png extension",
                path.extension()
                    .map(|e| e.to_string_lossy())
                    .unwrap_or_default()
            ),
        }),
    }
}
