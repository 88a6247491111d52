//! The synthetic world carries real lip sync, is deterministic, and fails clearly.

use m2f_mesh::FaceTemplate;
use m2f_synth::Viseme;
use m2f_synth::{Clip, Espeak, Speech, WorldConfig};

/// Inner lip gap at the middle of every bilabial must be below this (the 1 mm).
const BILABIAL_MAX_GAP: f32 = 0.001;
/// Inner lip gap at the middle of every open vowel must be above this.
const OPEN_VOWEL_MIN_GAP: f32 = 0.004;

fn clips(seed: u64, n: u64) -> Vec<Clip> {
    let speech = Speech::load_all()
        .expect("libespeak-ng and libflite must be installed (scripts/test.sh installs them)");
    let template = FaceTemplate::mediapipe();
    let world = WorldConfig {
        seed,
        ..WorldConfig::default()
    };
    (0..n)
        .map(|i| world.generate(i, &template, &speech).unwrap())
        .collect()
}

#[test]
fn lip_sync_is_in_the_data() {
    let template = FaceTemplate::mediapipe();
    let regions = &template.regions;
    let (mut bilabials, mut open_vowels) = (0, 0);
    let (mut worst_closed, mut worst_open) = (0.0f32, f32::INFINITY);
    for clip in clips(11, 12) {
        let fps = clip.meta.fps;
        let at = |t: f32| ((t * fps).round() as usize).min(clip.num_frames() - 1);
        for p in &clip.meta.phonemes {
            let mid = 0.5 * (p.start + p.end);
            let gap = regions.inner_lip_gap(clip.frame(at(mid)));
            if p.visemes == [Viseme::Bilabial] {
                bilabials += 1;
                worst_closed = worst_closed.max(gap);
                assert!(
                    gap < BILABIAL_MAX_GAP,
                    "{}: /{}/ at {mid:.3} s has the lips {:.2} mm apart",
                    clip.meta.id,
                    p.ipa,
                    gap * 1e3
                );
            }
            if p.visemes.first() == Some(&Viseme::OpenVowel) && p.end - p.start >= 0.08 {
                // The widest opening within the vowel: next to a bilabial the closure is
                // anticipated, so the midpoint can already be closing while the peak is not.
                let gap = (at(p.start)..=at(p.end))
                    .map(|f| regions.inner_lip_gap(clip.frame(f)))
                    .fold(0.0f32, f32::max);
                open_vowels += 1;
                worst_open = worst_open.min(gap);
                assert!(
                    gap > OPEN_VOWEL_MIN_GAP,
                    "{}: /{}/ around {mid:.3} s opens only {:.2} mm",
                    clip.meta.id,
                    p.ipa,
                    gap * 1e3
                );
            }
        }
        // Audio and animation cover the same time, within one frame.
        let audio_s = clip.audio.len() as f32 / clip.meta.sample_rate as f32;
        let anim_s = clip.num_frames() as f32 / fps;
        assert!(
            (audio_s - anim_s).abs() <= 1.0 / fps,
            "{audio_s} s audio, {anim_s} s animation"
        );
    }
    println!(
        "{bilabials} bilabials, widest gap {:.3} mm; {open_vowels} open vowels, narrowest gap {:.2} mm",
        worst_closed * 1e3,
        worst_open * 1e3
    );
    assert!(
        bilabials >= 10 && open_vowels >= 5,
        "too few samples: {bilabials} bilabials, {open_vowels} open vowels"
    );
}

