//! The charts: throughput, batch latency against the interval, and lag.

use crate::app::App;
use crate::format;
use crate::history::Series;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline};

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let h = &app.history;
    chart(
        frame,
        left,
        "throughput, events/s",
        &[
            ("ingested", &h.ingested, Color::Cyan, false),
            ("written", &h.written, Color::Green, false),
        ],
        format::count,
        h.span(),
    );
    chart(
        frame,
        right,
        "latency",
        &[
            ("batch", &h.duration_p50, Color::Green, true),
            ("p99", &h.duration_p99, Color::Yellow, true),
            ("e2e", &h.e2e_p50, Color::Cyan, false),
            ("p99", &h.e2e_p99, Color::Red, false),
            ("interval", &h.interval, Color::Magenta, false),
        ],
        |ms| {
            if ms <= 0.0 {
                "0".into()
            } else {
                format::duration(std::time::Duration::from_secs_f64(ms / 1e3))
            }
        },
        h.span(),
    );
}

fn chart(
    frame: &mut Frame<'_>,
    area: Rect,
    title: &str,
    lines: &[(&str, &Series, Color, bool)],
    label: fn(f64) -> String,
    (x0, x1): (f64, f64),
) {
    let points: Vec<Vec<(f64, f64)>> = lines.iter().map(|(_, s, _, _)| s.points()).collect();
    let top = lines.iter().map(|(_, s, _, _)| s.max()).fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    // The legend, with each line's newest value, along the top border after the title or along the bottom.
    let mut title_spans = vec![Span::raw(format!(" {title} "))];
    let mut legend = vec![Span::raw(" ")];
    for (name, series, color, on_top) in lines {
        let now = series.last().map(label).unwrap_or_else(|| "-".into());
        let span = Span::styled(format!("{name} {now} "), Style::default().fg(*color));
        if *on_top {
            title_spans.push(span);
        } else {
            legend.push(span);
        }
    }
    let datasets: Vec<Dataset<'_>> = lines
        .iter()
        .zip(&points)
        .map(|((_, _, color, _), data)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(*color))
                .data(data)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(
            Block::bordered()
                .title(Line::from(title_spans))
                .title_bottom(Line::from(legend)),
        )
        .x_axis(Axis::default().bounds([x0, x1]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(vec![Span::raw(label(0.0)), Span::raw(label(top))]),
        );
    frame.render_widget(chart, area);
}

pub fn draw_lag(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let [spark, parts] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let lag = &app.history.lag;
    let now = lag.back().copied().unwrap_or(0);
    let peak = lag.iter().copied().max().unwrap_or(0);
    let width = spark.width.saturating_sub(2) as usize;
    let tail: Vec<u64> = lag
        .iter()
        .skip(lag.len().saturating_sub(width))
        .copied()
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!(
                " lag {} (peak {}) ",
                format::count(now as f64),
                format::count(peak as f64)
            )))
            .style(Style::default().fg(Color::Yellow))
            .data(&tail),
        spark,
    );
    // Per partition, over the attached workers that own them.
    let mut by_partition: Vec<(&str, i32, i64)> = app
        .snapshot
        .as_ref()
        .map(|s| {
            s.workers
                .iter()
                .filter(|w| w.status() == pacer_proto::v1::WorkerStatus::Attached)
                .flat_map(|w| w.lag.iter().map(|l| (l.topic.as_str(), l.partition, l.lag)))
                .collect()
        })
        .unwrap_or_default();
    by_partition.sort_unstable();
    // Partitions are named by number alone while they are of one topic, and with their topic otherwise.
    let topics = by_partition.windows(2).any(|pair| pair[0].0 != pair[1].0);
    let spans: Vec<Span<'_>> = if by_partition.is_empty() {
        vec![Span::styled(
            "no partition reported yet",
            Style::default().fg(Color::DarkGray),
        )]
    } else {
        by_partition
            .iter()
            .map(|(topic, p, l)| {
                let style = if *l > 0 {
                    Style::default().fg(Color::Yellow)
                } else {
                    Style::default()
                };
                let name = if topics {
                    format!("{topic}/p{p}")
                } else {
                    format!("p{p}")
                };
                Span::styled(format!("{name} {}  ", format::count(*l as f64)), style)
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(Line::from(spans))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::bordered().title(" lag by partition ")),
        parts,
    );
}
