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

/// The initialisation a `VarMap` gives a bias of a layer with `fan_in` inputs (as candle-nn's
/// `linear` and `conv1d`); checkpoints override it.
pub(crate) fn bias_init(fan_in: usize) -> candle_nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Memory-maps an f32 safetensors file; the error names the file.
pub(crate) fn mmap_safetensors(path: &Path, device: &Device) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is only read; like every mmap user we rely on nobody truncating it
    // while it is mapped.
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, device) }.map_err(|e| {
        ConditioningError::invalid(path.display().to_string(), format!("safetensors: {e}"))
    })
}

/// Runs `f` on the `tokenizers` crate, turning its errors and its panics into
/// [`ConditioningError::Tokenizer`] naming `path`: it is a third-party parser fed a user's
/// file, and some malformed `tokenizer.json` files make it panic (an `expect` in its decoder
/// deserialisation, found by fuzzing), which must not take the caller down.
/// `doing` says what was asked of it in the error (empty: loading the file).
pub(crate) fn tokenizer_call<T>(
    path: &Path,
    doing: &str,
    f: impl FnOnce() -> tokenizers::Result<T>,
) -> Result<T> {
    let why = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(t)) => return Ok(t),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the tokenizers crate panicked on this file".to_string(),
    };
    Err(ConditioningError::Tokenizer {
        path: path.to_path_buf(),
        message: match doing {
            "" => why,
            doing => format!("{doing}: {why}"),
        },
    })
}

/// Reads `tokenizer.json` and truncates to `max_len` tokens (special tokens included).
pub(crate) fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer> {
    let mut tokenizer = tokenizer_call(path, "", || Tokenizer::from_file(path))?;
    tokenizer_call(path, &format!("truncating to {max_len} tokens"), || {
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map(|_| ())
    })?;
    // One prompt at a time: padding would only add tokens past EOT.
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// `text` as token ids, special tokens included; the error names the tokenizer file.
pub(crate) fn encode(tokenizer: &Tokenizer, path: &Path, text: &str) -> Result<Vec<u32>> {
    let enc = tokenizer_call(path, &format!("encoding {text:?}"), || {
        tokenizer.encode(text, true)
    })?;
    Ok(enc.get_ids().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tokenizers 0.23 panics (an `expect` in its decoder deserialisation) on a `decoder` entry
    /// it cannot read; found by fuzzing the sentence-encoder loader. The panic must come back
    /// as an error naming the file.
    #[test]
    fn a_tokenizer_file_the_tokenizers_crate_panics_on_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":null,"post_processor":null,
            "decoder":{"type":"WordPiece" "prefix":"@@"},
            "model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}"#;
        std::fs::write(&path, json).unwrap();
        let err = load_tokenizer(&path, 8).unwrap_err().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("panicked"),
            "{err}"
        );
    }
}
