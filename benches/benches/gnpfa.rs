//! GNPFA encode and decode of a 200-frame window (the diffusion window), with the shipped
//! checkpoint.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnpfa::Gnpfa;

fn gnpfa(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/gnpfa");
    let model = Gnpfa::load(&dir).expect("weights/gnpfa");
    let dev = Device::Cpu;
    let v3 = model.config.num_vertices * 3;
    let neutral = model
        .template
        .mesh
        .vertices
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<f32>>();
    let neutral = Tensor::from_vec(neutral, (1, v3), &dev)
        .and_then(|t| t.repeat((200, 1)))
        .expect("neutral");
    let disp = (Tensor::randn(0f32, 1.0, (200, v3), &dev).expect("randn") * 1e-3).expect("scale");
    let z = Tensor::zeros((200, model.config.latent_dim), DType::F32, &dev).expect("z");
    let mut g = c.benchmark_group("gnpfa 200 frames");
    g.throughput(Throughput::Elements(200));
    g.bench_function("encode", |b| {
        b.iter(|| model.encode(&disp).expect("encode"))
    });
    g.bench_function("decode", |b| {
        b.iter(|| model.decode(&neutral, &z).expect("decode"))
    });
    g.bench_function("encode + decode", |b| {
        b.iter(|| {
            let (mu, _) = model.encode(&disp).expect("encode");
            model.decode(&neutral, &mu).expect("decode")
        })
    });
    g.finish();
}

criterion_group!(benches, gnpfa);
criterion_main!(benches);
