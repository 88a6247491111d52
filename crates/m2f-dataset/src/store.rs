//! Where shards are written and read: a local directory, memory, or a cloud bucket, all
//! through the `object_store` crate, behind a small blocking interface.
//!
//! Every object is written whole: object stores publish a `put` atomically, and the local
//! backend writes a temporary file and renames it. A record's metadata object is written after
//! its tensors, so a record whose metadata exists is complete (see `docs/dataset-format.md`).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{DatasetError, Result};

/// A place holding a dataset: objects addressed by `/`-separated keys such as
/// `records/clip_0000001/meta.json`.
#[derive(Clone)]
pub struct ShardStore {
    inner: Arc<dyn ObjectStore>,
    prefix: StorePath,
    name: String,
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    runtime: Option<Arc<tokio::runtime::Runtime>>,
}

impl fmt::Debug for ShardStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardStore")
            .field("name", &self.name)
            .finish()
    }
}

impl ShardStore {
    /// Opens `target`: a local directory path (created if missing), or a URL whose scheme picks
    /// the backend: `file:///abs/dir`, `memory://` (this process only), and with the
    /// matching cargo feature `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (credentials from the usual environment variables, e.g.
    /// `AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`).
    ///
    /// A test object is written and deleted, so a store that cannot be reached or written
    /// fails here, before any work.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the target when it cannot be created, parsed, reached or
    /// written; [`DatasetError::Invalid`] for a scheme this build does not support.
    pub fn open(target: &str) -> Result<Self> {
        let store = if target.contains("://") {
            Self::open_url(target)?
        } else {
            Self::local(Path::new(target))?
        };
        store.probe()?;
        Ok(store)
    }

    /// Opens `target` for reading: as [`ShardStore::open`], but without the test write (so
    /// read-only credentials do) and without creating a missing local directory.
    ///
    /// # Errors
    /// [`DatasetError::Io`] naming a local directory that does not exist; as
    /// [`ShardStore::open`] otherwise.
    pub fn open_read(target: &str) -> Result<Self> {
        if target.contains("://") {
            Self::open_url(target)
        } else {
            let dir = Path::new(target);
            if !dir.is_dir() {
                return Err(DatasetError::io(
                    dir,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such dataset directory"),
                ));
            }
            Self::local(dir)
        }
    }

    /// A local directory, created if missing.
    ///
    /// # Errors
    /// [`DatasetError::Io`] if it cannot be created; [`DatasetError::Store`] if it cannot be
    /// opened.
    pub fn local(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| {
            DatasetError::Store {
                store: dir.display().to_string(),
                location: String::new(),
                message: e.to_string(),
            }
        })?;
        Ok(Self::wrap(
            Arc::new(fs),
            StorePath::default(),
            dir.display().to_string(),
        ))
    }

    /// An empty store in memory (tests, and pipelines that read back in the same process).
    pub fn memory() -> Self {
        Self::wrap(
            Arc::new(object_store::memory::InMemory::new()),
            StorePath::default(),
            "memory://".to_string(),
        )
    }

    fn wrap(inner: Arc<dyn ObjectStore>, prefix: StorePath, name: String) -> Self {
        Self {
            inner,
            prefix,
            name,
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            runtime: None,
        }
    }

    fn open_url(target: &str) -> Result<Self> {
        let store_err = |message: String| DatasetError::Store {
            store: target.to_string(),
            location: String::new(),
            message,
        };
        let url = url::Url::parse(target).map_err(|e| store_err(format!("not a URL: {e}")))?;
        match url.scheme() {
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|_| store_err("a file:// URL needs an absolute path".into()))?;
                Self::local(&dir).map(|s| s.named(target))
            }
            "memory" => Ok(Self::memory()),
            scheme @ ("s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss") => {
                Self::open_cloud(&url, scheme, target)
            }
            other => Err(DatasetError::invalid(
                format!("output {target:?}"),
                format!(
                    "unknown scheme {other:?}: use a directory path, file://, memory://, s3://, gs:// or az://"
                ),
            )),
        }
    }

    fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    fn open_cloud(url: &url::Url, scheme: &str, target: &str) -> Result<Self> {
        let needed = cloud_feature(scheme);
        let enabled = match needed {
            "s3" => cfg!(feature = "s3"),
            "gcs" => cfg!(feature = "gcs"),
            _ => cfg!(feature = "azure"),
        };
        if !enabled {
            return Err(missing_feature(target, needed));
        }
        // Credentials and region come from the environment, as the cloud SDKs read them.
        let options = std::env::vars().map(|(k, v)| (k.to_ascii_lowercase(), v));
        let (inner, prefix) =
            object_store::parse_url_opts(url, options).map_err(|e| DatasetError::Store {
                store: target.to_string(),
                location: String::new(),
                message: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DatasetError::Store {
                store: target.to_string(),
                location: String::new(),
                message: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(Self {
            inner: Arc::from(inner),
            prefix,
            name: target.to_string(),
            runtime: Some(Arc::new(runtime)),
        })
    }

    #[cfg(not(any(feature = "s3", feature = "gcs", feature = "azure")))]
    fn open_cloud(_url: &url::Url, scheme: &str, target: &str) -> Result<Self> {
        Err(missing_feature(target, cloud_feature(scheme)))
    }

    /// The store as the user named it.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
        if let Some(rt) = &self.runtime {
            return rt.block_on(f);
        }
        // Local files and memory complete without a reactor.
        futures::executor::block_on(f)
    }

    fn path(&self, key: &str) -> Result<StorePath> {
        let mut path = self.prefix.clone();
        for part in key.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(DatasetError::invalid(
                    format!("store key {key:?}"),
                    "keys are '/'-separated names without empty, '.' or '..' parts",
                ));
            }
            path = path.clone().join(part);
        }
        Ok(path)
    }

    fn store_err(&self, key: &str, e: impl fmt::Display) -> DatasetError {
        DatasetError::Store {
            store: self.name.clone(),
            location: key.to_string(),
            message: e.to_string(),
        }
    }

    /// Writes `bytes` as `key`, whole: a reader sees the old object or the new one, never
    /// part of it.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the store and key.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        self.block_on(self.inner.put(&path, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.store_err(key, e))
    }

    /// Reads `key`, or `None` if there is no such object.
    ///
    /// # Errors
    /// [`DatasetError::Store`] for any failure other than absence.
    pub fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.path(key)?;
        let result = self.block_on(async {
            match self.inner.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        result.map_err(|e| self.store_err(key, e))
    }

    /// Reads `key`, which must exist.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the key when it is missing or unreadable.
    pub fn get_required(&self, key: &str) -> Result<Bytes> {
        self.get(key)?
            .ok_or_else(|| self.store_err(key, "missing (was the extraction finished?)"))
    }

    /// Deletes `key`; absent keys are not an error.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the key.
    pub fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.block_on(self.inner.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_err(key, e)),
        }
    }

    /// Keys under `prefix` (a `/`-separated folder), relative to the store, sorted.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the prefix.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let path = self.path(prefix)?;
        let base = self.prefix.as_ref().len();
        let metas: Vec<_> = self.block_on(self.inner.list(Some(&path)).collect::<Vec<_>>());
        let mut keys = Vec::with_capacity(metas.len());
        for m in metas {
            let m = m.map_err(|e| self.store_err(prefix, e))?;
            let full = m.location.as_ref();
            let rel = full[base..].trim_start_matches('/');
            keys.push(rel.to_string());
        }
        keys.sort();
        Ok(keys)
    }

    fn probe(&self) -> Result<()> {
        let key = ".m2f-write-probe";
        self.put(key, b"media2face".to_vec())?;
        self.delete(key)
    }
}

