//! Style encoders on one prompt: a base-sized CLIP text tower (random weights: 12 layers,
//! 512 wide, as openai/clip-vit-base-patch32) and all-MiniLM-L6-v2 (real weights from
//! `M2F_MINILM_DIR`, which `scripts/test.sh` fetches and exports).

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use conditioning::{ClipTextTower, HfClipConfig};
use conditioning::{StyleEncoder, StylePrompt};
use criterion::{criterion_group, criterion_main, Criterion};

const PROMPT: &str = "a happy person laughing out loud";

fn clip_text(c: &mut Criterion) {
    // Empty sub-configs take HF's defaults, which are the ViT-B/32 text tower.
    let cfg: HfClipConfig =
        serde_json::from_str(r#"{"text_config": {}, "vision_config": {}}"#).expect("config");
    // A VarMap draws the random weights; they are then copied out as plain tensors so the
    // forward pass does not record a backprop graph as it would on Vars.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    ClipTextTower::new(&cfg, vb).expect("random CLIP text tower");
    let tensors = varmap
        .data()
        .lock()
        .expect("varmap")
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let tower = ClipTextTower::new(&cfg, vb).expect("CLIP text tower");
    // BOS, 7 word-piece ids, EOT: a short prompt (the ids are arbitrary; weights are random).
    let ids: [u32; 9] = [49406, 320, 900, 2533, 2801, 798, 1210, 3271, 49407];
    let ids = Tensor::new(&ids, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("ids");
    c.bench_function("CLIP text tower (base, random), one 9-token prompt", |b| {
        b.iter(|| tower.forward(&ids).expect("forward"))
    });
}

fn minilm(c: &mut Criterion) {
    // Where scripts/test.sh puts the files unless M2F_MINILM_DIR says otherwise.
    let dir = match std::env::var_os("M2F_MINILM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("M2F_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/media2face"))
            })
            .expect("M2F_MINILM_DIR, M2F_CACHE or HOME")
            .join("models/all-MiniLM-L6-v2"),
    };
    let enc = SentenceEncoder::load(&ModelSource::local(dir), &Device::Cpu)
        .expect("all-MiniLM-L6-v2 (run scripts/test.sh once to fetch it)");
    c.bench_function("all-MiniLM-L6-v2, one prompt (tokenize + embed)", |b| {
        b.iter(|| enc.embed(StylePrompt::Text(PROMPT)).expect("embed"))
    });
}

criterion_group!(benches, clip_text, minilm);
criterion_main!(benches);
