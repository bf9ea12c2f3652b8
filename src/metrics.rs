//! The process's metrics endpoint for the commands that have no HTTP server of their own (worker, control):
//! `--metrics-listen`. The default address falls back to a free port (logged) when taken, so that several
//! workers on one machine can all start; an address asked for must be free.

use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Where to serve Prometheus metrics (`GET /metrics`); `off` serves none. An address given here must be
    /// free; only the default one falls back to a free port (logged) when taken.
    #[arg(long, env = "PACER_METRICS_LISTEN", value_parser = parse_listen)]
    pub metrics_listen: Option<Listen>,
}

/// An address, or none.
#[derive(Debug, Clone, Copy)]
pub enum Listen {
    /// Serve here.
    At(SocketAddr),
    /// Serve nowhere.
    Off,
}

fn parse_listen(text: &str) -> Result<Listen, String> {
    if text == "off" {
        return Ok(Listen::Off);
    }
    text.parse()
        .map(Listen::At)
        .map_err(|_| format!("{text:?} is not host:port (like 127.0.0.1:9471) or `off`"))
}

impl MetricsArgs {
    /// Serves `registry` (at `default` unless told otherwise) for as long as `work` runs, and returns what it
    /// returned.
    pub async fn serve_during<T>(
        &self,
        default: &str,
        registry: pacer_telemetry::Registry,
        work: impl std::future::Future<Output = T>,
    ) -> anyhow::Result<T> {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let server = self
            .serve(default.parse()?, registry, crate::shutdown::stopped(stop))
            .await?;
        let result = work.await;
        let _ = stop_tx.send(true);
        if let Some(server) = server {
            let _ = server.await;
        }
        Ok(result)
    }

    /// Starts serving `registry` (at `default` unless told otherwise) until `stop`; `None` if off.
    async fn serve(
        &self,
        default: SocketAddr,
        registry: pacer_telemetry::Registry,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let listener = match self.metrics_listen {
            Some(Listen::Off) => return Ok(None),
            // Asked for: a scrape target points there, so a silent move would lose the process.
            Some(Listen::At(address)) => tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot serve metrics on {address} (--metrics-listen)"))?,
            None => crate::listen::bind_or_free(default, "metrics").await?,
        };
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = pacer_telemetry::serve(registry, listener, stop).await {
                tracing::warn!(error = %e, "the metrics endpoint failed");
            }
        })))
    }
}
