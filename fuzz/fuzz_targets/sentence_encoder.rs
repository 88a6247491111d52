//! A sentence-transformers model directory of any content (`config.json`, `tokenizer.json`,
//! `sentence_bert_config.json`, `model.safetensors`): `SentenceEncoder::load` returns an
//! encoder or an error, never panics or aborts. An encoder that loads embeds a batch of
//! sentences (one empty) into `[2, dim]` rows, of unit length when the weights are moderate.
//!
//! Input: 4 parts (`parts.rs`): `config.json`, `tokenizer.json`, `sentence_bert_config.json`
//! (empty: absent), then `model.safetensors`.
#![no_main]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{BertConfig, BertModel, ModelSource, SentenceEncoder};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

#[path = "parts.rs"]
mod parts;

const FILES: [&str; 4] = [
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "model.safetensors",
];

/// A BERT `config.json` as HF writes one, of width 8 with 2 heads.
fn tiny_config(layers: usize, act: &str, positions: usize) -> String {
    serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": 12,
        "hidden_size": 8,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": act,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": positions,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "use_cache": true,
        "classifier_dropout": null,
    })
    .to_string()
}

/// A WordPiece `tokenizer.json` as BERT's, over a 12-token vocabulary.
fn tiny_tokenizer() -> String {
    let special = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let tok =
        |t: &str, type_id: u32| serde_json::json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let seq =
        |s: &str, type_id: u32| serde_json::json!({"Sequence": {"id": s, "type_id": type_id}});
    serde_json::json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0},
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
            "pair": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 1), tok("[SEP]", 1)],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {
            "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "happy": 5,
                "face": 6, "##s": 7, "sad": 8, "calm": 9, ".": 10, "smile": 11},
        },
    })
    .to_string()
}

/// A random-weight model for the config, saved as sentence-transformers does (names as HF's
/// `BertModel`, optionally below `bert.`), as one input.
fn seed(
    layers: usize,
    act: &str,
    positions: usize,
    max_seq: Option<usize>,
    prefix: &str,
) -> Vec<u8> {
    let config = tiny_config(layers, act, positions);
    let cfg: BertConfig = serde_json::from_str(&config).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    BertModel::new(&cfg, vb).unwrap();
    let tensors: HashMap<String, Tensor> = (vm.data().lock().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    let dir = parts::scratch_dir("sentence_encoder-seed");
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let sbert = max_seq
        .map(|n| serde_json::json!({"max_seq_length": n, "do_lower_case": false}).to_string())
        .unwrap_or_default();
    let tokenizer = tiny_tokenizer();
    let input = parts::join(&[
        config.as_bytes(),
        tokenizer.as_bytes(),
        sbert.as_bytes(),
        &weights,
    ]);
    load(&input, &dir).expect("the seed loads");
    std::fs::remove_dir_all(&dir).unwrap();
    input
}

fn load(data: &[u8], dir: &std::path::Path) -> conditioning::Result<SentenceEncoder> {
    parts::put_all(dir, &FILES, data);
    SentenceEncoder::load(&ModelSource::local(dir), &Device::Cpu)
}

fn check(enc: &SentenceEncoder, weights: &[u8]) {
    let Ok(e) = enc.embed_batch(&["A happy face smiles.", ""]) else {
        return;
    };
    let dim = conditioning::StyleEncoder::dim(enc);
    assert_eq!(e.dims(), &[2, dim]);
    if parts::moderate_weights(weights) {
        let rows: Vec<Vec<f32>> = e.to_vec2().unwrap();
        for r in rows {
            let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(r.iter().all(|x| x.is_finite()), "non-finite embedding");
            assert!((norm - 1.0).abs() < 1e-3 || norm < 1e-6, "norm {norm}");
        }
    }
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[
                    ("gelu_sbert", seed(1, "gelu", 16, Some(12), "")),
                    ("relu_two_layers_bert_prefix", seed(2, "relu", 8, None, "bert")),
                ],
            );
        }
    },
    |data: &[u8]| {
        // The loader catches panics of the tokenizers crate and returns them as errors.
        parts::allow_caught_panics_from(&["tokenizers"]);
        let dir = parts::scratch("sentence_encoder");
        if let Ok(enc) = load(data, dir) {
            check(&enc, parts::split(data, FILES.len())[FILES.len() - 1]);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, FILES.len())
});
