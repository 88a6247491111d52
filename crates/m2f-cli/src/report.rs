//! Measurement reports: printed, and written as JSON beside the checkpoint they measure.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Prints `title` and `report` as pretty JSON, and writes the JSON to `path`.
pub fn write_report(path: &Path, title: &str, report: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(path, json.clone() + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{title}:\n{json}");
    Ok(())
}
