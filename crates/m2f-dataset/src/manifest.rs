//! The JSON-lines manifests: one per extraction part (`manifests/shard-00003-of-00010.jsonl`),
//! one line per record, so parts written by different jobs never touch the same object. A
//! reader takes the union of all of them.

use m2f_synth::Split;
use m2f_synth::{Emotion, Intensity};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::record::RecordMeta;
use crate::store::ShardStore;

/// Folder of the manifests.
pub const MANIFEST_DIR: &str = "manifests";
/// Folder of the failure lists.
pub const FAILURE_DIR: &str = "failures";

/// One line of a manifest: what a reader needs to choose records without opening them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLine {
    /// The record id (`records/<id>/…`).
    pub id: String,
    /// train / val / test.
    pub split: Split,
    /// T.
    pub num_frames: usize,
    /// Z.
    pub latent_dim: usize,
    /// Frames per second.
    pub fps: f32,
    /// 0 = as spoken, 1.. = augmented.
    pub variant: u32,
    /// One of the 8 MEAD emotions.
    pub emotion: Emotion,
    /// low / medium / high.
    pub intensity: Intensity,
    /// Engine and voice.
    pub voice: String,
    /// Identity index in the source pool.
    pub identity: u32,
    /// GNPFA fingerprint.
    pub gnpfa: String,
    /// The record's inputs hash (as in its metadata).
    pub inputs: String,
}

impl ManifestLine {
    /// The line describing a record.
    pub fn of(meta: &RecordMeta) -> Self {
        Self {
            id: meta.id.clone(),
            split: meta.split,
            num_frames: meta.num_frames,
            latent_dim: meta.latent_dim,
            fps: meta.fps,
            variant: meta.variant,
            emotion: meta.labels.emotion,
            intensity: meta.labels.intensity,
            voice: meta.labels.voice.clone(),
            identity: meta.labels.identity,
            gnpfa: meta.gnpfa.clone(),
            inputs: meta.inputs.clone(),
        }
    }
}

/// A clip that could not be extracted, and why (one line of `failures/<part>.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The source clip (or record) id.
    pub clip: String,
    /// The error, as the user would read it.
    pub reason: String,
}

/// JSON lines of `items`, each ending in a newline.
///
/// # Errors
/// [`DatasetError::Invalid`] if an item does not serialise.
pub(crate) fn to_json_lines<T: Serialize>(items: &[T]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, item)
            .map_err(|e| DatasetError::invalid("manifest line", e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Parses JSON lines; `what` names the object in errors, with the line number.
///
/// # Errors
/// [`DatasetError::Invalid`] naming the object, the line and the field.
pub(crate) fn parse_json_lines<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
) -> Result<Vec<T>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DatasetError::invalid(what.to_string(), format!("not UTF-8: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| DatasetError::invalid(format!("{what} line {}", i + 1), e.to_string()))
        })
        .collect()
}

/// Every manifest line of the dataset on `store`, in part order then line order.
///
/// # Errors
/// [`DatasetError::Invalid`] naming the manifest and line of a bad line, or when the store
/// holds no manifest; duplicate record ids are an error too.
pub fn read_manifests(store: &ShardStore) -> Result<Vec<ManifestLine>> {
    let keys: Vec<String> = store
        .list(MANIFEST_DIR)?
        .into_iter()
        .filter(|k| k.ends_with(".jsonl"))
        .collect();
    if keys.is_empty() {
        return Err(DatasetError::invalid(
            format!("dataset {}", store.name()),
            format!("it holds no {MANIFEST_DIR}/*.jsonl: run `m2f extract` into it first"),
        ));
    }
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        let bytes = store.get_required(&key)?;
        let what = format!("{}: {key}", store.name());
        for line in parse_json_lines::<ManifestLine>(&bytes, &what)? {
            if !seen.insert(line.id.clone()) {
                return Err(DatasetError::invalid(
                    what,
                    format!(
                        "record {} is listed twice (overlapping --shard parts?)",
                        line.id
                    ),
                ));
            }
            lines.push(line);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named() {
        let good = r#"{"id":"a/b/v0","split":"train","num_frames":3,"latent_dim":64,"fps":30.0,"variant":0,"emotion":"happy","intensity":"high","voice":"espeak-ng:en-us","identity":1,"gnpfa":"x","inputs":"y"}"#;
        let lines: Vec<ManifestLine> = parse_json_lines(good.as_bytes(), "m.jsonl").unwrap();
        assert_eq!(lines[0].num_frames, 3);
        let bad = good.replace("\"identity\"", "\"colour\":1,\"identity\"");
        let text = format!("{good}\n{bad}\n");
        let err = parse_json_lines::<ManifestLine>(text.as_bytes(), "m.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("m.jsonl line 2") && err.contains("colour"),
            "{err}"
        );
    }
}
