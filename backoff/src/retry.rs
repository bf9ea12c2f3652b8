//! The one retry loop of pacer: try, log once per state change, back off, stop on shutdown.
//!
//! Every reconnecting or retrying task (the control plane waiting for PostgreSQL, the worker applying its
//! schema and writing a batch, the worker's and the console's streams to the control plane) runs its
//! attempts through [`Retry`], so that each logs a failure when it starts or changes (not every attempt),
//! says when it is over, waits a capped, jittered delay, and stops as soon as it is told to.

use crate::Backoff;
use std::fmt::Display;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::Instant;

/// What one attempt came to.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// It succeeded: the loop ends with this value.
    Done(T),
    /// It failed in a way that can heal (a refused connection, a timeout, a server starting up): try again.
    Retry(E),
    /// It had worked (a stream that carried data) and then failed: try again, from the shortest delay.
    Lost(E),
    /// It failed in a way that will not heal by waiting (a refused password, a missing database): give up.
    Fatal(E),
}

/// How a retry loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T, E> {
    /// An attempt succeeded.
    Done(T),
    /// An attempt failed for good.
    Fatal(E),
    /// The loop was told to stop first.
    Stopped,
}

/// A retry loop: what it tries (for the log), its back-off, and the state of the failure it is in.
#[derive(Debug)]
pub struct Retry {
    what: String,
    backoff: Backoff,
    stable_after: Option<Duration>,
    /// Since when, and with what error text, the attempts have been failing.
    failing: Option<(Instant, String)>,
    failures: u64,
}

impl Retry {
    /// A loop that tries to `what` (a phrase that follows "cannot": `"reach PostgreSQL"`) with `backoff`.
    pub fn new(what: impl Into<String>, backoff: Backoff) -> Self {
        Self {
            what: what.into(),
            backoff,
            stable_after: None,
            failing: None,
            failures: 0,
        }
    }

    /// Resets the back-off after an attempt that lasted at least `stable` before it failed: for long-lived
    /// sessions (a stream that ran for an hour and broke starts again from the shortest delay, but one that
    /// is accepted and closed at once does not turn into a tight loop).
    pub fn stable_after(mut self, stable: Duration) -> Self {
        self.stable_after = Some(stable);
        self
    }

