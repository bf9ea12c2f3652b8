//! The terminal: raw mode and the alternate screen on the way in, the same undone on the way out and on a
//! panic, and the key reader.

use ratatui::crossterm::event::{self, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

static PANICKED: AtomicBool = AtomicBool::new(false);

/// Whether anything in the process panicked since the console took the terminal.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::Relaxed)
}

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
        let terminal = match ratatui::try_init() {
            Ok(terminal) => terminal,
            Err(e) => {
                // Raw mode may be on already.
                ratatui::restore();
                return Err(e);
            }
        };
        // ratatui's hook restores the terminal; this one also tells the console, which keeps running while
        // other tasks of the process panic, to close rather than draw on a restored terminal.
        PANICKED.store(false, Ordering::Relaxed);
        let restore = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            restore(info);
        }));
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
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KeyReader {
    /// Stops the thread and waits for it (at most one poll, 50 ms).
    pub fn join(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    let thread = std::thread::spawn(move || {
        // A short poll so that the thread notices the stop and leaves the keys alone once the console is gone.
        while !stopped.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
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
    KeyReader {
        stop,
        thread: Some(thread),
    }
}
