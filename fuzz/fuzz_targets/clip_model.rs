//! A CLIP model directory of any content (`config.json`, `tokenizer.json`,
//! `model.safetensors`): `ClipStyleEncoder::load` returns an encoder or an error, never panics
//! or aborts. An encoder that loads embeds a text prompt and an image into unit-length
//! `[projection_dim]` vectors (finite when the weights are moderate).
//!
//! Input: 3 parts (`parts.rs`): `config.json`, `tokenizer.json`, then `model.safetensors`.
#![no_main]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{
    ClipStyleEncoder, ClipTextTower, ClipVisionTower, HfClipConfig, ModelSource, StyleEncoder,
    StylePrompt,
};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

#[path = "parts.rs"]
mod parts;

const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The tiny CLIP tokenizer of the parity tests (a 99-token word-level vocabulary, BOS 97, EOT 98).
const TOKENIZER: &str =
    include_str!("../../crates/conditioning/tests/fixtures/clip_tiny/tokenizer.json");

/// A `CLIPModel` `config.json` as HF writes one: text and vision towers of width 8.
fn tiny_config(eos: u32, image_size: usize, patch: usize) -> String {
    serde_json::json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": 4,
        "text_config": {
            "bos_token_id": 97, "eos_token_id": eos, "hidden_act": "quick_gelu",
            "hidden_size": 8, "intermediate_size": 16, "layer_norm_eps": 1e-5,
            "max_position_embeddings": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
            "pad_token_id": 1, "projection_dim": 512, "vocab_size": 99,
        },
        "vision_config": {
            "hidden_act": "quick_gelu", "hidden_size": 8, "image_size": image_size,
            "intermediate_size": 16, "layer_norm_eps": 1e-5, "num_attention_heads": 2,
            "num_channels": 3, "num_hidden_layers": 1, "patch_size": patch, "projection_dim": 512,
        },
    })
    .to_string()
}

/// A random-weight model for the config, as one input.
fn seed(eos: u32, image_size: usize, patch: usize) -> Vec<u8> {
    let config = tiny_config(eos, image_size, patch);
    let dir = parts::scratch_dir("clip_model-seed");
    std::fs::write(dir.join("config.json"), &config).unwrap();
    let cfg = HfClipConfig::from_file(&dir.join("config.json")).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    ClipTextTower::new(&cfg, vb.clone()).unwrap();
    // The tower refuses a checkpoint without a class embedding rather than invent one.
    let emb = vb.pp("vision_model").pp("embeddings");
    emb.get_with_hints(
        8,
        "class_embedding",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )
    .unwrap();
    ClipVisionTower::new(&cfg, vb).unwrap();
    let tensors: HashMap<String, Tensor> = (vm.data().lock().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let input = parts::join(&[config.as_bytes(), TOKENIZER.as_bytes(), &weights]);
    load(&input, &dir).expect("the seed loads");
    std::fs::remove_dir_all(&dir).unwrap();
    input
}

fn load(data: &[u8], dir: &std::path::Path) -> conditioning::Result<ClipStyleEncoder> {
    parts::put_all(dir, &FILES, data);
    ClipStyleEncoder::load(&ModelSource::local(dir), &Device::Cpu)
}

fn check(enc: &ClipStyleEncoder, weights: &[u8]) {
    let image = image::RgbImage::from_fn(12, 10, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 25) as u8, 128])
    });
    let moderate = parts::moderate_weights(weights);
    for prompt in [
        StylePrompt::Text("a happy face"),
        StylePrompt::Image(&image),
    ] {
        let Ok(e) = enc.embed(prompt) else {
            continue;
        };
        assert_eq!(e.dims(), &[enc.dim()]);
        if moderate {
            let v: Vec<f32> = e.to_vec1().unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "non-finite embedding");
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3 || norm < 1e-6, "norm {norm}");
        }
    }
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[("eot_98", seed(98, 8, 4)), ("legacy_eos_2", seed(2, 12, 6))],
            );
        }
    },
    |data: &[u8]| {
        // The loader catches panics of the tokenizers crate and returns them as errors.
        parts::allow_caught_panics_from(&["tokenizers"]);
        let dir = parts::scratch("clip_model");
        if let Ok(enc) = load(data, dir) {
            check(&enc, parts::split(data, FILES.len())[FILES.len() - 1]);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, FILES.len())
});
