//! Video files through ffmpeg: audio/video sync (a white flash and a beep at the same instant),
//! 30 fps resampling of 25 fps and variable-frame-rate sources, rotation, streaming, and clear
//! errors for bad input. The test videos are made here with ffmpeg's lavfi sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use m2f_dataset::{
    probe_video, read_video, DatasetError, VideoFrames, VideoReadOptions, AUDIO_RATE, VIDEO_FPS,
};

/// Where the white flash and the beep start in the sync videos, seconds.
const EVENT_S: f64 = 1.2;

/// Runs ffmpeg to make a test file; panics with its message if it fails.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg (apt-get install ffmpeg) is needed to make the test videos");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this ffmpeg has `encoder`.
fn has_encoder(encoder: &str) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(encoder))
}

/// H.264 where this ffmpeg has it, else MPEG-4 part 2.
fn mp4_video_codec() -> &'static str {
    if has_encoder("libx264") {
        "libx264"
    } else {
        "mpeg4"
    }
}

/// 3 s of 64×48 black at 25 fps that turns white for 0.1 s at [`EVENT_S`].
fn flash_source() -> String {
    format!(
        "color=black:s=64x48:r=25:d=3,\
         drawbox=c=white:t=fill:enable='between(t,{EVENT_S},{})'",
        EVENT_S + 0.1
    )
}

/// 3 s of 48 kHz silence with a 1 kHz beep (amplitude 0.5) for 0.1 s at [`EVENT_S`].
fn beep_source() -> String {
    format!(
        "aevalsrc='if(between(t,{EVENT_S},{}),0.5*sin(2*PI*1000*t),0)':s=48000:d=3",
        EVENT_S + 0.1
    )
}

/// A sync video: the flash and the beep, encoded with `codecs` into `name`.
/// `video_offset` / `audio_offset` delay one input's timestamps (ffmpeg's `-itsoffset`).
fn sync_video(
    dir: &Path,
    name: &str,
    codecs: &[&str],
    video_offset: Option<&str>,
    audio_offset: Option<&str>,
) -> PathBuf {
    let path = dir.join(name);
    let (video, audio) = (flash_source(), beep_source());
    let mut args: Vec<&str> = Vec::new();
    if let Some(o) = video_offset {
        args.extend(["-itsoffset", o]);
    }
    args.extend(["-f", "lavfi", "-i", &video]);
    if let Some(o) = audio_offset {
        args.extend(["-itsoffset", o]);
    }
    args.extend(["-f", "lavfi", "-i", &audio]);
    args.extend(codecs);
    // Keep the inputs' timestamps: no frames duplicated to fill a delayed start.
    args.extend(["-vsync", "passthrough", path.to_str().unwrap()]);
    ffmpeg(&args);
    path
}

/// Index of the first frame whose mean brightness is over half.
fn first_white_frame(frames: &[image::RgbImage]) -> Option<usize> {
    frames.iter().position(|f| {
        let sum: u64 = f.as_raw().iter().map(|&v| v as u64).sum();
        sum as f64 / f.as_raw().len() as f64 > 128.0
    })
}

/// Index of the first sample louder than 0.1.
fn beep_onset(audio: &[f32]) -> Option<usize> {
    audio.iter().position(|a| a.abs() > 0.1)
}

/// Reads a sync video and checks the flash and the beep: the flash's first frame `f` within
/// one frame of `EVENT_S`, the beep onset within 5 ms (+ `allowance_s`) of `EVENT_S`, and the
/// onset inside frame `f`'s interval `[f/30, (f+1)/30)` or the one before. Returns the onset's
/// error in seconds.
fn check_sync(path: &Path, allowance_s: f64) -> f64 {
    let clip = read_video(path, &VideoReadOptions::default()).unwrap();
    assert_eq!((clip.info.width, clip.info.height), (64, 48));
    let f = first_white_frame(&clip.frames).expect("a white frame");
    let s = beep_onset(&clip.audio).expect("a beep");
    let fps = VIDEO_FPS as f64;
    let onset = s as f64 / AUDIO_RATE as f64;
    let name = path.file_name().unwrap().to_string_lossy();
    println!(
        "{name}: {} / {} ({:.3} fps source), video start {:.4} s, audio start {:?} s: \
         flash at frame {f} ({:.4} s), beep at sample {s} ({onset:.5} s, {:+.2} ms)",
        clip.info.video_codec,
        clip.info.audio_codec.as_deref().unwrap_or("-"),
        clip.info.source_fps,
        clip.info.video_start_s,
        clip.info.audio_start_s,
        f as f64 / fps,
        (onset - EVENT_S) * 1e3
    );
    assert!(
        (f as f64 / fps - EVENT_S).abs() <= 1.0 / fps + 1e-9,
        "{name}: flash at frame {f}, expected {EVENT_S} s ± 1 frame"
    );
    assert!(
        (onset - EVENT_S).abs() < 0.005 + allowance_s,
        "{name}: beep at {onset} s, expected {EVENT_S} s ± {} ms",
        (0.005 + allowance_s) * 1e3
    );
    assert!(
        onset >= (f as f64 - 1.0) / fps && onset < (f as f64 + 1.0) / fps,
        "{name}: beep at {onset} s is not in frame {f} or the one before"
    );
    onset - EVENT_S
}

