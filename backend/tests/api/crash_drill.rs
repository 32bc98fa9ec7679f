//! Crash drill: `kill -9` at random moments while status changes flow and texts go out
//! (mid-request, after a claim, during the provider call, before the ack), through two
//! providers: Bird first, which refuses one text in three with a 503, and MessageBird
//! after it. After a restart and drain: no accepted change's text is lost, the
//! providers got nothing the database does not hold, and repeats can only come from
//! kills between a provider's acceptance and the worker's ack (each kill can repeat at
//! most what was in flight).
//!
//! CI runs 5 cycles; `bench/crash-drill` runs 50 (`CRASH_CYCLES`).

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use order_notify::store::entities::notifications;
use rand::Rng;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{
    KillOnDrop, create_order_at, free_local_address, messagebird_accepting_after,
    order_notify_command, wait_until_ready,
};

const ADMIN: &str = "crash-drill-admin-key-0123456789";
const ORDERS: usize = 40;
/// Drivers sending changes at once, each with its own orders.
const DRIVERS: usize = 4;
const SEND_CONCURRENCY: u64 = 8;

/// Bird's stand-in for the drill: takes two texts in three (answering after 15 ms, as
/// a provider does), answers 503 to every third, and keeps the ids of the texts it took.
/// Like Bird, it takes a text once per `Idempotency-Key`: a repeat gets the first
/// answer and sends nothing.
struct FlakyBird {
    calls: AtomicUsize,
    took: Arc<Mutex<HashMap<String, u32>>>,
    answered: Mutex<HashMap<String, String>>,
}

impl wiremock::Respond for FlakyBird {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let taken = |id: &str| {
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"id": id}))
                .set_delay(Duration::from_millis(15))
        };
        let key = request.headers["idempotency-key"]
            .to_str()
            .unwrap()
            .to_owned();
        if let Some(id) = self.answered.lock().unwrap().get(&key) {
            return taken(id);
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n % 3 == 2 {
            return wiremock::ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"type": "service_unavailable_error"}}));
        }
        let body: Value = request.body_json().unwrap();
        let id = body["metadata"]["notification_id"].as_str().unwrap();
        *self.took.lock().unwrap().entry(id.to_owned()).or_default() += 1;
        let sms_id = format!("sms_{n}");
        self.answered.lock().unwrap().insert(key, sms_id.clone());
        taken(&sms_id)
    }
}

