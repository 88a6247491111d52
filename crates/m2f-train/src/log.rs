//! The run's JSON-lines log and its progress line.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// An append-only JSON-lines training log.
#[derive(Debug)]
pub struct TrainLog {
    path: PathBuf,
    file: std::fs::File,
}

impl TrainLog {
    /// Opens `path` for appending, creating it.
    pub fn open(path: PathBuf) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(Self { path, file })
    }

    /// Opens the log of a run resumed at `step`: lines a killed run wrote after that step
    /// (which the resumed run will write again) and a torn last line are dropped first, by an
    /// atomic rewrite, so the log reads as one uninterrupted run.
    pub fn open_at_step(path: PathBuf, step: u64) -> Result<Self> {
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
            let kept: Vec<&str> = text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                        .is_some_and(|s| s <= step)
                })
                .collect();
            let mut body = kept.join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            if body != text {
                write_file_atomic(&path, body.as_bytes())?;
            }
        }
        Self::open(path)
    }

    /// Appends one line.
    pub fn write(&mut self, v: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{v}").map_err(|e| TrainError::io(&self.path, e))
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// a kill leaves either the old file or the new one.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".m2f-tmp-")
        .tempfile_in(dir)
        .map_err(|e| TrainError::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| TrainError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| TrainError::io(path, e.error))?;
    Ok(())
}

/// A progress line on stderr (hidden when `show` is false) at `start` of `total` steps.
pub fn progress_bar(show: bool, total: u64, start: u64) -> indicatif::ProgressBar {
    let bar = if show {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:30} {pos}/{len} steps (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_log_drops_later_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        std::fs::write(
            &p,
            "{\"step\":1}\n{\"step\":2,\"val\":{}}\n{\"step\":3}\n{\"step\":4,\"lo",
        )
        .unwrap();
        let mut log = TrainLog::open_at_step(p.clone(), 2).unwrap();
        log.write(serde_json::json!({"step": 3})).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "{\"step\":1}\n{\"step\":2,\"val\":{}}\n{\"step\":3}\n"
        );
    }
}
