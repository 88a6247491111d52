//! Measurement reports: printed, and written as JSON beside the checkpoint they measure.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Prints `title` and `report` as pretty JSON, and writes the JSON to `path`.
pub fn write_report(path: &Path, title: &str, report: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    write_replacing(path, (json.clone() + "\n").as_bytes())?;
    println!("{title}:\n{json}");
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename: a kill leaves the old file
/// or the new one, never half of one.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    m2f_mesh::write_atomic(path, |w| w.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}

/// The command line as the user would retype it, for provenance: `m2f` and the arguments, not
/// the path of this machine's binary.
pub fn command_line() -> String {
    std::iter::once("m2f".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
