//! Figures for `/metrics`, in Prometheus' text format: HTTP requests by route and status
//! with a latency histogram, and the worker's sends (latency, provider errors by kind).
//! Queue figures are read from the database at scrape time, so every instance reports
//! the same shared queue.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::domain::AttemptResult;
use crate::fault::FaultKind;
use crate::sms::failover::BreakerState;
use chrono::{DateTime, Utc};

/// Upper bounds, in seconds, shared by both histograms: from a cached read to a slow
/// provider.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at or under each bound (not cumulative; summed when rendered).
    counts: [u64; BUCKETS.len()],
    over: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        match BUCKETS.iter().position(|bound| secs <= *bound) {
            Some(i) => self.counts[i] += 1,
            None => self.over += 1,
        }
        self.sum += secs;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The queue as the database has it now.
#[derive(Debug, Default)]
pub struct QueueFigures {
    pub by_state: Vec<(String, u64)>,
    pub oldest_queued: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route pattern, status) → latency.
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    /// provider → send latency.
    sends: Mutex<BTreeMap<String, Histogram>>,
    /// (provider, kind) → attempts that did not end accepted.
    provider_errors: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// (provider, outcome) → attempts, whatever they came to.
    provider_attempts: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Each sending provider's breaker, as this process's worker last saw it.
    breakers: Mutex<Vec<(&'static str, BreakerState)>>,
    /// When this process's worker last went round its loop (Unix ms; 0: no worker here).
    worker_beat: AtomicI64,
    /// `GET /events` streams open on this process.
    event_streams: AtomicI64,
    /// Group commit (`store::writer`): transactions committed, and the requests'
    /// writes they carried.
    write_batches: AtomicU64,
    batched_writes: AtomicU64,
    /// Storage faults met by writes and the readiness probe, by kind (`store::fault`).
    storage_errors: Mutex<BTreeMap<FaultKind, u64>>,
    /// The newest of them, for `/readyz`.
    last_storage_error: Mutex<Option<(std::time::Instant, FaultKind)>>,
    /// Times the SQLite writer replaced its connection after a failed transaction.
    writer_reconnects: AtomicU64,
    /// Connections shut at accept: their address held as many as it may.
    connections_refused: AtomicU64,
    /// Texts a sending limit stopped, by kind (see [`SEND_LIMITS`]).
    send_refusals: [AtomicU64; SEND_LIMITS.len()],
    /// Attempts at webhook deliveries, by what they came to (see [`WEBHOOK_OUTCOMES`]).
    webhook_attempts: [AtomicU64; WEBHOOK_OUTCOMES.len()],
}

/// What an attempt at a webhook delivery came to: `delivered` (2xx), `retry` (tried
/// again later), `failed` (out of its 24 hours).
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];

/// The sending limits `/metrics` counts refusals of: `recipient` (texts to one number
/// per hour), `key` (texts one integration key causes per day), `length` (more than
/// 10 SMS).
pub const SEND_LIMITS: [&str; 3] = ["recipient", "key", "length"];

/// The in-process worker as `/readyz` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerHealth {
    /// This process runs no worker (`serve --no-worker`).
    Absent,
    Running,
    /// The worker has not gone round its loop for longer than a lease.
    Stalled,
}

