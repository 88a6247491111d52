//! candle CLIP vs HF transformers on a tiny random CLIPModel (fixtures made by
//! `tools/make_style_fixtures.py`).

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use conditioning::clip::{ClipTextTower, ClipVisionTower, HfClipConfig};

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

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn clip_config_maps_top_level_projection_dim() {
    let l = load();
    // The sub-configs carry a stale projection_dim of 512; the real one is 24.
    assert_eq!(l.cfg.projection_dim, 24);
    assert_eq!(l.cfg.candle_text().projection_dim, 24);
    assert_eq!(l.cfg.candle_vision().embed_dim, 40);
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
