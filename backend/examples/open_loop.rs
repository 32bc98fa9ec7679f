//! An open-loop load generator for the benchmark: requests leave at a fixed rate
//! whatever the answers do, over at most `connections` connections, and each one's
//! latency counts from the moment it was due, so a stall shows as the queue it builds
//! (no coordinated omission). wrk waits for an answer before it asks again; this does
//! not, which is how the p99 at 16 and at 256 connections can be compared at one rate.
//!
//!     cargo run --release --example open_loop -- \
//!         <base-url> <api-key> <ids-file> <status-change|get|list|notify> <rate> <seconds> <connections>
//!
//! Prints one JSON line: `{"scenario", "rate", "connections", "sent", "ok", "errors",
//! "p50_ms", "p99_ms", "max_ms"}`. For status changes it first reads each order's
//! status, then moves every order confirmed ⇄ delayed, each change texting the customer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Run {
    client: reqwest::Client,
    base: String,
    auth: String,
    scenario: String,
    ids: Vec<String>,
    /// For status changes: whether each order is confirmed when the run starts.
    confirmed: Vec<bool>,
    period: Duration,
    start: Instant,
    end: Instant,
    next: AtomicU64,
}

impl Run {
    fn request(&self, i: u64) -> reqwest::RequestBuilder {
        let n = self.ids.len() as u64;
        let (slot, round) = ((i % n) as usize, i / n);
        let id = &self.ids[slot];
        let request = match self.scenario.as_str() {
            "status-change" => {
                // The order's changes alternate from its status at the start; with
                // thousands of orders the same one comes round seconds apart.
                let confirmed_now = self.confirmed[slot] == (round % 2 == 0);
                let target = if confirmed_now {
                    "delayed"
                } else {
                    "confirmed"
                };
                self.client
                    .patch(format!("{}/orders/{id}/status", self.base))
                    .json(&json!({ "status": target }))
            }
            "get" => self.client.get(format!("{}/orders/{id}", self.base)),
            "list" => self.client.get(format!("{}/orders?limit=50", self.base)),
            "notify" => self
                .client
                .post(format!("{}/orders/{id}/notifications", self.base))
                .json(&json!({})),
            other => panic!("unknown scenario {other}"),
        };
        request.header("Authorization", &self.auth)
    }

    /// One connection's loop: takes the next due request, waits for its moment, sends
    /// it and records how long after its moment the answer came.
    async fn connection(self: Arc<Self>) -> (Vec<u32>, u64) {
        let (mut latencies, mut errors) = (Vec::new(), 0);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let due = self.start + self.period * i as u32;
            if due >= self.end {
                return (latencies, errors);
            }
            tokio::time::sleep_until(due.into()).await;
            let ok = match self.request(i).send().await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    let _ = response.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            if ok {
                latencies.push(due.elapsed().as_micros().min(u32::MAX as u128) as u32);
            } else {
                errors += 1;
            }
        }
    }
}

async fn statuses(client: &reqwest::Client, base: &str, auth: &str, ids: &[String]) -> Vec<bool> {
    let mut confirmed = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(32) {
        let reads = chunk.iter().map(|id| async move {
            let order: Value = client
                .get(format!("{base}/orders/{id}"))
                .header("Authorization", auth)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("an order reads")
                .json()
                .await
                .expect("an order is JSON");
            order["status"] == "confirmed"
        });
        confirmed.extend(futures_util::future::join_all(reads).await);
    }
    confirmed
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, key, ids_file, scenario, rate, seconds, connections] = &args[..] else {
        eprintln!(
            "usage: open_loop <base-url> <api-key> <ids-file> <scenario> <rate> <seconds> <connections>"
        );
        std::process::exit(2);
    };
    let rate: f64 = rate.parse().expect("rate is a number");
    let seconds: f64 = seconds.parse().expect("seconds is a number");
    let connections: usize = connections.parse().expect("connections is a number");
    let ids: Vec<String> = std::fs::read_to_string(ids_file)
        .expect("the ids file reads")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!ids.is_empty(), "no order ids in {ids_file}");

    // One thread, as wrk's two share the machine with the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let report = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client builds");
        let auth = format!("Bearer {key}");
        let confirmed = if scenario == "status-change" {
            statuses(&client, base, &auth, &ids).await
        } else {
            Vec::new()
        };
        let start = Instant::now() + Duration::from_millis(100);
        let run = Arc::new(Run {
            client,
            base: base.trim_end_matches('/').to_owned(),
            auth,
            scenario: scenario.clone(),
            ids,
            confirmed,
            period: Duration::from_secs_f64(1.0 / rate),
            start,
            end: start + Duration::from_secs_f64(seconds),
            next: AtomicU64::new(0),
        });
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(run.clone().connection()))
            .collect();
        let (mut latencies, mut errors) = (Vec::new(), 0);
        for task in tasks {
            let (mine, failed) = task.await.expect("a connection's loop ends");
            latencies.extend(mine);
            errors += failed;
        }
        latencies.sort_unstable();
        json!({
            "scenario": scenario,
            "rate": rate,
            "connections": connections,
            "sent": latencies.len() as u64 + errors,
            "ok": latencies.len(),
            "errors": errors,
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
            "max_ms": percentile(&latencies, 1.0),
        })
    });
    println!("{report}");
}
