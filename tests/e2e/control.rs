//! The control plane with real workers, a real broker and PostgreSQL: pushed settings apply from the next
//! batch, an override wins over the policy and expires, advise mode only records, the data path survives
//! the control plane's death, tokens are enforced, and pause, resume and lost workers behave.

use crate::common::{
    self, ADMIN_TOKEN, Stack, WORKER_TOKEN, admin, authed, eventually, start_worker_with,
    wait_for_pipeline,
};
use pacer_proto::v1 as pb;
use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

fn worker<'a>(snapshot: &'a pb::PipelineSnapshot, id: &str) -> Option<&'a pb::WorkerInfo> {
    snapshot.workers.iter().find(|w| w.worker_id == id)
}

fn interval_of(snapshot: &pb::PipelineSnapshot, id: &str) -> Option<(u64, pb::SettingsSource)> {
    worker(snapshot, id).and_then(|w| Some((w.settings.as_ref()?.interval_ms, w.settings_source())))
}

/// The intervals of the worker's batches that started at or after `since`, in batch order.
async fn intervals_since(pool: &PgPool, worker: &str, since: OffsetDateTime) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT interval_ms FROM batch_metrics WHERE worker_id = $1 AND started_at >= $2 ORDER BY batch_no",
    )
    .bind(worker)
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_applies_from_the_next_batch_wins_over_the_policy_and_expires() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let control = stack.start_control(stack.control_config(300.0)).await;
    let url = control.url();
    let w = start_worker_with(stack.attached_config("w1", &url, WORKER_TOKEN));
    let producer = stack.produce_steadily(20);

    // The static policy moves the worker from its own 100 ms to 300 ms.
    wait_for_pipeline(&url, Duration::from_secs(30), "the policy's 300 ms", |s| {
        interval_of(s, "w1") == Some((300, pb::SettingsSource::Policy))
    })
    .await;

    // An override of 700 ms for 3 s: the worker picks it up within one batch.
    let mut client = admin(&url).await;
    let pushed_at = OffsetDateTime::now_utc();
    client
        .set_override(authed(
            pb::SetOverrideRequest {
                worker_id: "w1".into(),
                interval_ms: 700,
                max_rows: 0,
                ttl: Some(prost_types::Duration {
                    seconds: 3,
                    nanos: 0,
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let during = eventually(
        "two batches under the override",
        Duration::from_secs(10),
        async || {
            let during = intervals_since(&pool, "w1", pushed_at).await;
            if during.iter().filter(|i| **i == 700).count() >= 2 {
                Ok(during)
            } else {
                Err(format!("the batches since the push: {during:?}"))
            }
        },
    )
    .await;
    assert!(
        during.len() >= 2,
        "the worker wrote too few batches: {during:?}"
    );
    // At most the batch already collecting when the push arrived keeps the old interval; every later batch
    // runs under the override, although the policy still wants 300 ms.
    let old = during.iter().take_while(|i| **i != 700).count();
    assert!(old <= 1, "{during:?}");
    assert!(during[old..].iter().all(|i| *i == 700), "{during:?}");

    // It expires after 3 s: the policy's 300 ms is back.
    let snapshot = wait_for_pipeline(
        &url,
        Duration::from_secs(10),
        "the override to expire",
        |s| {
            s.overrides.is_empty()
                && interval_of(s, "w1") == Some((300, pb::SettingsSource::Policy))
        },
    )
    .await;
    assert!(
        snapshot
            .recent_decisions
            .iter()
            .any(|d| d.policy == "clear-override" && d.reason.contains("expired")),
        "{:#?}",
        snapshot.recent_decisions
    );
    let expired_at = OffsetDateTime::now_utc();
    let after = eventually(
        "three batches after the expiry",
        Duration::from_secs(10),
        async || {
            let after = intervals_since(&pool, "w1", expired_at).await;
            if after.len() >= 3 {
                Ok(after)
            } else {
                Err(format!("the batches since the expiry: {after:?}"))
            }
        },
    )
    .await;
    assert!(
        !after.is_empty() && after.iter().all(|i| *i == 300),
        "{after:?}"
    );

    // Every decision is in policy_decisions: the policy's, the override and its expiry.
    let decisions = client
        .list_decisions(pb::ListDecisionsRequest {
            limit: 100,
            worker_id: "w1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .decisions;
    let policies: Vec<&str> = decisions.iter().map(|d| d.policy.as_str()).collect();
    for expected in ["static", "override", "clear-override"] {
        assert!(policies.contains(&expected), "{decisions:#?}");
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM policy_decisions WHERE worker_id = 'w1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(stored >= 3, "{stored}");

    producer.stop().await;
    w.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advise_mode_records_without_pushing() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let mut config = stack.control_config(700.0);
    config.mode = pacer_control::Mode::Advise;
    let control = stack.start_control(config).await;
    let url = control.url();
    let started = OffsetDateTime::now_utc();
    let w = start_worker_with(stack.attached_config("w1", &url, WORKER_TOKEN));
    let producer = stack.produce_steadily(20);

    let snapshot = wait_for_pipeline(&url, Duration::from_secs(30), "a suggestion", |s| {
        worker(s, "w1")
            .and_then(|w| w.suggested.as_ref())
            .is_some_and(|s| s.interval_ms == 700)
    })
    .await;
    assert_eq!(
        interval_of(&snapshot, "w1"),
        Some((100, pb::SettingsSource::Initial))
    );
    // The worker runs batches after the suggestion, and all of them (like all before) on its own 100 ms.
    let suggested_at = OffsetDateTime::now_utc();
    eventually(
        "three batches after the suggestion",
        Duration::from_secs(10),
        async || match intervals_since(&pool, "w1", suggested_at).await {
            since if since.len() >= 3 => Ok(()),
            since => Err(format!("the batches since the suggestion: {since:?}")),
        },
    )
    .await;
    let intervals = intervals_since(&pool, "w1", started).await;
    assert!(
        !intervals.is_empty() && intervals.iter().all(|i| *i == 100),
        "{intervals:?}"
    );
    let advised: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM policy_decisions WHERE mode = 'advise' AND new_interval_ms = 700",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(advised >= 1);

    // Switching to enforce pushes the policy's setting.
    let mut client = admin(&url).await;
    client
        .set_mode(authed(
            pb::SetModeRequest {
                mode: pb::Mode::Enforce.into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    wait_for_pipeline(&url, Duration::from_secs(10), "the enforced 700 ms", |s| {
        interval_of(s, "w1") == Some((700, pb::SettingsSource::Policy))
    })
    .await;

    producer.stop().await;
    w.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_flow_while_the_control_plane_is_dead_and_workers_reattach() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let (mut control, addr) = stack.spawn_control_process(0, 300).await;
    let url = format!("http://{addr}");
    let w = start_worker_with(stack.attached_config("w1", &url, WORKER_TOKEN));
    let producer = stack.produce_steadily(20);
    wait_for_pipeline(&url, Duration::from_secs(30), "the policy's 300 ms", |s| {
        interval_of(s, "w1") == Some((300, pb::SettingsSource::Policy))
    })
    .await;

    control.kill().await.unwrap();
    let killed_at = OffsetDateTime::now_utc();
    let before = rows(&pool).await;
    let intervals = eventually(
        "300 more rows without the control plane",
        Duration::from_secs(30),
        async || {
            let during = rows(&pool).await;
            let intervals = intervals_since(&pool, "w1", killed_at).await;
            if during >= before + 300 && !intervals.is_empty() {
                Ok(intervals)
            } else {
                Err(format!(
                    "rows stopped flowing without the control plane: {before} -> {during}"
                ))
            }
        },
    )
    .await;
    // The worker keeps the last settings it was given.
    assert!(
        !intervals.is_empty() && intervals.iter().all(|i| *i == 300),
        "{intervals:?}"
    );

    // Back on the same port: the worker knows no other address.
    let _control = stack.spawn_control_process(addr.port(), 300).await;
    let snapshot = wait_for_pipeline(
        &url,
        Duration::from_secs(30),
        "the worker to re-attach and report",
        |s| {
            worker(s, "w1")
                .is_some_and(|w| w.status() == pb::WorkerStatus::Attached && w.batches > 0)
        },
    )
    .await;
    assert_eq!(worker(&snapshot, "w1").unwrap().partitions.len(), 2);

    producer.stop().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_are_refused_and_change_nothing() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let control = stack.start_control(stack.control_config(300.0)).await;
    let url = control.url();
    // A worker with the wrong token is not attached, but its data path runs all the same.
    let w = start_worker_with(stack.attached_config("intruder", &url, "not-the-token"));
    let producer = stack.produce_steadily(10);
    stack
        .wait_for_rows(&pool, "events", 50, Duration::from_secs(60))
        .await;
    let mut client = admin(&url).await;
    let workers = client
        .list_workers(pb::ListWorkersRequest {})
        .await
        .unwrap()
        .into_inner()
        .workers;
    assert!(workers.is_empty(), "{workers:#?}");

    let ov = || pb::SetOverrideRequest {
        worker_id: String::new(),
        interval_ms: 50,
        max_rows: 0,
        ttl: None,
    };
    let missing = client.set_override(ov()).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated, "{missing:?}");
    let wrong = client
        .set_override(authed(ov(), "admin-secreT"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated, "{wrong:?}");
    let policy = pb::SetPolicyRequest {
        name: "aimd".into(),
        params: Default::default(),
        bounds: None,
    };
    let wrong = client
        .set_policy(authed(policy.clone(), WORKER_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    let wrong = client
        .pause_worker(authed(
            pb::PauseWorkerRequest {
                worker_id: String::new(),
            },
            "x",
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    let snapshot = client
        .get_pipeline(pb::GetPipelineRequest {})
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert!(snapshot.overrides.is_empty());
    assert_eq!(snapshot.policy.as_ref().unwrap().name, "static");

    // Bad requests with the right token are refused with the field named.
    let unknown = client
        .set_policy(authed(
            pb::SetPolicyRequest {
                name: "magic".into(),
                ..policy.clone()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(unknown.message().contains("magic"), "{unknown:?}");
    let bad_param = client
        .set_policy(authed(
            pb::SetPolicyRequest {
                params: [("no_such_knob".to_owned(), 1.0)].into(),
                ..policy.clone()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_param.code(), tonic::Code::InvalidArgument);
    assert!(
        bad_param.message().contains("no_such_knob"),
        "{bad_param:?}"
    );
    let unknown_worker = client
        .set_override(authed(
            pb::SetOverrideRequest {
                worker_id: "nobody".into(),
                ..ov()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_worker.code(), tonic::Code::NotFound);
    // What a person reads: the id as they typed it, no Rust spelling of it.
    assert_eq!(
        unknown_worker.message(),
        "no worker with id nobody is known"
    );

    // The right token works.
    let set = client
        .set_policy(authed(policy, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(set.name, "aimd");
    assert!(!set.params.is_empty());

    producer.stop().await;
    w.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_standard_tools() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let stack = Stack::start(1).await;
    let control = stack.start_control(stack.control_config(300.0)).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        common::channel(&control.url()).await.unwrap(),
    );
    for service in ["pacer.v1.Admin", "pacer.v1.WorkerControl", ""] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let mut reflection =
        ServerReflectionClient::new(common::channel(&control.url()).await.unwrap());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "pacer.v1.Admin",
        "pacer.v1.WorkerControl",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_batches_resume_starts_them_and_a_silent_worker_is_lost() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let control = stack.start_control(stack.control_config(100.0)).await;
    let url = control.url();
    let w = start_worker_with(stack.attached_config("w1", &url, WORKER_TOKEN));
    let producer = stack.produce_steadily(10);
    stack
        .wait_for_rows(&pool, "events", 50, Duration::from_secs(60))
        .await;

    let mut client = admin(&url).await;
    let paused = client
        .pause_worker(authed(
            pb::PauseWorkerRequest {
                worker_id: "w1".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .worker_ids;
    assert_eq!(paused, ["w1"]);
    wait_for_pipeline(
        &url,
        Duration::from_secs(10),
        "the worker to say it is paused",
        |s| worker(s, "w1").is_some_and(|w| w.paused),
    )
    .await;
    // The batch in flight when the pause arrived is finished; then nothing more is written. Both sleeps are
    // the period in which nothing may happen, not waits for something: nothing outside the worker tells when
    // its batch in flight is written (it reports paused as soon as it stops collecting).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_pause = rows(&pool).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rows(&pool).await, at_pause, "a paused worker wrote rows");

    client
        .resume_worker(authed(
            pb::ResumeWorkerRequest {
                worker_id: "w1".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    stack
        .wait_for_rows(&pool, "events", at_pause + 100, Duration::from_secs(30))
        .await;
    let produced = producer.stop().await as i64;
    assert_eq!(produced, stack.topic_records());

    // Everything produced is written exactly once, pause or not.
    stack
        .wait_for_rows(&pool, "events", produced, Duration::from_secs(60))
        .await;
    common::assert_exactly_once(&pool, produced as u64).await;
    w.stop().await;

    // A worker process that goes silent (SIGSTOP) is marked lost, and attached again when it wakes up.
    let mut process = stack
        .spawn_worker_process_with("w2", &["--control", &url, "--control-token", WORKER_TOKEN]);
    wait_for_pipeline(&url, Duration::from_secs(30), "w2 to attach", |s| {
        worker(s, "w2").is_some_and(|w| w.status() == pb::WorkerStatus::Attached)
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(process.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    wait_for_pipeline(&url, Duration::from_secs(10), "w2 to be lost", |s| {
        worker(s, "w2").is_some_and(|w| w.status() == pb::WorkerStatus::Lost)
    })
    .await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    wait_for_pipeline(&url, Duration::from_secs(30), "w2 to attach again", |s| {
        worker(s, "w2").is_some_and(|w| w.status() == pb::WorkerStatus::Attached)
    })
    .await;
    process.kill().await.unwrap();
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_admins_connect_over_tls() {
    let stack = Stack::start(1).await;
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (
        stack.dir.path().join("control.crt"),
        stack.dir.path().join("control.key"),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let mut config = stack.control_config(300.0);
    config.tls = Some(pacer_control::TlsFiles {
        cert: cert_path.clone(),
        key: key_path,
    });
    let control = stack.start_control(config).await;
    let url = format!("https://{}", control.addr);

    let mut worker_config = stack.attached_config("tls-worker", &url, WORKER_TOKEN);
    if let Some(link) = worker_config.control.as_mut() {
        link.ca = Some(cert_path);
    }
    let w = start_worker_with(worker_config);
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(cert.pem())),
        )
        .unwrap()
        .connect_lazy();
    let mut client = pb::admin_client::AdminClient::new(channel);
    eventually(
        "the worker to attach over TLS",
        Duration::from_secs(30),
        async || {
            let workers = client
                .list_workers(pb::ListWorkersRequest {})
                .await
                .map(|r| r.into_inner().workers)
                .unwrap_or_default();
            if workers
                .iter()
                .any(|w| w.worker_id == "tls-worker" && w.status() == pb::WorkerStatus::Attached)
            {
                Ok(())
            } else {
                Err(format!("the workers: {workers:#?}"))
            }
        },
    )
    .await;
    // A plain-text client gets nowhere.
    let plain = admin_plain(&format!("http://{}", control.addr)).await;
    assert!(
        plain.is_err(),
        "a plain-text call succeeded against a TLS server"
    );

    w.stop().await;
    control.stop().await;
}

async fn admin_plain(url: &str) -> Result<pb::ListWorkersResponse, String> {
    let channel = common::channel(url).await.map_err(|e| e.to_string())?;
    pb::admin_client::AdminClient::new(channel)
        .list_workers(pb::ListWorkersRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_the_streams_of_attached_workers_and_watching_consoles() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(200.0)).await;
    let url = control.url();
    let _worker = common::SimWorker::attach(&url, "sim-a", &[0, 1]).await;
    let mut watch = admin(&url)
        .await
        .watch_pipeline(pb::WatchPipelineRequest { period: None })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());
    // Both streams stay open from the client side; a graceful stop must not wait for them. (The bound only
    // turns a hang into a failure; it is no timing claim.)
    tokio::time::timeout(Duration::from_secs(20), control.stop())
        .await
        .expect("the control plane waited for its streams instead of stopping");
}

/// Every change of the admin API, with no token, a wrong one, an issued one that expired and one issued from
/// another secret: each refused as unauthenticated, and nothing changed in the control plane or at the worker.
/// A token from `pacer token` is then accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_refuses_missing_wrong_and_expired_tokens_and_changes_nothing() {
    let stack = Stack::start(1).await;
    let control = stack.start_control(stack.control_config(300.0)).await;
    let url = control.url();
    let sim = common::SimWorker::attach(&url, "sim", &[0]).await;
    let mut client = admin(&url).await;
    sim.wait_for("the welcome", |m| {
        matches!(m, pb::attach_response::Message::Welcome(_))
    })
    .await;
    // The control plane has handled the attach and a heartbeat after it, the moments at which it tells a
    // worker something unasked (settings to restore, a pause to push again): whatever it tells a worker that
    // has just attached, it has told by now.
    wait_for_pipeline(
        &url,
        Duration::from_secs(10),
        "a heartbeat of sim after its attach",
        |s| {
            let seconds =
                |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
            worker(s, "sim").is_some_and(|w| {
                w.status() == pb::WorkerStatus::Attached
                    && seconds(&w.last_seen) > seconds(&w.attached_at)
            })
        },
    )
    .await;
    let before = common::pipeline(&url).await;
    let told_before = sim.received().len();

    let secret = pacer_control::Token::new(Some(ADMIN_TOKEN.into()));
    let expired = secret
        .issue_until(std::time::SystemTime::now() - Duration::from_secs(2))
        .unwrap();
    let foreign = pacer_control::Token::new(Some("another-secret".into()))
        .issue(Duration::from_secs(600))
        .unwrap();
    let tokens = [
        ("missing", None),
        ("wrong", Some("admin-secreT".to_owned())),
        ("the worker token", Some(WORKER_TOKEN.to_owned())),
        ("expired", Some(expired)),
        ("issued from another secret", Some(foreign)),
    ];
    for (kind, token) in &tokens {
        fn with<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
            match token {
                Some(token) => authed(message, token),
                None => tonic::Request::new(message),
            }
        }
        let token = token.as_deref();
        let refusals = [
            client
                .set_override(with(
                    pb::SetOverrideRequest {
                        worker_id: String::new(),
                        interval_ms: 50,
                        max_rows: 0,
                        ttl: None,
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .clear_override(with(
                    pb::ClearOverrideRequest {
                        worker_id: String::new(),
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .set_policy(with(
                    pb::SetPolicyRequest {
                        name: "aimd".into(),
                        params: Default::default(),
                        bounds: None,
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .set_mode(with(
                    pb::SetModeRequest {
                        mode: pb::Mode::Advise as i32,
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .pause_worker(with(
                    pb::PauseWorkerRequest {
                        worker_id: "sim".into(),
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .resume_worker(with(
                    pb::ResumeWorkerRequest {
                        worker_id: "sim".into(),
                    },
                    token,
                ))
                .await
                .map(drop),
        ];
        for (rpc, refusal) in refusals.into_iter().enumerate() {
            let status = refusal.expect_err(&format!("change {rpc} with a {kind} token"));
            assert_eq!(
                status.code(),
                tonic::Code::Unauthenticated,
                "{kind}: {status:?}"
            );
            if *kind == "expired" {
                assert!(status.message().contains("expired at"), "{status:?}");
            }
        }
    }
    let after = common::pipeline(&url).await;
    assert_eq!(after.policy, before.policy);
    assert!(after.overrides.is_empty(), "{:?}", after.overrides);
    let paused = |s: &pb::PipelineSnapshot| s.workers.iter().map(|w| w.paused).collect::<Vec<_>>();
    assert_eq!(paused(&after), [false]);
    assert_eq!(paused(&after), paused(&before));
    assert_eq!(sim.received().len(), told_before, "{:?}", sim.received());

    // An issued token that has not expired is as good as the secret.
    let issued = std::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["token", "--admin-token", ADMIN_TOKEN, "--ttl", "2m"])
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let issued = String::from_utf8(issued.stdout).unwrap();
    let issued = issued.trim();
    assert!(issued.starts_with("pacer1."), "{issued}");
    client
        .pause_worker(authed(
            pb::PauseWorkerRequest {
                worker_id: "sim".into(),
            },
            issued,
        ))
        .await
        .unwrap();
    sim.wait_for("the pause", |m| {
        matches!(m, pb::attach_response::Message::Pause(_))
    })
    .await;
    control.stop().await;
}
