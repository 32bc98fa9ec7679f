//! Scale-out on the real PostgreSQL: two `serve --no-worker` instances and two `worker`
//! processes, started from the built binary on one database, as docker-compose.yml
//! runs them. Orders are driven through both instances; the stub provider (wiremock)
//! must see exactly one request per text, even with a worker stopped mid-burst.

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use order_notify::store::entities::notifications;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::*;
use crate::sse::{Event, SseClient};

const ADMIN: &str = "scale-out-test-admin-key-0123456789";
const ORDERS: usize = 500;
/// Requests in flight from the test at once.
const PARALLEL: usize = 16;

/// A process of the cluster, killed if the test ends without stopping it.
struct Process {
    child: KillOnDrop,
    base: String,
}

impl Process {
    /// SIGTERM, then the exit status (which must come within `wait`).
    async fn terminate(&mut self, wait: Duration) -> std::process::ExitStatus {
        terminate(&mut self.child.0, wait).await
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    database_url: String,
    provider: String,
}

impl Cluster {
    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut command = order_notify_command(self.dir.path());
        command
            .args(args)
            .env("ORDER_NOTIFY_DATABASE_URL", &self.database_url)
            .env("ORDER_NOTIFY_ADMIN_KEY", ADMIN)
            .env("ORDER_NOTIFY_SMS_PROVIDER", "messagebird")
            .env("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "test-access-key")
            .env("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &self.provider)
            .env("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", "test-signing-key")
            .env("ORDER_NOTIFY_PUBLIC_URL", "https://orders.example.com")
            .env("ORDER_NOTIFY_RATE_LIMIT", "0")
            .env("ORDER_NOTIFY_SEND_CONCURRENCY", "4")
            .env("ORDER_NOTIFY_DB_POOL_SIZE", "6")
            .stdout(Stdio::null());
        for (name, value) in extra {
            command.env(name, value);
        }
        command
    }

    async fn start(
        &self,
        args: &[&str],
        extra: &[(&str, &str)],
        client: &reqwest::Client,
    ) -> Process {
        let bind = free_local_address();
        let variable = if args == ["worker"] {
            "ORDER_NOTIFY_METRICS_BIND"
        } else {
            "ORDER_NOTIFY_BIND"
        };
        let child = KillOnDrop(
            self.command(args, extra)
                .env(variable, &bind)
                .spawn()
                .unwrap(),
        );
        let base = format!("http://{bind}");
        wait_until_ready(client, &base).await;
        Process { child, base }
    }
}

const PATCH_OK: &str =
    r#"order_notify_http_requests_total{method="PATCH",route="/orders/{id}/status",status="200"}"#;

/// PATCHes `status` with `If-Match: "v<version>"`; returns the response status.
async fn change(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    version: u32,
    status: &str,
) -> StatusCode {
    client
        .patch(format!("{base}/orders/{id}/status"))
        .bearer_auth(ADMIN)
        .header("If-Match", format!("\"v{version}\""))
        .json(&json!({"status": status}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits for the event about `order_id` reaching `status` among what the stream
/// delivers; the events passed on the way are kept in `seen`.
async fn await_order_event(
    events: &mut mpsc::UnboundedReceiver<Event>,
    seen: &mut Vec<Event>,
    order_id: &str,
    status: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event for {order_id} → {status}"))
            .expect("the stream is open");
        let found = event.event == "order"
            && event.json()["order_id"] == order_id
            && event.json()["status"] == status;
        seen.push(event);
        if found {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_and_two_workers_share_one_database_and_send_each_text_once() {
    let Some(test_db) = TestDb::create(DbKind::Postgres).await else {
        return;
    };
    let provider = messagebird_accepting_after(Duration::from_millis(40)).await;
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        database_url: test_db.url().to_owned(),
        provider: provider.uri(),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(PARALLEL)
        .build()
        .unwrap();

    // The schema first, as the compose file's one-off `migrate` does.
    let migrated = cluster.command(&["migrate"], &[]).status().unwrap();
    assert!(migrated.success());
    let a = cluster.start(&["serve", "--no-worker"], &[], &client).await;
    let mut b = cluster.start(&["serve", "--no-worker"], &[], &client).await;
    let mut worker_1 = cluster.start(&["worker"], &[], &client).await;
    let worker_2 = cluster.start(&["worker"], &[], &client).await;
    let ready: Value = client
        .get(format!("{}/readyz", worker_1.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["worker"], "running");

    // A live stream on B, read into a channel so it never falls behind.
    let mut stream =
        SseClient::open(client.get(format!("{}/events", b.base)).bearer_auth(ADMIN)).await;
    assert_eq!(stream.next().await.event, "ready");
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(event) = stream.next_within(Duration::from_secs(120)).await {
            if events_tx.send(event).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();

    // A change made through A reaches B's stream within a second.
    let mut latencies = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let order = create_order_at(
            &client,
            &a.base,
            ADMIN,
            &format!("Probe {i}"),
            "+31612345678",
            false,
        )
        .await;
        await_order_event(
            &mut events,
            &mut seen,
            order["id"].as_str().unwrap(),
            "pending",
        )
        .await;
        latencies.push(started.elapsed());
    }
    let slowest = latencies.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(1),
        "A → B took {latencies:?}"
    );
    println!("change through A seen on B's stream after {latencies:?}");

    let api_before = (
        scrape(&client, &a.base).await,
        scrape(&client, &b.base).await,
    );
    let instances = [a.base.clone(), b.base.clone()];
    let started = Instant::now();

    // 500 orders, half through each instance.
    let ids: Vec<String> = futures_util::stream::iter(0..ORDERS)
        .map(|i| {
            let client = client.clone();
            let base = instances[i % 2].clone();
            async move {
                let name = format!("Guest {i}");
                let order =
                    create_order_at(&client, &base, ADMIN, &name, "+31612345678", false).await;
                order["id"].as_str().unwrap().to_owned()
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;

    // Each confirmed through the other instance (one text each). Worker 1 is stopped
    // once a fifth of those texts have reached the provider: what it has in flight
    // must be sent and recorded, the rest left for worker 2.
    let confirmations: Vec<StatusCode> = futures_util::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let client = client.clone();
            let base = instances[(i + 1) % 2].clone();
            async move { change(&client, &base, id, 1, "confirmed").await }
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    assert!(
        confirmations.iter().all(|s| *s == StatusCode::OK),
        "{confirmations:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let reached = loop {
        let reached = provider.received_requests().await.unwrap().len();
        if reached >= ORDERS / 5 {
            break reached;
        }
        assert!(Instant::now() < deadline, "the texts are not going out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let status = worker_1.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "worker 1 exit status {status}");
    assert!(
        reached < ORDERS,
        "the burst was over before worker 1 was stopped"
    );

    // Then a race per order: delivered through A and cancelled through B, both for
    // version 2. Exactly one wins, whichever instance it reached.
    let races: Vec<(StatusCode, StatusCode)> = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let client = client.clone();
            let (a, b) = (instances[0].clone(), instances[1].clone());
            async move {
                tokio::join!(
                    change(&client, &a, id, 2, "delivered"),
                    change(&client, &b, id, 2, "cancelled"),
                )
            }
        })
        .buffered(PARALLEL / 2)
        .collect()
        .await;
    let mut winners = HashMap::new();
    for (id, (delivered, cancelled)) in ids.iter().zip(&races) {
        let outcome = match (*delivered, *cancelled) {
            (StatusCode::OK, loser)
                if loser == StatusCode::PRECONDITION_FAILED || loser == StatusCode::CONFLICT =>
            {
                "delivered"
            }
            (loser, StatusCode::OK)
                if loser == StatusCode::PRECONDITION_FAILED || loser == StatusCode::CONFLICT =>
            {
                "cancelled"
            }
            other => panic!("order {id}: not exactly one winner: {other:?}"),
        };
        winners.insert(id.clone(), outcome);
    }
    let driven = started.elapsed();

    // Worker 1 comes back; the two drain the queue.
    let worker_1 = cluster.start(&["worker"], &[], &client).await;
    let expected_texts = 2 * ORDERS;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let figures = scrape(&client, &a.base).await;
        let sent = metric(&figures, r#"order_notify_notifications{state="sent"}"#);
        let waiting = metric(&figures, "order_notify_queue_depth")
            + metric(&figures, r#"order_notify_notifications{state="sending"}"#);
        if sent as usize == expected_texts && waiting == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not drain: {sent} sent, {waiting} waiting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();

    // Exactly one provider request per text: none lost, none repeated.
    let requests = provider.received_requests().await.unwrap();
    let references: HashSet<String> = requests
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        (requests.len(), references.len()),
        (expected_texts, expected_texts)
    );
    let db = order_notify::store::connect(test_db.url()).await.unwrap();
    let texts = notifications::Entity::find().all(&db).await.unwrap();
    assert_eq!(texts.len(), expected_texts);
    let mut per_order: HashMap<String, Vec<String>> = HashMap::new();
    for text in &texts {
        assert_eq!(text.state, "sent", "{text:?}");
        assert!(
            references.contains(&text.id.to_string()),
            "{text:?} never reached the provider"
        );
        per_order
            .entry(text.order_id.to_string())
            .or_default()
            .push(text.order_status.clone());
    }
    for (id, winner) in &winners {
        let mut statuses = per_order.remove(id).unwrap_or_default();
        statuses.sort();
        let mut expected = vec!["confirmed".to_owned(), winner.to_string()];
        expected.sort();
        assert_eq!(statuses, expected, "texts about order {id}");
    }
    db.close().await.unwrap();

    // Both instances report the same shared queue, and their request counters add up
    // to what the test sent each of them.
    let api_after = (
        scrape(&client, &a.base).await,
        scrape(&client, &b.base).await,
    );
    let patched = |before: &str, after: &str| metric(after, PATCH_OK) - metric(before, PATCH_OK);
    let (patched_a, patched_b) = (
        patched(&api_before.0, &api_after.0),
        patched(&api_before.1, &api_after.1),
    );
    assert_eq!(patched_a + patched_b, (2 * ORDERS) as f64);
    assert_eq!(
        patched_a,
        (ORDERS / 2 + winners.values().filter(|w| **w == "delivered").count()) as f64
    );
    for figures in [&api_after.0, &api_after.1] {
        assert_eq!(
            metric(figures, r#"order_notify_notifications{state="sent"}"#),
            expected_texts as f64
        );
        assert_eq!(metric(figures, "order_notify_queue_depth"), 0.0);
    }
    // The workers' own figures, from their operations port.
    let sends = |text: &str| {
        metric(
            text,
            r#"order_notify_send_duration_seconds_count{provider="messagebird"}"#,
        )
    };
    let by_worker_2 = sends(&scrape(&client, &worker_2.base).await);
    let by_worker_1_after_restart = sends(&scrape(&client, &worker_1.base).await);
    assert!(by_worker_2 > 0.0);
    assert!(by_worker_2 + by_worker_1_after_restart <= expected_texts as f64);

    // B's stream saw every order reach its final status, whichever instance did it.
    // (Generous: under a loaded CI machine the stream trails the database by seconds.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut finals: HashMap<String, String> = HashMap::new();
    let mut sent_events = 0;
    let tally = |event: &Event, finals: &mut HashMap<String, String>, sent_events: &mut usize| {
        let data = event.json();
        match event.event.as_str() {
            "order" if data["version"] == 3 => {
                finals.insert(
                    data["order_id"].as_str().unwrap().to_owned(),
                    data["status"].as_str().unwrap().to_owned(),
                );
            }
            "notification" if data["state"] == "sent" => *sent_events += 1,
            _ => {}
        }
    };
    for event in &seen {
        tally(event, &mut finals, &mut sent_events);
    }
    while finals.len() < ORDERS || sent_events < expected_texts {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await else {
            panic!(
                "B's stream showed {} final statuses and {sent_events} sent texts",
                finals.len()
            );
        };
        tally(&event, &mut finals, &mut sent_events);
    }
    for (id, winner) in &winners {
        assert_eq!(
            finals.get(id).map(String::as_str),
            Some(*winner),
            "order {id} on B's stream"
        );
    }

    // SIGTERM ends B's open stream at once and B exits cleanly.
    let stopping = Instant::now();
    let status = b.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "instance B exit status {status}");
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("B's stream ended with B")
        .unwrap();
    let b_stopped = stopping.elapsed();
    assert!(
        b_stopped < Duration::from_secs(5),
        "B took {b_stopped:?} to stop"
    );

    println!(
        "{ORDERS} orders created, confirmed and raced to a final status through 2 instances \
         in {driven:?}; {expected_texts} texts sent by 2 workers (one stopped mid-burst) \
         after {drained:?}; B stopped in {b_stopped:?}"
    );
}

/// The per-key limit holds on an instance that has it configured: the burst passes,
/// the next request gets 429 with Retry-After, and another key is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_answers_429_after_the_configured_burst() {
    let Some(test_db) = TestDb::create(DbKind::Postgres).await else {
        return;
    };
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        database_url: test_db.url().to_owned(),
        provider: "http://127.0.0.1:9".to_owned(),
    };
    let client = reqwest::Client::new();
    let migrated = cluster.command(&["migrate"], &[]).status().unwrap();
    assert!(migrated.success());
    let limited = cluster
        .start(
            &["serve", "--no-worker"],
            &[
                ("ORDER_NOTIFY_RATE_LIMIT", "1"),
                ("ORDER_NOTIFY_RATE_LIMIT_BURST", "10"),
            ],
            &client,
        )
        .await;
    // Another key, made while the admin key still has its burst.
    let created: Value = client
        .post(format!("{}/keys", limited.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "second", "role": "staff"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = created["key"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = client
            .get(format!("{}/orders", limited.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], 429);
        }
    }
    // One token went on creating the other key; nine more pass, the tenth does not.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 429]);
    let response = client
        .get(format!("{}/orders", limited.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another key has its own bucket"
    );
}
