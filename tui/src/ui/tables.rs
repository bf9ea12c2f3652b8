//! The workers table and the decisions log.

use crate::app::App;
use crate::format;
use pacer_proto::v1 as pb;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

/// The table's columns: header, width (0: the id, which takes what is left), and the order they are dropped
/// in when the terminal is narrow (0: never).
const COLUMNS: [(&str, u16, u8); 10] = [
    ("worker", 0, 0),
    ("state", 8, 0),
    ("parts", 7, 3),
    ("interval", 8, 0),
    ("max rows", 8, 1),
    ("set by", 8, 4),
    ("rows", 6, 0),
    ("took", 6, 2),
    ("flush", 8, 5),
    ("lag", 6, 0),
];

/// Which columns fit in `width` with an id column of `id_width`.
fn fitting_columns(width: u16, id_width: u16, advise: bool) -> Vec<usize> {
    let column_width = |i: usize| {
        if i == 8 && advise { 14 } else { COLUMNS[i].1 }
    };
    let mut keep: Vec<usize> = (0..COLUMNS.len()).collect();
    let used = |keep: &[usize]| -> u16 {
        keep.iter()
            .map(|&i| if i == 0 { id_width } else { column_width(i) } + 1)
            .sum()
    };
    for drop in 1..=5 {
        if used(&keep) <= width {
            break;
        }
        keep.retain(|&i| COLUMNS[i].2 != drop);
    }
    keep
}

pub fn draw_workers(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let advise = app.mode() == Some(crate::action::Mode::Advise);
    let workers = app.workers();
    let id_width = workers
        .iter()
        .map(|w| w.worker_id.chars().count() as u16)
        .max()
        .unwrap_or(0)
        .clamp(14, 40);
    // Inside the borders, less the selection marker.
    let keep = fitting_columns(area.width.saturating_sub(4), id_width, advise);
    let header: Vec<&str> = keep
        .iter()
        .map(|&i| match i {
            8 if advise => "suggests",
            i => COLUMNS[i].0,
        })
        .collect();
    let all_override = app
        .snapshot
        .as_ref()
        .and_then(|s| s.overrides.iter().find(|o| o.worker_id.is_empty()));
    let mut all_row: Vec<Cell<'_>> = vec![Cell::from(""); COLUMNS.len()];
    all_row[0] = Cell::from("* every worker");
    all_row[1] = Cell::from(format!("{} known", workers.len()));
    if let Some(o) = all_override {
        all_row[3] = Cell::from(if o.interval_ms > 0 {
            format!("{}ms", o.interval_ms)
        } else {
            String::new()
        });
        all_row[4] = Cell::from(if o.max_rows > 0 {
            format::count(o.max_rows as f64)
        } else {
            String::new()
        });
        all_row[5] = Cell::from("override");
    }
    let pick = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        let mut cells: Vec<Option<Cell<'static>>> = cells.into_iter().map(Some).collect();
        keep.iter().filter_map(|&i| cells[i].take()).collect()
    };
    let mut rows = vec![Row::new(pick(all_row)).style(Style::default().fg(Color::DarkGray))];
    rows.extend(
        workers
            .iter()
            .map(|w| Row::new(pick(worker_cells(w, advise)))),
    );
    let widths: Vec<Constraint> = keep
        .iter()
        .map(|&i| match i {
            0 => Constraint::Min(id_width.min(14)),
            8 if advise => Constraint::Length(14),
            i => Constraint::Length(COLUMNS[i].1),
        })
        .collect();
    let title = format!(
        " workers (sorted by {}{}) ",
        app.sort.as_str(),
        if app.reverse { ", reversed" } else { "" }
    );
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(app.selected_row()));
    frame.render_stateful_widget(table, area, &mut state);
}

