//! A wav2vec 2.0 checkpoint directory of any content (HF `config.json`, `model.safetensors`,
//! optional `preprocessor_config.json`): `Wav2Vec2Encoder::load` returns an encoder or an
//! error, never panics or aborts. An encoder that loads runs: 0.5 s of a sine gives
//! `[output_frames(8000), hidden_size]` native features (finite when the checkpoint's weights
//! are finite and moderate and its layer-norm epsilon is not tiny), and features at 30 fps.
//!
//! Input: 3 parts (`parts.rs`): `config.json`, `preprocessor_config.json`, then
//! `model.safetensors`.
#![no_main]

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{AudioEncoder, Wav2Vec2, Wav2Vec2Config, Wav2Vec2Encoder};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

#[path = "parts.rs"]
mod parts;

/// 0.5 s at 16 kHz.
const SAMPLES: usize = 8000;

/// A tiny wav2vec 2.0 `config.json`, as HF writes one (training fields included): two
/// convolutions (hop 40, 199 frames for 0.5 s), width 8, one layer.
fn tiny_config_json(large: bool) -> String {
    serde_json::json!({
        "model_type": "wav2vec2",
        "architectures": [if large { "Wav2Vec2ForCTC" } else { "Wav2Vec2Model" }],
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": "gelu",
        "feat_extract_norm": if large { "layer" } else { "group" },
        "feat_extract_activation": "gelu",
        "conv_dim": [4, 4],
        "conv_stride": [5, 8],
        "conv_kernel": [10, 8],
        "conv_bias": large,
        "num_conv_pos_embeddings": 4,
        "num_conv_pos_embedding_groups": 2,
        "layer_norm_eps": 1e-5,
        "do_stable_layer_norm": large,
        "hidden_dropout": 0.1,
        "vocab_size": 32,
    })
    .to_string()
}

/// A random-weight model for the config, saved as HF names it (below `wav2vec2.` for a CTC
/// checkpoint), as one input; the CTC one has a preprocessor config.
fn seed(large: bool, dtype: DType) -> Vec<u8> {
    let dir = parts::scratch_dir("wav2vec2_checkpoint-seed");
    let config = tiny_config_json(large);
    let pre = if large {
        serde_json::json!({
            "do_normalize": false,
            "sampling_rate": 16000,
            "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        })
        .to_string()
    } else {
        String::new()
    };
    parts::put(&dir, "config.json", config.as_bytes());
    parts::put(&dir, "preprocessor_config.json", pre.as_bytes());
    let cfg = Wav2Vec2Config::from_file(dir.join("config.json")).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    Wav2Vec2::new(&cfg, if large { vb.pp("wav2vec2") } else { vb }).unwrap();
    let tensors: std::collections::HashMap<String, Tensor> = (vm.data().lock().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_tensor().to_dtype(dtype).unwrap()))
        .collect();
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let weights = std::fs::read(&path).unwrap();
    Wav2Vec2Encoder::load(&dir, None, &Device::Cpu).expect("the seed loads");
    std::fs::remove_dir_all(&dir).unwrap();
    parts::join(&[config.as_bytes(), pre.as_bytes(), &weights])
}

fn check(enc: Wav2Vec2Encoder, weights: &[u8]) {
    let cfg = enc.model().config().clone();
    let sine: Vec<f32> = (0..SAMPLES)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin())
        .collect();
    let frames = cfg.output_frames(SAMPLES);
    let finite = cfg.layer_norm_eps >= 1e-8 && parts::moderate_weights(weights);
    match enc.native_features(&sine) {
        Ok(y) => {
            assert!(frames > 0);
            assert_eq!(y.dims(), &[frames, cfg.hidden_size]);
            if finite {
                let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
                assert!(v.iter().all(|x| x.is_finite()), "non-finite features");
            }
        }
        Err(e) => {
            // Only audio shorter than the receptive field is refused.
            assert_eq!(frames, 0, "{e}");
            return;
        }
    }
    let y = enc.encode(&sine, 30.0).expect("a loaded encoder encodes");
    assert_eq!(y.dims(), &[15, cfg.hidden_size]);
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[("base", seed(false, DType::F32)), ("ctc_large_f16", seed(true, DType::F16))],
            );
        }
    },
    |data: &[u8]| {
        let p = parts::split(data, 3);
        let dir = parts::scratch("wav2vec2_checkpoint");
        parts::put(dir, "config.json", p[0]);
        parts::put(dir, "preprocessor_config.json", p[1]);
        parts::put(dir, "model.safetensors", p[2]);
        if let Ok(enc) = Wav2Vec2Encoder::load(dir, None, &Device::Cpu) {
            check(enc, p[2]);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, 3)
});
