//! Locating model files: a local directory, the Hugging Face hub cache (offline), or a download
//! (the `hub` feature; builds without it, such as a browser build, read local files and the
//! cache only).

use std::path::{Path, PathBuf};

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
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`hub_cache_dir`] with the environment given as a lookup (tests pass their own).
fn cache_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("HF_HUB_CACHE") {
        return dir;
    }
    let home = var("HF_HOME").unwrap_or_else(|| {
        // USERPROFILE is Windows' home; without either, the cache is looked for from here.
        let user = var("HOME")
            .or_else(|| var("USERPROFILE"))
            .unwrap_or_default();
        user.join(".cache").join("huggingface")
    });
    home.join("hub")
}

/// Whether `HF_HUB_OFFLINE` forbids network access.
pub fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// The hub cache's directory for a model repository (`models--owner--name`).
fn repo_cache_dir(cache_dir: &Path, repo_id: &str) -> PathBuf {
    cache_dir.join(format!("models--{}", repo_id.replace('/', "--")))
}

/// `file` of `repo_id` at `revision` in the hub cache laid out as huggingface_hub writes it:
/// `refs/REVISION` holds a commit, whose files are under `snapshots/COMMIT/`.
fn cached_hub_file(repo_dir: &Path, revision: &str, file: &str) -> Option<PathBuf> {
    let commit = std::fs::read_to_string(repo_dir.join("refs").join(revision)).ok()?;
    let path = repo_dir.join("snapshots").join(commit.trim()).join(file);
    path.is_file().then_some(path)
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
    let repo_cache = repo_cache_dir(cache_dir, repo_id);
    if let Some(path) = cached_hub_file(&repo_cache, revision, file) {
        return Ok(path);
    }
    if offline {
        return Err(ConditioningError::MissingModelFile {
            file: file.to_string(),
            looked_in: vec![repo_cache],
            hint: format!(
                " (revision `{revision}`); HF_HUB_OFFLINE is set, so it was not downloaded"
            ),
        });
    }
    download_hub_file(repo_id, revision, file, cache_dir, &repo_cache)
}

/// Downloads `file` into the hub cache in `cache_dir`.
#[cfg(feature = "hub")]
fn download_hub_file(
    repo_id: &str,
    revision: &str,
    file: &str,
    cache_dir: &Path,
    repo_cache: &Path,
) -> Result<PathBuf> {
    use hf_hub::{Cache, Repo, RepoType};
    let download_err = |message: String| ConditioningError::Download {
        repo: repo_id.to_string(),
        file: file.to_string(),
        message,
    };
    let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
    let api = hf_hub::api::sync::ApiBuilder::from_cache(Cache::new(cache_dir.to_path_buf()))
        .with_progress(false)
        .build()
        .map_err(|e| download_err(e.to_string()))?;
    api.repo(repo)
        .get(file)
        .map_err(|e| download_err(format!("{e} (cache: {})", repo_cache.display())))
}

/// Without the `hub` feature nothing is downloaded: the error says where the file was looked
/// for.
#[cfg(not(feature = "hub"))]
fn download_hub_file(
    _repo_id: &str,
    revision: &str,
    file: &str,
    _cache_dir: &Path,
    repo_cache: &Path,
) -> Result<PathBuf> {
    Err(ConditioningError::MissingModelFile {
        file: file.to_string(),
        looked_in: vec![repo_cache.to_path_buf()],
        hint: format!(
            " (revision `{revision}`); this build has no downloads (conditioning's `hub` \
             feature is off): put the files in that cache or use a local directory"
        ),
    })
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

    /// Without the `hub` feature (`cargo test -p conditioning --no-default-features`), a file
    /// missing from the cache is an error that names the cache, never a network request.
    #[cfg(not(feature = "hub"))]
    #[test]
    fn without_hub_a_cache_miss_names_the_cache() {
        let cache = std::env::temp_dir().join(format!("m2f-hub-nohub-{}", std::process::id()));
        let err = hub_file("acme/absent", "main", "config.json", &cache, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(err.contains("models--acme--absent"), "{err}");
        assert!(err.contains("`hub`"), "{err}");
    }

    #[test]
    fn cache_dir_follows_huggingface_hub_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                (pairs.iter())
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            cache_dir_from(env(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")])),
            PathBuf::from("/c")
        );
        assert_eq!(
            cache_dir_from(env(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/h")])),
            PathBuf::from("/h/hub")
        );
        assert_eq!(
            cache_dir_from(env(&[("HOME", "/u")])),
            PathBuf::from("/u/.cache/huggingface/hub")
        );
    }
}
