//! The operator's console inside `pacer up`: it owns the screen until the operator quits it, and quitting
//! stops everything.

use super::UpArgs;
use super::banner::say;
use std::time::Duration;

/// Runs the console on the control plane at `control_url`. Returns once the operator has quit it (and it has
/// restored the terminal); if it fails, pacer keeps running as without a console, and this never returns.
pub(super) async fn until_quit(
    args: &UpArgs,
    control_url: &str,
    admin_token: &str,
    children: Vec<tokio::sync::watch::Receiver<pacer_stack::Health>>,
) {
    let config = pacer_tui::TuiConfig {
        target: pacer_tui::ControlTarget {
            url: control_url.to_owned(),
            token: Some(admin_token.to_owned()),
            ca: None,
        },
        refresh: Duration::from_secs(1),
        confirm_quit: true,
        stack: super::children::stack_status(children),
    };
    match pacer_tui::run(config, std::future::pending()).await {
        Ok(()) => {
            tracing::info!("the console was closed; stopping");
            say(&format!(
                "stopping (letting the workers write what the topic holds; Ctrl-C skips that); logs in {}",
                args.log_file().display()
            ));
        }
        Err(e) => {
            // The pipeline itself is fine: keep it running, as without a console.
            tracing::error!(error = %e, "the console failed; pacer keeps running");
            say(&format!(
                "the console failed ({e}); pacer keeps running, Ctrl-C stops it; logs in {}",
                args.log_file().display()
            ));
            std::future::pending::<()>().await
        }
    }
}
