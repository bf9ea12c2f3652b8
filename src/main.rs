//! `pacer`: one binary with a subcommand per role.
#![forbid(unsafe_code)]

mod bench;
mod cmd;
mod listen;
mod load;
mod metrics;
mod shutdown;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    if cli.parse_only {
        return match cmd::validate(&cli) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = cmd::init_tracing(&cli) {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    match cmd::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
