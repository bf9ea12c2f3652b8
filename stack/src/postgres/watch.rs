//! Watching the private cluster for [`crate::Supervised`]: `pg_ctl start` detaches the postmaster, so it is
//! not a child of ours to wait on; its pid comes from the lock file, and `/proc` says whether it lives.

use super::PrivatePostgres;
use crate::StackError;
use std::path::PathBuf;
use std::time::Duration;

/// How often the postmaster's pid is checked.
const POLL: Duration = Duration::from_millis(250);

impl PrivatePostgres {
    /// The postmaster's pid, from the lock file.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.pid_file()).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Removes a lock file whose server is gone (killed, or crashed), so that the cluster starts again on
    /// its data directory as PostgreSQL's own recovery allows. PostgreSQL removes a stale lock file itself
    /// only when no process has its pid: an unreaped postmaster, or another process that reuses the pid,
    /// would make it refuse to start.
    pub(super) fn remove_stale_pid_file(&self) -> Result<(), StackError> {
        let path = self.pid_file();
        if !path.exists() {
            return Ok(());
        }
        let pid = self.postmaster_pid();
        if pid.is_some_and(crate::process::is_postgres) {
            // A server still runs on it: PostgreSQL's own check decides.
            return Ok(());
        }
        std::fs::remove_file(&path).map_err(StackError::io(format!(
            "removing the stale {}",
            path.display()
        )))?;
        tracing::info!(?pid, path = %path.display(), "removed a stale postmaster.pid (its server is gone)");
        Ok(())
    }
}

impl crate::Child for PrivatePostgres {
    const NAME: &'static str = "postgres";

    fn log_file(&self) -> PathBuf {
        PrivatePostgres::log_file(self)
    }

    async fn exited(&mut self) -> String {
        let Some(pid) = self.postmaster_pid() else {
            return "its postmaster.pid is gone".into();
        };
        while crate::process::alive(pid) {
            tokio::time::sleep(POLL).await;
        }
        format!("the postmaster (pid {pid}) is gone")
    }

    async fn restart(&mut self) -> Result<(), StackError> {
        self.start().await
    }
}