#[test]
fn sync_mp4_h264_aac() {
    let dir = tempfile::tempdir().unwrap();
    let codecs = [
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];
    let path = sync_video(dir.path(), "sync.mp4", &codecs, None, None);
    check_sync(&path, 0.0);
}

#[test]
fn sync_webm_vp9_vorbis() {
    if !has_encoder("libvpx-vp9") || !has_encoder("libvorbis") {
        println!("note: this ffmpeg has no libvpx-vp9 or libvorbis encoder; WebM not tested");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let codecs = ["-c:v", "libvpx-vp9", "-c:a", "libvorbis"];
    let path = sync_video(dir.path(), "sync.webm", &codecs, None, None);
    check_sync(&path, 0.0);
}

#[test]
fn sync_mkv_h264_opus() {
    if !has_encoder("libx264") || !has_encoder("libopus") {
        println!("note: this ffmpeg has no libx264 or libopus encoder; MKV/Opus not tested");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libopus"];
    let path = sync_video(dir.path(), "sync.mkv", &codecs, None, None);
    // FFmpeg's Matroska muxer up to libavformat 59.30 (FFmpeg 5.1) shifts every video frame
    // 7 ms later when the file has Opus audio (it mistakes Opus' pre-skip for a negative
    // timestamp): such a file really has its sound 7 ms early, which the reader reports.
    let error = check_sync(&path, 0.007);
    if error < -0.005 {
        println!(
            "note: the beep is {:.1} ms early, FFmpeg's Opus-in-Matroska muxing shift",
            -error * 1e3
        );
    }
}

#[test]
fn audio_starting_later_is_padded_and_earlier_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let codecs = [
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];
    // Sound delayed 0.5 s: the beep comes 0.5 s after the flash.
    let late = sync_video(dir.path(), "late.mp4", &codecs, None, Some("0.5"));
    // Picture delayed 0.5 s: the beep comes 0.5 s before the flash.
    let early = sync_video(dir.path(), "early.mp4", &codecs, Some("0.5"), None);
    for (path, beep_after_flash) in [(late, 0.5), (early, -0.5)] {
        let clip = read_video(&path, &VideoReadOptions::default()).unwrap();
        let f = first_white_frame(&clip.frames).unwrap();
        let s = beep_onset(&clip.audio).unwrap();
        let (flash, beep) = (f as f64 / VIDEO_FPS as f64, s as f64 / AUDIO_RATE as f64);
        println!(
            "{}: video start {:.4} s, audio start {:?} s, flash {flash:.4} s, beep {beep:.5} s",
            path.display(),
            clip.info.video_start_s,
            clip.info.audio_start_s
        );
        // Within a frame (the muxer also moves the tracks by AAC's 21 ms priming).
        assert!(
            (beep - flash - beep_after_flash).abs() <= 1.0 / VIDEO_FPS as f64 + 0.005,
            "{}: beep {beep} s, flash {flash} s, expected {beep_after_flash} s apart",
            path.display()
        );
    }
}

#[test]
fn resamples_25_fps_to_30() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("25fps.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &flash_source(),
        "-f",
        "lavfi",
        "-i",
        &beep_source(),
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        path.to_str().unwrap(),
    ]);
    let info = probe_video(&path).unwrap();
    assert_eq!((info.width, info.height), (64, 48));
    assert!((info.source_fps - 25.0).abs() < 1e-6, "{info:?}");
    assert!((info.r_frame_rate - 25.0).abs() < 1e-6, "{info:?}");
    assert!((info.duration_s - 3.0).abs() < 0.05, "{info:?}");
    assert!(!info.variable_frame_rate, "{info:?}");
    assert!(info.has_audio);
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));

    let clip = read_video(&path, &VideoReadOptions::default()).unwrap();
    assert!(
        clip.frames.len().abs_diff(90) <= 1,
        "{} frames",
        clip.frames.len()
    );
    assert!(clip.frames.iter().all(|f| f.dimensions() == (64, 48)));
    assert!(
        clip.audio.len().abs_diff(48_000) <= 1024,
        "{} samples",
        clip.audio.len()
    );

    // The first second only: frames and samples before 1 s.
    let options = VideoReadOptions {
        max_seconds: Some(1.0),
        ..VideoReadOptions::default()
    };
    let first = read_video(&path, &options).unwrap();
    assert_eq!(first.frames.len(), 30);
    assert_eq!(first.audio.len(), 16_000);
    assert_eq!(first.frames[..], clip.frames[..30]);
    assert_eq!(first.audio[..], clip.audio[..16_000]);
}

