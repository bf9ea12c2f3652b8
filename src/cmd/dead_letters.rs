//! `pacer dead-letters list|replay`: the records that did not become rows, shown with why, and run through
//! the pipeline file's routes again once the schema or the table that refused them is fixed. See
//! `pacer_worker::replay`.

use crate::duration::parse_duration;
use clap::{Args, Subcommand};
use pacer_worker::replay::{self, Filter, Listed, ReplayOptions, ReplaySummary};
use pacer_worker::{Routes, Sink};
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Args)]
pub struct DeadLettersArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List dead letters, oldest first: the record, its route, why it failed and how often a replay tried it.
    List(ListArgs),
    /// Run dead letters through the pipeline file's routes again: the rows of those that pass are written
    /// and the letters removed, in one transaction per chunk; those that fail again are kept.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    select: Select,
    /// Show at most this many letters (the count covers them all).
    #[arg(long, default_value_t = 100)]
    limit: u64,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    select: Select,
    /// The pipeline file (pacer.toml) whose routes the letters go through; without one, the built-in
    /// `events` route.
    #[arg(long, env = "PACER_PIPELINE")]
    pipeline: Option<PathBuf>,
    /// Do everything in transactions that are rolled back and report what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Dead letters per transaction.
    #[arg(long, default_value_t = ReplayOptions::default().chunk as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    chunk: u64,
}

/// Which dead letters, in which database.
#[derive(Debug, Args)]
struct Select {
    /// PostgreSQL URL of the pipeline's database.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Only the letters of this route (its name in the pipeline file).
    #[arg(long)]
    route: Option<String>,
    /// Only the letters whose reason contains this text (case-insensitive).
    #[arg(long)]
    reason: Option<String>,
    /// Only the letters that failed since this time: RFC 3339 (`2024-05-01T12:00:00Z`) or a duration ago
    /// (`30m`, `1h`, `2days`).
    #[arg(long, value_parser = parse_since)]
    since: Option<OffsetDateTime>,
}

impl Select {
    fn filter(&self) -> Filter {
        Filter {
            route: self.route.clone(),
            reason: self.reason.clone(),
            since: self.since,
        }
    }
}

/// An RFC 3339 time, or a duration before now.
fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let ago = parse_duration(text).map_err(|_| {
        format!(
            "{text:?} is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor a duration ago (30m, 1h, 2days)"
        )
    })?;
    let ago = time::Duration::try_from(ago).map_err(|_| format!("{text:?} is too long ago"))?;
    OffsetDateTime::now_utc()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text:?} is too long ago"))
}

pub async fn run(args: DeadLettersArgs) -> anyhow::Result<()> {
    match args.action {
        Action::List(args) => list(args).await,
        Action::Replay(args) => replay(args).await,
    }
}

/// A sink on the database, its schema up to date (the dead-letter columns a replay reads).
async fn open(select: &Select, routes: Routes) -> anyhow::Result<Sink> {
    let sink = Sink::new(&select.database_url, "replay")?.with_routes(Arc::new(routes));
    sink.migrate().await?;
    Ok(sink)
}

#[allow(clippy::print_stdout, reason = "the list is the command's output")]
async fn list(args: ListArgs) -> anyhow::Result<()> {
    let sink = open(&args.select, Routes::default()).await?;
    let filter = args.select.filter();
    let letters = replay::list(sink.pool(), &filter, Some(args.limit)).await?;
    let total = replay::count(sink.pool(), &filter).await?;
    if total == 0 {
        println!(
            "no dead letters{}",
            if any(&filter) { " match" } else { "" }
        );
        return Ok(());
    }
    print!("{}", table(&letters));
    let noun = if total == 1 {
        "dead letter"
    } else {
        "dead letters"
    };
    if (letters.len() as u64) < total {
        println!(
            "showing {} of {total} {noun} (oldest first; --limit shows more)",
            letters.len()
        );
    } else {
        println!("{total} {noun}");
    }
    Ok(())
}

fn any(filter: &Filter) -> bool {
    filter.route.is_some() || filter.reason.is_some() || filter.since.is_some()
}

#[allow(clippy::print_stdout, reason = "the summary is the command's output")]
async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let routes = match &args.pipeline {
        // The pipeline error names the file, line and column itself: no context to add.
        Some(path) => Routes::new(pacer_pipeline::Pipeline::from_file(path)?),
        None => Routes::default(),
    };
    let sink = open(&args.select, routes).await?;
    // The worker's start-up check: a missing table or column is named, with what to run.
    pacer_worker::tables::check(sink.pool(), sink.routes().pipeline()).await?;
    let options = ReplayOptions {
        dry_run: args.dry_run,
        chunk: usize::try_from(args.chunk).unwrap_or(usize::MAX),
        max_chunks: None,
    };
    let summary =
        replay::replay(sink.pool(), sink.routes(), &args.select.filter(), options).await?;
    println!("{}", summary_line(&summary, args.dry_run));
    Ok(())
}

/// `replayed N: P passed, F failed again, A already there`, and what to do next.
fn summary_line(summary: &ReplaySummary, dry_run: bool) -> String {
    let mut line = format!(
        "{}replayed {}: {} passed, {} failed again, {} already there",
        if dry_run {
            "dry run, nothing changed: "
        } else {
            ""
        },
        summary.total(),
        summary.passed,
        summary.failed_again,
        summary.already_there
    );
    if summary.failed_again > 0 {
        line.push_str(
            "\nrun `pacer dead-letters list` to see why the letters that failed again failed",
        );
    }
    line
}

