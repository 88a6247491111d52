//! Synthetic-world throughput: one whole clip (speech, animation, rig) without disk writes.

use criterion::{criterion_group, criterion_main, Criterion};
use m2f_mesh::FaceTemplate;
use m2f_synth::{Engine, Speech, WorldConfig};

fn synth(c: &mut Criterion) {
    let speech = Speech::load_all()
        .expect("libespeak-ng and libflite (apt-get install libespeak-ng1 libflite1)");
    let template = FaceTemplate::mediapipe();
    let world = WorldConfig::default();
    let mut i = 0u64;
    c.bench_function("synth clip (speech + animation, ~3 s)", |b| {
        b.iter(|| {
            i = (i + 1) % 16;
            world.generate(i, &template, &speech).expect("clip")
        })
    });
    for engine in Engine::ALL {
        let one = WorldConfig {
            engines: vec![engine],
            ..WorldConfig::default()
        };
        let plan = one.plan(0).expect("plan");
        c.bench_function(&format!("{engine} utterance"), |b| {
            b.iter(|| speech.synthesize(&plan.text, &plan.voice).expect("speech"))
        });
    }
}

criterion_group!(benches, synth);
criterion_main!(benches);
