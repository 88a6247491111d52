//! The training reader: batches of windows at the diffusion trainer's sizes (200 frames at
//! 30 fps, batch 32 and 64), from records of a small synthetic dataset held in memory.
//! Training must never wait for data: compare windows/s with the trainer's steps/s.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnpfa::Gnpfa;
use m2f_dataset::{
    extract_synthetic, gnpfa_fingerprint, Dataset, ExtractOptions, LoadOptions, ShardStore,
    SyntheticSource, WindowConfig, WindowSampler,
};
use m2f_synth::Split;
use m2f_synth::{Speech, WorldConfig};

fn dataset(c: &mut Criterion) {
    let speech = Speech::load_all().expect("libespeak-ng and libflite");
    let synth = tempfile::tempdir().expect("temporary directory");
    let world = WorldConfig {
        seed: 5,
        ..WorldConfig::default()
    };
    m2f_synth::write_dataset(synth.path(), &world, 48, &speech, |_| {}).expect("synth");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/gnpfa");
    let gnpfa = Gnpfa::load(&dir).expect("weights/gnpfa");
    let fingerprint = gnpfa_fingerprint(&dir).expect("fingerprint");
    let source = SyntheticSource::open(synth.path()).expect("source");
    let store = ShardStore::memory();
    let opts = ExtractOptions {
        variants: 1,
        ..ExtractOptions::default()
    };
    extract_synthetic(&source, &gnpfa, &fingerprint, None, &store, &opts, |_| {}).expect("extract");
    let dataset = Dataset::open(store, Some(&fingerprint)).expect("dataset");
    let options = LoadOptions {
        audio: true,
        ..LoadOptions::default()
    };
    let train = dataset.load(Split::Train, &options).expect("train split");
    let mut g = c.benchmark_group("reader, 200-frame windows");
    for (batch, with_audio) in [(32, false), (32, true), (64, true)] {
        let config = WindowConfig {
            len: 200,
            stride: 50,
            batch,
            with_audio,
        };
        let mut sampler = WindowSampler::new(&train, dataset.stats(), config, 0).expect("sampler");
        g.throughput(Throughput::Elements(batch as u64));
        let audio = if with_audio {
            "with audio"
        } else {
            "motion only"
        };
        g.bench_function(format!("batch {batch}, {audio}"), |b| {
            b.iter(|| sampler.next_batch())
        });
    }
    g.finish();
}

criterion_group!(benches, dataset);
criterion_main!(benches);
