//! The handle through which a running worker's batch settings change; a change applies from the next batch
//! on.

use pacer_batch::Settings;
use tokio::sync::watch;

/// Sends new settings to a running worker.
#[derive(Debug, Clone)]
pub struct SettingsHandle(watch::Sender<Settings>);

impl SettingsHandle {
    /// A handle and the receiver the worker reads from.
    pub fn new(initial: Settings) -> (Self, watch::Receiver<Settings>) {
        let (tx, rx) = watch::channel(initial);
        (Self(tx), rx)
    }

    /// Applies `settings` from the next batch on.
    pub fn set(&self, settings: Settings) {
        self.0.send_replace(settings);
    }

    /// A new receiver of the settings.
    pub fn subscribe(&self) -> watch::Receiver<Settings> {
        self.0.subscribe()
    }

    /// The settings now in force.
    pub fn get(&self) -> Settings {
        *self.0.borrow()
    }
}
