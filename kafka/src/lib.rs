//! What pacer's Kafka clients (ingest's producer, the workers' consumers) share.
//!
//! librdkafka reports an unreachable cluster as `AllBrokersDown` and a transport failure per broker on every
//! reconnect attempt, several times a second, and logs each connect failure too. [`BrokerWatch`] turns
//! that into one warning when the brokers become unreachable (with the broker list) and one line when they
//! are back (with how long they were down); the repeats go to debug.
#![forbid(unsafe_code)]

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, Statistics};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether a client's brokers are reachable, as its error and statistics callbacks tell. The default names
/// no brokers (for clients whose bootstrap list is not worth logging, such as tests').
#[derive(Debug, Default)]
pub struct BrokerWatch {
    brokers: String,
    /// Since when every broker has been unreachable, while they are.
    down_since: Mutex<Option<Instant>>,
}

impl BrokerWatch {
    /// A watch over a client of `brokers` (the bootstrap list, for the log).
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            down_since: Mutex::new(None),
        }
    }

    /// Whether every broker is unreachable now.
    pub fn down(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in an error librdkafka reports (the `ClientContext::error` callback).
    pub fn error(&self, error: &KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let mut down = self.lock();
        match code {
            Some(RDKafkaErrorCode::AllBrokersDown) => {
                if down.is_none() {
                    *down = Some(Instant::now());
                    tracing::warn!(brokers = %self.brokers, reason, "every Kafka broker is unreachable; retrying in the background");
                } else {
                    tracing::debug!(brokers = %self.brokers, reason, "Kafka brokers still unreachable");
                }
            }
            // One broker's connection failing is news only if it leaves none: librdkafka says so with
            // `AllBrokersDown` above; each reconnect attempt's failure is the same news again.
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::Resolve) => {
                tracing::debug!(brokers = %self.brokers, reason, "Kafka reconnect failed");
            }
            _ => {
                tracing::warn!(brokers = %self.brokers, error = %error, reason, "Kafka client error")
            }
        }
    }

    /// Takes in the client's statistics (the `ClientContext::stats` callback): a broker in state `UP` ends an
    /// outage.
    pub fn stats(&self, statistics: &Statistics) {
        if statistics.brokers.values().any(|b| b.state == "UP") {
            self.up();
        }
    }

    /// Notes that a broker answered (a delivery or a fetch succeeded): ends an outage, saying so once.
    pub fn up(&self) {
        if let Some(since) = self.lock().take() {
            tracing::info!(brokers = %self.brokers, down_for = ?round(since.elapsed()), "Kafka brokers reachable again");
        }
    }

    /// Takes in a librdkafka log line (the `ClientContext::log` callback): connect failures go to debug (the
    /// error callback reports them), errors and warnings while the brokers are known to be down too, and
    /// everything else to its level.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // `FAIL` lines repeat the transport failures the error callback reports.
        if facility == "FAIL" {
            tracing::debug!(target: "librdkafka", facility, "{message}");
            return;
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
                if !self.down() =>
            {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning if !self.down() => {
                tracing::warn!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            _ => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// A client context that only watches the brokers (for a producer, which needs nothing else).
#[derive(Debug)]
pub struct WatchedContext(pub std::sync::Arc<BrokerWatch>);

impl ClientContext for WatchedContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.0.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.0.stats(&statistics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_one_state_until_a_broker_is_up() {
        let watch = BrokerWatch::new("127.0.0.1:1");
        assert!(!watch.down());
        let down = KafkaError::Global(RDKafkaErrorCode::AllBrokersDown);
        watch.error(&down, "1/1 brokers are down");
        watch.error(&down, "1/1 brokers are down");
        assert!(watch.down());
        watch.up();
        assert!(!watch.down());
    }
}
