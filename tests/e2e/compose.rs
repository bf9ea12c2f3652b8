//! compose/ cannot run here (no Docker engine), so it is checked for what can be checked: the compose file
//! parses and has every service the deployment needs, every pacer service runs a command line the binary
//! accepts (with the service's environment), Prometheus's own `promtool` accepts the scrape config, and the
//! Grafana provisioning and dashboard fit together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn compose_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose")
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap();
    merged(
        YamlLoader::load_from_str(&text)
            .expect("compose/docker-compose.yml parses")
            .remove(0),
    )
}

/// The document with YAML merge keys (`<<: *anchor`) resolved as compose resolves them: the anchor's entries
/// first, the mapping's own ones over them.
fn merged(doc: Yaml) -> Yaml {
    match doc {
        Yaml::Hash(hash) => {
            let mut out = yaml_rust2::yaml::Hash::new();
            let merge_key = Yaml::String("<<".into());
            if let Some(Yaml::Hash(base)) = hash.get(&merge_key).cloned().map(merged) {
                out.extend(base);
            }
            for (k, v) in hash {
                if k != merge_key {
                    out.insert(k, merged(v));
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(items) => Yaml::Array(items.into_iter().map(merged).collect()),
        other => other,
    }
}

fn service<'a>(doc: &'a Yaml, name: &str) -> &'a Yaml {
    let service = &doc["services"][name];
    assert!(!service.is_badvalue(), "no service {name}");
    service
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|v| {
            v.iter()
                .map(|s| match s {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => panic!("not a string: {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `${NAME:-default}` as compose reads it when NAME is not set.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, default)| default));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn environment(service: &Yaml) -> BTreeMap<String, String> {
    service["environment"]
        .as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| {
                    let value = match v {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((k.as_str()?.to_owned(), interpolate(&value)))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_compose_file_has_every_part_of_the_deployment() {
    let doc = compose();
    for name in [
        "kafka",
        "topic",
        "postgres",
        "control",
        "ingest",
        "worker",
        "load",
        "prometheus",
        "grafana",
    ] {
        service(&doc, name);
    }
    // Apache Kafka's own image, in KRaft mode: no ZooKeeper anywhere.
    let kafka = service(&doc, "kafka");
    assert!(
        kafka["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:")
    );
    let env = environment(kafka);
    assert_eq!(env["KAFKA_PROCESS_ROLES"], "broker,controller");
    assert!(env.contains_key("KAFKA_CONTROLLER_QUORUM_VOTERS"));
    // Its log on its volume, not in the container.
    let volumes = strings(&kafka["volumes"]);
    let data = env["KAFKA_LOG_DIRS"].as_str();
    assert!(
        volumes.iter().any(|v| v.ends_with(&format!(":{data}"))),
        "{volumes:?}"
    );
    for (name, svc) in doc["services"].as_hash().unwrap() {
        let image = svc["image"].as_str().unwrap_or_default();
        assert!(!image.contains("zookeeper"), "{name:?} runs {image}");
        assert!(
            environment(svc).keys().all(|k| !k.contains("ZOOKEEPER")),
            "{name:?}"
        );
    }
    // Workers scale: no fixed container name, no host port.
    let worker = service(&doc, "worker");
    assert!(worker["container_name"].is_badvalue());
    assert!(worker["ports"].is_badvalue());
    // Every pacer service is built from the Dockerfile at the root.
    for name in ["control", "ingest", "worker", "load"] {
        let build = &service(&doc, name)["build"];
        assert_eq!(build["context"].as_str(), Some(".."), "{name}");
        assert_eq!(build["dockerfile"].as_str(), Some("Dockerfile"), "{name}");
    }
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("Dockerfile")
            .exists()
    );
    // Every file mounted from compose/ exists.
    for (name, svc) in doc["services"].as_hash().unwrap() {
        for volume in strings(&svc["volumes"]) {
            if let Some(source) = volume.split(':').next().filter(|s| s.starts_with("./")) {
                let path = compose_dir().join(source);
                assert!(path.exists(), "{name:?} mounts {source}, which is missing");
            }
        }
    }
}

#[test]
fn every_pacer_service_runs_a_command_line_the_binary_accepts() {
    let doc = compose();
    let mut checked = 0;
    for (name, svc) in doc["services"].as_hash().unwrap() {
        if svc["build"].is_badvalue() {
            continue;
        }
        let name = name.as_str().unwrap();
        let command = strings(&svc["command"]);
        assert!(!command.is_empty(), "{name} has no command");
        let output = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .arg("--parse-only")
            .args(&command)
            .env_clear()
            .envs(environment(svc))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "service {name}: `pacer {}` is refused:\n{}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "control, ingest, worker and load");
    // And the check itself refuses what the binary refuses: an unknown flag, and settings the command
    // would refuse at start (an unknown policy parameter, a lost-after shorter than two heartbeats).
    for bad in [
        &["worker", "--no-such-flag"][..],
        &["control", "--param", "bogus=1"],
        &["control", "--lost-after", "1s"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .arg("--parse-only")
            .args(bad)
            .env_clear()
            .env("DATABASE_URL", "postgres://x@y/z")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad:?} was accepted");
    }
}

#[test]
fn promtool_accepts_the_prometheus_config_and_it_scrapes_every_process() {
    let config = compose_dir().join("prometheus/prometheus.yml");
    let output = Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
        .expect(
            "promtool must be installed (scripts/setup.sh installs Debian's prometheus package)",
        );
    assert!(
        output.status.success(),
        "promtool refused {}:\n{}{}",
        config.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let jobs: Vec<&str> = doc["scrape_configs"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["ingest", "control", "worker"]);
    // The ports are the ones the services listen on.
    let compose = std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap();
    for (target, listen) in [
        ("ingest:8080", "0.0.0.0:8080"),
        ("control:9470", "0.0.0.0:9470"),
    ] {
        assert!(
            text.contains(target) && compose.contains(listen),
            "{target}"
        );
    }
    assert!(text.contains("port: 9471") && compose.contains("0.0.0.0:9471"));
}

#[test]
fn the_dashboard_and_the_provisioning_fit_together() {
    let grafana = compose_dir().join("grafana");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(grafana.join("dashboards/pacer.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "pacer-overview");
    let datasources = YamlLoader::load_from_str(
        &std::fs::read_to_string(grafana.join("provisioning/datasources/prometheus.yml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let uid = datasources["datasources"][0]["uid"].as_str().unwrap();
    assert_eq!(
        datasources["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("pacer_") || e.contains("process_"))
            );
        }
    }
    let annotations = dashboard["annotations"]["list"].as_array().unwrap();
    assert!(annotations.iter().any(|a| {
        a["expr"]
            .as_str()
            .is_some_and(|e| e.contains("pacer_control_decisions_total"))
    }));
    // The provider loads the directory compose mounts the dashboards into.
    let provider = YamlLoader::load_from_str(
        &std::fs::read_to_string(grafana.join("provisioning/dashboards/pacer.yml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let compose = std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap();
    assert!(compose.contains(&format!("./grafana/dashboards:{path}:ro")));
}
