//! Synthetic-world throughput: one whole clip (speech, animation, rig) without disk writes.

use criterion::{criterion_group, criterion_main, Criterion};
use m2f_mesh::FaceTemplate;
use m2f_synth::{Espeak, WorldConfig};

fn synth(c: &mut Criterion) {
    let espeak = Espeak::load().expect("libespeak-ng (apt-get install libespeak-ng1)");
    let template = FaceTemplate::mediapipe();
    let world = WorldConfig::default();
    let mut i = 0u64;
    c.bench_function("synth clip (speech + animation, ~3 s)", |b| {
        b.iter(|| {
            i = (i + 1) % 16;
            world.generate(i, &template, espeak).expect("clip")
        })
    });
    let plan = world.plan(0).expect("plan");
    c.bench_function("espeak-ng utterance", |b| {
        b.iter(|| espeak.synthesize(&plan.text, &plan.voice).expect("speech"))
    });
}

criterion_group!(benches, synth);
criterion_main!(benches);
