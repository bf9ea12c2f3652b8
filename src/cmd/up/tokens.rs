//! The run's tokens: a fresh worker token each run, and the admin token, given or made and written to
//! `<state dir>/admin.token` for `pacer tui` to read.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where the admin token made for a run is written.
pub(super) fn admin_token_path(state_dir: &Path) -> PathBuf {
    state_dir.join("admin.token")
}

/// The admin token: `given`, or a random one written to [`admin_token_path`].
pub(super) fn admin_token(given: Option<&str>, state_dir: &Path) -> anyhow::Result<String> {
    let path = admin_token_path(state_dir);
    match given {
        Some(token) => {
            // A token file from an earlier run would mislead `pacer tui`, which reads it by default.
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!("removed the admin.token of an earlier run"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remove the admin.token of an earlier run")
                }
            }
            Ok(token.to_owned())
        }
        None => {
            let token = random_token()?;
            write_secret(&path, &token)?;
            Ok(token)
        }
    }
}

/// 128 random bits from the kernel, as hex: a token for this run.
pub(super) fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode when opened: make it private all the same.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}
