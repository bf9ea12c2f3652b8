//! The terminal: raw mode and the alternate screen on the way in, the same undone on the way out and on a
//! panic, and the key reader.

use ratatui::crossterm::event::{self, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The terminal in the console's hands; dropping it gives the terminal back as it was.
#[derive(Debug)]
pub struct Screen {
    /// The terminal to draw on.
    pub terminal: ratatui::DefaultTerminal,
}

impl Screen {
    /// Takes the terminal: raw mode, alternate screen, and a panic hook that restores both before the
    /// panic message is printed.
    pub fn enter() -> std::io::Result<Self> {
        let terminal = ratatui::try_init()?;
        Ok(Self { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The thread that reads terminal events; it stops (within one poll) when this is dropped.
#[derive(Debug)]
pub struct KeyReader {
    stop: Arc<AtomicBool>,
}

impl Drop for KeyReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block) into `tx`.
pub fn read_events(tx: mpsc::Sender<Event>) -> KeyReader {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        // A short poll so that the thread notices the stop and leaves the keys alone once the console is gone.
        while !stopped.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(event) => {
                        if tx.blocking_send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the terminal");
                        return;
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot poll the terminal");
                    return;
                }
            }
        }
    });
    KeyReader { stop }
}
