//! The end-to-end tests, one test binary with a module per area (a test is `area::name`). The tests that need
//! them start their own private PostgreSQL and nisshi broker (`common`); `cli` and `compose` need neither.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

mod bad_input;
mod bad_input_corpus;
mod cli;
mod compose;
mod control;
mod crash_recovery;
mod dashboard;
mod dead_letters;
mod faults;
mod http_to_rows;
mod multi_topic;
mod refused_rows;
mod replay;
mod routes;
mod routes_inputs;
mod routes_refused;
mod routes_upsert;
mod scale;
mod settings;
mod slo;
mod slow_clients;
mod stop_while_failing;
mod tables;
mod tui;
mod tui_tmux;
mod up;
mod up_routes;
mod up_supervise;
mod wrong_settings;
