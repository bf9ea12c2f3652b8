//! Loopback ports: is one free, and pick any free one.

use std::net::{Ipv4Addr, TcpListener};

/// True if nothing listens on `127.0.0.1:port`.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// The port to use for a service: `port` itself if it is free, a free one if `port` is 0, or a clear error
/// that names `flag`, the option to change.
pub(crate) fn claim_port(
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<u16, crate::StackError> {
    if port == 0 {
        return free_port().map_err(crate::StackError::io(format!(
            "picking a free port for {what}"
        )));
    }
    if !port_is_free(port) {
        return Err(crate::StackError::PortInUse { port, what, flag });
    }
    Ok(port)
}

/// A port that was free a moment ago (the OS picks it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_not_free() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!port_is_free(port));
        drop(listener);
        assert!(port_is_free(free_port().unwrap()));
    }
}
