//! `pacer up --pipeline examples/shop/pacer.toml --load 200`, as the example's README tells a new user: the
//! routes' tables are created in the private PostgreSQL, the load posts events that fit each route, and
//! every route's table fills with no dead letter.

use crate::routes::SHOP;
use pacer_stack::{PostgresOptions, PrivatePostgres};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacer_up_runs_the_shop_example() {
    let state = tempfile::Builder::new()
        .prefix("pacer-up-shop-")
        .tempdir()
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args([
            "up",
            "--no-console",
            "--http-port",
            "0",
            "--load",
            "200",
            "--run-for",
            "14s",
        ])
        .args(["--interval", "200ms", "--pipeline", SHOP])
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pacer up failed:\n{stderr}");
    assert!(!stderr.contains(" ERROR "), "{stderr}");

    // The run's database, opened again from its state directory.
    let pg = PrivatePostgres::start_or_reuse(&PostgresOptions {
        state_dir: state.path().to_path_buf(),
        port: 0,
        database: "pacer".into(),
    })
    .await
    .unwrap();
    let pool = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    for table in ["shop.orders", "shop.customers", "events"] {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(rows > 0, "{table} is empty:\n{stderr}");
    }
    let dead: Vec<(String,)> = sqlx::query_as("SELECT reason FROM dead_letters LIMIT 5")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    pool.close().await;
    pg.stop().await.unwrap();
}
