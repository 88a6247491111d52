//! Measurement reports: printed, and written as JSON beside the checkpoint they measure.

use std::path::{Path, PathBuf};

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

/// Where the numbers of a Markdown report at `markdown` go: `x.md` → `x.json`; any other name
/// gets `.json` appended, so that a name such as `grid_s1.5` keeps its own file instead of
/// sharing `grid_s1.json` with `grid_s1.25`, and `x.json` is not overwritten by its numbers.
pub fn json_beside(markdown: &Path) -> PathBuf {
    match markdown.extension() {
        Some(ext) if ext.eq_ignore_ascii_case("md") => markdown.with_extension("json"),
        _ => {
            let mut name = markdown.as_os_str().to_owned();
            name.push(".json");
            PathBuf::from(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_beside_replaces_md_and_appends_to_anything_else() {
        let j = |p: &str| json_beside(Path::new(p));
        assert_eq!(j("out/eval/default.md"), Path::new("out/eval/default.json"));
        assert_eq!(j("out/a.MD"), Path::new("out/a.json"));
        assert_eq!(j("grid_s1.5"), Path::new("grid_s1.5.json"));
        assert_eq!(j("grid_s1.25"), Path::new("grid_s1.25.json"));
        assert_eq!(j("report"), Path::new("report.json"));
        assert_eq!(j("numbers.json"), Path::new("numbers.json.json"));
    }
}
