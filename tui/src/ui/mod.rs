//! Drawing: one function from the console's state to a frame. It reads the clock only through `now`, so a
//! test draws the same screen every time.

mod charts;
mod header;
mod overlay;
mod routes;
mod tables;

use crate::app::{App, Connection, Overlay};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use std::time::Instant;

/// The smallest terminal the full console fits in.
pub const MIN_WIDTH: u16 = 80;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole console.
pub fn draw(frame: &mut Frame<'_>, app: &App, now: Instant) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, app, area, now);
        return;
    }
    // The key hints only where there is room; `?` lists them anyway.
    let hints = u16::from(area.height >= 30);
    let [header, body, status, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(hints),
    ])
    .areas(area);
    let spare = body.height.saturating_sub(19);
    let decisions_height = 4 + spare / 5;
    // The routes share the decisions' row; when they need more lines, the charts give up to two (3 routes at
    // 80×24), never the workers. More routes than that are cut, and the panel's title says so.
    let bottom_height = if app.routes_shown() {
        routes::height(app.routes().len(), decisions_height + 2).max(decisions_height)
    } else {
        decisions_height
    };
    let charts_height = (7 + spare * 2 / 5).saturating_sub(bottom_height - decisions_height);
    let [charts, lag, workers, bottom] = Layout::vertical([
        Constraint::Length(charts_height),
        Constraint::Length(3 + spare / 10),
        Constraint::Fill(1),
        Constraint::Length(bottom_height),
    ])
    .areas(body);
    header::draw(frame, app, header, now);
    charts::draw(frame, app, charts);
    charts::draw_lag(frame, app, lag);
    tables::draw_workers(frame, app, workers);
    if app.routes_shown() {
        let width = routes::width(app, bottom.width / 2);
        let [decisions, routes] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(bottom);
        tables::draw_decisions(frame, app, decisions);
        routes::draw(frame, app, routes);
    } else {
        tables::draw_decisions(frame, app, bottom);
    }
    draw_status(frame, app, status, now);
    if hints > 0 {
        draw_keys(frame, keys);
    }
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => overlay::help(frame, area),
        Overlay::Override(form) => overlay::override_form(frame, area, form),
        Overlay::Policy(form) => overlay::policy_form(frame, area, form),
        Overlay::Confirm(action) => overlay::confirm(frame, area, action),
        Overlay::ConfirmQuit => overlay::confirm_quit(frame, area),
    }
}

/// The connection in words: `connected`, `connecting…`, `disconnected (why), retrying in 3s`.
pub fn connection_words(connection: &Connection, now: Instant) -> (String, Color) {
    match connection {
        Connection::Connecting => ("connecting…".into(), Color::Yellow),
        Connection::Connected => ("connected".into(), Color::Green),
        Connection::Disconnected { error, retry_at } => {
            let wait = retry_at.saturating_duration_since(now);
            let when = if wait.is_zero() {
                "retrying now".to_owned()
            } else {
                format!("retrying in {}s", wait.as_secs() + 1)
            };
            (format!("disconnected, {when} ({error})"), Color::Red)
        }
    }
}

fn too_small(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let (words, color) = connection_words(&app.connection, now);
    let text = vec![
        Line::from(Span::styled(
            "pacer: terminal too small",
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(format!(
            "{}×{} here; the console needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::from(Span::styled(words, Style::default().fg(color))),
        Line::from(if app.overlay == Overlay::ConfirmQuit {
            overlay::QUIT_QUESTION
        } else {
            "q quits."
        }),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let line = if let Some(action) = app.in_flight.last() {
        let more = match app.in_flight.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        Line::from(Span::styled(
            format!("… {action}{more}"),
            Style::default().fg(Color::Yellow),
        ))
    } else if let Some(status) = &app.status {
        let color = if status.error {
            Color::Red
        } else {
            Color::Green
        };
        Line::from(Span::styled(
            status.text.clone(),
            Style::default().fg(color),
        ))
    } else if let Connection::Disconnected { .. } = app.connection {
        let (words, color) = connection_words(&app.connection, now);
        Line::from(Span::styled(words, Style::default().fg(color)))
    } else if !app.has_token {
        Line::from(Span::styled(
            "no admin token: changes are refused if the control plane wants one (--admin-token)",
            Style::default().fg(Color::DarkGray),
        ))
    } else {
        Line::from(Span::styled(
            "? lists the keys",
            Style::default().fg(Color::DarkGray),
        ))
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_keys(frame: &mut Frame<'_>, area: Rect) {
    let keys = [
        ("↑↓", "select"),
        ("o", "override"),
        ("c", "clear"),
        ("p/r", "pause/resume"),
        ("m", "mode"),
        ("P", "policy"),
        ("s", "sort"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let mut spans = Vec::new();
    for (key, what) in keys {
        spans.push(Span::styled(
            key,
            Style::default().add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
