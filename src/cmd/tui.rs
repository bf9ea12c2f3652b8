//! `pacer tui`: the operator's console against a running control plane.

use crate::duration::parse_duration;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// The control plane's URL (`http://host:port`, or `https://` with --control-ca).
    #[arg(long, env = "PACER_CONTROL", default_value = "http://127.0.0.1:50051")]
    pub control: String,
    /// The admin token, for changes (default: the one `pacer up` wrote to <state dir>/admin.token, if any).
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Read the admin token from this file.
    #[arg(long, env = "PACER_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,
    /// A PEM CA certificate to trust for an `https://` control plane.
    #[arg(long, env = "PACER_CONTROL_CA")]
    pub control_ca: Option<PathBuf>,
    /// Where `pacer up` keeps its state (its admin.token) and where the log goes by default.
    #[arg(long, env = "PACER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// How often the control plane sends a snapshot (at least 100ms).
    #[arg(long, default_value = "1s", value_parser = parse_refresh)]
    pub refresh: Duration,
    /// Where the console's own logs go (default: <state dir>/tui.log); never to the screen.
    #[arg(long, env = "PACER_TUI_LOG")]
    pub log_file: Option<PathBuf>,
}

fn parse_refresh(text: &str) -> Result<Duration, String> {
    let refresh = parse_duration(text)?;
    if refresh < Duration::from_millis(100) {
        return Err("the refresh must be at least 100ms".into());
    }
    Ok(refresh)
}

impl TuiArgs {
    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(super::default_state_dir)
    }

    /// The file the logs go to.
    pub fn log_file(&self) -> PathBuf {
        self.log_file
            .clone()
            .unwrap_or_else(|| self.state_dir().join("tui.log"))
    }

    fn token(&self) -> anyhow::Result<Option<String>> {
        super::read_admin_token(
            self.admin_token.as_deref(),
            self.admin_token_file.as_deref(),
            &self.state_dir(),
        )
    }
}

pub async fn run(args: TuiArgs) -> anyhow::Result<()> {
    let config = pacer_tui::TuiConfig {
        target: pacer_tui::ControlTarget {
            url: args.control.clone(),
            token: args.token()?,
            ca: args.control_ca.clone(),
        },
        refresh: args.refresh,
        confirm_quit: false,
        stack: None,
    };
    config.target.check()?;
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!("pacer tui needs a terminal on standard output");
    }
    pacer_tui::run(config, crate::shutdown::signalled())
        .await
        .context("the console failed")
}
