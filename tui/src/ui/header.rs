//! The two header lines: where, what runs, and the totals.

use super::connection_words;
use crate::app::App;
use crate::format;
use pacer_proto::v1 as pb;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::time::Instant;

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(Color::DarkGray);
    let (words, color) = connection_words(&app.connection, now);
    let address = app
        .control_url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut first = vec![Span::styled("pacer ", bold), Span::raw(address.to_owned())];
    let mut policy_line = Vec::new();
    let mut second = Vec::new();
    if let Some(snapshot) = &app.snapshot {
        if let (Some(taken), Some(started)) = (&snapshot.taken_at, &snapshot.started_at)
            && let (Some(taken), Some(started)) =
                (format::timestamp(taken), format::timestamp(started))
        {
            let up = (taken - started).try_into().unwrap_or_default();
            first.push(Span::styled("  up ", dim));
            first.push(Span::raw(format::duration(up)));
        }
        if let Some(policy) = &snapshot.policy {
            let (mode, mode_color) = match policy.mode() {
                pb::Mode::Advise => ("advise", Color::Yellow),
                _ => ("enforce", Color::Green),
            };
            policy_line.push(Span::styled("policy ", dim));
            policy_line.push(Span::styled(policy.name.clone(), bold));
            if let Some(target) = slo_target(policy) {
                policy_line.push(Span::raw(format!(" p99 ≤ {}", format::duration(target))));
            }
            policy_line.push(Span::raw(" "));
            policy_line.push(Span::styled(
                format!("[{mode}]"),
                Style::default().fg(mode_color).add_modifier(Modifier::BOLD),
            ));
        }
        policy_line.push(Span::styled("  override ", dim));
        policy_line.push(overrides(snapshot));
        let totals = snapshot.totals.unwrap_or_default();
        let attached = snapshot
            .workers
            .iter()
            .filter(|w| w.status() == pb::WorkerStatus::Attached)
            .count();
        let lost = snapshot.workers.len() - attached;
        let paused = snapshot.workers.iter().filter(|w| w.paused).count();
        first.push(Span::styled("  workers ", dim));
        first.push(Span::raw(format!("{attached} attached")));
        if lost > 0 {
            first.push(Span::styled(
                format!(", {lost} lost"),
                Style::default().fg(Color::Red),
            ));
        }
        if paused > 0 {
            first.push(Span::styled(
                format!(", {paused} paused"),
                Style::default().fg(Color::Yellow),
            ));
        }
        let ingested = totals.events_ingested as f64;
        second.extend([
            Span::styled("ingested ", dim),
            Span::styled(format::count(ingested), bold),
            Span::styled("  written ", dim),
            Span::styled(format::count(totals.rows_written as f64), bold),
            Span::styled("  dead letters ", dim),
            Span::styled(
                format::count(totals.invalid as f64),
                if totals.invalid > 0 {
                    bold.fg(Color::Red)
                } else {
                    bold
                },
            ),
            Span::styled("  lag ", dim),
            Span::styled(format::count(totals.lag as f64), bold),
        ]);
        let recent = snapshot.recent_batches.as_ref();
        if let Some(p99) = recent.and_then(|r| r.receipt_commit_p99.as_ref()) {
            let p99 = format::from_pb(p99);
            // Red once the freshness target of the `slo` policy is missed.
            let missed = snapshot
                .policy
                .as_ref()
                .and_then(slo_target)
                .is_some_and(|target| p99 > target);
            second.push(Span::styled("  fresh p99 ", dim));
            second.push(Span::styled(
                format::duration(p99),
                if missed { bold.fg(Color::Red) } else { bold },
            ));
        }
        // The scale advice, once the arrivals need more workers than are attached, or more than the
        // partitions let work.
        if let Some(scale) = recent.and_then(|r| r.scale.as_ref())
            && (scale.workers_needed as usize > attached || scale.capped)
        {
            policy_line.push(Span::styled(
                format!("  scale: {}", scale.advice),
                Style::default().fg(Color::Yellow),
            ));
        }
        if let Some(advice) = snapshot.workers.iter().find(|w| !w.advice.is_empty()) {
            policy_line.push(Span::styled(
                format!("  advice: {}", advice.advice),
                Style::default().fg(Color::Yellow),
            ));
        }
    } else {
        second.push(Span::styled("no data yet", dim));
    }
    // Under `pacer up`: the broker and PostgreSQL it supervises.
    if let Some(stack) = &app.stack {
        let color = if stack.healthy {
            Color::Green
        } else {
            Color::Red
        };
        policy_line.push(Span::styled("  stack ", dim));
        policy_line.push(Span::styled(stack.text.clone(), Style::default().fg(color)));
    }
    // The connection last on its line: a long error is what gets cut, not the address.
    first.push(Span::raw("  "));
    first.push(Span::styled(
        format!("● {words}"),
        Style::default().fg(color),
    ));
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(first),
            Line::from(policy_line),
            Line::from(second),
        ]),
        area,
    );
}

/// The freshness target of the `slo` policy (its `target_ms`), if that is the policy running.
fn slo_target(policy: &pb::PolicyState) -> Option<std::time::Duration> {
    if policy.name != pacer_policy::PolicyKind::Slo.as_str() {
        return None;
    }
    let ms = policy.params.get(pacer_policy::SLO_TARGET_PARAM).copied()?;
    std::time::Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// `none`, `all 250ms`, `2 workers`, `all 250ms +1`.
fn overrides(snapshot: &pb::PipelineSnapshot) -> Span<'static> {
    let all = snapshot.overrides.iter().find(|o| o.worker_id.is_empty());
    let own = snapshot
        .overrides
        .iter()
        .filter(|o| !o.worker_id.is_empty())
        .count();
    let text = match (all, own) {
        (None, 0) => return Span::raw("none"),
        (Some(all), 0) => format!("all {}", settings_words(all.interval_ms, all.max_rows)),
        (Some(all), n) => format!(
            "all {} +{n} worker",
            settings_words(all.interval_ms, all.max_rows)
        ),
        (None, 1) => "1 worker".to_owned(),
        (None, n) => format!("{n} workers"),
    };
    Span::styled(
        text,
        Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
    )
}

/// `250ms`, `250ms/5000 rows`, `5000 rows`: the fields an override fixes.
fn settings_words(interval_ms: u64, max_rows: u64) -> String {
    match (interval_ms, max_rows) {
        (0, 0) => "-".into(),
        (ms, 0) => format!("{ms}ms"),
        (0, rows) => format!("{rows} rows"),
        (ms, rows) => format!("{ms}ms/{rows} rows"),
    }
}
