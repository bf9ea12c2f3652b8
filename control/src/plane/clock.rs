//! The state task's one clock. The task reads it once per command or tick and hands the reading down, so
//! that everything done for one message sees the same moment, and tests can drive it with tokio's paused
//! time.

use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

/// One reading of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic: what every duration (silence, expiry, spacing) is measured with.
    pub mono: Instant,
    /// The same moment as a date, for what people read and what is stored.
    pub wall: OffsetDateTime,
}

/// Monotonic time, with the date it was when the state task started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_wall: OffsetDateTime,
}

impl Clock {
    /// A clock that starts now.
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
            origin_wall: OffsetDateTime::now_utc(),
        }
    }

    /// The time now. The date is derived from the monotonic clock (the start's date plus the time elapsed
    /// since), so that dates and durations always agree, under paused time too; a step of the system clock
    /// after the start is not followed.
    pub fn now(&self) -> Now {
        let mono = Instant::now();
        Now {
            mono,
            wall: self.origin_wall + mono.saturating_duration_since(self.origin),
        }
    }

    /// When the state task started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.origin_wall
    }

    /// `now` as time since the start: the policy's time axis.
    pub fn since_start(&self, now: Now) -> Duration {
        now.mono.saturating_duration_since(self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_date_moves_with_the_monotonic_clock() {
        let clock = Clock::start();
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        let after = clock.now();
        assert_eq!(after.mono - before.mono, Duration::from_secs(90));
        assert_eq!(after.wall - before.wall, Duration::from_secs(90));
        assert_eq!(clock.since_start(after), Duration::from_secs(90));
    }
}
