//! Batch settings: what closes a micro-batch. They can change while the worker runs; a change applies from
//! the next batch on.

use std::time::Duration;
use tokio::sync::watch;

/// The limits of one micro-batch; it closes at whichever it reaches first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// How long a batch collects records.
    pub interval: Duration,
    /// The most records in one batch.
    pub max_rows: usize,
    /// The most record bytes (key + payload) in one batch.
    pub max_bytes: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            max_rows: 10_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Sends new settings to a running worker.
#[derive(Debug, Clone)]
pub struct SettingsHandle(watch::Sender<BatchSettings>);

impl SettingsHandle {
    /// A handle and the receiver the worker reads from.
    pub fn new(initial: BatchSettings) -> (Self, watch::Receiver<BatchSettings>) {
        let (tx, rx) = watch::channel(initial);
        (Self(tx), rx)
    }

    /// Applies `settings` from the next batch on.
    pub fn set(&self, settings: BatchSettings) {
        self.0.send_replace(settings);
    }

    /// A new receiver of the settings.
    pub fn subscribe(&self) -> watch::Receiver<BatchSettings> {
        self.0.subscribe()
    }

    /// The settings now in force.
    pub fn get(&self) -> BatchSettings {
        *self.0.borrow()
    }
}
