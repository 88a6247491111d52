//! Damaged shard objects that fuzzing found (fuzz/fuzz_targets/shard.rs): each is refused
//! with an error naming the object, never a panic.

use m2f_dataset::{
    read_manifests, sha256_hex, Labels, ManifestLine, NormStats, Record, RecordMeta, ShardStore,
    SourceInfo, EXTRACTOR_REVISION, MANIFEST_DIR, RECORD_FORMAT, SHARD_FORMAT_VERSION, STATS_KEY,
};
use m2f_synth::{Emotion, Intensity, Split, SAMPLE_RATE};

/// A store holding one training record (three frames of two latents), its manifest and its
/// statistics.
fn tiny_shard() -> ShardStore {
    let store = ShardStore::memory();
    let (t, z) = (3, 2);
    let num_samples = t * SAMPLE_RATE as usize / 30;
    let mut record = Record {
        meta: RecordMeta {
            format: RECORD_FORMAT.into(),
            format_version: SHARD_FORMAT_VERSION,
            id: "synth-seed0/clip_0000000/v0".into(),
            source: SourceInfo {
                kind: "synthetic".into(),
                dataset: "synth-seed0".into(),
                clip: "clip_0000000".into(),
            },
            variant: 0,
            augmentation: None,
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
                tags: Vec::new(),
            },
            fps: 30.0,
            num_frames: t,
            sample_rate: SAMPLE_RATE,
            num_samples,
            latent_dim: z,
            gnpfa: "0123456789abcdef".into(),
            source_hash: sha256_hex(b"source"),
            extractor_revision: EXTRACTOR_REVISION,
            inputs: sha256_hex(b"inputs"),
            tensors_sha256: String::new(),
            phonemes: vec![],
            words: vec![],
            extractor: "m2f-dataset test".into(),
        },
        latents: vec![0.1, -0.2, 0.3, 0.0, -0.5, 0.25],
        head_pose: (0..t * 6).map(|i| 0.01 * i as f32).collect(),
        audio: vec![0; num_samples],
        neutral: vec![0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01, 0.0],
    };
    record.write(&store).unwrap();
    let line = serde_json::to_string(&ManifestLine::of(&record.meta)).unwrap();
    store
        .put(
            &format!("{MANIFEST_DIR}/part.jsonl"),
            format!("{line}\n").into_bytes(),
        )
        .unwrap();
    let lines = read_manifests(&store).unwrap();
    NormStats::compute(&store, &lines)
        .unwrap()
        .write(&store)
        .unwrap();
    assert!(NormStats::stored(&store, &lines).unwrap().is_some());
    store
}

/// `stats.json` edited as JSON.
fn edit_stats(store: &ShardStore, edit: impl Fn(&mut serde_json::Value)) {
    let mut stats: serde_json::Value =
        serde_json::from_slice(&store.get(STATS_KEY).unwrap().unwrap()).unwrap();
    edit(&mut stats);
    store
        .put(STATS_KEY, serde_json::to_vec(&stats).unwrap())
        .unwrap();
}

/// A named damage done to a stored `stats.json`.
type Damage = (&'static str, fn(&mut serde_json::Value));

#[test]
fn stored_statistics_that_do_not_fit_the_records_are_refused() {
    // Found by fuzzing: a latent_dim of 3 over the 8 = 2 + 6 entries of the records' motion
    // read as current statistics, which the window reader normalises rows of Z + 6 with.
    let cases: [Damage; 5] = [
        ("latent_dim is 3", |s| s["latent_dim"] = 3.into()),
        ("7 means and 8 deviations", |s| {
            s["mean"].as_array_mut().unwrap().pop();
        }),
        ("0 means and 0 deviations", |s| {
            s["mean"] = serde_json::json!([]);
            s["std"] = serde_json::json!([]);
        }),
        ("std[1] is 0", |s| s["std"][1] = 0.into()),
        ("latent_dim is 18446744073709551615", |s| {
            s["latent_dim"] = u64::MAX.into()
        }),
    ];
    for (expected, edit) in cases {
        let store = tiny_shard();
        edit_stats(&store, edit);
        let lines = read_manifests(&store).unwrap();
        let err = NormStats::stored(&store, &lines).unwrap_err().to_string();
        assert!(
            err.contains("stats.json") && err.contains(expected),
            "{expected}: {err}"
        );
    }
}

#[test]
fn a_manifest_line_of_another_latent_size_than_its_record_is_refused() {
    // Found in review with a mutation of the shard target's seed: statistics computed with
    // the manifest's latent size sliced the record's latents (of its own size) out of bounds.
    let store = tiny_shard();
    let key = format!("{MANIFEST_DIR}/part.jsonl");
    let text = String::from_utf8(store.get(&key).unwrap().unwrap().to_vec()).unwrap();
    store
        .put(
            &key,
            text.replace("\"latent_dim\":2", "\"latent_dim\":3")
                .into_bytes(),
        )
        .unwrap();
    let lines = read_manifests(&store).unwrap();
    assert_eq!(lines[0].latent_dim, 3);
    let err = NormStats::compute(&store, &lines).unwrap_err().to_string();
    assert!(
        err.contains("synth-seed0/clip_0000000/v0") && err.contains("manifest line says 3"),
        "{err}"
    );
    // Found by fuzzing: a size whose sums could not be allocated (or overflowed when 6 was
    // added) is refused the same way, before allocating.
    store
        .put(
            &key,
            text.replace("\"latent_dim\":2", "\"latent_dim\":1099511627776")
                .into_bytes(),
        )
        .unwrap();
    let lines = read_manifests(&store).unwrap();
    let err = NormStats::compute(&store, &lines).unwrap_err().to_string();
    assert!(err.contains("manifest line says 1099511627776"), "{err}");
}
