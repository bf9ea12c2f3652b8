//! A port that is taken gets a clear error naming the flag to change, never a hang.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use pacer_stack::{Broker, BrokerOptions, PostgresOptions, PrivatePostgres, StackError};
use std::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_ports_are_refused_with_the_flag_to_change() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::Builder::new()
        .prefix("pacer-ports-")
        .tempdir()
        .unwrap();

    let options =
        BrokerOptions::in_memory("/nonexistent/nisshi".into(), port, dir.path().join("n.log"));
    let err = Broker::start(options).await.unwrap_err();
    assert!(
        matches!(
            err,
            StackError::PortInUse {
                flag: "--kafka-port",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&port.to_string()), "{err}");

    let options = PostgresOptions {
        state_dir: dir.path().join("state"),
        port,
        database: "pacer".into(),
    };
    let err = PrivatePostgres::start_or_reuse(&options).await.unwrap_err();
    assert!(
        matches!(
            err,
            StackError::PortInUse {
                flag: "--pg-port",
                ..
            }
        ),
        "{err}"
    );
}
