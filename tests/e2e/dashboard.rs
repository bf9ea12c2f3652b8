//! The Grafana dashboard against real data: the real stack (nisshi, PostgreSQL, a `pacer control` process,
//! two `pacer worker` processes, a `pacer ingest` process and `pacer load`), scraped by a real Prometheus
//! (Debian's package). Every query of every panel, and the decisions annotation, must return at least one
//! series with a number in it; a panel whose query is wrong (a misspelt metric, a label that does not exist)
//! fails the test by name.

use crate::common::{
    self, ADMIN_TOKEN, CONTROL_LISTENING, INGEST_LISTENING, METRICS_LISTENING, Stack, WORKER_TOKEN,
    eventually, spawn_listening,
};
use std::path::Path;
use std::time::Duration;
use tokio::process::{Child, Command};

fn pacer(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pacer"));
    command.args(args);
    command
}

/// Prometheus on a free port, serving once this returns; returns it and its address. Prometheus cannot be
/// given a socket or told to bind port 0 and say which it got, so a port is chosen and released just before
/// it starts: when another process takes it in between, Prometheus exits saying so, and it is started again
/// on another port.
async fn start_prometheus(config: &Path, data: &Path) -> (Child, String) {
    let client = reqwest::Client::new();
    for attempt in 1..=5 {
        let port = pacer_stack::free_port().unwrap();
        let log = data.with_extension(format!("log.{attempt}"));
        let mut prometheus = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "prometheus must be installed (scripts/setup.sh installs Debian's prometheus package)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        // Ok(true): ready; Ok(false): it exited.
        let started = common::poll(Duration::from_secs(60), async || {
            if prometheus.try_wait().unwrap().is_some() {
                return Ok(false);
            }
            match client.get(&ready).send().await {
                Ok(r) if r.status() == 200 => Ok(true),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        let logged = || std::fs::read_to_string(&log).unwrap_or_default();
        match started {
            Ok(true) => return (prometheus, url),
            Ok(false) if logged().contains("address already in use") => {
                eprintln!("port {port} was taken before Prometheus bound it; another one");
            }
            Ok(false) => panic!("prometheus exited:\n{}", logged()),
            Err(why) => panic!("prometheus never became ready: {why}\n{}", logged()),
        }
    }
    panic!("prometheus found no free port in 5 attempts");
}

/// Percent-encodes a query parameter (everything but unreserved characters).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Grafana's variables as Prometheus cannot read them, replaced as Grafana would at a 1 s scrape interval.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "5s")
        .replace("$__range", "5m")
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let response = client.get(url).send().await.ok()?;
    let body = response.bytes().await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// Whether the instant query returns a series with a finite value; otherwise why not.
async fn has_data(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<usize, String> {
    let url = format!("{prometheus}/api/v1/query?query={}", encode(expr));
    let answer = get_json(client, &url)
        .await
        .ok_or_else(|| "no answer from Prometheus".to_owned())?;
    if answer["status"] != "success" {
        return Err(format!("Prometheus refused it: {}", answer["error"]));
    }
    let series = answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let finite = series
        .iter()
        .filter(|s| {
            s["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(f64::is_finite)
        })
        .count();
    if finite == 0 {
        return Err(format!("{} series, none with a number", series.len()));
    }
    Ok(finite)
}

fn prometheus_config(dir: &Path, ingest: u16, control: u16, workers: &[u16]) -> std::path::PathBuf {
    let targets = |ports: &[u16]| {
        ports
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: ingest\n    static_configs:\n      - targets: [{}]\n\
         \x20 - job_name: control\n    static_configs:\n      - targets: [{}]\n\
         \x20 - job_name: worker\n    static_configs:\n      - targets: [{}]\n",
        targets(&[ingest]),
        targets(&[control]),
        targets(workers),
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_the_real_stack() {
    let stack = Stack::start(4).await;
    let database_url = stack.database_url();
    let brokers = stack.brokers();
    // Every pacer process binds port 0 and says where it listens.
    let (control, addresses) = spawn_listening(
        pacer(&[
            "control",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--worker-token",
            WORKER_TOKEN,
            "--admin-token",
            ADMIN_TOKEN,
            "--policy",
            "model",
            "--metrics-listen",
            "127.0.0.1:0",
        ]),
        &[CONTROL_LISTENING, METRICS_LISTENING],
    )
    .await;
    let control_url = format!("http://{}", addresses[0]);
    let control_metrics = addresses[1].port();
    common::wait_serving(&control_url).await;
    let mut children = vec![control];
    let mut worker_metrics = Vec::new();
    for i in 0..2 {
        let (worker, addresses) = spawn_listening(
            stack.worker_command(
                &format!("dash-w{i}"),
                &[
                    "--control",
                    &control_url,
                    "--control-token",
                    WORKER_TOKEN,
                    "--metrics-listen",
                    "127.0.0.1:0",
                ],
            ),
            &[METRICS_LISTENING],
        )
        .await;
        children.push(worker);
        worker_metrics.push(addresses[0].port());
    }
    let (ingest, addresses) = spawn_listening(
        pacer(&[
            "ingest",
            "--brokers",
            &brokers,
            "--topic",
            common::TOPIC,
            "--listen",
            "127.0.0.1:0",
        ]),
        &[INGEST_LISTENING],
    )
    .await;
    let ingest_port = addresses[0].port();
    children.push(ingest);
    children.push(
        pacer(&[
            "load",
            "--url",
            &format!("http://127.0.0.1:{ingest_port}"),
            "--rate",
            "300",
            "--duration",
            "10m",
        ])
        .env("PACER_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pacer load"),
    );
    // Records no event parser accepts, straight into the topic: they become dead letters.
    stack
        .produce_raw(&[Some(b"{not json".to_vec()), Some(b"[]".to_vec())])
        .await;

    let config = prometheus_config(
        stack.dir.path(),
        ingest_port,
        control_metrics,
        &worker_metrics,
    );
    let data = stack.dir.path().join("prometheus-data");
    let (mut prometheus_process, prometheus) = start_prometheus(&config, &data).await;
    let client = reqwest::Client::new();

    // Every process is scraped and up: each serves GET /metrics.
    eventually(
        "every process scraped and up",
        Duration::from_secs(60),
        async || {
            let targets = get_json(&client, &format!("{prometheus}/api/v1/targets")).await;
            let health: Vec<(String, String)> = targets
                .as_ref()
                .and_then(|t| t["data"]["activeTargets"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    (
                        t["labels"]["job"].as_str().unwrap_or_default().to_owned(),
                        t["health"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            if health.len() == 4 && health.iter().all(|(_, h)| h == "up") {
                Ok(())
            } else {
                Err(format!("not every process is scraped and up: {health:?}"))
            }
        },
    )
    .await;

    // Every panel's queries and the annotations, as the dashboard has them.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/grafana/dashboards/pacer.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queries: Vec<(String, String)> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push((
                format!("panel {:?} query {}", panel["title"], target["refId"]),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = annotation["expr"].as_str() {
            queries.push((
                format!("annotation {:?}", annotation["name"]),
                expr.to_owned(),
            ));
        }
    }
    assert!(queries.len() >= 20, "{} queries", queries.len());

    // An operator's override: a decision of its own (beside the policy's at start) and an override in force.
    common::admin(&control_url)
        .await
        .set_override(common::authed(
            pacer_proto::v1::SetOverrideRequest {
                worker_id: "dash-w0".into(),
                interval_ms: 150,
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("override");

    // Rates need a few scrapes, decisions and dead letters need batches: wait up to 60 s for each.
    let mut missing = Vec::new();
    for (what, expr) in &queries {
        let promql = grafana_to_promql(expr);
        let found = common::poll(Duration::from_secs(60), async || {
            has_data(&client, &prometheus, &promql).await
        })
        .await;
        if let Err(why) = found {
            missing.push(format!("{what}: `{promql}`: {why}"));
        }
    }
    assert!(
        missing.is_empty(),
        "queries without data:\n{}",
        missing.join("\n")
    );
    // The check can fail: a query for a metric that does not exist has no data.
    assert!(
        has_data(&client, &prometheus, "pacer_worker_no_such_metric_total")
            .await
            .is_err()
    );
    // Each of the 4 partitions has exactly one lag series, from the worker that owns it now (read from the
    // consumers when scraped).
    eventually(
        "one lag series per partition",
        Duration::from_secs(30),
        async || {
            if has_data(&client, &prometheus, "count(pacer_worker_lag_records) == 4")
                .await
                .is_ok()
            {
                return Ok(());
            }
            let count = has_data(&client, &prometheus, "count(pacer_worker_lag_records)").await;
            Err(format!("not one lag series per partition: {count:?}"))
        },
    )
    .await;
    // The dead letters were counted, not only present at zero.
    has_data(
        &client,
        &prometheus,
        "sum(pacer_worker_dead_letters_total) >= 2",
    )
    .await
    .expect("the two bad records are counted as dead letters");

    prometheus_process.kill().await.unwrap();
    for mut child in children {
        let _ = child.kill().await;
    }
}