    /// Runs `attempt` until it is done or fatal, or `stop` completes.
    ///
    /// `attempt` is a closure that returns a future (`move || async move { … }`), not an async closure: the
    /// futures of async closures that borrow their captures are not provably `Send` today, and these loops
    /// run in spawned tasks.
    pub async fn run<T, E, F, Fut>(
        &mut self,
        stop: impl Future<Output = ()>,
        attempt: F,
    ) -> Outcome<T, E>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        self.run_idle(stop, attempt, |_, _: &E| std::future::pending())
            .await
    }

    /// The same, and while the loop waits, `idle` runs with the delay being waited and the error that ended
    /// the last attempt, called again each time it returns `Continue` (the worker keeps its reports while it
    /// waits to reconnect; the console shows why and when it retries). `idle` returning `Break` stops the
    /// loop.
    pub async fn run_idle<T, E, F, Fut, I, IdleFut>(
        &mut self,
        stop: impl Future<Output = ()>,
        mut attempt: F,
        mut idle: I,
    ) -> Outcome<T, E>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
        I: FnMut(Duration, &E) -> IdleFut,
        IdleFut: Future<Output = ControlFlow<()>>,
    {
        let mut stop = std::pin::pin!(stop);
        loop {
            let began = Instant::now();
            let result = tokio::select! {
                result = attempt() => result,
                () = &mut stop => return Outcome::Stopped,
            };
            let error = match result {
                Attempt::Done(value) => {
                    self.recovered();
                    return Outcome::Done(value);
                }
                Attempt::Fatal(error) => return Outcome::Fatal(error),
                Attempt::Retry(error) => error,
                Attempt::Lost(error) => {
                    self.backoff.reset();
                    error
                }
            };
            if self
                .stable_after
                .is_some_and(|stable| began.elapsed() >= stable)
            {
                self.backoff.reset();
            }
            let delay = self.failed(&error);
            let sleep = tokio::time::sleep(delay);
            let mut sleep = std::pin::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    () = &mut stop => return Outcome::Stopped,
                    flow = idle(delay, &error) => if flow.is_break() { return Outcome::Stopped },
                }
            }
        }
    }

    /// Notes a failure, logs it if it is new or different from the last, and returns the delay to wait.
    fn failed(&mut self, error: &impl Display) -> Duration {
        let delay = self.backoff.next_delay();
        self.failures += 1;
        let text = error.to_string();
        match &self.failing {
            Some((since, last)) if *last == text => {
                tracing::debug!(error = %text, retry_in = ?delay, failing_for = ?since.elapsed(), "cannot {}; retrying", self.what);
            }
            Some((since, _)) => {
                tracing::warn!(error = %text, retry_in = ?delay, failing_for = ?since.elapsed(), "cannot {}, now for another reason; retrying", self.what);
                self.failing = Some((*since, text));
            }
            None => {
                tracing::warn!(error = %text, retry_in = ?delay, "cannot {}; retrying (further failures with this error are logged at debug)", self.what);
                self.failing = Some((Instant::now(), text));
            }
        }
        delay
    }

    /// Notes a success: says so once if it ends a run of failures, and starts the back-off afresh.
    fn recovered(&mut self) {
        if let Some((since, _)) = self.failing.take() {
            tracing::info!(failures = self.failures, after = ?since.elapsed(), "can {} again", self.what);
        }
        self.failures = 0;
        self.backoff.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn quick() -> Retry {
        Retry::new(
            "test",
            Backoff::with_seed(Duration::from_millis(1), Duration::from_millis(4), 3),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn retries_what_can_heal_until_it_is_done() {
        let tries = Cell::new(0);
        let outcome = quick()
            .run(std::future::pending(), || async {
                tries.set(tries.get() + 1);
                if tries.get() < 4 {
                    Attempt::Retry("refused")
                } else {
                    Attempt::Done(tries.get())
                }
            })
            .await;
        assert_eq!(outcome, Outcome::Done(4));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_once_on_what_cannot_heal() {
        let tries = Cell::new(0);
        let outcome: Outcome<(), _> = quick()
            .run(std::future::pending(), || async {
                tries.set(tries.get() + 1);
                Attempt::Fatal("password authentication failed")
            })
            .await;
        assert_eq!(outcome, Outcome::Fatal("password authentication failed"));
        assert_eq!(tries.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_while_waiting_and_while_trying() {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send(true);
        });
        let outcome: Outcome<(), &str> = quick()
            .run(
                async {
                    let _ = rx.wait_for(|s| *s).await;
                },
                || async { Attempt::Retry("down") },
            )
            .await;
        assert_eq!(outcome, Outcome::Stopped);
        stopper.await.expect("stopper");
        let outcome: Outcome<(), &str> = quick()
            .run(std::future::ready(()), std::future::pending)
            .await;
        assert_eq!(outcome, Outcome::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_runs_while_waiting_and_can_end_the_loop() {
        let seen = Cell::new(0_u32);
        let outcome: Outcome<(), &str> = quick()
            .run_idle(
                std::future::pending(),
                || async { Attempt::Retry("down") },
                |_, error: &&str| {
                    assert_eq!(*error, "down");
                    async {
                        seen.set(seen.get() + 1);
                        if seen.get() == 3 {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    }
                },
            )
            .await;
        assert_eq!(outcome, Outcome::Stopped);
        assert_eq!(seen.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_attempt_resets_the_back_off() {
        let mut retry = Retry::new(
            "test",
            Backoff::with_seed(Duration::from_millis(10), Duration::from_secs(10), 1),
        )
        .stable_after(Duration::from_secs(1));
        let tries = Cell::new(0);
        let began = tokio::time::Instant::now();
        let outcome = retry
            .run(std::future::pending(), || async {
                tries.set(tries.get() + 1);
                // Each attempt lasts 2 s, so every delay is drawn from the first step again (at most 10 ms).
                tokio::time::sleep(Duration::from_secs(2)).await;
                if tries.get() < 6 {
                    Attempt::Retry("closed")
                } else {
                    Attempt::Done(())
                }
            })
            .await;
        assert_eq!(outcome, Outcome::Done(()));
        assert!(
            began.elapsed() < Duration::from_secs(12) + Duration::from_millis(60),
            "{:?}",
            began.elapsed()
        );
    }
}
