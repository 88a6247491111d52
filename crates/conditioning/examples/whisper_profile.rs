//! Per-op timing of the Whisper tiny.en encoder (random weights) on 10 s and 30 s log-mels:
//! where the time goes. `cargo run --release -p conditioning --example whisper_profile`.
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{WhisperConfig, WhisperEncoderModel};
use m2f_kernels::{self as kernels, Epilogue};

fn time<T>(name: &str, f: impl Fn() -> T) -> T {
    let _ = f();
    let n = 10;
    let t = Instant::now();
    for _ in 0..n - 1 {
        let _ = f();
    }
    let out = f();
    println!(
        "{name:44} {:8.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    out
}

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let model = WhisperEncoderModel::new(&WhisperConfig::tiny(), vb.pp("m"))?;
    let d = 384;
    let conv1 = candle_nn::conv1d(
        80,
        d,
        3,
        candle_nn::Conv1dConfig {
            padding: 1,
            ..Default::default()
        },
        vb.pp("c1"),
    )?;
    let conv2 = candle_nn::conv1d(
        d,
        d,
        3,
        candle_nn::Conv1dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        },
        vb.pp("c2"),
    )?;
    let ln = candle_nn::layer_norm(d, 1e-5, vb.pp("ln"))?;
    let qkv = candle_nn::linear(d, 3 * d, vb.pp("qkv"))?;
    let fc1 = candle_nn::linear(d, 1536, vb.pp("fc1"))?;
    let fc2 = candle_nn::linear(1536, d, vb.pp("fc2"))?;
    for layers in 0..=4 {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let cfg = WhisperConfig {
            encoder_layers: layers,
            ..WhisperConfig::tiny()
        };
        let m = WhisperEncoderModel::new(&cfg, vb)?;
        let mel = Tensor::randn(0f32, 1.0, (1, 80, 1000), &dev)?;
        time(&format!("{layers} layers, 10 s"), || {
            m.forward(&mel).unwrap()
        });
    }
    for frames in [1000usize, 3000] {
        let t = frames / 2;
        println!("--- {frames} mel frames");
        let mel = Tensor::randn(0f32, 1.0, (1, 80, frames), &dev)?;
        time("whole model", || model.forward(&mel).unwrap());
        let shape1 = kernels::Conv1dShape {
            stride: 1,
            padding: 1,
        };
        let shape2 = kernels::Conv1dShape {
            stride: 2,
            padding: 1,
        };
        let mel_tm = time("mel to time-major", || {
            mel.transpose(1, 2).unwrap().contiguous().unwrap()
        });
        let h1 = time("conv1 + GELU (fused)", || {
            kernels::conv1d_time_major(
                &mel_tm,
                conv1.weight(),
                conv1.bias().unwrap(),
                shape1,
                Epilogue::GeluErf,
            )
            .unwrap()
        });
        let x = time("conv2 + GELU (fused)", || {
            kernels::conv1d_time_major(
                &h1,
                conv2.weight(),
                conv2.bias().unwrap(),
                shape2,
                Epilogue::GeluErf,
            )
            .unwrap()
        });
        let xn = time("layer_norm", || ln.forward(&x).unwrap());
        let y = time("qkv linear (fused bias)", || {
            kernels::linear(&xn, qkv.weight(), qkv.bias().unwrap(), Epilogue::None).unwrap()
        });
        let heads = time("split heads", || {
            y.reshape((1, t, 3, 6, 64))
                .unwrap()
                .permute((2, 0, 3, 1, 4))
                .unwrap()
                .contiguous()
                .unwrap()
        });
        let (q, k, v) = (heads.get(0)?, heads.get(1)?, heads.get(2)?);
        let ctx = time("fused attention", || {
            kernels::attention(&q, &k, &v, 0.125).unwrap()
        });
        let _ = time("merge heads", || {
            ctx.transpose(1, 2).unwrap().reshape((1, t, d)).unwrap()
        });
        let a = time("fc1 + GELU (fused)", || {
            kernels::linear(&xn, fc1.weight(), fc1.bias().unwrap(), Epilogue::GeluErf).unwrap()
        });
        let _ = time("fc2 (fused bias)", || {
            kernels::linear(&a, fc2.weight(), fc2.bias().unwrap(), Epilogue::None).unwrap()
        });
    }
    Ok(())
}
