//! `pacer`: one binary with a subcommand per role.
#![forbid(unsafe_code)]

mod bench;
mod cmd;
mod duration;
mod listen;
mod load;
mod metrics;
mod report;
mod shutdown;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    if cli.parse_only {
        return match cmd::validate(&cli) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", report::one_line(&e));
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = cmd::init_tracing(&cli) {
        eprintln!("error: {}", report::one_line(&e));
        return std::process::ExitCode::FAILURE;
    }
    match cmd::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", report::one_line(&e));
            eprintln!("error: {}", report::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