#[test]
fn variable_frame_rate_comes_out_at_30_fps() {
    let dir = tempfile::tempdir().unwrap();
    // 1.5 s black at 25 fps, then 1.5 s grey at 50 fps, timestamps kept as they are.
    let mp4 = dir.path().join("vfr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=black:s=64x48:r=25:d=1.5",
        "-f",
        "lavfi",
        "-i",
        "color=gray:s=64x48:r=50:d=1.5",
        "-filter_complex",
        "[0:v]settb=1/1000[a];[1:v]settb=1/1000[b];[a][b]concat=n=2:v=1:a=0",
        "-vsync",
        "passthrough",
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        mp4.to_str().unwrap(),
    ]);
    // Matroska states no frame rate of its own: only the timestamps show it varies.
    let mkv = dir.path().join("vfr.mkv");
    ffmpeg(&[
        "-i",
        mp4.to_str().unwrap(),
        "-c",
        "copy",
        mkv.to_str().unwrap(),
    ]);
    for path in [mp4, mkv] {
        let options = VideoReadOptions {
            require_audio: false,
            ..VideoReadOptions::default()
        };
        let clip = read_video(&path, &options).unwrap();
        let name = path.display();
        assert!(clip.info.variable_frame_rate, "{name}: {:?}", clip.info);
        let n = clip.frames.len();
        assert!(n.abs_diff(90) <= 1, "{name}: {n} frames");
        // Grey (mean 128) starts where the 25 fps part ends, after its 38 frames (1.52 s):
        // frame 46 (1.533 s), the nearest 1/30 s.
        let grey = clip
            .frames
            .iter()
            .position(|f| f.as_raw().iter().map(|&v| v as u64).sum::<u64>() > 64 * f.len() as u64)
            .unwrap();
        println!(
            "{name}: avg {:.3} fps, r {:.3} fps, {n} frames, grey from frame {grey}",
            clip.info.source_fps, clip.info.r_frame_rate
        );
        assert!(grey.abs_diff(46) <= 1, "{name}: grey from frame {grey}");
    }
}

#[test]
fn rotation_metadata_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    // Left half white, then a quarter turn in metadata only.
    let plain = dir.path().join("plain.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=black:s=64x48:r=25:d=0.5,drawbox=x=0:y=0:w=32:h=48:c=white:t=fill",
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        plain.to_str().unwrap(),
    ]);
    let rotated = dir.path().join("rotated.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rotated.to_str().unwrap(),
    ]);
    let info = probe_video(&rotated).unwrap();
    if info.rotation_deg == 0.0 {
        println!("note: this ffmpeg wrote no rotation metadata; rotation not tested");
        return;
    }
    assert_eq!((info.width, info.height), (48, 64), "{info:?}");
    let options = VideoReadOptions {
        require_audio: false,
        ..VideoReadOptions::default()
    };
    let clip = read_video(&rotated, &options).unwrap();
    let frame = &clip.frames[0];
    assert_eq!(frame.dimensions(), (48, 64));
    // The white half is now the top or the bottom half: rows alike across, halves differ.
    let row_mean = |y: u32| {
        (0..48)
            .map(|x| frame.get_pixel(x, y)[0] as f64)
            .sum::<f64>()
            / 48.0
    };
    let (top, bottom) = (row_mean(8), row_mean(56));
    assert!((top - bottom).abs() > 200.0, "top {top}, bottom {bottom}");
}

