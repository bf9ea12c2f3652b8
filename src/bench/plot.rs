//! The standard profile as a picture: freshness, the batch interval and the commits over time, one line per
//! contender, with the phases marked. An SVG, so that it can be read in a browser and kept in the repository.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One contender's figures, second by second from the start of the first phase.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// (second, the largest receipt → commit p99 in ms of the batches finished in that second)
    pub p99_ms: Vec<(f64, f64)>,
    /// (second, mean interval in ms of the batches finished in that second)
    pub interval_ms: Vec<(f64, f64)>,
    /// (second, batches committed in that second)
    pub commits_per_s: Vec<(f64, f64)>,
}

/// A phase of the profile: its name and where it starts and ends, in seconds.
#[derive(Debug, Clone)]
pub struct PhaseSpan {
    pub name: &'static str,
    pub from: f64,
    pub to: f64,
}

/// Writes the three panels (freshness, interval, commits) to `path`.
pub fn write_svg(
    path: &Path,
    title: &str,
    phases: &[PhaseSpan],
    series: &[Series],
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1200, 1140)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(draw_error)?;
    let (upper, rest) = root.split_vertically(370);
    let (middle, lower) = rest.split_vertically(370);
    let end = phases.last().map_or(1.0, |p| p.to);
    panel(
        &upper,
        "receipt → commit p99 (ms, log scale), the largest of the batches finished each second",
        end,
        phases,
        series
            .iter()
            .map(|s| (s.name.as_str(), s.p99_ms.as_slice())),
    )?;
    panel(
        &middle,
        "batch interval (ms, log scale), mean of the batches finished each second",
        end,
        phases,
        series
            .iter()
            .map(|s| (s.name.as_str(), s.interval_ms.as_slice())),
    )?;
    panel(
        &lower,
        "batches committed per second (log scale)",
        end,
        phases,
        series
            .iter()
            .map(|s| (s.name.as_str(), s.commits_per_s.as_slice())),
    )?;
    root.present().map_err(draw_error)?;
    Ok(())
}

fn panel<'a>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    end: f64,
    phases: &[PhaseSpan],
    lines: impl Iterator<Item = (&'a str, &'a [(f64, f64)])> + Clone,
) -> anyhow::Result<()> {
    let values = lines
        .clone()
        .flat_map(|(_, points)| points.iter().map(|&(_, v)| v))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (low, high) = if low.is_finite() {
        (low / 1.5, high * 1.5)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, (low..high).log_scale())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first phase")
        .x_labels(16)
        .y_labels(10)
        .draw()
        .map_err(draw_error)?;
    for phase in phases.iter().skip(1) {
        chart
            .draw_series(LineSeries::new(
                [(phase.from, low), (phase.from, high)],
                BLACK.mix(0.3),
            ))
            .map_err(draw_error)?;
    }
    for phase in phases {
        chart
            .draw_series(std::iter::once(Text::new(
                phase.name,
                (phase.from + (phase.to - phase.from) * 0.02, high / 1.25),
                ("sans-serif", 13),
            )))
            .map_err(draw_error)?;
    }
    for (index, (name, points)) in lines.enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let kept = points
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite() && *v > 0.0);
        chart
            .draw_series(LineSeries::new(kept, color.stroke_width(2)))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

fn draw_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_panel_with_every_contender_and_phase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.svg");
        let phases = [
            PhaseSpan {
                name: "idle",
                from: 0.0,
                to: 10.0,
            },
            PhaseSpan {
                name: "spike",
                from: 10.0,
                to: 20.0,
            },
        ];
        let series = [
            Series {
                name: "model".into(),
                p99_ms: (0..20)
                    .map(|s| (f64::from(s), 50.0 + f64::from(s)))
                    .collect(),
                interval_ms: (0..20).map(|s| (f64::from(s), 10.0)).collect(),
                commits_per_s: (0..20).map(|s| (f64::from(s), 80.0)).collect(),
            },
            Series {
                name: "static:1s".into(),
                p99_ms: vec![(0.0, 1000.0), (1.0, f64::NAN), (2.0, 1100.0)],
                interval_ms: Vec::new(),
                commits_per_s: vec![(0.0, 1.0)],
            },
        ];
        write_svg(&path, "test", &phases, &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "model",
            "static:1s",
            "idle",
            "spike",
            "receipt → commit",
            "batch interval",
            "batches committed",
        ] {
            assert!(svg.contains(text), "{text} is missing");
        }
        // Lines of width 2 are the contenders': five with points (model three times, static:1s twice) and a
        // legend sample for each contender in each panel.
        let wide = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .count();
        assert_eq!(wide, 5 + 6, "{svg}");
    }
}
