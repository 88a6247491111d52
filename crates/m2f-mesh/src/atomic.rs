//! Writes that never leave a half-written file behind: write to a temporary file in the
//! destination's directory, then rename over the destination.

use std::io::Write;
use std::path::Path;

use crate::error::{MeshError, Result};

/// Writes `path` through `write`, atomically: on any error the destination is untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".m2f-tmp-")
        .tempfile_in(dir)
        .map_err(|e| MeshError::io(path, e))?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buffered).map_err(|e| MeshError::io(path, e))?;
        buffered.flush().map_err(|e| MeshError::io(path, e))?;
    }
    publish_permissions(tmp.as_file(), false).map_err(|e| MeshError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| MeshError::io(path, e.error))?;
    Ok(())
}

/// Temporary files and directories are created private (0600 / 0700); give what we publish
/// the permissions an ordinary file or directory would have.
pub fn publish_permissions(file: &std::fs::File, directory: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if directory { 0o755 } else { 0o644 };
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (file, directory);
    Ok(())
}