/// Quotes a label value as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// `route` is the matched pattern (`/orders/{id}`), never the raw path, so ids do not
    /// become label values.
    pub fn record_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default()
            .observe(took);
    }

    pub fn record_send(&self, provider: &str, result: AttemptResult, took: Duration) {
        self.sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(provider.to_owned())
            .or_default()
            .observe(took);
        *self
            .provider_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((provider.to_owned(), result.as_str()))
            .or_default() += 1;
        // `provider_errors_total` keeps the kind names it has always had.
        let kind = match result {
            AttemptResult::Accepted => return,
            AttemptResult::Retry => "retryable",
            AttemptResult::Refused => "refused",
        };
        *self
            .provider_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((provider.to_owned(), kind))
            .or_default() += 1;
    }

    /// The sending providers' breakers, as the worker saw them after an attempt.
    pub fn record_breakers(&self, states: &[(&'static str, BreakerState)]) {
        *self.breakers.lock().unwrap_or_else(|e| e.into_inner()) = states.to_vec();
    }

    /// Called by the worker each time round its loop (at least once a second when idle).
    pub fn worker_beat(&self, now: DateTime<Utc>) {
        self.worker_beat
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// `lease` is the patience: a worker busy sending may skip beats for a while, but not
    /// for longer than it may hold a text.
    pub fn worker_health(&self, now: DateTime<Utc>, lease: Duration) -> WorkerHealth {
        let beat = self.worker_beat.load(Ordering::Relaxed);
        if beat == 0 {
            return WorkerHealth::Absent;
        }
        let silent = now.timestamp_millis().saturating_sub(beat);
        if silent > lease.as_millis() as i64 {
            WorkerHealth::Stalled
        } else {
            WorkerHealth::Running
        }
    }

    /// A batch of `writes` requests' writes committed in one transaction.
    pub fn record_write_batch(&self, writes: usize) {
        self.write_batches.fetch_add(1, Ordering::Relaxed);
        self.batched_writes
            .fetch_add(writes as u64, Ordering::Relaxed);
    }

    /// A write (or the readiness probe) that failed because the storage did.
    pub fn record_storage_error(&self, kind: FaultKind) {
        *self
            .storage_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind)
            .or_default() += 1;
        *self
            .last_storage_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), kind));
    }

    /// The newest storage fault a write met in this process, and when.
    pub fn last_storage_error(&self) -> Option<(std::time::Instant, FaultKind)> {
        *self
            .last_storage_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A sending limit stopped a text (`kind` is one of [`SEND_LIMITS`]).
    pub fn record_send_refusal(&self, kind: &str) {
        if let Some(i) = SEND_LIMITS.iter().position(|k| *k == kind) {
            self.send_refusals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// This process's dispatcher made an attempt at a webhook delivery (`outcome` is one
    /// of [`WEBHOOK_OUTCOMES`]).
    pub fn record_webhook_attempt(&self, outcome: &str) {
        if let Some(i) = WEBHOOK_OUTCOMES.iter().position(|o| *o == outcome) {
            self.webhook_attempts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The SQLite writer opened a new connection after a failed transaction.
    pub fn record_writer_reconnect(&self) {
        self.writer_reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was shut at accept (`ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS`).
    pub fn record_connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open event stream until the returned guard is dropped.
    pub fn event_stream_opened(self: &std::sync::Arc<Self>) -> EventStreamGuard {
        self.event_streams.fetch_add(1, Ordering::Relaxed);
        EventStreamGuard(self.clone())
    }

    pub fn render(&self, queue: &QueueFigures, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP order_notify_http_requests_total HTTP requests answered, by route and status.\n\
             # TYPE order_notify_http_requests_total counter\n",
        );
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, status), histogram) in requests.iter() {
            let _ = writeln!(
                out,
                "order_notify_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                label(route),
                histogram.count()
            );
        }
        out.push_str(
            "# HELP order_notify_http_request_duration_seconds Time to answer, by route.\n\
             # TYPE order_notify_http_request_duration_seconds histogram\n",
        );
        let mut by_route: BTreeMap<(&str, &str), Histogram> = BTreeMap::new();
        for ((method, route, _), histogram) in requests.iter() {
            let merged = by_route.entry((method, route)).or_default();
            for (total, count) in merged.counts.iter_mut().zip(histogram.counts) {
                *total += count;
            }
            merged.over += histogram.over;
            merged.sum += histogram.sum;
        }
        for ((method, route), histogram) in &by_route {
            let labels = format!("method=\"{method}\",route=\"{}\"", label(route));
            histogram.render(
                &mut out,
                "order_notify_http_request_duration_seconds",
                &labels,
            );
        }
        drop(by_route);
        drop(requests);

        out.push_str(
            "# HELP order_notify_notifications Texts in the database, by state.\n\
             # TYPE order_notify_notifications gauge\n",
        );
        for (state, count) in &queue.by_state {
            let _ = writeln!(
                out,
                "order_notify_notifications{{state=\"{}\"}} {count}",
                label(state)
            );
        }
        let depth = queue
            .by_state
            .iter()
            .find(|(state, _)| state == "queued")
            .map_or(0, |(_, count)| *count);
        let oldest = queue.oldest_queued.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        let _ = write!(
            out,
            "# HELP order_notify_queue_depth Texts waiting to be sent (including retries not yet due).\n\
             # TYPE order_notify_queue_depth gauge\n\
             order_notify_queue_depth {depth}\n\
             # HELP order_notify_queue_oldest_age_seconds Age of the oldest queued text (0 when none).\n\
             # TYPE order_notify_queue_oldest_age_seconds gauge\n\
             order_notify_queue_oldest_age_seconds {oldest}\n"
        );

        out.push_str(
            "# HELP order_notify_send_duration_seconds Time the provider took to answer a send, in this process's worker.\n\
             # TYPE order_notify_send_duration_seconds histogram\n",
        );
        for (provider, histogram) in self.sends.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let labels = format!("provider=\"{}\"", label(provider));
            histogram.render(&mut out, "order_notify_send_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP order_notify_provider_errors_total Send attempts that were not accepted, by kind.\n\
             # TYPE order_notify_provider_errors_total counter\n",
        );
        for ((provider, kind), count) in self
            .provider_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "order_notify_provider_errors_total{{provider=\"{}\",kind=\"{kind}\"}} {count}",
                label(provider)
            );
        }
        out.push_str(
            "# HELP order_notify_provider_attempts_total Send attempts by provider and what they came to (accepted, retry, refused).\n\
             # TYPE order_notify_provider_attempts_total counter\n",
        );
        for ((provider, outcome), count) in self
            .provider_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "order_notify_provider_attempts_total{{provider=\"{}\",outcome=\"{outcome}\"}} {count}",
                label(provider)
            );
        }
        out.push_str(
            "# HELP order_notify_provider_breaker Each sending provider's breaker (1 for its state now): closed takes texts, open is skipped after failures in a row, probing is tried with one text.\n\
             # TYPE order_notify_provider_breaker gauge\n",
        );
        for (provider, now) in self
            .breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for state in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::Probing,
            ] {
                let _ = writeln!(
                    out,
                    "order_notify_provider_breaker{{provider=\"{}\",state=\"{}\"}} {}",
                    label(provider),
                    state.as_str(),
                    u8::from(*now == state)
                );
            }
        }
        let _ = write!(
            out,
            "# HELP order_notify_event_streams GET /events streams open on this process.\n\
             # TYPE order_notify_event_streams gauge\n\
             order_notify_event_streams {}\n",
            self.event_streams.load(Ordering::Relaxed)
        );
        let _ = write!(
            out,
            "# HELP order_notify_write_batches_total Transactions that committed requests' writes together (SQLite group commit).\n\
             # TYPE order_notify_write_batches_total counter\n\
             order_notify_write_batches_total {}\n\
             # HELP order_notify_batched_writes_total Requests' writes those transactions carried.\n\
             # TYPE order_notify_batched_writes_total counter\n\
             order_notify_batched_writes_total {}\n",
            self.write_batches.load(Ordering::Relaxed),
            self.batched_writes.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP order_notify_storage_errors_total Writes that failed because the storage did (disk full, read-only, I/O, lost connection), by kind.\n\
             # TYPE order_notify_storage_errors_total counter\n",
        );
        let storage_errors = self
            .storage_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for kind in FaultKind::ALL {
            let _ = writeln!(
                out,
                "order_notify_storage_errors_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                storage_errors.get(&kind).copied().unwrap_or(0)
            );
        }
        drop(storage_errors);
        let _ = write!(
            out,
            "# HELP order_notify_writer_reconnects_total Times the SQLite writer replaced its connection after a failed transaction.\n\
             # TYPE order_notify_writer_reconnects_total counter\n\
             order_notify_writer_reconnects_total {}\n",
            self.writer_reconnects.load(Ordering::Relaxed)
        );
        let _ = write!(
            out,
            "# HELP order_notify_connections_refused_total Connections shut at accept because their client address held as many as it may.\n\
             # TYPE order_notify_connections_refused_total counter\n\
             order_notify_connections_refused_total {}\n",
            self.connections_refused.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP order_notify_send_limit_refusals_total Texts a sending limit stopped (this process), by limit.\n\
             # TYPE order_notify_send_limit_refusals_total counter\n",
        );
        for (kind, count) in SEND_LIMITS.iter().zip(&self.send_refusals) {
            let _ = writeln!(
                out,
                "order_notify_send_limit_refusals_total{{kind=\"{kind}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP order_notify_webhook_attempts_total Attempts at webhook deliveries (this process), by what they came to.\n\
             # TYPE order_notify_webhook_attempts_total counter\n",
        );
        for (outcome, count) in WEBHOOK_OUTCOMES.iter().zip(&self.webhook_attempts) {
            let _ = writeln!(
                out,
                "order_notify_webhook_attempts_total{{outcome=\"{outcome}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Keeps an event stream counted while it is open.
pub struct EventStreamGuard(std::sync::Arc<Metrics>);

impl Drop for EventStreamGuard {
    fn drop(&mut self) {
        self.0.event_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let metrics = Metrics::default();
        for ms in [0, 3, 3, 40, 20_000] {
            metrics.record_request("GET", "/orders/{id}", 200, Duration::from_millis(ms));
        }
        metrics.record_request("GET", "/orders/{id}", 404, Duration::from_millis(1));
        let text = metrics.render(&QueueFigures::default(), Utc::now());
        assert!(text.contains(
            "order_notify_http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"200\"} 5"
        ));
        assert!(text.contains(
            "order_notify_http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"404\"} 1"
        ));
        let bucket = |le: &str| {
            format!(
                "order_notify_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/orders/{{id}}\",le=\"{le}\"}} "
            )
        };
        assert!(text.contains(&format!("{}2", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{}4", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{}5", bucket("0.05"))), "{text}");
        assert!(text.contains(&format!("{}5", bucket("10"))), "{text}");
        assert!(text.contains(&format!("{}6", bucket("+Inf"))), "{text}");
    }

    #[test]
    fn provider_errors_are_counted_by_kind_and_accepted_sends_are_not() {
        let metrics = Metrics::default();
        metrics.record_send("sandbox", AttemptResult::Accepted, Duration::from_millis(2));
        metrics.record_send("twilio", AttemptResult::Retry, Duration::from_millis(2));
        metrics.record_send("twilio", AttemptResult::Retry, Duration::from_millis(2));
        metrics.record_send("twilio", AttemptResult::Refused, Duration::from_millis(2));
        let text = metrics.render(&QueueFigures::default(), Utc::now());
        assert!(text.contains(
            "order_notify_provider_errors_total{provider=\"twilio\",kind=\"retryable\"} 2"
        ));
        assert!(text.contains(
            "order_notify_provider_errors_total{provider=\"twilio\",kind=\"refused\"} 1"
        ));
        assert!(!text.contains("provider=\"sandbox\",kind"));
        assert!(text.contains("order_notify_send_duration_seconds_count{provider=\"sandbox\"} 1"));
    }

    #[test]
    fn a_worker_is_running_until_it_misses_a_lease_of_beats() {
        let metrics = Metrics::default();
        let now = Utc::now();
        let lease = Duration::from_secs(30);
        assert_eq!(metrics.worker_health(now, lease), WorkerHealth::Absent);
        metrics.worker_beat(now);
        assert_eq!(
            metrics.worker_health(now + chrono::Duration::seconds(29), lease),
            WorkerHealth::Running
        );
        assert_eq!(
            metrics.worker_health(now + chrono::Duration::seconds(31), lease),
            WorkerHealth::Stalled
        );
    }

    #[test]
    fn the_queue_reports_its_depth_and_oldest_age() {
        let now = Utc::now();
        let queue = QueueFigures {
            by_state: vec![("queued".into(), 3), ("sent".into(), 7)],
            oldest_queued: Some(now - chrono::Duration::milliseconds(2500)),
        };
        let text = Metrics::default().render(&queue, now);
        assert!(text.contains("order_notify_notifications{state=\"sent\"} 7"));
        assert!(text.contains("order_notify_queue_depth 3\n"));
        assert!(text.contains("order_notify_queue_oldest_age_seconds 2.5\n"));
    }
}
