//! The fixed snapshots the rendering tests draw, and drawing one on ratatui's `TestBackend` as text.
#![allow(clippy::unwrap_used, dead_code)]

use pacer_proto::v1 as pb;
use pacer_tui::app::App;
use pacer_tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Instant;

pub const T0: i64 = 1_790_000_000;

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

pub fn ms(ms: u64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    })
}

pub fn settings(interval_ms: u64, max_rows: u64) -> Option<pb::BatchSettings> {
    Some(pb::BatchSettings {
        interval_ms,
        max_rows,
        max_bytes: 16 << 20,
    })
}

pub fn worker(id: &str, status: pb::WorkerStatus, partitions: &[i32], lag: i64) -> pb::WorkerInfo {
    pb::WorkerInfo {
        worker_id: id.into(),
        host: "host".into(),
        group: "pacer".into(),
        status: status.into(),
        partitions: partitions.to_vec(),
        lag: partitions
            .iter()
            .map(|&partition| pb::PartitionLag {
                topic: "events".into(),
                partition,
                lag,
                end_offset: 1_000,
            })
            .collect(),
        settings: settings(120, 5000),
        settings_source: pb::SettingsSource::Policy.into(),
        last_batch: Some(pb::LastBatch {
            batch_no: 7,
            records: 321,
            duration: ms(48),
            flush_reason: pb::FlushReason::Interval.into(),
            e2e_p50: ms(90),
            finished_at: ts(T0),
        }),
        attached_at: ts(T0 - 60),
        last_seen: ts(T0),
        batches: 7,
        rows_written: 2_000,
        ..Default::default()
    }
}

/// Two workers, one of them lost, with `n` snapshots of history behind it.
pub fn pipeline(at: i64, mode: pb::Mode) -> pb::PipelineSnapshot {
    let elapsed = (at - T0) as u64;
    pb::PipelineSnapshot {
        taken_at: ts(at),
        started_at: ts(T0 - 3_725),
        policy: Some(pb::PolicyState {
            name: "model".into(),
            params: [("headroom".to_owned(), 1.3)].into_iter().collect(),
            mode: mode.into(),
            bounds: None,
        }),
        overrides: Vec::new(),
        workers: vec![
            worker("w-alpha-01", pb::WorkerStatus::Attached, &[0, 1], 40),
            worker("w-bravo-02", pb::WorkerStatus::Lost, &[2, 3], 0),
        ],
        totals: Some(pb::Totals {
            batches: 14 + elapsed,
            records: 4_000 + elapsed * 1_000,
            events_ingested: 4_080 + elapsed * 1_000,
            arrived: 80 + elapsed * 1_000,
            rows_written: 3_990 + elapsed * 1_000,
            invalid: 10,
            duplicates: 0,
            lag: 80,
        }),
        recent_decisions: vec![pb::Decision {
            at: ts(at),
            worker_id: "w-alpha-01".into(),
            policy: "model".into(),
            old_settings: settings(500, 10_000),
            new_settings: settings(120, 5000),
            mode: mode.into(),
            reason: "model: p ≈ 30 ms + 2 µs/row".into(),
        }],
        recent_batches: Some(pb::RecentBatches {
            window: ms(10_000),
            batches: 20,
            records: 6_000,
            duration_p50: ms(48),
            duration_p99: ms(95),
            e2e_p50: ms(90),
            e2e_p99: ms(240),
            receipt_commit_p50: ms(60),
            receipt_commit_p99: ms(180),
            arrival_per_s: Some(1_000.0),
            scale: None,
        }),
        routes: vec![route("events", 3_990 + elapsed * 1_000, 0, 1_000.0)],
    }
}

pub fn route(name: &str, rows: u64, dead_letters: u64, rows_per_s: f64) -> pb::RouteTotals {
    pb::RouteTotals {
        route: name.into(),
        rows_total: rows,
        dead_letters_total: dead_letters,
        rows_per_s,
    }
}

pub fn app_with(mode: pb::Mode) -> App {
    app_with_scale(mode, None)
}

/// The console after 30 snapshots, the last one with `scale` as the control plane's scale advice.
pub fn app_with_scale(mode: pb::Mode, scale: Option<pb::ScaleAdvice>) -> App {
    let mut app = App::new("http://127.0.0.1:50051", true);
    for i in 0..30 {
        let mut snapshot = pipeline(T0 + i, mode);
        if i == 29
            && let Some(recent) = snapshot.recent_batches.as_mut()
        {
            recent.scale = scale.clone();
        }
        app.on_snapshot(snapshot);
    }
    app
}

pub fn render(app: &App, width: u16, height: u16, now: Instant) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| ui::draw(f, app, now)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut screen = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            screen.push_str(buffer[(x, y)].symbol());
        }
        screen.push('\n');
    }
    screen
}
