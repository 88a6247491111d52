//! The Media2Face denoiser (random weights: the cost does not depend on their values) with
//! Whisper tiny.en-sized audio features: one guided step (the three terms of Eq. 9 as one
//! batch over a 200-frame window, memory keys and values cached) for both presets, and whole
//! guided DDIM sampling of one 200-frame window (6.67 s of audio) at 10, 25 and 50 steps
//! (the paper preset at 10), and the machine's matmul rate.
//! `tools/diffusion_reference.py bench` times the PyTorch reference on the same shapes.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use diffusion::{
    cross_attention_bias, init_denoiser, CheckpointConfig, Conditions, DenoiserConfig,
    DiffusionModel, SamplerOptions, Style, StyleInput,
};

fn model(cfg: &DenoiserConfig) -> DiffusionModel {
    let dev = Device::Cpu;
    let (_, varmap) = init_denoiser(cfg, &dev, 0).expect("init");
    DiffusionModel::from_variables(CheckpointConfig::untrained(cfg), &varmap, &dev).expect("model")
}

fn diffusion(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("diffusion");
    g.sample_size(10);
    // The machine's matmul rate, to read the denoiser's achieved FLOP/s against (2·1024³ FLOP).
    let a = Tensor::randn(0f32, 1.0, (1024, 1024), &dev).expect("a");
    let b2 = Tensor::randn(0f32, 1.0, (1024, 1024), &dev).expect("b");
    g.bench_function("matmul 1024 x 1024 x 1024 f32", |b| {
        b.iter(|| a.matmul(&b2).expect("matmul"))
    });
    for preset in ["small", "paper"] {
        let cfg = DenoiserConfig::preset(preset, 384).expect("preset");
        let m = model(&cfg);
        let n = cfg.window;
        let audio = Tensor::randn(0f32, 1.0, (1, n, cfg.audio_dim), &dev).expect("audio");
        let text = Tensor::randn(0f32, 1.0, (1, cfg.text_style_dim), &dev).expect("text");
        let memory = m
            .denoiser
            .memory(&audio, StyleInput::Text(&text))
            .expect("memory");
        let kv = m.denoiser.memory_key_values(&memory).expect("kv");
        let conds = [Conditions::NONE, Conditions::AUDIO, Conditions::AUDIO_STYLE];
        let bias = cross_attention_bias(n, &conds, cfg.audio_radius, &dev).expect("bias");
        // One noisy window; its three branches share it up to the first cross-attention.
        let x = Tensor::randn(0f32, 1.0, (1, n, cfg.motion_dim()), &dev).expect("x");
        g.bench_function(format!("{preset}: one guided step, 3 x {n} frames"), |b| {
            b.iter(|| {
                m.denoiser
                    .forward_branches(&x, 3, &[100], &kv, &bias, None)
                    .expect("step")
            })
        });
        let features: Vec<f32> = audio
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("features");
        let style = Style::Text(text.flatten_all().and_then(|t| t.to_vec1()).expect("style"));
        // The paper preset at 10 steps only: sampling is the step times the count plus a
        // small constant, and 50 paper steps would hold the machine for minutes.
        let counts: &[usize] = if preset == "small" {
            &[10, 25, 50]
        } else {
            &[10]
        };
        for &steps in counts {
            let o = SamplerOptions {
                steps,
                ..SamplerOptions::default()
            };
            g.bench_function(
                format!("{preset}: sampling {n} frames (6.67 s of audio), {steps} steps"),
                |b| b.iter(|| m.sample(&features, &style, &o).expect("sample")),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, diffusion);
criterion_main!(benches);
