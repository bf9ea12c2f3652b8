//! A private PostgreSQL cluster from Debian's binaries (`initdb`, `pg_ctl`), in a data directory of its own,
//! listening on loopback only. As root, the binaries run as the unprivileged `postgres` user.

use crate::StackError;
mod files;
mod watch;

use crate::ports::{claim_port, port_is_free};
use files::{find_bin_dir, new_password, prepare_dir, unprivileged_user, write_private};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Where and how to run the cluster.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The directory holding the cluster's data directory and log.
    pub state_dir: PathBuf,
    /// The TCP port; 0 picks a free one.
    pub port: u16,
    /// The database the pipeline uses (created if missing).
    pub database: String,
}

/// A running private cluster. Its files live in `<state>/postgres/` (the data directory `data/` and the server
/// log `server.log`), owned by the server's user; the superuser's password is in `<state>/postgres.password`.
#[derive(Debug)]
pub struct PrivatePostgres {
    data_dir: PathBuf,
    password: Option<String>,
    bin_dir: PathBuf,
    port: u16,
    database: String,
    started_here: bool,
    run_as: Option<(u32, u32)>,
}

const SUPERUSER: &str = "pacer";

impl PrivatePostgres {
    /// Starts the cluster, creating it on first use, or reuses it if it is already running.
    pub async fn start_or_reuse(options: &PostgresOptions) -> Result<Self, StackError> {
        let bin_dir = find_bin_dir()?;
        let run_as = unprivileged_user()?;
        std::fs::create_dir_all(&options.state_dir).map_err(StackError::io(format!(
            "creating {}",
            options.state_dir.display()
        )))?;
        let state_dir = options
            .state_dir
            .canonicalize()
            .map_err(StackError::io(format!(
                "resolving {}",
                options.state_dir.display()
            )))?;
        let server_dir = state_dir.join("postgres");
        let data_dir = server_dir.join("data");
        let password_file = state_dir.join("postgres.password");
        prepare_dir(&state_dir, &server_dir, &data_dir, run_as)?;
        let mut pg = Self {
            data_dir,
            password: std::fs::read_to_string(&password_file)
                .ok()
                .map(|p| p.trim().to_owned()),
            bin_dir,
            port: options.port,
            database: options.database.clone(),
            started_here: false,
            run_as,
        };
        if !pg.data_dir.join("PG_VERSION").exists() {
            let password = new_password()?;
            pg.initdb(&password).await?;
            write_private(&password_file, &password)?;
            pg.password = Some(password);
        }
        match pg.running_port() {
            Some(port) => {
                tracing::info!(port, data_dir = %pg.data_dir.display(), "reusing the running private PostgreSQL");
                pg.port = port;
            }
            None => pg.start().await?,
        }
        pg.create_database().await?;
        Ok(pg)
    }

    /// The URL of the pipeline's database.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// The URL of another database of this cluster.
    pub fn url_for(&self, database: &str) -> String {
        match &self.password {
            Some(password) => format!(
                "postgres://{SUPERUSER}:{password}@127.0.0.1:{}/{database}",
                self.port
            ),
            None => format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port),
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.with_file_name("server.log")
    }

    /// True if this process started the cluster (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the cluster (fast shutdown: running transactions are rolled back).
    pub async fn stop(&self) -> Result<(), StackError> {
        let data_dir = self.data_dir.display().to_string();
        self.pg_ctl(
            &["-D", &data_dir, "-m", "fast", "-w", "stop"],
            "pg_ctl stop",
        )
        .await
    }

    /// Stops the cluster at once, blocking (immediate shutdown, as after a crash; for `Drop` in tests).
    pub fn stop_now(&self) {
        let mut command = std::process::Command::new(self.bin_dir.join("pg_ctl"));
        command
            .args(["-D"])
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-w", "stop"]);
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/");
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        let _ = command.status();
    }

    /// Starts a stopped cluster again on the same port.
    pub async fn start(&mut self) -> Result<(), StackError> {
        self.port = claim_port(self.port, "PostgreSQL", "--pg-port")?;
        self.remove_stale_pid_file()?;
        let data_dir = self.data_dir.display().to_string();
        let log = self.log_file().display().to_string();
        let server_options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        self.pg_ctl(
            &[
                "-D",
                &data_dir,
                "-l",
                &log,
                "-o",
                &server_options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )
        .await?;
        self.started_here = true;
        tracing::info!(port = self.port, data_dir = %data_dir, "private PostgreSQL started");
        Ok(())
    }

    async fn initdb(&self, password: &str) -> Result<(), StackError> {
        let data_dir = self.data_dir.display().to_string();
        // initdb runs as the server's user and reads the password from a file that user owns.
        let pwfile = self.data_dir.with_file_name("initdb.pw");
        write_private(&pwfile, password)?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).map_err(StackError::io(
                "handing the password file to the postgres user",
            ))?;
        }
        let mut command = self.command("initdb");
        command.args([
            "-D",
            &data_dir,
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        command.arg(format!("--pwfile={}", pwfile.display()));
        command.arg("--no-instructions");
        let result = run(command, "initdb").await;
        let _ = std::fs::remove_file(&pwfile);
        result?;
        tracing::info!(data_dir = %data_dir, "private PostgreSQL cluster created");
        Ok(())
    }

    /// The port of a server already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.pid_file()).ok()?;
        let mut lines = pid_file.lines();
        let pid: i32 = lines.next()?.trim().parse().ok()?;
        let port: u16 = lines.nth(2)?.trim().parse().ok()?;
        (crate::process::alive(pid) && !port_is_free(port)).then_some(port)
    }

    /// The server's lock file: the postmaster's pid on its first line, the port on its fourth.
    fn pid_file(&self) -> PathBuf {
        self.data_dir.join("postmaster.pid")
    }

    async fn create_database(&self) -> Result<(), StackError> {
        self.ensure_database(&self.database).await
    }

    /// Creates database `name` in this cluster unless it exists.
    pub async fn ensure_database(&self, name: &str) -> Result<(), StackError> {
        let mut conn = sqlx::PgConnection::connect(&self.url_for("postgres")).await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut conn)
                .await?;
        if exists.is_none() {
            let quoted = name.replace('"', "\"\"");
            let create = format!("CREATE DATABASE \"{quoted}\"");
            sqlx::query(&create).execute(&mut conn).await?;
        }
        Ok(())
    }

    async fn pg_ctl(&self, args: &[&str], what: &str) -> Result<(), StackError> {
        let mut command = self.command("pg_ctl");
        command.args(args);
        run(command, what).await
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir(self.data_dir.parent().unwrap_or(Path::new("/")));
        command.env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }
}

async fn run(mut command: Command, what: &str) -> Result<(), StackError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(StackError::io(format!("running {what}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(StackError::Failed {
        what: what.to_owned(),
        detail: format!(
            "{}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        ),
    })
}