/// Runs test `name` again in a process of its own with `env` set (and `M2F_VIDEO_CHILD`, which
/// makes the test do its real work), and checks it passed.
fn run_alone(name: &str, env: &[(&str, &str)]) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("M2F_VIDEO_CHILD", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

fn in_child() -> bool {
    std::env::var_os("M2F_VIDEO_CHILD").is_some()
}

#[test]
fn missing_ffmpeg_says_how_to_install() {
    if !in_child() {
        return run_alone(
            "missing_ffmpeg_says_how_to_install",
            &[("PATH", "/nonexistent")],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("talk.mp4");
    std::fs::write(&path, b"not read").unwrap();
    let err = read_video(&path, &VideoReadOptions::default()).unwrap_err();
    let message = err.to_string();
    println!("{message}");
    assert!(matches!(err, DatasetError::FfmpegMissing { .. }), "{err:?}");
    assert!(message.contains("talk.mp4"), "{message}");
    assert!(message.contains("apt-get install ffmpeg"), "{message}");
}

/// `/proc/PID/stat` of this process' children; `None` where there is no `/proc` (not Linux).
fn children() -> Option<Vec<String>> {
    let me = std::process::id().to_string();
    let entries = std::fs::read_dir("/proc").ok()?;
    let children = entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid …; comm may hold spaces, so split after its ')'.
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            after.split_whitespace().nth(1) == Some(me.as_str())
        })
        .collect();
    Some(children)
}

/// Checks that no child process (running or zombie) is left, where `/proc` tells.
fn assert_no_children() {
    if let Some(left) = children() {
        assert!(left.is_empty(), "processes left behind: {left:?}");
    }
}

#[test]
fn streaming_stops_ffmpeg_and_leaves_no_process() {
    if !in_child() {
        // Alone in a process, so other tests' ffmpeg runs are not counted.
        return run_alone("streaming_stops_ffmpeg_and_leaves_no_process", &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x48:r=30:d=5",
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    let info = probe_video(&path).unwrap();
    assert!(!info.has_audio);
    let mut frames = VideoFrames::open(&path, &info, None).unwrap();
    let first: Vec<_> = frames.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(first.len(), 3);
    if let Some(running) = children() {
        assert_eq!(
            running.len(),
            1,
            "ffmpeg runs while frames are read: {running:?}"
        );
    }
    drop(frames);
    assert_no_children();

    // Read to the end: ffmpeg exits and is reaped.
    let all = VideoFrames::open(&path, &info, Some(2.0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(all.len(), 60);
    assert_eq!(all[..3], first[..]);
    assert_no_children();
}

#[test]
fn bad_input_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let required = VideoReadOptions::default();

    let missing = d.join("no-such-clip.mp4");
    let err = read_video(&missing, &required).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }), "{err:?}");

    // Random bytes (a fixed xorshift, so the test does not depend on chance).
    let corrupt = d.join("random-bytes.mp4");
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&corrupt, bytes).unwrap();
    let corrupt_err = read_video(&corrupt, &required).unwrap_err();

    let audio_only = d.join("speech-only.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &beep_source(),
        "-c:a",
        "aac",
        audio_only.to_str().unwrap(),
    ]);
    let err = read_video(&audio_only, &required).unwrap_err();
    assert!(
        matches!(&err, DatasetError::MissingTrack { track, .. } if track == "video"),
        "{err:?}"
    );

    let silent = d.join("silent-video.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &flash_source(),
        "-c:v",
        mp4_video_codec(),
        "-pix_fmt",
        "yuv420p",
        silent.to_str().unwrap(),
    ]);
    let err = read_video(&silent, &required).unwrap_err();
    assert!(
        matches!(&err, DatasetError::MissingTrack { track, .. } if track == "audio"),
        "{err:?}"
    );
    let frames_only = VideoReadOptions {
        require_audio: false,
        ..VideoReadOptions::default()
    };
    let clip = read_video(&silent, &frames_only).unwrap();
    assert!(!clip.info.has_audio && clip.audio.is_empty());
    assert!(clip.frames.len().abs_diff(90) <= 1);

    // A video track without a single frame (all selected away), with sound.
    let empty = d.join("no-frames.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=black:s=64x48:r=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-vf",
        "select=0",
        "-c:v",
        mp4_video_codec(),
        "-c:a",
        "aac",
        empty.to_str().unwrap(),
    ]);
    let empty_err = read_video(&empty, &required).unwrap_err();
    assert!(
        matches!(empty_err, DatasetError::NoFrames { .. }),
        "{empty_err:?}"
    );

    let bad_max = VideoReadOptions {
        max_seconds: Some(-1.0),
        ..VideoReadOptions::default()
    };
    let max_err = read_video(&silent, &bad_max).unwrap_err();
    assert!(max_err.to_string().contains("max_seconds"), "{max_err}");

    for (path, err) in [
        (&missing, read_video(&missing, &required).unwrap_err()),
        (&corrupt, corrupt_err),
        (&audio_only, read_video(&audio_only, &required).unwrap_err()),
        (&silent, read_video(&silent, &required).unwrap_err()),
        (&empty, empty_err),
    ] {
        let message = err.to_string();
        println!("{message}");
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(message.contains(name), "{message} does not name {name}");
    }
}
