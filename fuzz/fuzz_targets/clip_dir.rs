//! A synthetic clip directory (`meta.json`, `audio.wav`, `tensors.safetensors`) and a dataset
//! root's `manifest.json` of any content: `Clip::read` and `Manifest::read` return a value or
//! an error, never panic or abort. A clip that reads has arrays of the sizes its metadata and
//! neutral imply, so every frame's vertices and weights can be taken.
//!
//! Input: 4 parts (`parts.rs`): `meta.json`, `audio.wav`, `manifest.json`, then
//! `tensors.safetensors`.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use m2f_synth::{
    Clip, ClipMeta, Engine, IdentityParams, Manifest, ManifestEntry, PhonemeTiming, Split,
    WordTiming, WorldConfig, CLIP_FORMAT_VERSION, SAMPLE_RATE,
};

#[path = "parts.rs"]
mod parts;

/// Clip `index` of the default world, with a four-vertex face, three frames and two
/// blendshapes (the world's plan, hand-made arrays).
fn tiny_clip(world: &WorldConfig, index: u64) -> Clip {
    let plan = world.plan(index).unwrap();
    let t = 3;
    let num_samples = (t as f32 / world.fps * SAMPLE_RATE as f32) as usize;
    let neutral = vec![
        [0.0, 0.0, 0.0],
        [0.01, 0.0, 0.0],
        [0.0, 0.01, 0.0],
        [0.01, 0.01, 0.005],
    ];
    let vertices = (0..t)
        .flat_map(|f| {
            neutral
                .iter()
                .map(move |v| [v[0], v[1] - 0.001 * f as f32, v[2]])
        })
        .collect();
    Clip {
        meta: ClipMeta {
            format_version: CLIP_FORMAT_VERSION,
            id: format!("clip_{index:07}"),
            split: plan.split,
            seed: world.seed,
            index,
            text: "Ah.".into(),
            spoken_with: plan.voice.clone(),
            emotion: plan.emotion,
            intensity: plan.intensity,
            style: plan.style.clone(),
            identity: plan.identity,
            identity_params: IdentityParams::sample(world.seed, plan.identity),
            fps: world.fps,
            sample_rate: SAMPLE_RATE,
            num_frames: t,
            num_samples,
            blendshapes: vec!["jawOpen".into(), "mouthClose".into()],
            phonemes: vec![PhonemeTiming {
                ipa: "ɑ".into(),
                start: 0.0,
                end: 0.08,
                visemes: m2f_synth::visemes_of("ɑ"),
            }],
            words: vec![WordTiming {
                text: "ah".into(),
                start: 0.0,
                end: 0.08,
                loudness: 1.0,
                stressed: true,
            }],
        },
        audio: (0..num_samples)
            .map(|i| 0.3 * (i as f32 * 0.05).sin())
            .collect(),
        neutral,
        vertices,
        rig_weights: vec![0.0, 1.0, 0.5, 0.5, 1.0, 0.0],
        head_pose: vec![[0.01, 0.0, 0.0, 0.0, 0.0, 0.0]; t],
        articulation: vec![[0.5, 0.0, 0.0, 0.0, 0.0, 0.0]; t],
    }
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let world = WorldConfig::default();
    let flite = (0..)
        .find(|&i| world.engine_of(i) == Engine::Flite)
        .unwrap();
    let espeak = (0..)
        .find(|&i| world.engine_of(i) == Engine::EspeakNg)
        .unwrap();
    let tmp = parts::scratch_dir("clip_dir-seed");
    let mut out = Vec::new();
    for (name, index) in [("espeak", espeak), ("flite", flite)] {
        let clip = tiny_clip(&world, index);
        let dir = clip.write(&tmp).unwrap();
        assert_eq!(Clip::read(&dir).unwrap().meta, clip.meta);
        let plan = world.plan(index).unwrap();
        let manifest = Manifest {
            format_version: CLIP_FORMAT_VERSION,
            generator: "m2f-synth 0.1.0".into(),
            config: world.clone(),
            template_fingerprint: format!(
                "{:016x}",
                m2f_mesh::FaceTemplate::mediapipe().fingerprint()
            ),
            blendshapes: clip.meta.blendshapes.clone(),
            clips: vec![ManifestEntry {
                id: clip.meta.id.clone(),
                split: clip.meta.split,
                num_frames: clip.meta.num_frames,
                emotion: clip.meta.emotion,
                intensity: clip.meta.intensity,
                identity: clip.meta.identity,
                voice: plan.voice_id.id(),
            }],
        };
        let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
        std::fs::write(tmp.join("manifest.json"), &manifest).unwrap();
        Manifest::read(&tmp).unwrap();
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let mut meta = read("meta.json");
        out.push((
            name,
            parts::join(&[
                &meta,
                &read("audio.wav"),
                &manifest,
                &read("tensors.safetensors"),
            ]),
        ));
        if name == "espeak" {
            // The same clip as format version 1 wrote it: espeak-ng's voice as accent and
            // variant, no word gap.
            let mut v: serde_json::Value = serde_json::from_slice(&meta).unwrap();
            v["format_version"] = 1.into();
            v["spoken_with"] = serde_json::json!({
                "voice": {"accent": "en-us", "variant": "f3"},
                "rate_wpm": 175, "pitch": 50, "pitch_range": 50, "volume": 100
            });
            meta = serde_json::to_vec_pretty(&v).unwrap();
            std::fs::write(dir.join("meta.json"), &meta).unwrap();
            assert_eq!(Clip::read(&dir).unwrap().meta.format_version, 1);
            out.push((
                "v1",
                parts::join(&[&meta, &read("audio.wav"), &[], &read("tensors.safetensors")]),
            ));
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
    out
}

fn check(clip: &Clip) {
    let (t, v, k) = (
        clip.num_frames(),
        clip.num_vertices(),
        clip.meta.blendshapes.len(),
    );
    assert_eq!(clip.vertices.len(), t * v);
    assert_eq!(clip.rig_weights.len(), t * k);
    assert_eq!(clip.head_pose.len(), t);
    assert_eq!(clip.articulation.len(), t);
    if t > 0 {
        assert_eq!(clip.frame(t - 1).len(), v);
        assert_eq!(clip.weights(t - 1).len(), k);
    }
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(&out, &seeds());
        }
    },
    |data: &[u8]| {
        let p = parts::split(data, 4);
        let dir = parts::scratch("clip_dir");
        parts::put(dir, "meta.json", p[0]);
        parts::put(dir, "audio.wav", p[1]);
        parts::put(dir, "manifest.json", p[2]);
        parts::put(dir, "tensors.safetensors", p[3]);
        if let Ok(clip) = Clip::read(dir) {
            check(&clip);
        }
        if let Ok(manifest) = Manifest::read(dir) {
            let n = |s| manifest.clips.iter().filter(|c| c.split == s).count();
            for s in [Split::Train, Split::Val, Split::Test] {
                assert_eq!(manifest.clip_dirs(dir, s).len(), n(s));
            }
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, 4)
});
