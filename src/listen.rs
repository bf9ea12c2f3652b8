//! Listening sockets for the defaults pacer picks itself: the default port, or a free one when it is taken.

use anyhow::Context;
use std::net::SocketAddr;

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
