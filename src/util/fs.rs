//! Files the harness writes for its own servers: private to this user.

use anyhow::Context;
use std::path::Path;

/// Writes a file only its owner can read (passwords, keys), replacing one
/// already there (a revived server finds its folder as it left it).
///
/// # Errors
/// When the file cannot be written.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, bytes)?;
    Ok(())
}
