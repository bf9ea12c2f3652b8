//! What an operator's override fixes over whatever the policy decides.

use crate::Settings;
use std::time::Duration;

/// The fields an override fixes; the others stay as the policy (or the worker's flags) set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overlay {
    /// The interval it fixes, if any.
    pub interval: Option<Duration>,
    /// The max rows it fixes, if any.
    pub max_rows: Option<u64>,
}

impl Overlay {
    /// `base` with this overlay's fields put in.
    pub fn apply(&self, base: Settings) -> Settings {
        Settings {
            interval: self.interval.unwrap_or(base.interval),
            max_rows: self.max_rows.unwrap_or(base.max_rows),
            max_bytes: base.max_bytes,
        }
    }
}
