//! `extract_videos` on a manifest of the three source kinds made from one rendered synthetic
//! clip (an MP4, a frame folder with a WAV, a landmark file with the MP4's sound), plus a clip
//! whose file is missing: records, labels, the failure list, a re-run that keeps everything,
//! a changed line refused, and malformed manifests.

mod common;

use std::path::{Path, PathBuf};

use gnpfa::Gnpfa;
use m2f_dataset::{
    extract_videos, gnpfa_fingerprint, read_manifests, read_video, record_preview_frames,
    write_record_previews, AudioFeatures, FacePath, MotionOptions, Record, ShardSpec, ShardStore,
    StoredFeatures, SyntheticSource, VideoExtractOptions, VideoManifest, VideoReadOptions,
};
use m2f_mesh::{render, Camera, HeadPose, RenderOptions};
use m2f_synth::{Emotion, WorldConfig};
use m2f_tracker::{FaceTracker, TrackerOptions};

fn gnpfa_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa")
}

/// Writes the three sources of one rendered synthetic clip under `dir`; returns its frame count.
fn write_sources(dir: &Path, gnpfa: &Gnpfa) -> usize {
    let data = dir.join("synth");
    let speech = m2f_synth::Speech::load_all().unwrap();
    let world = WorldConfig {
        seed: 3,
        ..WorldConfig::default()
    };
    m2f_synth::write_dataset(&data, &world, 1, &speech, |_| {}).unwrap();
    let source = SyntheticSource::open(&data).unwrap();
    let entry = source.clips()[0].clone();
    let clip = source.read(&entry).unwrap().clip;
    let template = &gnpfa.template;
    let mut camera = Camera::framing_sized(&clip.neutral, 320, 320);
    camera.eye =
        std::array::from_fn(|k| camera.target[k] + 2.0 * (camera.eye[k] - camera.target[k]));
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    let frames: Vec<image::RgbImage> = (0..clip.num_frames())
        .map(|t| {
            let pose = HeadPose::from_array(clip.head_pose[t]);
            render(
                &pose.apply(clip.frame(t)),
                &template.mesh.triangles,
                &camera,
                &opts,
            )
            .unwrap()
        })
        .collect();
    let wav = source.clip_dir(&entry.id).join("audio.wav");
    std::fs::copy(&wav, dir.join("speech.wav")).unwrap();
    m2f_mesh::write_mp4(&dir.join("clip.mp4"), &frames, 30.0, Some(&wav)).unwrap();
    std::fs::create_dir_all(dir.join("frames")).unwrap();
    for (t, f) in frames.iter().enumerate() {
        f.save(dir.join(format!("frames/f_{t}.png"))).unwrap();
    }
    // A landmark file in pixels, as a user's own MediaPipe run would write it.
    let mut tracker = FaceTracker::load(&common::models_dir(), TrackerOptions::default()).unwrap();
    let mut lines = String::new();
    for (t, f) in frames.iter().enumerate() {
        let points = tracker.track(f).unwrap().unwrap().landmarks.points;
        let json: Vec<String> = points
            .iter()
            .map(|p| format!("[{},{},{}]", p[0], p[1], p[2]))
            .collect();
        lines += &format!(
            "{{\"frame\": {t}, \"normalized\": false, \"landmarks\": [{}]}}\n",
            json.join(",")
        );
    }
    std::fs::write(dir.join("clip_landmarks.jsonl"), lines).unwrap();
    frames.len()
}

