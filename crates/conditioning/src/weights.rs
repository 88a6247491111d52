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
    /// downloaded (with the `hub` feature, on by default), unless `HF_HUB_OFFLINE` is set to
    /// `1`/`true`/`yes`/`on`.
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
                let cache = hub_cache_dir().ok_or_else(|| ConditioningError::MissingModelFile {
                    file: file.to_string(),
                    looked_in: Vec::new(),
                    hint: format!(
                        " (hub repo `{repo}`); there is no hub cache: no home directory, and \
                         neither HF_HUB_CACHE nor HF_HOME is set"
                    ),
                })?;
                hub_file(repo, revision, file, &cache, hub_offline())
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

/// The hub cache, found as huggingface_hub finds it, so that files fetched from Python are
/// found too: `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (a leading `~/` in the
/// variables is the home directory). `None` when none is set and there is no home directory.
pub fn hub_cache_dir() -> Option<PathBuf> {
    #[allow(deprecated)] // Deprecated before Rust 1.87 for Windows quirks since fixed.
    let home = std::env::home_dir();
    cache_dir_from(|name| std::env::var_os(name), home)
}

/// [`hub_cache_dir`] with the environment and the home directory given (tests pass their own).
fn cache_dir_from(
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let var = |name| {
        let value = PathBuf::from(env(name).filter(|v| !v.is_empty())?);
        // Only a first component that is exactly `~` (not `~user`).
        match value.strip_prefix("~") {
            Ok(rest) => Some(home.as_ref()?.join(rest)),
            Err(_) => Some(value),
        }
    };
    let cache = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE"));
    cache.or_else(|| {
        let hf_home = var("HF_HOME").or_else(|| {
            let xdg = var("XDG_CACHE_HOME").or_else(|| Some(home.as_ref()?.join(".cache")));
            Some(xdg?.join("huggingface"))
        });
        Some(hf_home?.join("hub"))
    })
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
/// `refs/REVISION` holds a commit, whose files are under `snapshots/COMMIT/`; a revision that
/// is itself a commit has no ref and names its snapshot directly.
fn cached_hub_file(repo_dir: &Path, revision: &str, file: &str) -> Option<PathBuf> {
    let commit = std::fs::read_to_string(repo_dir.join("refs").join(revision))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    let path = repo_dir.join("snapshots").join(commit).join(file);
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
            " (revision `{revision}`); this build does not download (the `hub` feature of \
             media2face or conditioning is off): fetch the repository into that cache \
             elsewhere (`huggingface-cli download REPO`, then copy the cache) or use a local \
             directory"
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
        let home = || Some(PathBuf::from("/u"));
        let dir = |pairs, home| cache_dir_from(env(pairs), home).map(|d| d.display().to_string());
        let all = &[
            ("HF_HUB_CACHE", "/c"),
            ("HUGGINGFACE_HUB_CACHE", "/l"),
            ("HF_HOME", "/h"),
            ("XDG_CACHE_HOME", "/x"),
        ];
        assert_eq!(dir(all, home()).as_deref(), Some("/c"));
        assert_eq!(dir(&all[1..], home()).as_deref(), Some("/l"));
        assert_eq!(dir(&all[2..], home()).as_deref(), Some("/h/hub"));
        assert_eq!(
            dir(&all[3..], home()).as_deref(),
            Some("/x/huggingface/hub")
        );
        assert_eq!(
            dir(&[], home()).as_deref(),
            Some("/u/.cache/huggingface/hub")
        );
        // Empty variables count as unset; `~/` is the home directory.
        let tilde = &[("HF_HUB_CACHE", ""), ("HF_HOME", "~/hf")];
        assert_eq!(dir(tilde, home()).as_deref(), Some("/u/hf/hub"));
        // Without a home directory or a variable there is no cache (not the working directory).
        assert_eq!(dir(&[], None), None);
        assert_eq!(dir(&[("HF_HOME", "/h")], None).as_deref(), Some("/h/hub"));
    }

    #[test]
    fn a_commit_revision_names_its_snapshot() {
        let cache = std::env::temp_dir().join(format!("m2f-hub-commit-{}", std::process::id()));
        let snap = cache.join("models--acme--tiny/snapshots/0123abcd");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        let path = hub_file("acme/tiny", "0123abcd", "config.json", &cache, true).unwrap();
        assert_eq!(path, snap.join("config.json"));
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
