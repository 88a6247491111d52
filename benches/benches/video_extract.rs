//! `m2f extract video` throughput per source kind, on one worker thread: one rendered synthetic
//! clip (320 × 320) as an MP4, as a PNG frame folder with its WAV, and as a landmark file (the
//! tracker's own points), each through tracking (not for the landmark file), the motion and
//! GNPFA, into a store in memory; the landmark and image paths. ffmpeg decodes in its own
//! process beside the worker.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnpfa::Gnpfa;
use m2f_dataset::{
    extract_videos, gnpfa_fingerprint, FacePath, MotionOptions, ShardSpec, ShardStore,
    SyntheticSource, VideoExtractOptions, VideoManifest,
};
use m2f_mesh::{render, Camera, HeadPose, RenderOptions};
use m2f_synth::{Speech, WorldConfig};
use m2f_tracker::{FaceTracker, TrackerOptions};

/// Writes the clip's three sources into `dir`; returns its frame count.
fn write_sources(dir: &Path, gnpfa: &Gnpfa, models: &Path) -> usize {
    let speech = Speech::load_all().expect("libespeak-ng and libflite");
    let world = WorldConfig {
        seed: 3,
        ..WorldConfig::default()
    };
    m2f_synth::write_dataset(&dir.join("synth"), &world, 1, &speech, |_| {}).expect("synth");
    let source = SyntheticSource::open(&dir.join("synth")).expect("source");
    let entry = source.clips()[0].clone();
    let clip = source.read(&entry).expect("clip").clip;
    let mut camera = Camera::framing_sized(&clip.neutral, 320, 320);
    camera.eye =
        std::array::from_fn(|k| camera.target[k] + 2.0 * (camera.eye[k] - camera.target[k]));
    let opts = RenderOptions::default().with_face_fills(&gnpfa.template.regions);
    let frames: Vec<image::RgbImage> = (0..clip.num_frames())
        .map(|t| {
            let posed = HeadPose::from_array(clip.head_pose[t]).apply(clip.frame(t));
            render(&posed, &gnpfa.template.mesh.triangles, &camera, &opts).expect("render")
        })
        .collect();
    let wav = source.clip_dir(&entry.id).join("audio.wav");
    std::fs::copy(&wav, dir.join("speech.wav")).expect("copy");
    m2f_mesh::write_mp4(&dir.join("clip.mp4"), &frames, 30.0, Some(&wav)).expect("mp4");
    std::fs::create_dir_all(dir.join("frames")).expect("frames dir");
    let mut tracker = FaceTracker::load(models, TrackerOptions::default()).expect("models");
    let mut lines = String::new();
    for (t, f) in frames.iter().enumerate() {
        f.save(dir.join(format!("frames/f_{t}.png"))).expect("png");
        let points = tracker
            .track(f)
            .expect("track")
            .expect("a face")
            .landmarks
            .points;
        let json: Vec<String> = points
            .iter()
            .map(|p| format!("[{},{},{}]", p[0], p[1], p[2]))
            .collect();
        lines += &format!(
            "{{\"frame\": {t}, \"normalized\": false, \"landmarks\": [{}]}}\n",
            json.join(",")
        );
    }
    std::fs::write(dir.join("landmarks.jsonl"), lines).expect("landmarks");
    frames.len()
}

fn video_extract(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/gnpfa");
    let gnpfa = Gnpfa::load(&weights).expect("weights/gnpfa");
    let fingerprint = gnpfa_fingerprint(&weights).expect("fingerprint");
    let models = m2f_tracker::default_models_dir().expect("M2F_MEDIAPIPE_DIR or HOME");
    let frames = write_sources(dir.path(), &gnpfa, &models);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut g = c.benchmark_group("m2f extract video, one 320 × 320 clip, 1 thread");
    g.throughput(Throughput::Elements(frames as u64));
    g.sample_size(10);
    let cases = [
        (
            "video file",
            r#"{"id": "a", "video": "clip.mp4"}"#,
            FacePath::Landmarks,
        ),
        (
            "video file, image path",
            r#"{"id": "a", "video": "clip.mp4"}"#,
            FacePath::Image,
        ),
        (
            "frame folder",
            r#"{"id": "a", "frames": "frames", "fps": 30, "audio": "speech.wav"}"#,
            FacePath::Landmarks,
        ),
        (
            "landmark file",
            r#"{"id": "a", "landmarks": "landmarks.jsonl", "fps": 30, "audio": "speech.wav"}"#,
            FacePath::Landmarks,
        ),
    ];
    for (name, line, path) in cases {
        let manifest_path = dir.path().join("videos.jsonl");
        std::fs::write(&manifest_path, line).expect("manifest");
        let manifest = VideoManifest::read(&manifest_path).expect("manifest");
        let opts = VideoExtractOptions {
            shard: ShardSpec::ALL,
            models: models.clone(),
            motion: MotionOptions::default(),
            path,
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let store = ShardStore::memory();
                one.install(|| {
                    extract_videos(&manifest, &gnpfa, &fingerprint, None, &store, &opts, |_| {})
                        .expect("extract")
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, video_extract);
criterion_main!(benches);