fn manifest_lines(emotion: &str) -> String {
    [
        format!(r#"{{"id": "from_video", "video": "clip.mp4", "emotion": "{emotion}", "speaker": "ann", "tags": ["render"]}}"#),
        r#"{"id": "from_frames", "frames": "frames", "fps": 30, "audio": "speech.wav", "speaker": "ann", "split": "val"}"#.into(),
        r#"{"id": "from_landmarks", "landmarks": "clip_landmarks.jsonl", "fps": 30, "video": "clip.mp4", "speaker": "bo"}"#.into(),
        r#"{"id": "missing", "video": "nowhere.mp4"}"#.into(),
        r#"{"id": "rest_from_video", "frames": "frames", "fps": 30, "audio": "speech.wav", "speaker": "ann", "neutral_clip": "from_video"}"#.into(),
    ]
    .join("\n")
}

#[test]
fn extracts_every_source_kind_lists_failures_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let gnpfa = Gnpfa::load(&gnpfa_dir()).unwrap();
    let fingerprint = gnpfa_fingerprint(&gnpfa_dir()).unwrap();
    let frames = write_sources(dir.path(), &gnpfa);
    let manifest_path = dir.path().join("videos.jsonl");
    std::fs::write(&manifest_path, manifest_lines("happy")).unwrap();
    let manifest = VideoManifest::read(&manifest_path).unwrap();
    assert_eq!(manifest.speakers, ["ann", "bo", "missing"]);
    let store = ShardStore::memory();
    let opts = VideoExtractOptions {
        shard: ShardSpec::ALL,
        models: common::models_dir(),
        motion: MotionOptions::default(),
        path: FacePath::Landmarks,
    };
    let started = std::time::Instant::now();
    let report =
        extract_videos(&manifest, &gnpfa, &fingerprint, None, &store, &opts, |_| {}).unwrap();
    println!(
        "{} frames in {:.1} s",
        report.frames,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        (report.clips, report.written, report.skipped),
        (5, 4, 0),
        "{report:?}"
    );
    assert_eq!(report.failures.len(), 1);
    assert!(
        report.failures[0].clip == "missing" && report.failures[0].reason.contains("nowhere.mp4"),
        "{report:?}"
    );

    let mut latents = Vec::new();
    for (id, kind) in [
        ("from_video", "video"),
        ("from_frames", "frames"),
        ("from_landmarks", "landmarks"),
    ] {
        let record = Record::read(&store, &format!("videos/{id}/v0")).unwrap();
        let m = &record.meta;
        assert_eq!(m.source.kind, kind);
        assert!(
            m.num_frames.abs_diff(frames) <= 1,
            "{id}: {} frames of {frames}",
            m.num_frames
        );
        assert_eq!(record.latents.len(), m.num_frames * gnpfa.config.latent_dim);
        assert!(
            record.latents.iter().all(|v| v.is_finite())
                && record.head_pose.iter().all(|v| v.is_finite())
        );
        latents.push(record.latents);
        if id == "from_video" {
            assert_eq!(
                (m.labels.emotion, m.labels.identity, m.labels.tags.clone()),
                (Emotion::Happy, 0, vec!["render".to_string()])
            );
        }
        if id == "from_landmarks" {
            assert_eq!(m.labels.identity, 1);
        }
    }
    // The three sources of one clip give nearly the same latents (the frame folder is the
    // video's frames before H.264, the landmark file the tracker's points on them).
    let rms = |a: &[f32], b: &[f32]| {
        let n = a.len().min(b.len());
        ((0..n).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>() / n as f32).sqrt()
    };
    let spread =
        latents[0].iter().map(|v| v * v).sum::<f32>().sqrt() / (latents[0].len() as f32).sqrt();
    println!(
        "latent rms: video vs frames {:.4}, frames vs landmarks {:.4} (latents' rms {spread:.3})",
        rms(&latents[0], &latents[1]),
        rms(&latents[1], &latents[2])
    );
    assert!(
        rms(&latents[1], &latents[2]) < 1e-3,
        "the landmark file is the frames' own points"
    );
    assert!(rms(&latents[0], &latents[1]) < 0.25 * spread);
    assert_eq!(read_manifests(&store).unwrap().len(), 4);
    // A clip with a neutral_clip has that clip's neutral, not one of its own.
    let own = Record::read(&store, "videos/from_frames/v0").unwrap();
    let borrowed = Record::read(&store, "videos/rest_from_video/v0").unwrap();
    let video = Record::read(&store, "videos/from_video/v0").unwrap();
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    assert_eq!(max_diff(&borrowed.neutral, &video.neutral), 0.0);
    assert!(max_diff(&own.neutral, &video.neutral) > 0.0);

    // Previews: each record's face beside its source frames, with its sound; none for the
    // clip that failed.
    let previews = dir.path().join("previews");
    let done = write_record_previews(&gnpfa, &manifest, &store, &report, &previews, 96).unwrap();
    assert_eq!((done.written, done.failures.len()), (4, 0), "{done:?}");
    assert!(!previews.join("missing.mp4").exists());
    let preview = read_video(
        &previews.join("from_frames.mp4"),
        &VideoReadOptions::default(),
    )
    .unwrap();
    // The 320 x 320 frames scaled to 96 high, then the 96 x 96 render.
    assert_eq!((preview.info.width, preview.info.height), (192, 96));
    assert!(
        preview.frames.len().abs_diff(frames) <= 1,
        "{} frames",
        preview.frames.len()
    );
    let seconds = frames as f32 / 30.0;
    assert!((preview.audio.len() as f32 / 16000.0 - seconds).abs() < 0.1);
    let face = image::imageops::crop_imm(&preview.frames[frames / 2], 96, 0, 96, 96).to_image();
    let background = *face.get_pixel(0, 0);
    let drawn = face
        .pixels()
        .filter(|p| {
            p.0.iter()
                .zip(background.0)
                .any(|(a, b)| a.abs_diff(b) > 40)
        })
        .count();
    assert!(
        drawn > 96 * 96 / 5,
        "the render holds a face: {drawn} pixels off the background"
    );
    let alone = record_preview_frames(
        &gnpfa,
        &Record::read(&store, "videos/from_video/v0").unwrap(),
        None,
        64,
    )
    .unwrap();
    assert!(alone.len().abs_diff(frames) <= 1 && alone[0].dimensions() == (64, 64));

    // A re-run keeps every record; a changed line is refused, the others kept.
    let again =
        extract_videos(&manifest, &gnpfa, &fingerprint, None, &store, &opts, |_| {}).unwrap();
    assert_eq!((again.written, again.skipped), (0, 4));
    // Other motion options (here the neutral from every frame) are other inputs: every record
    // is refused and kept.
    let every_frame = VideoExtractOptions {
        motion: MotionOptions {
            rest_fraction: 1.0,
            ..MotionOptions::default()
        },
        ..opts.clone()
    };
    let other = extract_videos(
        &manifest,
        &gnpfa,
        &fingerprint,
        None,
        &store,
        &every_frame,
        |_| {},
    )
    .unwrap();
    assert_eq!((other.written, other.skipped), (0, 0), "{other:?}");
    assert_eq!(
        other
            .failures
            .iter()
            .filter(|f| f.reason.contains("other inputs"))
            .count(),
        4,
        "{other:?}"
    );
    std::fs::write(&manifest_path, manifest_lines("sad")).unwrap();
    let changed = VideoManifest::read(&manifest_path).unwrap();
    let refused =
        extract_videos(&changed, &gnpfa, &fingerprint, None, &store, &opts, |_| {}).unwrap();
    assert_eq!(
        (refused.written, refused.skipped, refused.failures.len()),
        (0, 3, 2)
    );
    assert!(
        refused
            .failures
            .iter()
            .any(|f| f.clip == "from_video" && f.reason.contains("other inputs")),
        "{refused:?}"
    );
    assert!(
        refused.failures.iter().all(|f| f.clip != "rest_from_video"),
        "a neutral depends on its clip's faces, not on its labels: {refused:?}"
    );
    assert_eq!(refused.lines.len(), 4, "the refused records stay listed");
    // Refused clips keep their old records, made from other inputs: no preview shows them.
    let after = dir.path().join("previews_after_refusal");
    let done = write_record_previews(&gnpfa, &changed, &store, &refused, &after, 64).unwrap();
    assert_eq!(done.written, 3, "{done:?}");
    assert!(!after.join("from_video.mp4").exists() && after.join("from_frames.mp4").exists());

    // The image path: the same clips read by GNPFA's image encoders.
    let images = ShardStore::memory();
    let image_opts = VideoExtractOptions {
        path: FacePath::Image,
        ..opts.clone()
    };
    // With Whisper's features stored beside each record, as the diffusion trainer reads them.
    let ct2 = common::ct2_dir();
    let whisper = AudioFeatures::load(
        &format!("whisper:{}", ct2.display()),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let report = extract_videos(
        &manifest,
        &gnpfa,
        &fingerprint,
        Some(&whisper),
        &images,
        &image_opts,
        |_| {},
    )
    .unwrap();
    assert_eq!(
        (
            report.written,
            report.features_written,
            report.failures.len()
        ),
        (4, 4, 1),
        "{report:?}"
    );
    let record = Record::read(&images, "videos/from_video/v0").unwrap();
    let stored = StoredFeatures::read(&images, &record.meta.id, &whisper.info().key())
        .unwrap()
        .unwrap();
    assert_eq!(stored.frames, record.meta.num_frames);
    assert_eq!(stored.values.len(), stored.frames * whisper.info().dim);
    let from_images = Record::read(&images, "videos/from_video/v0").unwrap();
    let d = rms(&from_images.latents, &latents[0]);
    println!("latent rms, image path vs landmark path on the video: {d:.4}");
    assert!(d > 1e-4 && d < spread, "{d}");
    assert!(from_images.head_pose.iter().all(|v| v.is_finite()));
}

#[test]
fn malformed_manifests_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    for (text, expect) in [
        (
            r#"{"id": "a", "video": "a.mp4", "mood": "happy"}"#,
            "unknown field `mood`",
        ),
        (
            "{\"id\": \"a\", \"video\": \"a.mp4\"}\n{\"id\": \"a\", \"video\": \"b.mp4\"}",
            "already on line 1",
        ),
        (r#"{"id": "a"}"#, "no face source"),
        (r#"{"id": "../a", "video": "a.mp4"}"#, "plain"),
        (r#"{"id": "a", "frames": "f", "audio": "a.wav"}"#, "`fps`"),
        (r#"{"id": "a", "landmarks": "l.csv"}"#, "sound"),
        (
            r#"{"id": "a", "frames": "f", "fps": -2, "audio": "a.wav"}"#,
            "fps -2",
        ),
        (
            r#"{"id": "a", "video": "a.mp4", "neutral_clip": "b"}"#,
            "\"b\" is not a clip",
        ),
        (
            r#"{"id": "a", "video": "a.mp4", "neutral_clip": "a"}"#,
            "the clip itself",
        ),
        (
            "{\"id\": \"a\", \"video\": \"a.mp4\"}\n{\"id\": \"b\", \"video\": \"b.mp4\", \"neutral_clip\": \"a\"}",
            "give both clips the same `speaker`",
        ),
        (
            "{\"id\": \"a\", \"video\": \"a.mp4\", \"speaker\": \"s\", \"neutral_clip\": \"b\"}\n{\"id\": \"b\", \"video\": \"b.mp4\", \"speaker\": \"s\", \"neutral_clip\": \"c\"}\n{\"id\": \"c\", \"video\": \"c.mp4\", \"speaker\": \"s\"}",
            "takes its own neutral from another clip",
        ),
        (
            "{\"id\": \"a\", \"video\": \"a.mp4\", \"speaker\": \"s\"}\n{\"id\": \"b\", \"video\": \"b.mp4\", \"speaker\": \"s\", \"neutral_clip\": \"a\", \"neutral_frame\": 3}",
            "not both",
        ),
        ("", "no clip"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = VideoManifest::read(&path).unwrap_err().to_string();
        assert!(err.contains(expect), "{text}: {err}");
        if !text.is_empty() {
            assert!(err.contains("m.jsonl line"), "{err}");
        }
    }
}
