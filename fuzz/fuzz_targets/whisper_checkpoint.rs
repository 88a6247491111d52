//! A Whisper encoder checkpoint directory of any content (HF `config.json`,
//! `preprocessor_config.json`, `model.safetensors`): `WhisperEncoder::load` returns an encoder
//! or an error, never panics or aborts. An encoder that loads runs: 0.5 s of a sine gives
//! `[ceil(50 / 2), d_model]` native features (fed as they are, and padded to a window when the
//! window is at most 3 s), finite when the checkpoint's weights are finite and moderate.
//!
//! Input: 3 parts (`parts.rs`): `config.json`, `preprocessor_config.json` (empty: absent), then
//! `model.safetensors`.
#![no_main]

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{WhisperConfig, WhisperEncoder, WhisperEncoderModel, WindowPolicy};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

#[path = "parts.rs"]
mod parts;

const FILES: [&str; 3] = [
    "config.json",
    "preprocessor_config.json",
    "model.safetensors",
];

/// 0.5 s at 16 kHz.
const SAMPLES: usize = 8000;

/// A tiny Whisper encoder's `config.json`, as HF writes one (decoder fields included).
fn tiny_config_json(positions: usize, activation: &str) -> String {
    serde_json::json!({
        "model_type": "whisper",
        "num_mel_bins": 80,
        "d_model": 8,
        "encoder_layers": 1,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 16,
        "max_source_positions": positions,
        "activation_function": activation,
        "decoder_layers": 1,
        "vocab_size": 51864,
    })
    .to_string()
}

/// The `preprocessor_config.json` HF's `WhisperFeatureExtractor` writes.
fn preprocessor_json() -> String {
    serde_json::json!({
        "chunk_length": 30,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": 80,
        "hop_length": 160,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": false,
        "sampling_rate": 16000,
    })
    .to_string()
}

/// A random-weight encoder for the config, saved as HF names it (below `prefix`), with or
/// without a preprocessor config, as one input.
fn seed(positions: usize, activation: &str, prefix: &str, dtype: DType, pre: bool) -> Vec<u8> {
    let dir = parts::scratch_dir("whisper_checkpoint-seed");
    let config = tiny_config_json(positions, activation);
    std::fs::write(dir.join("config.json"), &config).unwrap();
    let cfg = WhisperConfig::from_file(dir.join("config.json")).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    WhisperEncoderModel::new(&cfg, vb.pp(prefix)).unwrap();
    let tensors: std::collections::HashMap<String, Tensor> = (vm.data().lock().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_tensor().to_dtype(dtype).unwrap()))
        .collect();
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let weights = std::fs::read(&path).unwrap();
    let pre = if pre {
        preprocessor_json()
    } else {
        String::new()
    };
    let input = parts::join(&[config.as_bytes(), pre.as_bytes(), &weights]);
    load(&input, &dir).expect("the seed loads");
    std::fs::remove_dir_all(&dir).unwrap();
    input
}

fn load(data: &[u8], dir: &std::path::Path) -> conditioning::Result<WhisperEncoder> {
    parts::put_all(dir, &FILES, data);
    WhisperEncoder::load(dir, &Device::Cpu)
}

fn check(enc: WhisperEncoder, weights: &[u8]) {
    let d = enc.model().config().d_model;
    let sine: Vec<f32> = (0..SAMPLES)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin())
        .collect();
    let frames = enc.native_frames(SAMPLES);
    assert_eq!(frames, 25);
    let pad = enc.window_samples() <= 3 * 16_000;
    let finite = parts::moderate_weights(weights);
    let enc = enc.with_policy(WindowPolicy::Exact);
    let mut outputs = vec![enc.native_features(&sine).expect("a loaded encoder runs")];
    if pad {
        let enc = enc.with_policy(WindowPolicy::Padded);
        outputs.push(
            enc.native_features(&sine)
                .expect("a loaded encoder runs padded"),
        );
    }
    for y in outputs {
        assert_eq!(y.dims(), &[frames, d]);
        if finite {
            let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "non-finite features");
        }
    }
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[
                    ("gelu", seed(25, "gelu", "encoder", DType::F32, true)),
                    (
                        "relu_f16_model_prefix",
                        seed(50, "relu", "model.encoder", DType::F16, false),
                    ),
                ],
            );
        }
    },
    |data: &[u8]| {
        let dir = parts::scratch("whisper_checkpoint");
        if let Ok(enc) = load(data, dir) {
            check(enc, parts::split(data, FILES.len())[FILES.len() - 1]);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, FILES.len())
});
