//! The process's metrics endpoint for the commands that have no HTTP server of their own (worker, control):
//! `--metrics-listen`, falling back to a free port (logged) when the default one is taken, so that several
//! workers on one machine can all start.

use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Where to serve Prometheus metrics (`GET /metrics`); `off` serves none. If the address is taken, a free
    /// port on the same interface is used instead, and logged.
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
    /// Starts serving `registry` (at `default` unless told otherwise) until `stop`; `None` if off.
    pub async fn serve(
        &self,
        default: SocketAddr,
        registry: pacer_telemetry::Registry,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let address = match self.metrics_listen.unwrap_or(Listen::At(default)) {
            Listen::Off => return Ok(None),
            Listen::At(address) => address,
        };
        let listener = bind_or_free(address, "metrics").await?;
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = pacer_telemetry::serve(registry, listener, stop).await {
                tracing::warn!(error = %e, "the metrics endpoint failed");
            }
        })))
    }
}

/// Binds `address`, or a free port on its interface if it is taken.
pub async fn bind_or_free(
    address: SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = tokio::net::TcpListener::bind((address.ip(), 0)).await?;
            tracing::warn!(
                port = address.port(),
                instead = listener.local_addr()?.port(),
                "{what} port is taken; using a free one"
            );
            Ok(listener)
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {address}")),
    }
}