fn start(dir: &std::path::Path, bind: &str, bird: &str, provider: &str) -> KillOnDrop {
    KillOnDrop(
        order_notify_command(dir)
            .arg("serve")
            .env("ORDER_NOTIFY_BIND", bind)
            .env("ORDER_NOTIFY_ADMIN_KEY", ADMIN)
            .env("ORDER_NOTIFY_RATE_LIMIT", "0")
            .env("ORDER_NOTIFY_SMS_PROVIDER", "bird,messagebird")
            .env("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_drill")
            .env("ORDER_NOTIFY_BIRD_BASE_URL", bird)
            .env("ORDER_NOTIFY_RETRY_BASE_MS", "50")
            .env("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "drill")
            .env("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", "drill")
            .env("ORDER_NOTIFY_PUBLIC_URL", format!("http://{bind}"))
            .env("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", provider)
            .env(
                "ORDER_NOTIFY_SEND_CONCURRENCY",
                SEND_CONCURRENCY.to_string(),
            )
            // A killed worker's claims are retaken after this.
            .env("ORDER_NOTIFY_LEASE_SECS", "1")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// What the drivers learned from the server's answers.
#[derive(Default)]
struct Ledger {
    /// Texts the server said it queued (from 200 answers).
    accepted: HashSet<String>,
    /// Requests that got no answer (the process died under them): their outcome is
    /// read back from the database later.
    unanswered: usize,
}

/// Moves one driver's orders along (confirmed ↔ delayed, each change texting) until
/// the server stops answering.
async fn drive(
    client: reqwest::Client,
    base: String,
    orders: Vec<String>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut turn = 0usize;
    loop {
        let id = &orders[turn % orders.len()];
        turn += 1;
        // The current status decides the next one, so a change that committed without
        // an answer (a kill after the commit) does not derail the drill.
        let Ok(response) = client
            .get(format!("{base}/orders/{id}"))
            .bearer_auth(ADMIN)
            .send()
            .await
        else {
            return;
        };
        let Ok(order) = response.json::<Value>().await else {
            return;
        };
        let target = if order["status"] == "confirmed" {
            "delayed"
        } else {
            "confirmed"
        };
        match client
            .patch(format!("{base}/orders/{id}/status"))
            .bearer_auth(ADMIN)
            .json(&json!({"status": target}))
            .send()
            .await
        {
            Ok(response) if response.status() == StatusCode::OK => {
                let Ok(body) = response.json::<Value>().await else {
                    ledger.lock().unwrap().unanswered += 1;
                    return;
                };
                let text = body["notification"]["id"].as_str().unwrap().to_owned();
                ledger.lock().unwrap().accepted.insert(text);
            }
            Ok(response) => panic!("PATCH {id} → {target}: {}", response.status()),
            Err(_) => {
                ledger.lock().unwrap().unanswered += 1;
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_no_text_and_repeats_only_what_was_in_flight() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let provider = messagebird_accepting_after(Duration::from_millis(15)).await;
    let bird = wiremock::MockServer::start().await;
    let bird_took = Arc::new(Mutex::new(HashMap::new()));
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/sms/messages"))
        .respond_with(FlakyBird {
            calls: AtomicUsize::new(0),
            took: bird_took.clone(),
            answered: Mutex::default(),
        })
        .mount(&bird)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let bind = free_local_address();
    let base = format!("http://{bind}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut server = start(dir.path(), &bind, &bird.uri(), &provider.uri());
    wait_until_ready(&client, &base).await;
    let mut ids = Vec::new();
    for i in 0..ORDERS {
        let order = create_order_at(
            &client,
            &base,
            ADMIN,
            &format!("Crash {i}"),
            "+31612345678",
            false,
        )
        .await;
        ids.push(order["id"].as_str().unwrap().to_owned());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    for cycle in 0..cycles {
        if cycle > 0 {
            server = start(dir.path(), &bind, &bird.uri(), &provider.uri());
            wait_until_ready(&client, &base).await;
        }
        let drivers: Vec<_> = (0..DRIVERS)
            .map(|d| {
                let mine = ids.iter().skip(d).step_by(DRIVERS).cloned().collect();
                tokio::spawn(drive(client.clone(), base.clone(), mine, ledger.clone()))
            })
            .collect();
        let wait = rand::rng().random_range(100..700);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        // SIGKILL: no shutdown, no lease handed back, requests cut off mid-way.
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        for driver in drivers {
            driver.await.unwrap();
        }
    }

    // A last life drains what is left, retaking the leases of the killed workers.
    let server = start(dir.path(), &bind, &bird.uri(), &provider.uri());
    wait_until_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: Value = client
            .get(format!("{base}/notifications?state=queued,sending&limit=1"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if waiting["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    let mut received: HashMap<String, u32> = bird_took.lock().unwrap().clone();
    let through_bird: u32 = received.values().sum();
    let bird_refusals = bird.received_requests().await.unwrap().len() as u32 - through_bird;
    for request in provider.received_requests().await.unwrap() {
        let body: Value = request.body_json().unwrap();
        *received
            .entry(body["reference"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let db_url = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("order-notify.db").display()
    );
    let db = order_notify::store::connect(&db_url).await.unwrap();
    let stored = notifications::Entity::find().all(&db).await.unwrap();
    db.close().await.unwrap();
    let stored_ids: HashSet<String> = stored.iter().map(|n| n.id.to_string()).collect();
    let ledger = ledger.lock().unwrap();

    let lost: Vec<_> = ledger
        .accepted
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let unexpected: Vec<_> = received
        .keys()
        .filter(|id| !stored_ids.contains(*id))
        .collect();
    let unsent: Vec<_> = stored.iter().filter(|n| n.state != "sent").collect();
    let duplicates: u32 = received.values().map(|n| n - 1).sum();
    println!(
        "crash drill: {cycles} kills in {:?}; {} changes answered, {} cut off; {} texts stored, \
         {} taken by the providers ({through_bird} by Bird, {} other calls to it); lost {}, \
         unexpected {}, duplicates {duplicates}",
        started.elapsed(),
        ledger.accepted.len(),
        ledger.unanswered,
        stored.len(),
        received.values().sum::<u32>(),
        bird_refusals,
        lost.len(),
        unexpected.len(),
    );
    assert!(!ledger.accepted.is_empty(), "the drill changed nothing");
    assert!(
        through_bird > 0 && through_bird < received.values().sum::<u32>(),
        "both providers sent texts"
    );
    assert!(lost.is_empty(), "accepted but never sent: {lost:?}");
    assert!(unsent.is_empty(), "not sent after the drain: {unsent:?}");
    assert!(unexpected.is_empty(), "sent but unknown: {unexpected:?}");
    // Each kill can repeat at most the sends it interrupted after the provider took them.
    assert!(
        u64::from(duplicates) <= cycles as u64 * SEND_CONCURRENCY,
        "{duplicates} repeats from {cycles} kills"
    );
}
