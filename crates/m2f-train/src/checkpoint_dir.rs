//! Replacing a checkpoint directory so that a kill at any moment leaves a whole checkpoint:
//! the new one is written beside it, then swapped in by renames, and a swap cut short is
//! completed by the next writer or reader.

use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    dir.with_file_name(format!(".{name}.{suffix}"))
}

/// Completes a replacement of `dir` that a kill interrupted: when `dir` is missing, the
/// complete new copy (`.NAME.new`, which only exists whole once the old one is moved
/// aside) or else the old one (`.NAME.old`) takes its place. Does nothing otherwise.
pub fn recover_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let (new, old) = (sibling(dir, "new"), sibling(dir, "old"));
    if old.is_dir() {
        let from = if new.is_dir() { &new } else { &old };
        std::fs::rename(from, dir).map_err(|e| TrainError::io(dir, e))?;
        if old.is_dir() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
        }
    }
    Ok(())
}

/// The directory to read checkpoint `dir` from without changing anything (a reader must not
/// race a writer's renames): `dir` itself, or while a replacement is between its renames, the
/// complete new copy (`.NAME.new` beside a moved-aside `.NAME.old`) or else the old one.
pub fn resolve_dir(dir: &Path) -> PathBuf {
    if dir.exists() {
        return dir.to_path_buf();
    }
    let (new, old) = (sibling(dir, "new"), sibling(dir, "old"));
    match (new.is_dir(), old.is_dir()) {
        (true, true) => new,
        (_, true) => old,
        _ => dir.to_path_buf(),
    }
}

/// Writes directory `dir` through `fill`, which writes the files into the directory it is
/// given; on success the result replaces `dir`. A kill leaves `dir` whole (old or new), or
/// a state [`recover_dir`] completes.
pub fn write_dir_atomic<E: From<TrainError>>(
    dir: &Path,
    fill: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    recover_dir(dir)?;
    let (tmp, new, old) = (
        sibling(dir, "tmp"),
        sibling(dir, "new"),
        sibling(dir, "old"),
    );
    for stale in [&tmp, &new, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| TrainError::io(stale, e))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    fill(&tmp)?;
    std::fs::rename(&tmp, &new).map_err(|e| TrainError::io(&new, e))?;
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| TrainError::io(dir, e))?;
    }
    std::fs::rename(&new, dir).map_err(|e| TrainError::io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        write_dir_atomic::<TrainError>(dir, |d| {
            std::fs::write(d.join("f"), text).map_err(|e| TrainError::io(d, e))
        })
        .unwrap();
    }

    #[test]
    fn replaces_and_recovers_from_a_cut_swap() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("last");
        write(&dir, "1");
        write(&dir, "2");
        assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "2");
        // A kill after the old copy was moved aside and before the new one was moved in.
        write(&dir, "3");
        std::fs::rename(&dir, sibling(&dir, "old")).unwrap();
        std::fs::create_dir(sibling(&dir, "new")).unwrap();
        std::fs::write(sibling(&dir, "new").join("f"), "4").unwrap();
        // A reader finds the new copy without moving anything; the next writer completes it.
        assert_eq!(resolve_dir(&dir), sibling(&dir, "new"));
        recover_dir(&dir).unwrap();
        assert_eq!(resolve_dir(&dir), dir);
        assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "4");
        assert!(!sibling(&dir, "old").exists());
        // A failed fill leaves the old directory.
        let r = write_dir_atomic::<TrainError>(&dir, |_| Err(TrainError::invalid("x", "y")));
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "4");
    }
}
