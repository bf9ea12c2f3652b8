//! `pacer control`: the control plane alone, and the flags that choose its policy (shared with `pacer up`).

use crate::duration::parse_duration;
use anyhow::Context;
use clap::Args;
use pacer_control::{ControlConfig, Mode, TlsFiles, Token};
use pacer_policy::{Bounds, PolicyConfig, PolicyKind, SLO_TARGET_PARAM as SLO_TARGET};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The policy, its parameters and how it is applied.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// The batch-sizing policy: static, rules, aimd, fixed-point, model or slo [default: model, or slo
    /// with --slo].
    #[arg(long, env = "PACER_POLICY")]
    pub policy: Option<PolicyKind>,
    /// A freshness target for receipt → commit, as `p99=250ms`: runs the `slo` policy, which keeps the
    /// 99th percentile under it with the longest interval (the fewest commits).
    #[arg(long, env = "PACER_SLO", value_parser = parse_slo)]
    pub slo: Option<Duration>,
    /// A policy parameter as `name=value` (repeatable); `pacer sim --help` and docs/POLICIES.md list them.
    #[arg(long = "param", env = "PACER_POLICY_PARAMS", value_delimiter = ',', value_parser = parse_param)]
    pub params: Vec<(String, f64)>,
    /// `enforce` pushes decisions to the workers; `advise` only records and shows them.
    #[arg(long, env = "PACER_MODE", default_value = "enforce")]
    pub mode: Mode,
    /// The shortest interval a policy may choose.
    #[arg(long, env = "PACER_MIN_INTERVAL", default_value = "5ms", value_parser = parse_duration)]
    pub min_interval: Duration,
    /// The longest interval a policy may choose.
    #[arg(long, env = "PACER_MAX_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub max_interval: Duration,
    /// The least time between two changes a policy makes to one worker.
    #[arg(long, env = "PACER_MIN_GAP", default_value = "1s", value_parser = parse_duration)]
    pub min_gap: Duration,
    /// The least relative change (0.1 = 10%) a policy must propose before it is applied.
    #[arg(long, env = "PACER_HYSTERESIS", default_value_t = 0.1)]
    pub hysteresis: f64,
}

impl PolicyArgs {
    /// The policy chosen: `--policy`, else `slo` with `--slo`, else the recommended one.
    pub fn kind(&self) -> PolicyKind {
        match (self.policy, self.slo) {
            (Some(kind), _) => kind,
            (None, Some(_)) => PolicyKind::Slo,
            (None, None) => PolicyKind::RECOMMENDED,
        }
    }

    /// The validated policy configuration.
    pub fn config(&self) -> anyhow::Result<PolicyConfig> {
        let bounds = Bounds {
            min_interval: self.min_interval,
            max_interval: self.max_interval,
            ..Bounds::default()
        };
        let kind = self.kind();
        let mut params: BTreeMap<String, f64> = self.params.iter().cloned().collect();
        if let Some(target) = self.slo {
            if kind != PolicyKind::Slo {
                anyhow::bail!(
                    "--slo sets the target of the `slo` policy, but --policy chose `{kind}`: drop one of them"
                );
            }
            if params.contains_key(SLO_TARGET) {
                anyhow::bail!(
                    "--slo and --param {SLO_TARGET}=… both set the `slo` policy's target: keep one"
                );
            }
            params.insert(SLO_TARGET.to_owned(), target.as_secs_f64() * 1000.0);
        }
        PolicyConfig::new(kind, &params, bounds).context("invalid policy configuration")
    }
}

/// Parses `p99=250ms`, the only percentile a target is set for.
fn parse_slo(text: &str) -> Result<Duration, String> {
    let (quantile, target) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: write the target as p99=250ms"))?;
    if quantile.trim() != "p99" {
        return Err(format!(
            "{text:?}: the target is for the 99th percentile, write it as p99=250ms"
        ));
    }
    let target = parse_duration(target.trim())?;
    if target < Duration::from_millis(1) {
        return Err(format!("{text:?}: the target must be at least 1ms"));
    }
    Ok(target)
}