fn cloud_feature(scheme: &str) -> &'static str {
    match scheme {
        "s3" | "s3a" => "s3",
        "gs" => "gcs",
        _ => "azure",
    }
}

fn missing_feature(target: &str, feature: &str) -> DatasetError {
    DatasetError::invalid(
        format!("output {target:?}"),
        format!(
            "this build has no {feature} support: rebuild with `--features m2f-dataset/{feature}` \
             (m2f-cli forwards it as `--features {feature}`)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &ShardStore) {
        assert_eq!(store.get("a/b.json").unwrap(), None);
        store.put("a/b.json", b"one".to_vec()).unwrap();
        store.put("a/c/d.bin", b"two".to_vec()).unwrap();
        store.put("e.txt", b"three".to_vec()).unwrap();
        assert_eq!(store.get_required("a/b.json").unwrap().as_ref(), b"one");
        assert_eq!(store.list("a").unwrap(), vec!["a/b.json", "a/c/d.bin"]);
        store.put("a/b.json", b"replaced".to_vec()).unwrap();
        assert_eq!(
            store.get("a/b.json").unwrap().unwrap().as_ref(),
            b"replaced"
        );
        store.delete("a/b.json").unwrap();
        store.delete("a/b.json").unwrap();
        assert_eq!(store.list("a").unwrap(), vec!["a/c/d.bin"]);
        let err = store.get_required("nope.json").unwrap_err().to_string();
        assert!(err.contains("nope.json"), "{err}");
        assert!(store.put("../escape", vec![]).is_err());
        assert!(store.put("a//b", vec![]).is_err());
    }

    #[test]
    fn memory_store_reads_what_it_wrote() {
        exercise(&ShardStore::memory());
    }

    #[test]
    fn local_store_reads_what_it_wrote_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let store = ShardStore::open(root.to_str().unwrap()).unwrap();
        exercise(&store);
        assert_eq!(std::fs::read(root.join("a/c/d.bin")).unwrap(), b"two");
        let url = format!("file://{}", root.display());
        let again = ShardStore::open(&url).unwrap();
        assert_eq!(again.get_required("e.txt").unwrap().as_ref(), b"three");
        assert!(!root.join(".m2f-write-probe").exists());
    }

    #[test]
    fn unusable_targets_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "x").unwrap();
        let err = ShardStore::open(blocker.join("out").to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("a-file"), "{err}");
        let err = ShardStore::open("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("ftp"), "{err}");
        #[cfg(not(feature = "s3"))]
        {
            let err = ShardStore::open("s3://bucket/shards")
                .unwrap_err()
                .to_string();
            assert!(err.contains("s3") && err.contains("feature"), "{err}");
        }
    }
}
