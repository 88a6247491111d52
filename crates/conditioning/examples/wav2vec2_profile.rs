//! Per-op timing of a wav2vec2-base-sized network (random weights) on 10 s of audio, with the
//! kernels the model runs: where the time goes.
//! `cargo run --release -p conditioning --example wav2vec2_profile`.
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{Wav2Vec2, Wav2Vec2Config};
use m2f_kernels::{self as kernels, Conv1dShape, Epilogue};

/// Mean milliseconds of `f` over 5 runs after one warm-up; prints a row and returns the time.
fn time<T>(name: &str, flop: f64, f: impl Fn() -> candle_core::Result<T>) -> f64 {
    f().expect("warm-up");
    let n = 5;
    let t = Instant::now();
    for _ in 0..n {
        f().expect("run");
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let rate = match flop > 0.0 {
        true => format!("{:6.0} GFLOP/s", flop / ms / 1e6),
        false => String::new(),
    };
    println!("| {name:52} | {ms:8.2} | {rate} |");
    ms
}

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let randn = |shape: &[usize], std: f32| Tensor::randn(0f32, std, shape, &dev);
    let samples = 160_000;
    let (h, ffn, heads, frames) = (768, 3072, 12, 499);
    println!("| op (wav2vec2-base shapes, 10 s, batch 1) | ms | rate |\n| --- | --- | --- |");

    // Feature extractor: 7 convolutions of 512 channels.
    let conv_dim = 512;
    let kernels_strides = [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)];
    let mut x = randn(&[1, samples, 1], 0.3)?;
    let mut front_ms = 0.0;
    for (i, &(k, stride)) in kernels_strides.iter().enumerate() {
        let c_in = if i == 0 { 1 } else { conv_dim };
        let w = randn(&[conv_dim, c_in, k], 0.05)?;
        let b = Tensor::zeros(conv_dim, DType::F32, &dev)?;
        let shape = Conv1dShape { stride, padding: 0 };
        let t_out = shape.output_len(x.dim(1)?, k);
        let flop = 2.0 * (t_out * conv_dim * c_in * k) as f64;
        let epilogue = Epilogue::GeluErf;
        let name = format!("feature conv {i} ({c_in}→{conv_dim}, k {k}, {t_out} frames)");
        if i == 0 {
            // The waveform layer as the model runs it: the group norm folded into the
            // convolution, GELU fused; then, for comparison, convolution and norm apart.
            let (g, beta) = (Tensor::ones(conv_dim, DType::F32, &dev)?, b.clone());
            let samples = x.squeeze(2)?;
            let name = format!("{name} + group norm folded + GELU");
            front_ms += time(&name, flop, || {
                kernels::waveform_conv_norm(&samples, &w, &b, &g, &beta, stride, 1e-5, epilogue)
            });
            time("  (apart: the convolution)", flop, || {
                kernels::conv1d_time_major(&x, &w, &b, shape, Epilogue::None)
            });
            let y = kernels::conv1d_time_major(&x, &w, &b, shape, Epilogue::None)?;
            time("  (apart: group norm + GELU)", 0.0, || {
                kernels::channel_norm_time_major(&y, &g, &beta, 1e-5, Epilogue::GeluErf)
            });
            x = kernels::waveform_conv_norm(&samples, &w, &b, &g, &beta, stride, 1e-5, epilogue)?;
            continue;
        }
        front_ms += time(&name, flop, || {
            kernels::conv1d_time_major(&x, &w, &b, shape, epilogue)
        });
        x = kernels::conv1d_time_major(&x, &w, &b, shape, epilogue)?;
    }
    let proj_w = randn(&[h, conv_dim], 0.03)?;
    let proj_b = Tensor::zeros(h, DType::F32, &dev)?;
    let flop = 2.0 * (frames * h * conv_dim) as f64;
    front_ms += time("feature projection (512→768)", flop, || {
        kernels::linear(&x, &proj_w, &proj_b, Epilogue::None)
    });
    let hs = randn(&[1, frames, h], 1.0)?;
    let pos_w = randn(&[h, h / 16, 128], 0.01)?;
    let pos_b = Tensor::zeros(h, DType::F32, &dev)?;
    let flop = 2.0 * (frames * h * (h / 16) * 128) as f64;
    let shape = Conv1dShape {
        stride: 1,
        padding: 64,
    };
    front_ms += time("positional conv (16 groups, k 128) + GELU", flop, || {
        kernels::conv1d_time_major_grouped(&hs, &pos_w, &pos_b, shape, 16, Epilogue::GeluErf)
    });
    println!("| **front, sum** | {front_ms:8.2} | |");

    // One transformer layer, op by op.
    let (ln_w, ln_b) = (
        Tensor::ones(h, DType::F32, &dev)?,
        Tensor::zeros(h, DType::F32, &dev)?,
    );
    // Stored transposed, as the model stores its layers' weights.
    let stored = |w: Tensor| kernels::transposed_weight(&w);
    let qkv_w = stored(randn(&[3 * h, h], 0.03)?)?;
    let qkv_b = Tensor::zeros(3 * h, DType::F32, &dev)?;
    let out_w = stored(randn(&[h, h], 0.03)?)?;
    let up_w = stored(randn(&[ffn, h], 0.03)?)?;
    let up_b = Tensor::zeros(ffn, DType::F32, &dev)?;
    let down_w = stored(randn(&[h, ffn], 0.02)?)?;
    let rows = frames as f64;
    let qkv = kernels::linear(&hs, &qkv_w, &qkv_b, Epilogue::None)?;
    let up = kernels::linear(&hs, &up_w, &up_b, Epilogue::GeluErf)?;
    let attn_flop = 4.0 * rows * rows * h as f64;
    let layer_ms = [
        time(
            "layer: QKV projection (768→2304)",
            2.0 * rows * (3 * h * h) as f64,
            || kernels::linear(&hs, &qkv_w, &qkv_b, Epilogue::None),
        ),
        time("layer: attention (12 heads, 499 frames)", attn_flop, || {
            kernels::attention_packed(&qkv, heads, 0.125, None)
        }),
        time(
            "layer: output projection (768→768)",
            2.0 * rows * (h * h) as f64,
            || kernels::linear(&hs, &out_w, &ln_b, Epilogue::None),
        ),
        time("layer: residual + layer norm (×2 per layer)", 0.0, || {
            kernels::residual_layer_norm(&hs, Some(&hs), &ln_w, &ln_b, 1e-5)
        }) * 2.0,
        time(
            "layer: feed-forward up (768→3072) + GELU",
            2.0 * rows * (ffn * h) as f64,
            || kernels::linear(&hs, &up_w, &up_b, Epilogue::GeluErf),
        ),
        time(
            "layer: feed-forward down (3072→768)",
            2.0 * rows * (ffn * h) as f64,
            || kernels::linear(&up, &down_w, &ln_b, Epilogue::None),
        ),
    ];
    let layer: f64 = layer_ms.iter().sum();
    println!(
        "| **one layer, sum (×12: {:.0} ms)** | {layer:8.2} | |",
        12.0 * layer
    );

    // The whole network, for the total the rows should add up to.
    // Random weights as plain tensors, as a loaded checkpoint has them (variables would send
    // the fused layers down their composed path, kept for training).
    let cfg = Wav2Vec2Config::base();
    let vm = VarMap::new();
    Wav2Vec2::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    let tensors = (vm.data().lock().expect("the var map").iter())
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    let model = Wav2Vec2::new(&cfg, VarBuilder::from_tensors(tensors, DType::F32, &dev))?;
    let audio = randn(&[1, samples], 0.3)?;
    time("whole forward (Wav2Vec2::forward)", 0.0, || {
        model.forward(&audio)
    });
    let (a, b) = (randn(&[1024, 1024], 1.0)?, randn(&[1024, 1024], 1.0)?);
    time(
        "reference: f32 matmul 1024³ (candle)",
        2.0 * 1024f64.powi(3),
        || a.matmul(&b),
    );
    Ok(())
}
