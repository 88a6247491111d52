//! Locating model files: a local directory, the Hugging Face hub cache (offline), or a download.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::{ConditioningError, Result};

/// Where an encoder's files (`config.json`, `model.safetensors`, `tokenizer.json`, …) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A directory holding the files directly (e.g. an unpacked wheel or a `git clone`).
    Local(PathBuf),
    /// A Hugging Face hub model repository, e.g. `openai/clip-vit-base-patch32`.
    ///
    /// Files already in the hub cache are used without network access. Otherwise they are
    /// downloaded, unless `HF_HUB_OFFLINE` is set to `1`/`true`/`yes`/`on`.
    Hub {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
    },
}

impl ModelSource {
    /// A local directory.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self::Local(dir.into())
    }

    /// A hub repository at revision `main`.
    pub fn hub(repo: impl Into<String>) -> Self {
        Self::Hub {
            repo: repo.into(),
            revision: "main".to_string(),
        }
    }

    /// The path of `file` (relative to the model root, e.g. `"config.json"`), downloading it
    /// if needed and allowed.
    ///
    /// Errors name the file and every place searched.
    pub fn file(&self, file: &str) -> Result<PathBuf> {
        match self {
            Self::Local(dir) => local_file(dir, file),
            Self::Hub { repo, revision } => {
                hub_file(repo, revision, file, &hub_cache_dir(), hub_offline())
            }
        }
    }
}

fn local_file(dir: &Path, file: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ConditioningError::MissingModelFile {
            file: file.to_string(),
            looked_in: vec![dir.to_path_buf()],
            hint: if dir.is_dir() {
                String::new()
            } else {
                "; that directory does not exist".to_string()
            },
        })
    }
}

/// `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` — the order
/// huggingface_hub uses, so files fetched from Python are found too.
pub fn hub_cache_dir() -> PathBuf {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Cache::from_env().path().clone(),
    }
}

/// Whether `HF_HUB_OFFLINE` forbids network access.
pub fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// `file` of `repo_id` at `revision` from the hub cache in `cache_dir`, downloaded unless
/// `offline` (the caller reads the environment, so tests need not set it).
fn hub_file(
    repo_id: &str,
    revision: &str,
    file: &str,
    cache_dir: &Path,
    offline: bool,
) -> Result<PathBuf> {
    let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
    let cache = Cache::new(cache_dir.to_path_buf());
    if let Some(path) = cache.repo(repo.clone()).get(file) {
        return Ok(path);
    }
    let repo_cache = cache_dir.join(repo.folder_name());
    if offline {
        return Err(ConditioningError::MissingModelFile {
            file: file.to_string(),
            looked_in: vec![repo_cache],
            hint: format!(
                " (revision `{revision}`); HF_HUB_OFFLINE is set, so it was not downloaded"
            ),
        });
    }
    let download_err = |message: String| ConditioningError::Download {
        repo: repo_id.to_string(),
        file: file.to_string(),
        message,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(false)
        .build()
        .map_err(|e| download_err(e.to_string()))?;
    api.repo(repo)
        .get(file)
        .map_err(|e| download_err(format!("{e} (cache: {})", repo_cache.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_missing_file_names_file_and_dir() {
        let dir = std::env::temp_dir().join("m2f-weights-test-does-not-exist");
        let err = ModelSource::local(&dir)
            .file("config.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn hub_cache_hit_needs_no_network() {
        // Lay out a hub cache by hand: refs/main -> snapshots/<commit>/config.json.
        let cache = std::env::temp_dir().join(format!("m2f-hub-cache-{}", std::process::id()));
        let repo = cache.join("models--acme--tiny");
        let snap = repo.join("snapshots").join("0123abcd");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "0123abcd").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        let path = hub_file("acme/tiny", "main", "config.json", &cache, true).unwrap();
        assert_eq!(path, snap.join("config.json"));
        std::fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn hub_offline_miss_names_file_and_cache() {
        // Offline is an argument: the test leaves the process environment alone.
        let cache = std::env::temp_dir().join(format!("m2f-hub-empty-{}", std::process::id()));
        let err = hub_file("acme/absent", "main", "model.safetensors", &cache, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        assert!(err.contains("models--acme--absent"), "{err}");
        assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    }
}
