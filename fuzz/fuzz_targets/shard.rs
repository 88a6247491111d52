//! A shard of any content in an in-memory store (a record's `meta.json` and
//! `tensors.safetensors`, a manifest, `stats.json`): reading the record, the manifests and the
//! statistics (stored or computed) returns a value or an error, never panics or aborts. A
//! record that reads has arrays of the sizes its metadata implies; statistics that read have
//! one mean and one positive deviation per motion dimension.
//!
//! Input: 4 parts (`parts.rs`): `meta.json`, `manifests/part.jsonl`, `stats.json`, then
//! `tensors.safetensors`. The record is stored under the id its metadata names (a fixed one
//! when there is none), and when the metadata is a JSON object its `tensors_sha256` is set to
//! the hash of the tensors, so that fuzzing reaches the tensor parsing behind the hash check.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use m2f_dataset::{
    meta_key, read_manifests, sha256_hex, tensors_key, Labels, ManifestLine, NormStats, Record,
    RecordMeta, ShardStore, SourceInfo, EXTRACTOR_REVISION, MANIFEST_DIR, RECORD_FORMAT,
    SHARD_FORMAT_VERSION, STATS_KEY,
};
use m2f_synth::{Emotion, Intensity, PhonemeTiming, Split, WordTiming, SAMPLE_RATE};
use serde_json::Value;

#[path = "parts.rs"]
mod parts;

const DEFAULT_ID: &str = "synth-seed0/clip_0000000/v0";

/// Record `variant` of one clip: three frames of two latents, a four-vertex neutral.
fn tiny_record(variant: u32) -> Record {
    let (t, z) = (3, 2);
    let num_samples = t * SAMPLE_RATE as usize / 30;
    let augmentation = (variant > 0).then(|| {
        serde_json::from_value(serde_json::json!({
            "version": m2f_audio::RECIPE_VERSION,
            "steps": [{"step": "gain", "gain_db": -3.0}, {"step": "telephone"}]
        }))
        .unwrap()
    });
    Record {
        meta: RecordMeta {
            format: RECORD_FORMAT.into(),
            format_version: SHARD_FORMAT_VERSION,
            id: format!("synth-seed0/clip_0000000/v{variant}"),
            source: SourceInfo {
                kind: "synthetic".into(),
                dataset: "synth-seed0".into(),
                clip: "clip_0000000".into(),
            },
            variant,
            augmentation,
            babble: vec![],
            speed: 1.0,
            split: Split::Train,
            labels: Labels {
                emotion: Emotion::Happy,
                intensity: Intensity::High,
                style: "Speaking with great joy.".into(),
                text: "Ah.".into(),
                voice: "espeak-ng:en-us+f3".into(),
                identity: 7,
                tags: vec!["studio".into()],
            },
            fps: 30.0,
            num_frames: t,
            sample_rate: SAMPLE_RATE,
            num_samples,
            latent_dim: z,
            gnpfa: "0123456789abcdef".into(),
            source_hash: sha256_hex(b"source"),
            extractor_revision: EXTRACTOR_REVISION,
            inputs: sha256_hex(format!("inputs {variant}").as_bytes()),
            tensors_sha256: String::new(),
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
            extractor: "m2f-dataset 0.1.0".into(),
        },
        latents: vec![0.1, -0.2, 0.3, 0.0, -0.5, 0.25],
        head_pose: (0..t * 6).map(|i| 0.01 * i as f32).collect(),
        audio: (0..num_samples)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect(),
        neutral: vec![
            0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01, 0.0, 0.01, 0.01, 0.005,
        ],
    }
}

/// A shard of one record written and read by the crate, as one input.
fn seed(variant: u32) -> Vec<u8> {
    let store = ShardStore::memory();
    let mut record = tiny_record(variant);
    record.write(&store).unwrap();
    let id = &record.meta.id;
    assert_eq!(Record::read(&store, id).unwrap(), record);
    let line = ManifestLine::of(&record.meta);
    let manifest = format!("{}\n", serde_json::to_string(&line).unwrap());
    store
        .put(
            &format!("{MANIFEST_DIR}/part.jsonl"),
            manifest.clone().into_bytes(),
        )
        .unwrap();
    let lines = read_manifests(&store).unwrap();
    NormStats::compute(&store, &lines)
        .unwrap()
        .write(&store)
        .unwrap();
    assert!(NormStats::stored(&store, &lines).unwrap().is_some());
    let get = |k: &str| store.get(k).unwrap().unwrap().to_vec();
    parts::join(&[
        &get(&meta_key(id)),
        manifest.as_bytes(),
        &get(STATS_KEY),
        &get(&tensors_key(id)),
    ])
}

fn check_stats(stats: &NormStats) {
    let dim = stats.latent_dim + 6;
    assert_eq!(stats.mean.len(), dim);
    assert_eq!(stats.std.len(), dim);
    assert!(stats.std.iter().all(|s| s.is_finite() && *s > 0.0));
    // What the window reader does with them.
    let mut row = vec![0.5f32; dim];
    stats.normalise(&mut row);
    stats.denormalise(&mut row);
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(&out, &[("as_spoken", seed(0)), ("augmented", seed(1))]);
        }
    },
    |data: &[u8]| {
        let p = parts::split(data, 4);
        let (meta, manifest, stats, tensors) = (p[0], p[1], p[2], p[3]);
        let store = ShardStore::memory();
        let mut id = DEFAULT_ID.to_string();
        let mut meta = meta.to_vec();
        if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&meta) {
            if let Some(Value::String(s)) = object.get("id") {
                id = s.clone();
            }
            object.insert("tensors_sha256".into(), sha256_hex(tensors).into());
            meta = serde_json::to_vec(&object).unwrap();
        }
        // A key the store refuses (an empty or `..` part) leaves the object out.
        for (key, bytes) in [
            (meta_key(&id), meta.as_slice()),
            (tensors_key(&id), tensors),
            (format!("{MANIFEST_DIR}/part.jsonl"), manifest),
            (STATS_KEY.to_string(), stats),
        ] {
            if !bytes.is_empty() {
                let _ = store.put(&key, bytes.to_vec());
            }
        }
        if let Ok(record) = Record::read(&store, &id) {
            let m = &record.meta;
            assert_eq!(record.latents.len(), m.num_frames * m.latent_dim);
            assert_eq!(record.head_pose.len(), m.num_frames * 6);
            assert_eq!(record.audio_f32().len(), m.num_samples);
            assert_eq!(record.neutral.len() % 3, 0);
        }
        if let Ok(lines) = read_manifests(&store) {
            if let Ok(Some(stats)) = NormStats::stored(&store, &lines) {
                check_stats(&stats);
            }
            if let Ok(stats) = NormStats::compute(&store, &lines) {
                check_stats(&stats);
            }
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, 4)
});
