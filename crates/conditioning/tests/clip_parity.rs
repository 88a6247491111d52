//! candle CLIP vs HF transformers on a tiny random CLIPModel (fixtures made by
//! `tools/make_style_fixtures.py`).

mod common;
use common::max_abs_diff;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use conditioning::{ClipTextTower, ClipVisionTower, HfClipConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clip_tiny")
        .join(name)
}

struct Loaded {
    cfg: HfClipConfig,
    vb: candle_nn::VarBuilder<'static>,
    reference: std::collections::HashMap<String, Tensor>,
}

fn load() -> Loaded {
    let dev = Device::Cpu;
    let cfg = HfClipConfig::from_file(&fixture("config.json")).unwrap();
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(
            &[fixture("model.safetensors")],
            DType::F32,
            &dev,
        )
    }
    .unwrap();
    let reference = candle_core::safetensors::load(fixture("reference.safetensors"), &dev).unwrap();
    Loaded { cfg, vb, reference }
}

#[test]
fn clip_config_maps_top_level_projection_dim() {
    let l = load();
    // The sub-configs carry a stale projection_dim of 512; the real one is 24.
    assert_eq!(l.cfg.projection_dim, 24);
    assert_eq!(l.cfg.vision_config.hidden_size, 40);
    assert_eq!(l.cfg.text_config.eos_token_id, 98);
}

#[test]
fn clip_text_matches_hf() {
    let l = load();
    let tower = ClipTextTower::new(&l.cfg, l.vb.clone()).unwrap();
    let ids = l.reference["input_ids"].to_dtype(DType::U32).unwrap();
    let got = tower.forward(&ids).unwrap();
    let err = max_abs_diff(&got, &l.reference["text_embeds"]);
    println!("CLIP text max abs error vs HF: {err:e}");
    assert!(err < 1e-4, "max abs error {err}");
}

#[test]
fn clip_image_matches_hf() {
    let l = load();
    let tower = ClipVisionTower::new(&l.cfg, l.vb.clone()).unwrap();
    let got = tower.forward(&l.reference["pixel_values"]).unwrap();
    let err = max_abs_diff(&got, &l.reference["image_embeds"]);
    println!("CLIP image max abs error vs HF: {err:e}");
    assert!(err < 1e-4, "max abs error {err}");
}

#[test]
fn clip_text_rejects_too_long_input() {
    let l = load();
    let tower = ClipTextTower::new(&l.cfg, l.vb.clone()).unwrap();
    let ids = Tensor::zeros((1, 17), DType::U32, &Device::Cpu).unwrap();
    let err = tower.forward(&ids).unwrap_err().to_string();
    assert!(err.contains("1..=16"), "{err}");
}

#[test]
fn clip_style_encoder_end_to_end_matches_hf() {
    use conditioning::ModelSource;
    use conditioning::{preprocess_image, ClipStyleEncoder};
    use conditioning::{StyleEncoder, StylePrompt};

    let l = load();
    let dir = fixture("");
    let enc = ClipStyleEncoder::load(&ModelSource::local(&dir), &Device::Cpu).unwrap();
    assert_eq!(enc.dim(), 24);
    let prompt = std::fs::read_to_string(fixture("prompt.txt")).unwrap();
    let ids = enc.tokenize(&prompt).unwrap();
    let want_ids: Vec<u32> = l.reference["prompt_ids"]
        .to_dtype(DType::U32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(ids, want_ids);
    let text = enc.embed(StylePrompt::Text(&prompt)).unwrap();
    let want = l.reference["prompt_embeds"].squeeze(0).unwrap();
    let err = max_abs_diff(&text, &want);
    assert!(err < 1e-4, "prompt max abs error {err}");

    // Image prompts: any size in, the tower's size after resize + crop, unit norm out.
    let img =
        image::RgbImage::from_fn(56, 40, |x, y| image::Rgb([(x * 4) as u8, (y * 6) as u8, 9]));
    let emb = enc.embed(StylePrompt::Image(&img)).unwrap();
    assert_eq!(emb.dims(), &[24]);
    let pixels = preprocess_image(&img, 32, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let direct = enc
        .vision_tower()
        .forward(&pixels)
        .unwrap()
        .squeeze(0)
        .unwrap();
    assert!(max_abs_diff(&emb, &direct) < 1e-6);
    let norm = emb
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
}

#[test]
fn clip_missing_file_is_named() {
    use conditioning::ClipStyleEncoder;
    use conditioning::ModelSource;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm");
    let err = ClipStyleEncoder::load(&ModelSource::local(&dir), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("fixtures/minilm"),
        "{err}"
    );
}
