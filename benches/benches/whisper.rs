//! The Whisper tiny.en encoder (4 layers, width 384, 6 heads, 80 mel bands): the network on a
//! 10 s and a 30 s log-mel, as CTranslate2's `Whisper.encode` takes them, and the front end.
//! `tools/bench_whisper_ct2.py` times CTranslate2 on the same shapes. The weights are random:
//! the cost does not depend on their values.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::AudioEncoder;
use conditioning::{WhisperConfig, WhisperEncoder, WhisperEncoderModel, WindowPolicy};
use criterion::{criterion_group, criterion_main, Criterion};

fn whisper(c: &mut Criterion) {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let model = WhisperEncoderModel::new(&WhisperConfig::tiny(), vb).expect("random tiny.en");
    let mut g = c.benchmark_group("whisper");
    g.sample_size(10);
    for seconds in [10usize, 30] {
        let mel = Tensor::randn(0f32, 1.0, (1, 80, seconds * 100), &dev).expect("mel");
        g.bench_function(format!("tiny.en encoder network, {seconds} s"), |b| {
            b.iter(|| model.forward(&mel).expect("forward"))
        });
    }
    let audio: Vec<f32> = (0..16_000 * 10)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 220.0 * i as f32 / 16_000.0).sin())
        .collect();
    let enc = WhisperEncoder::new(model, WindowPolicy::Padded, dev.clone());
    g.bench_function("log-mel front end, 30 s window", |b| {
        b.iter(|| enc.log_mel(&audio, Some(480_000)).expect("log-mel"))
    });
    g.bench_function("encode to 30 fps, 10 s clip, padded window", |b| {
        b.iter(|| enc.encode_default(&audio).expect("encode"))
    });
    let exact = enc.clone().with_policy(WindowPolicy::Exact);
    g.bench_function("encode to 30 fps, 10 s clip, exact window", |b| {
        b.iter(|| exact.encode_default(&audio).expect("encode"))
    });
    g.finish();
}

criterion_group!(benches, whisper);
criterion_main!(benches);
