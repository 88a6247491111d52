//! Preview writer tests: PNG, GIF, MP4 (when ffmpeg is installed) and input validation.

use std::path::Path;
use std::process::Command;

use image::RgbImage;
use m2f_mesh::{
    ffmpeg_available, render, write_gif, write_mp4, write_png, write_preview, Camera, FaceTemplate,
    HeadPose, RenderOptions,
};

/// A short head-shake animation of the template.
fn frames(n: usize, width: u32, height: u32) -> Vec<RgbImage> {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing_sized(&t.mesh.vertices, width, height);
    let opts = RenderOptions::default().with_face_fills(&t.regions);
    (0..n)
        .map(|i| {
            let yaw = 0.4 * (i as f32 * 0.5).sin();
            let v = HeadPose::from_array([0.0, yaw, 0.0, 0.0, 0.0, 0.0]).apply(&t.mesh.vertices);
            render(&v, &t.mesh.triangles, &cam, &opts).unwrap()
        })
        .collect()
}

/// A 16-bit mono sine WAV, written by hand to keep `hound` out of this crate.
fn write_wav(path: &Path, seconds: f32) {
    let rate = 16_000u32;
    let samples: Vec<i16> = (0..(seconds * rate as f32) as usize)
        .map(|i| (8000.0 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin()) as i16)
        .collect();
    let data_len = samples.len() as u32 * 2;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs where ffmpeg does");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn png_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("face.png");
    let f = frames(1, 64, 48);
    write_png(&path, &f[0]).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back, f[0]);
}

#[test]
fn gif_is_animated_looping_and_timed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("face.gif");
    let f = frames(6, 80, 64);
    write_gif(&path, &f, 30.0).unwrap();

    let file = std::fs::File::open(&path).unwrap();
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(file).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (80, 64));
    assert_eq!(decoder.repeat(), gif::Repeat::Infinite);
    let mut delays = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!((frame.width, frame.height), (80, 64));
        delays.push(frame.delay);
    }
    assert_eq!(delays.len(), 6);
    // 6 frames at 30 fps last 20 centiseconds in total.
    assert_eq!(
        delays.iter().map(|&d| d as u32).sum::<u32>(),
        20,
        "{delays:?}"
    );
}

#[test]
fn mp4_has_all_frames_and_the_audio() {
    if !ffmpeg_available() {
        eprintln!("skipped mp4_has_all_frames_and_the_audio: ffmpeg is not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Odd sizes exercise the padding to yuv420p's even dimensions.
    let f = frames(12, 65, 49);

    let silent = dir.path().join("silent.mp4");
    write_mp4(&silent, &f, 25.0, None).unwrap();
    let count = ["-count_frames", "-select_streams", "v:0"];
    let frames_of = |p: &Path| {
        let mut args = count.to_vec();
        args.extend(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"]);
        ffprobe(p, &args)
    };
    assert_eq!(frames_of(&silent), "12");
    let streams = |p: &Path| ffprobe(p, &["-show_entries", "stream=codec_type", "-of", "csv=p=0"]);
    assert_eq!(streams(&silent), "video");
    let size = ffprobe(
        &silent,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ],
    );
    assert_eq!(size, "66,50");

    let wav = dir.path().join("speech.wav");
    // A little longer than the 0.48 s of video, so `-shortest` keeps every frame.
    write_wav(&wav, 0.6);
    let voiced = dir.path().join("voiced.mp4");
    write_preview(&voiced, &f, 25.0, Some(&wav)).unwrap();
    assert_eq!(frames_of(&voiced), "12");
    let kinds = streams(&voiced);
    assert!(
        kinds.contains("video") && kinds.contains("audio"),
        "streams: {kinds}"
    );
    // Nothing but the two outputs and the WAV is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn mp4_with_missing_audio_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.mp4");
    let missing = dir.path().join("nope.wav");
    let e = write_mp4(&out, &frames(2, 32, 32), 25.0, Some(&missing)).unwrap_err();
    assert!(e.to_string().contains("nope.wav"), "{e}");
    assert!(!out.exists());
}

#[test]
fn preview_chooses_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let f = frames(3, 40, 40);
    let png = dir.path().join("first.PNG");
    write_preview(&png, &f, 10.0, None).unwrap();
    assert_eq!(image::open(&png).unwrap().to_rgb8(), f[0]);
    let gif = dir.path().join("anim.gif");
    write_preview(&gif, &f, 10.0, None).unwrap();
    assert!(std::fs::metadata(&gif).unwrap().len() > 0);

    let e = write_preview(&dir.path().join("anim.webm"), &f, 10.0, None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("anim.webm") && msg.contains(".gif"), "{msg}");
    let e = write_preview(&dir.path().join("anim"), &f, 10.0, None).unwrap_err();
    assert!(e.to_string().contains(".mp4"), "{e}");
}

#[test]
fn bad_frames_and_fps_are_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("a.gif");
    let mp4 = dir.path().join("a.mp4");
    let f = frames(2, 32, 32);

    for path in [&gif, &mp4] {
        let e = write_preview(path, &[], 25.0, None).unwrap_err();
        assert!(e.to_string().contains("frames"), "{e}");
        for fps in [0.0, -1.0, f32::NAN] {
            let e = write_preview(path, &f, fps, None).unwrap_err();
            assert!(e.to_string().contains("fps"), "{e}");
        }
        let mixed = vec![f[0].clone(), RgbImage::new(16, 32)];
        let e = write_preview(path, &mixed, 25.0, None).unwrap_err();
        assert!(
            e.to_string().contains("frames[1]") && e.to_string().contains("16×32"),
            "{e}"
        );
        assert!(!path.exists());
    }
    let e = write_png(&dir.path().join("e.png"), &RgbImage::new(0, 0)).unwrap_err();
    assert!(e.to_string().contains("image"), "{e}");
    // A failed write leaves an existing file alone.
    std::fs::write(&gif, b"old").unwrap();
    assert!(write_gif(&gif, &[], 25.0).is_err());
    assert_eq!(std::fs::read(&gif).unwrap(), b"old");
}
