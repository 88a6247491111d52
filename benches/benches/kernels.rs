//! The fused CPU kernels at the denoiser's shapes (small preset: 3 branches × 200 frames,
//! width 192, feed-forward 384, 4 heads): each linear layer (to read against the `diffusion`
//! bench's 1024³ matmul rate), the self-attention of one layer and a residual layer norm; and
//! the products of a 9-token prompt through CLIP's text tower; Whisper tiny.en's attention on
//! a 30 s window. The `products` group: the largest f32 products of the models (the gemm
//! crate's kernels through `m2f_kernels::linear`), which `tools/bench_products_torch.py` times
//! through PyTorch's `F.linear` (MKL) at the same shapes.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use m2f_kernels::{attention_packed, attention_shared, linear, residual_layer_norm, Epilogue};

fn kernels(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("kernels");
    g.sample_size(20);
    let rows = 600;
    for (d_in, d_out) in [(192, 192), (192, 576), (192, 384), (384, 192)] {
        let x = Tensor::randn(0f32, 1.0, (rows, d_in), &dev).expect("x");
        let w = Tensor::randn(0f32, 0.1, (d_out, d_in), &dev).expect("w");
        let b = Tensor::randn(0f32, 0.1, d_out, &dev).expect("b");
        g.bench_function(format!("linear {rows} x {d_in} -> {d_out}"), |bch| {
            bch.iter(|| linear(&x, &w, &b, Epilogue::None).expect("linear"))
        });
    }
    // A 9-token prompt through CLIP's text tower (width 512, feed-forward 2048).
    for (d_in, d_out) in [(512, 1536), (512, 2048), (2048, 512)] {
        let x = Tensor::randn(0f32, 1.0, (9, d_in), &dev).expect("x");
        let w = Tensor::randn(0f32, 0.1, (d_out, d_in), &dev).expect("w");
        let b = Tensor::randn(0f32, 0.1, d_out, &dev).expect("b");
        g.bench_function(format!("linear 9 x {d_in} -> {d_out}"), |bch| {
            bch.iter(|| linear(&x, &w, &b, Epilogue::None).expect("linear"))
        });
    }
    let q = Tensor::randn(0f32, 1.0, (3, 200, 192), &dev).expect("q");
    let k = Tensor::randn(0f32, 1.0, (3, 200, 192), &dev).expect("k");
    g.bench_function("self-attention 3 x 200 frames, 4 heads", |bch| {
        bch.iter(|| attention_shared(&q, &k, &k, None, 4, 0.14).expect("attention"))
    });
    // Whisper tiny.en's self-attention on a 30 s window (6 heads of 64, packed QKV).
    let qkv = Tensor::randn(0f32, 1.0, (1, 1500, 3 * 384), &dev).expect("qkv");
    g.bench_function("packed attention 1500 frames, 6 heads of 64", |bch| {
        bch.iter(|| attention_packed(&qkv, 6, 0.125, None).expect("attention"))
    });
    let h = Tensor::randn(0f32, 1.0, (3, 200, 192), &dev).expect("h");
    let w = Tensor::ones(192, candle_core::DType::F32, &dev).expect("w");
    let b = Tensor::zeros(192, candle_core::DType::F32, &dev).expect("b");
    g.bench_function("residual layer norm 3 x 200 x 192", |bch| {
        bch.iter(|| residual_layer_norm(&h, Some(&q), &w, &b, 1e-5).expect("norm"))
    });
    g.finish();
}

/// `rows × d_in → d_out` with bias, at the shapes that carry most of each model's FLOPs; the
/// same list is in `tools/bench_products_torch.py`.
const PRODUCTS: [(&str, usize, usize, usize); 7] = [
    ("denoiser paper, attention in", 600, 512, 1536),
    ("denoiser paper, feed-forward out", 600, 2048, 512),
    ("wav2vec2 conv 1, taps in one", 15_999, 1536, 512),
    ("wav2vec2 feed-forward in", 499, 768, 3072),
    ("wav2vec2 feed-forward out", 499, 3072, 768),
    ("Whisper tiny.en 30 s, feed-forward in", 1500, 384, 1536),
    ("square", 1024, 1024, 1024),
];

fn products(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("products");
    g.sample_size(10);
    for (name, rows, d_in, d_out) in PRODUCTS {
        let x = Tensor::randn(0f32, 1.0, (rows, d_in), &dev).expect("x");
        let w = Tensor::randn(0f32, 0.1, (d_out, d_in), &dev).expect("w");
        let b = Tensor::randn(0f32, 0.1, d_out, &dev).expect("b");
        g.bench_function(format!("{name}: {rows} x {d_in} -> {d_out}"), |bch| {
            bch.iter(|| linear(&x, &w, &b, Epilogue::None).expect("linear"))
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, products);
criterion_main!(benches);
