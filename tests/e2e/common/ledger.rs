//! The fault tests' books. A client that keeps count of every event it sent and every event ingest
//! acknowledged, and the reckoning against what PostgreSQL holds afterwards: every acknowledged event is
//! exactly one row in `events` or exactly one row in `dead_letters`, nothing else is there, and nothing is
//! there twice.

use super::post_batch_answer;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every this many events, one is of type `poison`, which [`refuse_poison`] makes PostgreSQL refuse: ingest
/// accepts it (it is a valid CloudEvent) and the worker must dead-letter it with PostgreSQL's reason.
pub const POISON_EVERY: u64 = 50;

/// How long a client keeps retrying one request (503 or no connection) after the load was told to stop.
const GIVE_UP_AFTER: Duration = Duration::from_secs(150);

/// Adds the constraint that refuses the `poison` events (as an operator's CHECK would).
pub async fn refuse_poison(pool: &PgPool) {
    sqlx::query("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (type <> 'poison')")
        .execute(pool)
        .await
        .unwrap();
}

/// The event with sequence number `n`: id `e{n}`, source `/test`, a poison one every [`POISON_EVERY`].
pub fn ledger_event(n: u64) -> serde_json::Value {
    let mut event = super::event(&format!("e{n}"), n);
    if is_poison(n) {
        event["type"] = "poison".into();
    }
    event
}

fn is_poison(n: u64) -> bool {
    n % POISON_EVERY == POISON_EVERY - 1
}

#[derive(Default)]
struct Books {
    sent: AtomicU64,
    /// Half-open ranges `[from, to)` of sequence numbers acknowledged with 202.
    acked: Mutex<Vec<(u64, u64)>>,
    /// Answers by status; 0 is "no answer" (connection refused or reset).
    answers: Mutex<BTreeMap<u16, u64>>,
    /// Answers other than 202 and 503, with their bodies: each one fails the test.
    unexpected: Mutex<Vec<String>>,
    /// Requests the client gave up on (never acknowledged).
    abandoned: AtomicU64,
}

impl Books {
    fn answered(&self, status: u16) {
        *self.answers.lock().unwrap().entry(status).or_default() += 1;
    }

    fn acked_count(&self) -> u64 {
        self.acked.lock().unwrap().iter().map(|(a, b)| b - a).sum()
    }
}

/// Clients posting events at a steady rate until stopped, retrying 503s and refused connections as a
/// well-behaved client does (the `(source, id)` key makes a retry safe).
pub struct Load {
    books: Arc<Books>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Load {
    /// Starts posting batches of `batch` events at about `rate` events/s to `url`.
    pub fn start(url: String, rate: f64, batch: u64) -> Load {
        let books = Arc::new(Books::default());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(generate(url, rate, batch, books.clone(), stopped));
        Load { books, stop, task }
    }

    /// Events acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.books.acked_count()
    }

