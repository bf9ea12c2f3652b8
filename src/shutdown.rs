//! Ctrl-C and SIGTERM as one future, for every long-running subcommand.

use tokio::signal::unix::{SignalKind, signal};

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn signalled() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops pacer");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
