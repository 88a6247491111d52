//! A diffusion checkpoint directory of any content (`config.json`, `model.safetensors`):
//! `DiffusionModel::load` returns a model or an error, never panics or aborts. A model that
//! loads runs: its denoiser has the config's architecture, its schedule the config's steps, and
//! one denoising step over two frames gives motion of the config's width.
//!
//! Input: 2 parts (`parts.rs`): `config.json`, then `model.safetensors`.
#![no_main]

use candle_core::{DType, Device, Tensor};
use diffusion::{
    CheckpointConfig, DenoiserConfig, DiffusionModel, NoiseScheduleKind, Objective, StyleInput,
    CONFIG_FILE, WEIGHTS_FILE,
};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

#[path = "parts.rs"]
mod parts;

fn tiny_config(regression: bool) -> DenoiserConfig {
    DenoiserConfig {
        latent_dim: 2,
        pose_dim: 6,
        audio_dim: 3,
        text_style_dim: if regression { 0 } else { 2 },
        image_style_dim: if regression { 0 } else { 2 },
        hidden_size: 4,
        num_layers: 1,
        num_heads: 2,
        intermediate_size: 4,
        activation: candle_nn::Activation::Gelu,
        layer_norm_eps: 1e-5,
        window: 4,
        fps: 30.0,
        audio_radius: if regression { None } else { Some(1) },
        diffusion_steps: 4,
        noise_schedule: if regression {
            NoiseScheduleKind::Linear
        } else {
            NoiseScheduleKind::Cosine
        },
        objective: if regression {
            Objective::Regression
        } else {
            Objective::Diffusion
        },
    }
}

/// A checkpoint saved by the crate, as one input.
fn seed(regression: bool) -> Vec<u8> {
    let tmp = parts::scratch_dir("denoiser_checkpoint-seed").join("ckpt");
    let cfg = tiny_config(regression);
    let (_, varmap) = diffusion::init_denoiser(&cfg, &Device::Cpu, 0).unwrap();
    let mut config = CheckpointConfig::untrained(&cfg);
    config.audio_features = "log-mel".into();
    config.provenance.created_by = "m2f-fuzz".into();
    if !regression {
        config.text_encoder = Some("sentence-transformers/all-MiniLM-L6-v2".into());
    }
    diffusion::save_checkpoint(&tmp, &config, &varmap).unwrap();
    DiffusionModel::load(&tmp, &Device::Cpu).expect("the seed loads");
    let config = std::fs::read(tmp.join(CONFIG_FILE)).unwrap();
    let weights = std::fs::read(tmp.join(WEIGHTS_FILE)).unwrap();
    std::fs::remove_dir_all(tmp.parent().unwrap()).unwrap();
    parts::join(&[&config, &weights])
}

fn check(model: &DiffusionModel) {
    let c = &model.config.model;
    assert_eq!(model.denoiser.config(), c);
    assert_eq!(model.schedule.steps(), c.diffusion_steps);
    assert_eq!(model.config.motion_stats.mean.len(), c.motion_dim());
    assert_eq!(model.config.motion_stats.std.len(), c.motion_dim());
    let dev = Device::Cpu;
    let n = 2;
    let audio = Tensor::zeros((1, n, c.audio_dim), DType::F32, &dev).unwrap();
    let memory = model
        .denoiser
        .memory(&audio, StyleInput::None)
        .expect("a loaded denoiser builds its memory");
    assert_eq!(memory.dims(), &[1, n + 2, c.hidden_size]);
    let kv = model.denoiser.memory_key_values(&memory).unwrap();
    let x_t = Tensor::zeros((1, n, c.motion_dim()), DType::F32, &dev).unwrap();
    let bias = Tensor::zeros((1, n, n + 2), DType::F32, &dev).unwrap();
    let out = model
        .denoiser
        .forward(&x_t, &[0], &kv, &bias, None)
        .expect("a loaded denoiser denoises");
    assert_eq!(out.dims(), &[1, n, c.motion_dim()]);
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[("diffusion", seed(false)), ("regression", seed(true))],
            );
        }
    },
    |data: &[u8]| {
        let p = parts::split(data, 2);
        let dir = parts::scratch("denoiser_checkpoint");
        parts::put(dir, CONFIG_FILE, p[0]);
        parts::put(dir, WEIGHTS_FILE, p[1]);
        if let Ok(model) = DiffusionModel::load(dir, &Device::Cpu) {
            check(&model);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, 2)
});