/// The letters as a table, one line each, the reason last (never cut: it says what to fix).
fn table(letters: &[Listed]) -> String {
    let header = [
        "FAILED AT",
        "RECORD",
        "ROUTE",
        "ATTEMPTS",
        "AT",
        "EVENT",
        "REASON",
    ];
    let rows: Vec<[String; 7]> = letters
        .iter()
        .map(|l| {
            let at = match (&l.pointer, &l.keyword) {
                (Some(pointer), Some(keyword)) => format!("{pointer} ({keyword})"),
                (Some(pointer), None) => pointer.clone(),
                (None, Some(keyword)) => format!("({keyword})"),
                (None, None) => "-".into(),
            };
            let event = match (&l.event_source, &l.event_id) {
                (Some(source), Some(id)) => format!("{source} {id}"),
                _ => "-".into(),
            };
            [
                time_text(l.failed_at),
                format!("{}/{}@{}", l.topic, l.partition, l.offset),
                l.route.clone().unwrap_or_else(|| "-".into()),
                l.replay_attempts.to_string(),
                at,
                event,
                l.reason.replace(['\n', '\r'], " "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out
}

/// A time to the second, in UTC, as RFC 3339.
fn time_text(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_duration_ago() {
        assert_eq!(
            parse_since("2024-05-01T12:00:00Z").map(|t| t.unix_timestamp()),
            Ok(1_714_564_800)
        );
        let hour_ago = parse_since("1h").unwrap();
        let expected = OffsetDateTime::now_utc() - time::Duration::hours(1);
        assert!((hour_ago - expected).abs() < time::Duration::seconds(5));
        let error = parse_since("yesterday").unwrap_err();
        assert!(
            error.contains("RFC 3339") && error.contains("1h"),
            "{error}"
        );
    }

    #[test]
    fn the_command_line_takes_the_filters_and_documents_its_flags() {
        use clap::{CommandFactory, Parser};
        let parse = |extra: &[&str]| {
            let base = [
                "pacer",
                "dead-letters",
                "replay",
                "--database-url",
                "postgres://db/pacer",
            ];
            super::super::Cli::try_parse_from(base.iter().chain(extra))
        };
        let cli = parse(&[
            "--route",
            "orders",
            "--reason",
            "minimum",
            "--since",
            "1h",
            "--dry-run",
        ])
        .unwrap();
        let super::super::Command::DeadLetters(DeadLettersArgs {
            action: Action::Replay(args),
        }) = cli.command
        else {
            panic!("not a replay");
        };
        assert!(args.dry_run);
        assert_eq!(args.chunk, 500);
        let filter = args.select.filter();
        assert_eq!(filter.route.as_deref(), Some("orders"));
        assert_eq!(filter.reason.as_deref(), Some("minimum"));
        assert!(filter.since.is_some());
        let error = parse(&["--since", "yesterday"]).unwrap_err().to_string();
        assert!(error.contains("RFC 3339"), "{error}");
        assert!(parse(&["--chunk", "0"]).is_err());

        let mut command = super::super::Cli::command();
        let letters = command.find_subcommand_mut("dead-letters").unwrap();
        let replay = letters
            .find_subcommand_mut("replay")
            .unwrap()
            .render_help()
            .to_string();
        for flag in [
            "--route",
            "--reason",
            "--since",
            "--dry-run",
            "--pipeline",
            "--database-url",
        ] {
            assert!(
                replay.contains(flag),
                "replay --help lacks {flag}:\n{replay}"
            );
        }
        let list = letters
            .find_subcommand_mut("list")
            .unwrap()
            .render_help()
            .to_string();
        assert!(list.contains("--limit"), "{list}");
    }

    #[test]
    fn the_summary_names_each_outcome() {
        let summary = ReplaySummary {
            passed: 3,
            failed_again: 0,
            already_there: 1,
        };
        assert_eq!(
            summary_line(&summary, false),
            "replayed 4: 3 passed, 0 failed again, 1 already there"
        );
        assert!(summary_line(&summary, true).starts_with("dry run, nothing changed: replayed 4"));
    }

    #[test]
    fn the_table_lines_up_and_keeps_the_whole_reason() {
        let letter = Listed {
            topic: "events".into(),
            partition: 0,
            offset: 12,
            route: Some("orders".into()),
            reason: "route \"orders\": /data/amount: -1 is less than the minimum of 0".into(),
            pointer: Some("/data/amount".into()),
            keyword: Some("minimum".into()),
            replay_attempts: 2,
            failed_at: OffsetDateTime::UNIX_EPOCH,
            last_replayed_at: None,
            event_source: Some("/shop".into()),
            event_id: Some("o1".into()),
        };
        let text = table(&[letter]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("REASON"), lines[1].find("route \"orders\""));
        assert!(lines[1].contains("events/0@12"), "{text}");
        assert!(lines[1].contains("/data/amount (minimum)"), "{text}");
        assert!(lines[1].ends_with("minimum of 0"), "{text}");
    }
}
