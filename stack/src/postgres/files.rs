//! The files and users a private cluster needs: Debian's binaries, the unprivileged user as root, the
//! password, and a data directory the server's user owns.

use crate::StackError;
use std::path::{Path, PathBuf};

/// The newest Debian PostgreSQL binary directory, or `PACER_PG_BINDIR`.
pub(super) fn find_bin_dir() -> Result<PathBuf, StackError> {
    if let Some(dir) = std::env::var_os("PACER_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| StackError::Missing {
        program: "PostgreSQL (initdb, pg_ctl)".into(),
        hint: "install Debian's postgresql package (scripts/setup.sh does), or set PACER_PG_BINDIR".into(),
    })
}

/// As root, PostgreSQL refuses to run: use the `postgres` system user. Otherwise run as ourselves.
pub(super) fn unprivileged_user() -> Result<Option<(u32, u32)>, StackError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some((user.uid.as_raw(), user.gid.as_raw()))),
        _ => Err(StackError::Missing {
            program: "the `postgres` system user".into(),
            hint: "as root, PostgreSQL must run as an unprivileged user; install Debian's postgresql package".into(),
        }),
    }
}

/// A new random password (128 bits from the kernel, as hex).
pub(super) fn new_password() -> Result<String, StackError> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(StackError::io(
            "reading /dev/urandom for the PostgreSQL password",
        ))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a file only its owner can read.
pub(super) fn write_private(path: &Path, contents: &str) -> Result<(), StackError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(StackError::io(format!("writing {}", path.display())))
}

/// Prepares `<state>/postgres/data` for the server's user. The state directory itself stays the caller's: it
/// only gets search permission for others, so that the server's user can reach its own directory inside it.
pub(super) fn prepare_dir(
    state_dir: &Path,
    server_dir: &Path,
    data_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), StackError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data_dir)
        .map_err(StackError::io(format!("creating {}", data_dir.display())))?;
    if let Some((uid, gid)) = run_as {
        // The server's user must be able to walk down to its directory; say so rather than chmod a parent.
        let mut dir = state_dir.parent();
        while let Some(d) = dir {
            let mode = std::fs::metadata(d)
                .map(|m| m.permissions().mode())
                .unwrap_or(0o755);
            if mode & 0o001 == 0 {
                return Err(StackError::Failed {
                    what: "preparing the PostgreSQL data directory".into(),
                    detail: format!(
                        "{} is not searchable by the postgres user; choose a --state-dir outside it",
                        d.display()
                    ),
                });
            }
            dir = d.parent();
        }
        let mode = std::fs::metadata(state_dir)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o700);
        if mode & 0o001 == 0 {
            std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(mode | 0o001))
                .map_err(StackError::io(format!(
                    "letting the postgres user search {}",
                    state_dir.display()
                )))?;
        }
        for dir in [server_dir, data_dir] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(StackError::io(
                format!("handing {} to the postgres user", dir.display()),
            ))?;
        }
    }
    for dir in [server_dir, data_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(StackError::io(format!("restricting {}", dir.display())))?;
    }
    Ok(())
}
