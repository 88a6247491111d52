//! Loaders shared by the text and image encoders: memory-mapped safetensors weights and
//! `tokenizer.json` files, with errors that name the file.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use tokenizers::{Tokenizer, TruncationParams};

use crate::{ConditioningError, Result};

/// Reads and parses a JSON config file; the error names the file and the field path
/// (`config.json: feat_extract_norm: unknown variant ...`).
pub(crate) fn read_json_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| ConditioningError::io(path, e))?;
    parse_json_config(path, &text)
}

/// [`read_json_config`] on text already read from `path`.
pub(crate) fn parse_json_config<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let message = if field == "." {
            inner.to_string()
        } else {
            format!("{field}: {inner}")
        };
        ConditioningError::invalid(path.display().to_string(), message)
    })
}

/// Memory-maps an f32 safetensors file; the error names the file.
pub(crate) fn mmap_safetensors(path: &Path, device: &Device) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is only read; like every mmap user we rely on nobody truncating it
    // while it is mapped.
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, device) }.map_err(|e| {
        ConditioningError::invalid(path.display().to_string(), format!("safetensors: {e}"))
    })
}

/// Reads `tokenizer.json` and truncates to `max_len` tokens (special tokens included).
pub(crate) fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer> {
    let err = |message: String| ConditioningError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| err(e.to_string()))?;
    // One prompt at a time: padding would only add tokens past EOT.
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// `text` as token ids, special tokens included; the error names the tokenizer file.
pub(crate) fn encode(tokenizer: &Tokenizer, path: &Path, text: &str) -> Result<Vec<u32>> {
    let enc = tokenizer
        .encode(text, true)
        .map_err(|e| ConditioningError::Tokenizer {
            path: path.to_path_buf(),
            message: format!("encoding {text:?}: {e}"),
        })?;
    Ok(enc.get_ids().to_vec())
}