fn worker_cells(w: &pb::WorkerInfo, advise: bool) -> Vec<Cell<'static>> {
    let (state, color) = match (w.status(), w.paused) {
        (pb::WorkerStatus::Attached, false) => ("attached", Color::Green),
        (pb::WorkerStatus::Attached, true) => ("paused", Color::Yellow),
        (_, true) => ("lost·p", Color::Red),
        _ => ("lost", Color::Red),
    };
    let settings = w.settings.unwrap_or_default();
    let source = match w.settings_source() {
        pb::SettingsSource::Policy => "policy",
        pb::SettingsSource::Override => "override",
        pb::SettingsSource::Initial => "initial",
        pb::SettingsSource::Unspecified => "-",
    };
    let last = w.last_batch.as_ref();
    let flush_or_suggested = if advise {
        w.suggested
            .map(|s| format!("{}ms/{}", s.interval_ms, format::count(s.max_rows as f64)))
            .unwrap_or_else(|| "-".into())
    } else {
        last.map(|b| flush_words(b.flush_reason()))
            .unwrap_or("-")
            .to_owned()
    };
    let lag: i64 = w.lag.iter().map(|l| l.lag.max(0)).sum();
    vec![
        Cell::from(w.worker_id.clone()),
        Cell::from(Span::styled(state, Style::default().fg(color))),
        Cell::from(partitions(&w.partitions)),
        Cell::from(format!("{}ms", settings.interval_ms)),
        Cell::from(format::count(settings.max_rows as f64)),
        Cell::from(Span::styled(
            source,
            if source == "override" {
                Style::default().fg(Color::Magenta)
            } else {
                Style::default()
            },
        )),
        Cell::from(last.map_or("-".into(), |b| format::count(b.records as f64))),
        Cell::from(
            last.and_then(|b| b.duration.as_ref())
                .map_or("-".into(), |d| format::duration(format::from_pb(d))),
        ),
        Cell::from(flush_or_suggested),
        Cell::from(format::count(lag as f64)),
    ]
}

fn flush_words(reason: pb::FlushReason) -> &'static str {
    match reason {
        pb::FlushReason::Interval => "interval",
        pb::FlushReason::MaxRows => "max rows",
        pb::FlushReason::MaxBytes => "max b",
        pb::FlushReason::Drain => "drain",
        pb::FlushReason::Unspecified => "-",
    }
}

/// `0,1`, `0-3`, `-`.
fn partitions(parts: &[i32]) -> String {
    match parts {
        [] => "-".into(),
        [first, .., last]
            if parts.len() > 2 && parts.windows(2).all(|w| w[0].checked_add(1) == Some(w[1])) =>
        {
            format!("{first}-{last}")
        }
        _ => parts
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

pub fn draw_decisions(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let dim = Style::default().fg(Color::DarkGray);
    let room = area.height.saturating_sub(2) as usize;
    let decisions: &[pb::Decision] = app
        .snapshot
        .as_ref()
        .map_or(&[], |s| s.recent_decisions.as_slice());
    let lines: Vec<Line<'_>> = if decisions.is_empty() {
        vec![Line::from(Span::styled("no decision yet", dim))]
    } else {
        decisions
            .iter()
            .take(room)
            .map(|d| {
                let at =
                    d.at.as_ref()
                        .and_then(format::timestamp)
                        .map(format::clock)
                        .unwrap_or_default();
                let setting = |s: &Option<pb::BatchSettings>| {
                    s.map(|s| format!("{}ms/{}", s.interval_ms, format::count(s.max_rows as f64)))
                        .unwrap_or_else(|| "-".into())
                };
                let advised = d.mode() == pb::Mode::Advise;
                Line::from(vec![
                    Span::styled(format!("{at} "), dim),
                    Span::raw(format!("{} ", d.worker_id)),
                    Span::styled(format!("{} ", d.policy), Style::default().fg(Color::Cyan)),
                    Span::raw(format!(
                        "{} → {} ",
                        setting(&d.old_settings),
                        setting(&d.new_settings)
                    )),
                    if advised {
                        Span::styled("(advised) ", Style::default().fg(Color::Yellow))
                    } else {
                        Span::raw("")
                    },
                    Span::styled(d.reason.clone(), dim),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" decisions (newest first) ")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_drop_the_least_needed_columns_first() {
        let all = fitting_columns(200, 20, false);
        assert_eq!(all.len(), COLUMNS.len());
        // 80 columns less the borders and the marker: max rows and took go first.
        let narrow = fitting_columns(76, 14, false);
        assert!(!narrow.contains(&4) && !narrow.contains(&7));
        assert!(narrow.contains(&0) && narrow.contains(&3) && narrow.contains(&9));
        // Never fewer than id, state, interval, rows and lag.
        assert_eq!(fitting_columns(10, 40, true), vec![0, 1, 3, 6, 9]);
    }

    #[test]
    fn partitions_read_as_ranges_when_they_are_one() {
        assert_eq!(partitions(&[]), "-");
        assert_eq!(partitions(&[3]), "3");
        assert_eq!(partitions(&[0, 1]), "0,1");
        assert_eq!(partitions(&[0, 1, 2, 3]), "0-3");
        assert_eq!(partitions(&[0, 2, 5]), "0,2,5");
        assert_eq!(
            partitions(&[i32::MAX - 1, i32::MAX, 0]),
            "2147483646,2147483647,0"
        );
    }
}
