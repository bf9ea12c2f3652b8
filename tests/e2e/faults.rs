//! Faults under load. Each test runs clients posting a steady load through ingest (every 50th event one
//! that PostgreSQL refuses, so that dead letters are part of the books), injects one kind of fault while
//! they post, and then reckons with what PostgreSQL holds: acknowledged = written + dead-lettered as sets
//! of event ids, and nothing stored twice (`common::ledger`). The counts of a run are in
//! docs/RELIABILITY.md.

use crate::common::ledger::{Load, reckon, refuse_poison};
use crate::common::{self, Stack, WORKER_TOKEN};
use std::time::{Duration, Instant};
use tokio::process::Child;

/// Events per second the clients post, in batches of [`BATCH`].
const RATE: f64 = 1_500.0;
const BATCH: u64 = 50;
/// How long the books may take to balance once the load stops.
const SETTLE: Duration = Duration::from_secs(150);

async fn kill_9(child: &mut Child) {
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

async fn rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A pool on the stack's database, with the constraint that refuses poison events, and ingest.
async fn prepare(stack: &Stack) -> (sqlx::PgPool, common::Service) {
    let pool = stack.pool().await;
    refuse_poison(&pool).await;
    (pool, stack.start_ingest().await)
}

/// Starts the load and waits until the pipeline has written its first thousand rows.
async fn start_load(stack: &Stack, pool: &sqlx::PgPool, ingest: &common::Service) -> Load {
    let load = Load::start(ingest.url(), RATE, BATCH);
    stack
        .wait_for_rows(pool, "events", 1_000, Duration::from_secs(60))
        .await;
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_kill_9s_of_random_workers_under_load() {
    let stack = Stack::start(4).await;
    let (pool, ingest) = prepare(&stack).await;
    let ids = ["w0", "w1", "w2"];
    let mut workers: Vec<Child> = ids
        .iter()
        .map(|id| stack.spawn_worker_process(id))
        .collect();
    let load = start_load(&stack, &pool, &ingest).await;

    for kill in 0..20 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1_500..3_000))).await;
        let victim = fastrand::usize(..workers.len());
        kill_9(&mut workers[victim]).await;
        // A supervisor starts it again at once, under the same name.
        workers[victim] = stack.spawn_worker_process(ids[victim]);
        eprintln!(
            "kill {}: {} (acknowledged so far {})",
            kill + 1,
            ids[victim],
            load.acked()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent = load.stop().await;
    let tally = reckon("kill -9 of a random worker, 20 times", &pool, &sent, SETTLE).await;
    assert!(tally.dead_lettered > 0);
    for mut worker in workers {
        kill_9(&mut worker).await;
    }
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_storm_under_load() {
    let stack = Stack::start(6).await;
    let (pool, ingest) = prepare(&stack).await;
    let mut members = vec![stack.start_worker("m0")];
    let mut named = 1;
    let load = start_load(&stack, &pool, &ingest).await;

    // Members join and leave every second or so, between one and five of them; a leaving member drains
    // and hands its partitions back, and the group rebalances each time.
    let (mut joined, mut left) = (0, 0);
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(600..1_400))).await;
        let join = members.len() == 1 || (members.len() < 5 && fastrand::bool());
        if join {
            members.push(stack.start_worker(&format!("m{named}")));
            named += 1;
            joined += 1;
        } else {
            let leaving = members.swap_remove(fastrand::usize(..members.len()));
            let started = Instant::now();
            leaving.stop().await;
            eprintln!("a member left in {:?}", started.elapsed());
            left += 1;
        }
        eprintln!(
            "{} members, {} acknowledged, {} rows",
            members.len(),
            load.acked(),
            rows(&pool).await
        );
    }
    eprintln!("{joined} members joined and {left} left");
    assert!(joined >= 3 && left >= 3, "not much of a storm");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent = load.stop().await;
    reckon(
        "rebalance storm: members joining and leaving",
        &pool,
        &sent,
        SETTLE,
    )
    .await;
    for member in members {
        member.stop().await;
    }
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_twice_under_load() {
    let mut stack = Stack::start(4).await;
    let (pool, ingest) = prepare(&stack).await;
    let workers = [stack.start_worker("a"), stack.start_worker("b")];
    let load = start_load(&stack, &pool, &ingest).await;

    for _ in 0..2 {
        stack.pg.stop().await.unwrap();
        stack.pg.start().await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
    }

    let sent = load.stop().await;
    let pool = stack.pool().await;
    reckon("PostgreSQL restarted twice", &pool, &sent, SETTLE).await;
    let retried: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batch_metrics WHERE write_attempts > 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        retried > 0,
        "no batch was retried: the restarts missed the workers"
    );
    for w in workers {
        w.stop().await;
    }
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_refusing_connections_for_30_seconds_under_load() {
    let stack = Stack::start(4).await;
    let (pool, ingest) = prepare(&stack).await;
    let workers = [stack.start_worker("a"), stack.start_worker("b")];
    let load = start_load(&stack, &pool, &ingest).await;
    pool.close().await;

    // The server stays up but refuses every connection to the pipeline's database, and the connections
    // the workers hold are cut.
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&stack.pg.url_for("postgres"))
        .await
        .unwrap();
    sqlx::query("ALTER DATABASE pacer ALLOW_CONNECTIONS false")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'pacer' AND pid <> pg_backend_pid()",
    )
    .execute(&admin)
    .await
    .unwrap();
    let refused_at = Instant::now();
    let acked_before = load.acked();
    let refusal = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&stack.database_url())
        .await
        .expect_err("PostgreSQL refuses connections to the pipeline's database");
    assert!(
        refusal
            .to_string()
            .contains("not currently accepting connections"),
        "{refusal}"
    );
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(refused_at.elapsed())).await;
    let acked_during = load.acked() - acked_before;
    sqlx::query("ALTER DATABASE pacer ALLOW_CONNECTIONS true")
        .execute(&admin)
        .await
        .unwrap();
    // Ingest does not need PostgreSQL: it kept acknowledging while the workers could not write.
    assert!(
        acked_during > 1_000,
        "only {acked_during} events acknowledged in 30 s"
    );

    let sent = load.stop().await;
    let pool = stack.pool().await;
    reckon(
        "PostgreSQL refusing connections for 30 s",
        &pool,
        &sent,
        SETTLE,
    )
    .await;
    let waited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batch_metrics WHERE write_ms > 20000")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(waited > 0, "no batch waited out the refusal");
    for w in workers {
        w.stop().await;
    }
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_under_load() {
    let mut stack = Stack::start_durable(4).await;
    let (pool, ingest) = prepare(&stack).await;
    let workers = [stack.start_worker("a"), stack.start_worker("b")];
    let load = start_load(&stack, &pool, &ingest).await;

    let refused_before = load.answers(503);
    stack.broker.stop().await.unwrap();
    for second in 1..=15 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!(
            "broker down {second} s: acknowledged {}, 503 {}, no answer {}",
            load.acked(),
            load.answers(503),
            load.answers(0)
        );
    }
    let refused_during = load.answers(503) - refused_before;
    stack.broker.restart().await.unwrap();
    // While the broker was down, ingest said so (503 with Retry-After) instead of acknowledging.
    assert!(
        refused_during > 0,
        "ingest answered no 503 while the broker was down"
    );
    load.wait_acked(load.acked() + 3_000, Duration::from_secs(60))
        .await;

    let sent = load.stop().await;
    reckon(
        "broker (PostgreSQL storage) stopped for 15 s and restarted",
        &pool,
        &sent,
        SETTLE,
    )
    .await;
    for w in workers {
        w.stop().await;
    }
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_control_plane_killed_and_restarted_under_load() {
    let stack = Stack::start(4).await;
    let (pool, ingest) = prepare(&stack).await;
    let (mut control, addr) = stack.spawn_control_process(0, 100).await;
    let url = format!("http://{addr}");
    let link = ["--control", url.as_str(), "--control-token", WORKER_TOKEN];
    let workers: Vec<Child> = ["a", "b"]
        .iter()
        .map(|id| stack.spawn_worker_process_with(id, &link))
        .collect();
    let attached = |s: &pacer_proto::v1::PipelineSnapshot| {
        s.workers
            .iter()
            .filter(|w| w.status == pacer_proto::v1::WorkerStatus::Attached as i32)
            .count()
            == 2
    };
    common::wait_for_pipeline(&url, Duration::from_secs(30), "both workers", attached).await;
    let load = start_load(&stack, &pool, &ingest).await;

    kill_9(&mut control).await;
    // The data path does not stop: the workers keep their settings and keep writing, in every 2 s of the
    // 6 s without a control plane.
    let mut written = rows(&pool).await;
    for window in 1..=3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = rows(&pool).await;
        assert!(
            now > written,
            "no row written in the {window}. 2 s without a control plane"
        );
        written = now;
    }
    // Back on the same port: the workers know no other address.
    control = stack.spawn_control_process(addr.port(), 100).await.0;
    // Both attach again by themselves and report their batches to the new control plane.
    common::wait_for_pipeline(
        &url,
        Duration::from_secs(30),
        "both workers back, reporting",
        |s| attached(s) && s.totals.as_ref().is_some_and(|t| t.rows_written > 0),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent = load.stop().await;
    reckon(
        "control plane killed (-9) and restarted after 6 s",
        &pool,
        &sent,
        SETTLE,
    )
    .await;
    for mut worker in workers {
        kill_9(&mut worker).await;
    }
    kill_9(&mut control).await;
    ingest.stop().await;
}
