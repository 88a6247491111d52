//! Content fingerprints: what ties a record to the exact inputs it was made from.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};

/// SHA-256 of `bytes`, as 64 hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 over several byte strings, each length-prefixed so that the parts cannot run into
/// each other.
pub(crate) fn sha256_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex(&h.finalize())
}

/// The fingerprint of a GNPFA checkpoint directory: the SHA-256 of its `model.safetensors`
/// (weights and template), first 32 hex digits. Two checkpoints with the same fingerprint
/// map geometry to the same latents; provenance text in `config.json` does not count.
///
/// # Errors
/// [`DatasetError::Io`] naming the weights file.
pub fn gnpfa_fingerprint(dir: &Path) -> Result<String> {
    let path = dir.join(gnpfa::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
    Ok(sha256_hex(&bytes)[..32].to_string())
}

/// Loads a GNPFA checkpoint with its fingerprint, checking that the weights did not change
/// while they were read (a training run writing the directory, say), so the fingerprint
/// describes the model that makes the latents.
///
/// # Errors
/// [`DatasetError::Gnpfa`] from loading; [`DatasetError::Invalid`] if the weights changed.
pub fn load_gnpfa(dir: &Path, device: &candle_core::Device) -> Result<(gnpfa::Gnpfa, String)> {
    let before = gnpfa_fingerprint(dir)?;
    let model = gnpfa::Gnpfa::load_on(dir, device)?;
    let after = gnpfa_fingerprint(dir)?;
    if before != after {
        return Err(DatasetError::invalid(
            format!("GNPFA checkpoint {}", dir.display()),
            "its weights changed while they were being loaded: try again when nothing writes it",
        ));
    }
    Ok((model, after))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(
            sha256_parts([b"ab".as_slice(), b"c"]),
            sha256_parts([b"a".as_slice(), b"bc"])
        );
    }
}