    /// Answers with this status so far (0: no connection).
    pub fn answers(&self, status: u16) -> u64 {
        self.books
            .answers
            .lock()
            .unwrap()
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `n` events are acknowledged, or panics after `timeout`.
    pub async fn wait_acked(&self, n: u64, timeout: Duration) {
        let what = format!("{n} events acknowledged");
        super::eventually(&what, timeout, async || match self.acked() {
            acked if acked >= n => Ok(()),
            acked => Err(format!("only {acked} are")),
        })
        .await;
    }

    /// Stops sending new events and waits until every request is answered 202 or given up.
    pub async fn stop(self) -> Sent {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        let books = Arc::try_unwrap(self.books)
            .ok()
            .expect("every request has finished");
        let mut acked = books.acked.into_inner().unwrap();
        acked.sort_unstable();
        Sent {
            sent: books.sent.into_inner(),
            acked,
            answers: books.answers.into_inner().unwrap(),
            unexpected: books.unexpected.into_inner().unwrap(),
            abandoned: books.abandoned.into_inner(),
        }
    }
}

async fn generate(
    url: String,
    rate: f64,
    batch: u64,
    books: Arc<Books>,
    mut stopped: watch::Receiver<bool>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut inflight = tokio::task::JoinSet::new();
    let mut next = 0u64;
    while !*stopped.borrow() {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if next + batch > due {
            let _ = tokio::time::timeout(Duration::from_millis(5), stopped.changed()).await;
            continue;
        }
        let (from, to) = (next, next + batch);
        next = to;
        books.sent.fetch_add(batch, Ordering::Relaxed);
        let body = serde_json::Value::Array((from..to).map(ledger_event).collect()).to_string();
        let (client, url, books, stopped) =
            (client.clone(), url.clone(), books.clone(), stopped.clone());
        inflight.spawn(async move {
            let mut stop_seen: Option<Instant> = None;
            loop {
                let (status, text) = post_batch_answer(&client, &url, body.clone()).await;
                books.answered(status);
                match status {
                    202 => {
                        books.acked.lock().unwrap().push((from, to));
                        return;
                    }
                    503 | 0 => {}
                    other => {
                        books
                            .unexpected
                            .lock()
                            .unwrap()
                            .push(format!("{other}: {text}"));
                        books.abandoned.fetch_add(to - from, Ordering::Relaxed);
                        return;
                    }
                }
                if *stopped.borrow() {
                    let since = *stop_seen.get_or_insert_with(Instant::now);
                    if since.elapsed() > GIVE_UP_AFTER {
                        books.abandoned.fetch_add(to - from, Ordering::Relaxed);
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        // A client with at most 32 requests in flight: when ingest cannot keep up, the load falls behind.
        while inflight.len() >= 32 {
            inflight.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = inflight.join_next().await {
        done.unwrap();
    }
}

/// What the clients sent and were told.
pub struct Sent {
    pub sent: u64,
    acked: Vec<(u64, u64)>,
    answers: BTreeMap<u16, u64>,
    unexpected: Vec<String>,
    abandoned: u64,
}

impl Sent {
    pub fn acked(&self) -> u64 {
        self.acked.iter().map(|(a, b)| b - a).sum()
    }

    pub fn answers(&self, status: u16) -> u64 {
        self.answers.get(&status).copied().unwrap_or(0)
    }

    fn acked_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.acked.iter().flat_map(|&(a, b)| a..b)
    }
}

/// The reckoning of one fault run.
#[derive(Debug)]
pub struct Tally {
    pub sent: u64,
    pub acked: u64,
    pub written: u64,
    pub dead_lettered: u64,
    /// Records the keys absorbed as already written (re-deliveries and client retries), from
    /// `batch_metrics`: how often the guarantee had work to do.
    pub absorbed: u64,
    pub answered_503: u64,
    pub no_connection: u64,
}

/// Waits until PostgreSQL holds as many `/test` rows and dead letters as events were acknowledged (or
/// `timeout` passes), then a little longer for stragglers, and reckons:
///
/// - every request was answered 202 in the end, and no answer was other than 202 or 503;
/// - acknowledged = written + dead-lettered, as sets of event ids: every acknowledged event is in one of
///   them, poison events as dead letters with PostgreSQL's reason and the event's identity, the others as
///   rows (never as dead letters);
/// - nothing is there that was not acknowledged. (Nothing can be there twice: the keys of both tables
///   forbid it.)
///
/// Prints the counts as a Markdown row (and appends it to `$PACER_RELIABILITY_LOG` if set).
pub async fn reckon(fault: &str, pool: &PgPool, sent: &Sent, timeout: Duration) -> Tally {
    assert!(
        sent.unexpected.is_empty(),
        "ingest gave answers other than 202 and 503: {:?}",
        sent.unexpected
    );
    assert_eq!(sent.abandoned, 0, "requests were never acknowledged");
    assert_eq!(sent.acked(), sent.sent, "every event sent was acknowledged");

    let acked = sent.acked();
    let what = format!("{fault}: a row or a dead letter for each of {acked} acknowledged events");
    super::eventually(&what, timeout, async || {
        let (rows, dead): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if (rows + dead) as u64 >= acked {
            Ok(())
        } else {
            Err(format!("{rows} rows and {dead} dead letters"))
        }
    })
    .await;
    // Anything still on its way (a duplicate, say) has time to arrive before the count.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rows: Vec<(String, String)> = sqlx::query_as("SELECT source, id FROM events")
        .fetch_all(pool)
        .await
        .unwrap();
    let dead: Vec<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT convert_from(payload, 'UTF8')::jsonb->>'id', event_id, reason FROM dead_letters",
    )
    .fetch_all(pool)
    .await
    .unwrap();

    let mut seen = std::collections::BTreeSet::new();
    let mut written = 0u64;
    for (source, id) in &rows {
        assert_eq!(source, "/test", "a row from nowhere: {source} {id}");
        let n = sequence(id);
        assert!(
            !is_poison(n),
            "{fault}: poison event {id} was written as a row"
        );
        seen.insert(n);
        written += 1;
    }
    let mut dead_lettered = 0u64;
    for (id, identity, reason) in &dead {
        let id = id
            .as_deref()
            .expect("a dead letter that is one of our events");
        let n = sequence(id);
        assert!(
            is_poison(n),
            "{fault}: event {id} was dead-lettered: {reason}"
        );
        assert!(
            reason.contains("no_poison"),
            "{fault}: the dead letter of {id} does not give PostgreSQL's reason: {reason}"
        );
        assert_eq!(
            identity.as_deref(),
            Some(id),
            "{fault}: the dead letter of {id} does not carry the event's identity"
        );
        seen.insert(n);
        dead_lettered += 1;
    }
    let absorbed: Option<i64> =
        sqlx::query_scalar("SELECT sum(duplicates)::bigint FROM batch_metrics")
            .fetch_one(pool)
            .await
            .unwrap();
    let tally = Tally {
        sent: sent.sent,
        acked,
        written,
        dead_lettered,
        absorbed: absorbed.unwrap_or(0) as u64,
        answered_503: sent.answers(503),
        no_connection: sent.answers(0),
    };
    let row = format!(
        "| {fault} | {} | {} | {} | {} | {} | {} | {} |",
        tally.sent,
        tally.acked,
        tally.written,
        tally.dead_lettered,
        tally.absorbed,
        tally.answered_503,
        tally.no_connection
    );
    eprintln!("{row}");
    if let Ok(path) = std::env::var("PACER_RELIABILITY_LOG") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{row}").unwrap();
    }

    let missing: Vec<u64> = sent
        .acked_ids()
        .filter(|n| !seen.contains(n))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{fault}: acknowledged events neither written nor dead-lettered (first ones): {missing:?}, {tally:?}"
    );
    tally
}

fn sequence(id: &str) -> u64 {
    id.strip_prefix('e')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an id that no client sent: {id}"))
}