fn files_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_byte_identical_clips() {
    let speech = Speech::load_all().unwrap();
    let world = WorldConfig {
        seed: 5,
        ..WorldConfig::default()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    m2f_synth::write_dataset(a.path(), &world, 3, &speech, |_| {}).unwrap();
    // Generate out of order and one clip at a time: the result must not depend on it.
    let template = FaceTemplate::mediapipe();
    for i in [2u64, 0, 1] {
        world
            .generate(i, &template, &speech)
            .unwrap()
            .write(&b.path().join("clips"))
            .unwrap();
    }
    let fa: Vec<_> = files_of(&a.path().join("clips"));
    let fb: Vec<_> = files_of(&b.path().join("clips"));
    assert_eq!(fa.len(), 9);
    assert_eq!(
        fa.iter().map(|f| &f.0).collect::<Vec<_>>(),
        fb.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (x, y) in fa.iter().zip(&fb) {
        assert!(x.1 == y.1, "{} differs between runs", x.0);
    }
    // Another seed gives other clips.
    let other = WorldConfig {
        seed: 6,
        ..WorldConfig::default()
    };
    let c = other.generate(0, &template, &speech).unwrap();
    let first = Clip::read(&a.path().join("clips/clip_0000000")).unwrap();
    assert_ne!(c.meta.text, first.meta.text);
    // Reading back gives what was generated.
    let again = world.generate(0, &template, &speech).unwrap();
    assert_eq!(first.meta, again.meta);
    assert_eq!(first.vertices, again.vertices);
    assert_eq!(first.rig_weights, again.rig_weights);
}

#[test]
fn bad_input_is_a_clear_error() {
    let espeak = Espeak::load().unwrap();
    let speech = Speech::load_all().unwrap();
    // An unknown voice.
    let voice = m2f_synth::VoiceSettings {
        voice: "xx-nowhere".into(),
        ..Default::default()
    };
    let err = espeak
        .synthesize("hello there", &voice)
        .unwrap_err()
        .to_string();
    assert!(err.contains("xx-nowhere"), "{err}");
    // Empty text.
    let err = espeak
        .synthesize("   ", &m2f_synth::VoiceSettings::default())
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("empty"), "{err}");
    // A template of the wrong vertex count.
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("small.obj");
    std::fs::write(&obj, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n").unwrap();
    let err = FaceTemplate::from_obj(&obj, m2f_mesh::Units::Metres)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("small.obj") && err.contains("468") && err.contains("got 3"),
        "{err}"
    );
    // An output directory that cannot be created: nothing is left behind.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let world = WorldConfig::default();
    let err = m2f_synth::write_dataset(&blocker.join("out"), &world, 2, &speech, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("a-file"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "not a directory"
    );
}

#[test]
fn a_clip_exports_as_a_glb_animation() {
    let speech = Speech::load_all().unwrap();
    let clip = WorldConfig::default()
        .generate(1, &FaceTemplate::mediapipe(), &speech)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.glb");
    m2f_synth::write_clip_glb(&clip, &path).unwrap();
    let (doc, buffers, _) = gltf::import(&path).unwrap();
    let mesh = doc.meshes().next().unwrap();
    let prim = mesh.primitives().next().unwrap();
    assert_eq!(prim.morph_targets().count(), clip.meta.blendshapes.len());
    let anim = doc.animations().next().unwrap();
    let weights = anim
        .channels()
        .find(|c| c.target().property() == gltf::animation::Property::MorphTargetWeights)
        .unwrap();
    let reader = weights.reader(|b| Some(&buffers[b.index()]));
    let times: Vec<f32> = reader.read_inputs().unwrap().collect();
    assert_eq!(times.len(), clip.num_frames());
    assert!((times[1] - 1.0 / clip.meta.fps).abs() < 1e-6);
}

#[test]
fn resuming_with_other_settings_is_an_error() {
    let speech = Speech::load_all().unwrap();
    let world = WorldConfig {
        seed: 5,
        ..WorldConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    m2f_synth::write_dataset(dir.path(), &world, 2, &speech, |_| {}).unwrap();
    let before = files_of(&dir.path().join("clips"));
    let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
    let other = WorldConfig {
        seed: 6,
        ..WorldConfig::default()
    };
    // The manifest names the old seed.
    let err = m2f_synth::write_dataset(dir.path(), &other, 2, &speech, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest.json") && err.contains("seed: 5"),
        "{err}"
    );
    // An interrupted run has no manifest yet: the clips themselves name their seed.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let err = m2f_synth::write_dataset(dir.path(), &other, 2, &speech, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clip_000000") && err.contains("seed 5"),
        "{err}"
    );
    // Another identity pool under the same seed plans other clips.
    let pool = WorldConfig {
        seed: 5,
        identities: 50,
        ..WorldConfig::default()
    };
    let err = m2f_synth::write_dataset(dir.path(), &pool, 2, &speech, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("identity pool"), "{err}");
    // Nothing already written was touched.
    assert!(before == files_of(&dir.path().join("clips")));
    // The same settings resume and write the same manifest.
    std::fs::remove_file(dir.path().join("clips/clip_0000001/meta.json")).unwrap();
    std::fs::remove_dir_all(dir.path().join("clips/clip_0000001")).unwrap();
    m2f_synth::write_dataset(dir.path(), &world, 2, &speech, |_| {}).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("manifest.json")).unwrap(),
        manifest
    );
}
