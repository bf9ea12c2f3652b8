//! `pacer token`: an admin token that expires, issued from the admin secret, for a script or an operator
//! who should not hold the secret itself.

use crate::duration::parse_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// How long the token is accepted (for example `15m`, `8h`); at most 366 days.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The control plane's admin secret (default: the one `pacer up` wrote to <state dir>/admin.token).
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Read the admin secret from this file.
    #[arg(long, env = "PACER_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,
    /// Where `pacer up` keeps its state (its admin.token).
    #[arg(long, env = "PACER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(366 * 24 * 3600) {
        return Err("the ttl must be between 1s and 366 days".into());
    }
    Ok(ttl)
}

/// Prints the token on standard output (and nothing else there, so that `$(pacer token)` works).
#[allow(clippy::print_stdout, reason = "the token is the command's output")]
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(super::default_state_dir);
    let secret = super::read_admin_token(
        args.admin_token.as_deref(),
        args.admin_token_file.as_deref(),
        &state_dir,
    )?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "no admin secret: give --admin-token or --admin-token-file (none in {})",
            state_dir.join("admin.token").display()
        )
    })?;
    let token = pacer_control::Token::new(Some(secret))
        .issue(args.ttl)
        .ok_or_else(|| anyhow::anyhow!("the admin secret is empty"))?;
    println!("{token}");
    Ok(())
}
