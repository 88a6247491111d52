//! Audio encoders: a wav2vec2-base-sized random model (12 layers, width 768, ffn 3072, conv stack
//! of 512 channels) on 10 s of audio, and the log-mel front end and encoder on 60 s.
//! `tools/bench_wav2vec2_torch.py` times the same model and input in PyTorch.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::AudioEncoder;
use conditioning::{LogMel, LogMelEncoder, LogMelEncoderConfig};
use conditioning::{Wav2Vec2, Wav2Vec2Config};
use criterion::{criterion_group, criterion_main, Criterion};

/// The bench input, reproduced exactly by the PyTorch script.
fn input(seconds: usize) -> Vec<f32> {
    (0..16_000 * seconds)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 1375.0 * t).sin()
        })
        .collect()
}

/// A random wav2vec2-base on plain tensors, as a loaded checkpoint is: variables would make
/// the fused layers take their composed path, which keeps a backward pass for training.
fn random_base(dev: &Device) -> Wav2Vec2 {
    let cfg = Wav2Vec2Config::base();
    let vm = VarMap::new();
    Wav2Vec2::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, dev)).expect("random weights");
    let tensors = (vm.data().lock().expect("the var map").iter())
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    Wav2Vec2::new(&cfg, VarBuilder::from_tensors(tensors, DType::F32, dev)).expect("wav2vec2-base")
}

fn wav2vec2(c: &mut Criterion) {
    let dev = Device::Cpu;
    let model = random_base(&dev);
    let x = input(10);
    let xs = Tensor::from_vec(x, (1, 16_000 * 10), &dev).expect("input");
    let mut g = c.benchmark_group("wav2vec2");
    g.sample_size(10);
    g.bench_function("wav2vec2-base forward, 10 s", |b| {
        b.iter(|| model.forward(&xs).expect("forward"))
    });
    // A rough profile: the conv feature extractor, projection and positional conv alone
    // (HF's hidden_states[0]); the rest of the full forward is the 12 transformer layers.
    g.bench_function("wav2vec2-base conv front (hidden_states[0]), 10 s", |b| {
        b.iter(|| model.forward_hidden(&xs, 0).expect("forward"))
    });
    g.finish();
}

fn log_mel(c: &mut Criterion) {
    let dev = Device::Cpu;
    let x = input(60);
    let front = LogMel::new();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let enc = LogMelEncoder::new(&LogMelEncoderConfig::default(), vb).expect("log-mel encoder");
    let mut g = c.benchmark_group("log-mel");
    g.sample_size(10);
    g.bench_function("log-mel front end, 60 s", |b| {
        b.iter(|| front.compute(&x, &dev).expect("log-mel"))
    });
    g.bench_function("log-mel encoder (front end + convs) to 30 fps, 60 s", |b| {
        b.iter(|| enc.encode_default(&x).expect("encode"))
    });
    g.finish();
}

criterion_group!(benches, wav2vec2, log_mel);
criterion_main!(benches);