fn parse_param(text: &str) -> Result<(String, f64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: write a parameter as name=value"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the value is not a number"))?;
    Ok((name.trim().to_owned(), value))
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub metrics: crate::metrics::MetricsArgs,
    /// The address to serve gRPC on.
    #[arg(long, env = "PACER_CONTROL_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// PostgreSQL URL for the decision log (`policy_decisions`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The token workers must present (none: any worker may attach).
    #[arg(long, env = "PACER_WORKER_TOKEN", hide_env_values = true)]
    pub worker_token: Option<String>,
    /// The token admin changes must present (none: anyone may change settings).
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A PEM certificate chain, to serve over TLS (with --tls-key).
    #[arg(long, env = "PACER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PACER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How often workers send a heartbeat when they have no batch to report.
    #[arg(long, env = "PACER_HEARTBEAT", default_value = "1s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// A worker not heard from for this long is marked lost.
    #[arg(long, env = "PACER_LOST_AFTER", default_value = "5s", value_parser = parse_duration)]
    pub lost_after: Duration,
    /// A lost worker is dropped from the registry after this long.
    #[arg(long, env = "PACER_FORGET_AFTER", default_value = "10m", value_parser = parse_duration)]
    pub forget_after: Duration,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

impl ControlArgs {
    /// The control plane's configuration.
    pub fn config(&self) -> anyhow::Result<ControlConfig> {
        if !(0.0..1.0).contains(&self.policy.hysteresis) {
            anyhow::bail!("--hysteresis must be at least 0 and below 1");
        }
        if self.lost_after < self.heartbeat * 2 {
            anyhow::bail!(
                "--lost-after ({:?}) must be at least twice --heartbeat ({:?}), or idle workers are taken for lost",
                self.lost_after,
                self.heartbeat
            );
        }
        Ok(ControlConfig {
            database_url: self.database_url.clone(),
            worker_token: Token::new(self.worker_token.clone()),
            admin_token: Token::new(self.admin_token.clone()),
            policy: self.policy.config()?,
            mode: self.policy.mode,
            heartbeat: self.heartbeat,
            lost_after: self.lost_after,
            forget_after: self.forget_after,
            min_gap: self.policy.min_gap,
            hysteresis: self.policy.hysteresis,
            metrics: pacer_control::ControlMetrics::new(),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
        })
    }
}

/// Where `pacer control` serves its metrics unless told otherwise.
const METRICS_DEFAULT: &str = "127.0.0.1:9470";

pub async fn run(args: ControlArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    if !config.admin_token.is_set() {
        tracing::warn!(
            "no --admin-token: anyone who can reach the control plane can change settings"
        );
    }
    if !config.worker_token.is_set() {
        tracing::warn!(
            "no --worker-token: anyone who can reach the control plane can attach as any worker"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (change --listen)", args.listen))?;
    let registry = pacer_telemetry::registry()?;
    config.metrics.register(&registry)?;
    let served = args
        .metrics
        .serve_during(
            METRICS_DEFAULT,
            registry,
            pacer_control::serve(config, listener, crate::shutdown::signalled()),
        )
        .await?;
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        policy: PolicyArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<PolicyConfig> {
        let cli = Cli::try_parse_from(std::iter::once("pacer").chain(args.iter().copied()))?;
        cli.policy.config()
    }

    #[test]
    fn slo_runs_the_slo_policy_with_its_target() {
        let slo = config(&["--slo", "p99=120ms"]).unwrap();
        assert_eq!(slo.kind(), PolicyKind::Slo);
        assert_eq!(slo.params().get(SLO_TARGET), Some(&120.0));
        assert_eq!(config(&[]).unwrap().kind(), PolicyKind::RECOMMENDED);
        let explicit = config(&["--policy", "slo", "--slo", "p99=1s"]).unwrap();
        assert_eq!(explicit.params().get(SLO_TARGET), Some(&1000.0));
    }

    #[test]
    fn slo_refuses_another_policy_a_second_target_and_other_quantiles() {
        let text = |args: &[&str]| config(args).unwrap_err().to_string();
        assert!(text(&["--slo", "p99=1s", "--policy", "aimd"]).contains("--policy chose `aimd`"));
        assert!(text(&["--slo", "p99=1s", "--param", "target_ms=5"]).contains("keep one"));
        assert!(text(&["--slo", "p50=1s"]).contains("99th percentile"));
        assert!(text(&["--slo", "p99=0s"]).contains("at least 1ms"));
        assert!(text(&["--slo", "250ms"]).contains("p99=250ms"));
    }
}
