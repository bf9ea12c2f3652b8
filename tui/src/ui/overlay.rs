//! What is drawn over the console: the help, the two forms and the confirmation.

use crate::action::Action;
use crate::forms::{OVERRIDE_FIELDS, OverrideForm, PolicyForm};
use pacer_policy::PolicyKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

/// Every key, as the help lists it.
pub const KEYS: &[(&str, &str)] = &[
    (
        "↑/↓ j/k",
        "select a worker, or the \"every worker\" row at the top",
    ),
    ("g/G a", "first row / last row / every worker"),
    ("s / S", "sort by the next column / reverse the order"),
    (
        "o",
        "override interval and/or max rows of the selection, with an optional expiry",
    ),
    (
        "c",
        "clear the selection's override (the policy decides again)",
    ),
    ("p / r", "pause / resume the selection"),
    ("m", "toggle enforce / advise (asks first)"),
    (
        "P",
        "switch the policy and edit its parameters (asks first)",
    ),
    (
        "y / n Esc",
        "confirm / cancel a change to the whole pipeline",
    ),
    ("?", "this help; any key closes it"),
    ("Esc", "close a form or the help; clear the status line"),
    (
        "q Ctrl-C",
        "quit (under pacer up, which then stops, it asks first)",
    ),
];

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

fn boxed<'a>(frame: &mut Frame<'_>, area: Rect, title: &'a str, lines: Vec<Line<'a>>) {
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(title)
                .border_style(Style::default().fg(Color::Cyan)),
        ),
        area,
    );
}

pub fn help(frame: &mut Frame<'_>, area: Rect) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:>13}  "), bold),
                Span::raw(*what),
            ])
        })
        .collect();
    let height = lines.len() as u16 + 2;
    boxed(frame, centered(area, 78, height), " keys ", lines);
}

pub fn override_form(frame: &mut Frame<'_>, area: Rect, form: &OverrideForm) {
    let mut lines = Vec::new();
    for (i, (label, value)) in OVERRIDE_FIELDS.iter().zip(&form.fields).enumerate() {
        let focused = i == form.focus;
        lines.push(Line::from(vec![
            Span::raw(if focused { "▶ " } else { "  " }),
            Span::raw(format!("{label:<40}")),
            Span::styled(
                format!("{value}{}", if focused { "▏" } else { "" }),
                Style::default().add_modifier(Modifier::UNDERLINED),
            ),
        ]));
    }
    lines.push(Line::default());
    error_and_hint(
        &mut lines,
        form.error.as_deref(),
        "Tab next field · Enter set · Esc cancel",
    );
    let title = format!(" override for {} ", form.target);
    let height = lines.len() as u16 + 2;
    boxed(frame, centered(area, 72, height), &title, lines);
}

/// A form's refusal, if any, in red, then its key hints.
fn error_and_hint<'a>(lines: &mut Vec<Line<'a>>, error: Option<&str>, hint: &'a str) {
    if let Some(error) = error {
        lines.push(Line::from(Span::styled(
            error.to_owned(),
            Style::default().fg(Color::Red),
        )));
    }
    lines.push(Line::from(Span::styled(
        hint,
        Style::default().fg(Color::DarkGray),
    )));
}

pub fn policy_form(frame: &mut Frame<'_>, area: Rect, form: &PolicyForm) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut names = vec![Span::raw("policy  ")];
    for kind in PolicyKind::ALL {
        let style = if kind == form.kind() {
            bold.add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        names.push(Span::styled(format!(" {} ", kind.as_str()), style));
    }
    let mut lines = vec![
        Line::from(names),
        Line::from(vec![
            Span::raw("params  "),
            Span::styled(
                format!("{}▏", form.params),
                Style::default().add_modifier(Modifier::UNDERLINED),
            ),
        ]),
    ];
    error_and_hint(
        &mut lines,
        form.error.as_deref(),
        "←/→ policy · type name=value, … (blank: defaults) · Enter switch · Esc cancel",
    );
    lines.push(Line::default());
    for doc in form.docs() {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", doc.name), bold),
            Span::styled(
                format!("(default {}) ", doc.default),
                Style::default().fg(Color::DarkGray),
            ),
            Span::raw(doc.help),
        ]));
    }
    let height = (lines.len() as u16 + 2 + 4).min(area.height);
    boxed(frame, centered(area, 78, height), " switch policy ", lines);
}

pub fn confirm(frame: &mut Frame<'_>, area: Rect, action: &Action) {
    let lines = vec![
        Line::from(Span::styled(
            "This changes the whole pipeline:",
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(format!("{action}?")),
        Line::default(),
        Line::from(Span::styled(
            "y: yes · n / Esc: no",
            Style::default().fg(Color::DarkGray),
        )),
    ];
    boxed(frame, centered(area, 70, 8), " confirm ", lines);
}

/// What quitting under `pacer up` asks.
pub const QUIT_QUESTION: &str = "Quit? This stops the whole pipeline: ingest, workers, control plane. y: yes, any other key: no";

pub fn confirm_quit(frame: &mut Frame<'_>, area: Rect) {
    let lines = vec![
        Line::from(Span::styled(
            "Quitting stops pacer up:",
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from("ingest stops taking events, the workers write what the topic holds,"),
        Line::from("then everything stops."),
        Line::default(),
        Line::from(Span::styled(
            "y: quit and stop · any other key: stay",
            Style::default().fg(Color::DarkGray),
        )),
    ];
    boxed(frame, centered(area, 74, 9), " quit? ", lines);
}
