//! A private cluster whose server died leaves a stale `postmaster.pid`; the next start reuses the data
//! directory, even when the pid in it now belongs to another live process (which would make PostgreSQL
//! itself refuse to start).
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use pacer_stack::{PostgresOptions, PrivatePostgres};
use sqlx::Connection;
use std::time::{Duration, Instant};

async fn rows(pg: &PrivatePostgres) -> i64 {
    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cluster_starts_again_on_its_data_directory_past_a_stale_pid_file() {
    let dir = tempfile::Builder::new()
        .prefix("pacer-stale-pid-")
        .tempdir()
        .unwrap();
    let options = PostgresOptions {
        state_dir: dir.path().to_owned(),
        port: 0,
        database: "pacer".into(),
    };
    let pg = PrivatePostgres::start_or_reuse(&options).await.unwrap();
    {
        let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
        sqlx::query("CREATE TABLE kept AS SELECT generate_series(1, 10) AS n")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let postmaster = pg.postmaster_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(postmaster),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    // The lock file stays behind. Make its pid one that PostgreSQL's own check takes for a live server: a
    // process of the server's user (as an unreaped postmaster would be) that is not PostgreSQL.
    let mut holder = std::process::Command::new("sleep");
    holder.arg("120");
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::process::CommandExt;
        let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        holder.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let mut holder = holder.spawn().unwrap();
    let pid_file = pg.data_dir().join("postmaster.pid");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let rest: Vec<&str> = text.lines().skip(1).collect();
    let stale = format!("{}\n{}\n", holder.id(), rest.join("\n"));
    std::fs::write(&pid_file, stale).unwrap();

    // The old server's backends notice the postmaster's death and exit; until then a start may fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    let again = loop {
        let options = PostgresOptions {
            port: pg.port(),
            ..options.clone()
        };
        match PrivatePostgres::start_or_reuse(&options).await {
            Ok(again) => break again,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("the cluster did not start again: {e}"),
        }
    };
    assert!(again.started_here());
    assert_ne!(again.postmaster_pid(), Some(postmaster));
    assert_eq!(rows(&again).await, 10, "the data directory was reused");
    again.stop().await.unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
}
