//! candle's quantised products (`QMatMul`) against the workspace's f32 product (`m2f_kernels::
//! linear`) at the shapes the models run: a 9-token prompt through CLIP's text tower, a 30 s
//! Whisper tiny.en window's feed-forward layer and a 10 s wav2vec2-base feed-forward layer.
//! Before timing, each format's largest error relative to the f32 output's largest value is
//! printed; a format whose blocks do not divide the inner size is reported and skipped.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use m2f_kernels::{linear, Epilogue};

fn quantised(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("quantised");
    g.sample_size(10);
    for (rows, d_in, d_out, what) in [
        (9, 512, 2048, "CLIP text, 9 tokens, 512 -> 2048"),
        (1500, 384, 1536, "Whisper tiny.en, 30 s, 384 -> 1536"),
        (499, 768, 3072, "wav2vec2-base, 10 s, 768 -> 3072"),
    ] {
        let x = Tensor::randn(0f32, 1.0, (rows, d_in), &dev).expect("x");
        let w = Tensor::randn(0f32, 0.05, (d_out, d_in), &dev).expect("w");
        let b = Tensor::zeros(d_out, DType::F32, &dev).expect("b");
        let want = linear(&x, &w, &b, Epilogue::None).expect("f32 product");
        let scale = want
            .abs()
            .and_then(|t| t.max_all())
            .and_then(|t| t.to_scalar::<f32>())
            .expect("scale");
        g.bench_function(format!("{what}: f32"), |bch| {
            bch.iter(|| linear(&x, &w, &b, Epilogue::None).expect("f32 product"))
        });
        for dtype in [
            GgmlDType::Q8_0,
            GgmlDType::Q4_0,
            GgmlDType::Q8K,
            GgmlDType::Q4K,
        ] {
            let Ok(q) = QTensor::quantize(&w, dtype) else {
                println!("{what}: {dtype:?} needs the inner size to be a multiple of its block");
                continue;
            };
            let q = QMatMul::from_qtensor(q).expect("quantised product");
            let err = (q.forward(&x).expect("quantised product") - &want)
                .and_then(|d| d.abs())
                .and_then(|d| d.max_all())
                .and_then(|d| d.to_scalar::<f32>())
                .expect("error");
            println!(
                "{what}: {dtype:?} largest error {:.1e} of the largest output",
                err / scale
            );
            g.bench_function(format!("{what}: {dtype:?}"), |bch| {
                bch.iter(|| q.forward(&x).expect("quantised product"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, quantised);
criterion_main!(benches);
