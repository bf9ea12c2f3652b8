//! The default worker id, `<host>-<n>`: stable across restarts of the same worker, so that the control plane
//! and Prometheus see one worker come back rather than a new one each time, and unique among the workers
//! running on one host.
//!
//! `n` is a slot: the lowest number whose lock file this process can `flock` (exclusively, without waiting),
//! held until the process exits. A restarted worker finds its old slot free again and takes it back; two live
//! workers can never hold the same one. The kernel drops the lock when the process dies, however it dies, so
//! a crash leaves nothing to clean up.

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Slots tried before giving up (and falling back to `<host>-<pid>`).
const MAX_SLOTS: u32 = 1024;

/// This process's worker id, unless one is given: `<host>-<n>`, with `n` the lowest slot free on this host
/// (see the module doc). Every call in one process returns the same id; the slot is held until the process
/// exits.
///
/// The slots' lock files are in `$XDG_RUNTIME_DIR/pacer`, or `/tmp/pacer-<uid>` without it: workers share
/// slots only if they see the same directory (the same user and environment). If no slot can be taken
/// (the directory cannot be created or belongs to someone else, every slot is held), the id is
/// `<host>-<pid>`, unique but new at every start, and a warning says why.
pub fn default_worker_id() -> String {
    static ID: OnceLock<Result<Slot, String>> = OnceLock::new();
    let host = host();
    let slot = ID.get_or_init(|| {
        let dir = runtime_dir();
        Slot::take(&dir, &host).map_err(|e| {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot take a worker slot; the default worker id will change at every start (set --worker-id for a stable one)");
            e.to_string()
        })
    });
    match slot {
        Ok(slot) => slot.id().to_owned(),
        Err(_) => format!("{host}-{}", std::process::id()),
    }
}

/// A worker slot, held while this lives.
#[derive(Debug)]
pub(crate) struct Slot {
    id: String,
    _lock: Flock<File>,
}

impl Slot {
    /// Takes the lowest free slot under `dir` (created if missing); its id is `<host>-<n>`.
    ///
    /// `flock` locks belong to an open file, not to a process, so two slots taken in one process are
    /// different slots too.
    pub(crate) fn take(dir: &Path, host: &str) -> io::Result<Self> {
        prepare(dir)?;
        for n in 0..MAX_SLOTS {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(dir.join(format!("worker-{n}.lock")))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut lock) => {
                    // Only for whoever looks at the file: which process holds the slot.
                    let _ = lock
                        .set_len(0)
                        .and_then(|()| writeln!(lock, "{}", std::process::id()));
                    return Ok(Self {
                        id: format!("{host}-{n}"),
                        _lock: lock,
                    });
                }
                Err((_, Errno::EWOULDBLOCK)) => continue,
                Err((_, errno)) => return Err(errno.into()),
            }
        }
        Err(io::Error::other(format!(
            "all {MAX_SLOTS} slots are held by running workers"
        )))
    }

    /// The worker id this slot gives.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

/// Creates the slots' directory, private to this user, and refuses one that someone else owns (in `/tmp`
/// another user could have made it first, to hand out or withhold slots).
fn prepare(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::getuid().as_raw() {
        return Err(io::Error::other(format!(
            "{} is not a directory of this user",
            dir.display()
        )));
    }
    Ok(())
}

/// Where the slots' lock files are.
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("pacer"),
        None => PathBuf::from(format!("/tmp/pacer-{}", nix::unistd::getuid())),
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pacer-slot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn two_holders_get_different_ids_and_a_freed_slot_is_taken_back() {
        let dir = scratch("reuse");
        let first = Slot::take(&dir, "h").unwrap();
        let second = Slot::take(&dir, "h").unwrap();
        assert_eq!(first.id(), "h-0");
        assert_eq!(second.id(), "h-1");
        drop(first);
        let again = Slot::take(&dir, "h").unwrap();
        assert_eq!(again.id(), "h-0", "a restarted worker gets its slot back");
        let third = Slot::take(&dir, "h").unwrap();
        assert_eq!(third.id(), "h-2");
        drop((second, again, third));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_directory_is_private() {
        let dir = scratch("private");
        let _slot = Slot::take(&dir, "h").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_id_is_the_same_for_the_whole_process() {
        let id = default_worker_id();
        assert!(id.starts_with(&format!("{}-", host())), "{id}");
        assert_eq!(default_worker_id(), id);
    }
}
