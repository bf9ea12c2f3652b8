//! The routes panel: per route of the pipeline file, the rows written, their rate and the dead letters,
//! over every worker since the control plane started. Beside the decisions, and only when it says more
//! than the header's totals (see [`App::routes_shown`]).

use crate::app::{App, NO_ROUTE};
use crate::format;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};

/// How the records that reached no route are listed.
const NO_ROUTE_WORDS: &str = "(no route)";

/// The number columns: header and width.
const NUMBERS: [(&str, u16); 3] = [("rows", 7), ("rows/s", 7), ("dead", 6)];

/// The panel's height for `routes` routes: borders, header and one line each, at most `most`.
pub fn height(routes: usize, most: u16) -> u16 {
    u16::try_from(routes)
        .unwrap_or(u16::MAX)
        .saturating_add(3)
        .min(most)
}

/// The panel's width: the longest name and the numbers, with borders and spacing, at most `most`.
pub fn width(app: &App, most: u16) -> u16 {
    let name = app
        .routes()
        .iter()
        .map(|r| label(&r.route).chars().count() as u16)
        .max()
        .unwrap_or(0)
        .clamp(5, 24);
    let numbers: u16 = NUMBERS.iter().map(|(_, w)| w + 1).sum();
    (name + numbers + 2).min(most)
}

fn label(route: &str) -> &str {
    if route == NO_ROUTE {
        NO_ROUTE_WORDS
    } else {
        route
    }
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let dim = Style::default().fg(Color::DarkGray);
    let routes = app.routes();
    let room = area.height.saturating_sub(3) as usize;
    let rows: Vec<Row<'_>> = routes
        .iter()
        .take(room)
        .map(|r| {
            // Records that reached no route have no table to be rows of: only dead letters.
            let (name, rows, rate) = if r.route == NO_ROUTE {
                (Span::styled(NO_ROUTE_WORDS, dim), "-".into(), "-".into())
            } else {
                (
                    Span::raw(r.route.clone()),
                    format::count(r.rows_total as f64),
                    format::count(r.rows_per_s),
                )
            };
            let dead = if r.dead_letters_total > 0 {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            };
            Row::new([
                Cell::from(name),
                Cell::from(rows),
                Cell::from(rate),
                Cell::from(format::count(r.dead_letters_total as f64)).style(dead),
            ])
        })
        .collect();
    let title = if routes.len() > room {
        format!(" routes ({} of {}) ", room, routes.len())
    } else {
        " routes ".to_owned()
    };
    let mut widths = vec![Constraint::Min(5)];
    widths.extend(NUMBERS.iter().map(|&(_, w)| Constraint::Length(w)));
    let header = std::iter::once("route").chain(NUMBERS.iter().map(|&(h, _)| h));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_grows_with_the_routes_up_to_its_room() {
        assert_eq!(height(2, 7), 5);
        assert_eq!(height(9, 7), 7);
        assert_eq!(height(usize::MAX, 7), 7);
        let app = App::new("http://127.0.0.1:1", false);
        // No routes: the header's width and the numbers.
        assert_eq!(width(&app, 80), 5 + 23 + 2);
        assert_eq!(width(&app, 20), 20);
    }
}
