//! Storage faults around one server: a PostgreSQL backend terminated under a request,
//! and a worker whose outcome cannot be recorded because the disk filled up while the
//! provider was answering. (The full and read-only disk drills under load are in
//! `storage_drill`.)

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::*;
use crate::storage_drill::{Tmpfs, cannot_run};

/// The backend pids of this test database's sessions that wait for a lock.
async fn backends_waiting_for_a_lock(app: &TestApp) -> Vec<i32> {
    app.db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'"
                .to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<i32>("", "pid").unwrap())
        .collect()
}

#[tokio::test]
async fn a_request_whose_postgres_backend_is_terminated_fails_cleanly_and_the_next_succeeds() {
    let Some(app) = spawn_app_without_worker(DbKind::Postgres).await else {
        return;
    };
    let order = app.create_order("Grace Hopper").await;
    let id = order["id"].as_str().unwrap().to_owned();

    // Another session holds the order's row, so the status change waits inside its
    // transaction on a pooled connection: mid-request.
    let holder = app.db.begin().await.unwrap();
    holder
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM orders WHERE id = $1 FOR UPDATE",
            [uuid::Uuid::parse_str(&id).unwrap().into()],
        ))
        .await
        .unwrap();
    let change = tokio::spawn({
        let (client, url, key) = (
            app.client.clone(),
            app.url(&format!("/orders/{id}/status")),
            app.admin_key.clone(),
        );
        async move {
            client
                .patch(url)
                .bearer_auth(key)
                .json(&json!({"status": "confirmed"}))
                .send()
                .await
                .unwrap()
        }
    });
    let waiting = backends_reaching_a_lock(&app).await;
    terminate(&app, waiting).await;
    let refused = change.await.unwrap();
    let retry_after = refused.headers().get("retry-after").cloned();
    let status = refused.status();
    if status != StatusCode::SERVICE_UNAVAILABLE {
        panic!("{status}: {}", refused.text().await.unwrap());
    }
    assert_eq!(retry_after.unwrap(), "5");
    let problem = assert_problem(refused, 503).await;
    assert_eq!(problem["type"], "/problems/storage-unavailable");
    holder.rollback().await.unwrap();

    // Nothing of the failed request happened, and the pool hands out a live
    // connection for the next one.
    let unchanged = app.get_order(&id).await;
    assert_eq!(
        (unchanged["status"].clone(), unchanged["version"].clone()),
        (json!("pending"), json!(1))
    );
    for _ in 0..4 {
        // Every connection the pool holds is tried (its size is more than one).
        let response = app
            .get(&format!("/orders/{id}"), &app.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let confirmed = app.change_status(&id, "confirmed").await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let events: Value = app
        .get_json(&format!("/orders/{id}/events"), &app.admin_key)
        .await;
    let moves: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["to"].clone())
        .collect();
    assert_eq!(moves, [json!("pending"), json!("confirmed")]);
    let metrics = scrape(&app.client, &app.address).await;
    assert!(
        metrics.contains("order_notify_storage_errors_total{kind=\"connection\"} 1"),
        "{metrics}"
    );
}

const FULL_DISK_ADMIN: &str = "full-disk-admin-key-0123456789";
/// How long the provider takes to accept a text: the disk is filled meanwhile, so the
/// answer arrives when nothing can be written.
const PROVIDER_DELAY: Duration = Duration::from_millis(1500);
/// How long the text's lease lasts; the disk stays full for longer.
const LEASE_SECS: u64 = 1;
/// Longer than the lease: a worker that dropped the outcome would claim the text again
/// (and send it again) as soon as a claim can be written.
const FULL_FOR: Duration = Duration::from_secs(3);
const SERVER_LOG: &str = "server.log";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_accepted_while_the_disk_is_full_is_recorded_once_space_returns_and_not_sent_again()
{
    let Some(server) = ServerOnSmallDisk::start(PROVIDER_DELAY).await else {
        return;
    };
    let (disk, provider, client) = (&server.disk, &server.provider, &server.client);
    let base = server.base.as_str();

    let order = create_order_at(
        client,
        base,
        FULL_DISK_ADMIN,
        "Grace Hopper",
        "+31612345678",
        true,
    )
    .await;
    let texts = format!(
        "{base}/orders/{}/notifications",
        order["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while provider.received_requests().await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the text never reached the provider; the server's log ends:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The provider holds its answer; the disk fills up before it comes.
    let ballast = disk.plug().expect("fill the disk");
    tokio::time::sleep(FULL_FOR).await;
    let while_full = only_text(client, &texts).await;
    assert_eq!(
        while_full["state"], "sending",
        "the outcome was recorded on a full disk, so this test exercised nothing: {while_full}"
    );
    std::fs::remove_file(&ballast).expect("remove the ballast");
    let space_returned = Instant::now();

    let deadline = space_returned + Duration::from_secs(15);
    let recorded = loop {
        let text = only_text(client, &texts).await;
        if text["state"] == "sent" {
            break space_returned.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the outcome was never recorded: {text}; the server's log ends:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Time for a worker that lost the outcome to claim and send the text again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = only_text(client, &texts).await;
    let sends = provider.received_requests().await.unwrap().len();
    println!(
        "full disk under an ack: recorded {recorded:.1?} after space returned; \
         {sends} provider request(s); the text is {} after {} attempt(s)",
        text["state"], text["attempts"]
    );
    assert_eq!(
        (sends, &text["state"], &text["attempts"]),
        (1, &json!("sent"), &json!(1)),
        "the text was sent again; the server's log ends:\n{}",
        server.log_tail()
    );
}

/// The one text of an order, read through the API (reads go on while the disk is full).
async fn only_text(client: &reqwest::Client, texts: &str) -> Value {
    let page: Value = client
        .get(texts)
        .bearer_auth(FULL_DISK_ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    items[0].clone()
}

/// The real server with its database on a small tmpfs (2 MiB), sending through a
/// MessageBird stand-in that answers after a delay, its texts leased for `LEASE_SECS`.
/// Its log lives off the small disk, so it can say what went wrong there.
struct ServerOnSmallDisk {
    // Dropped first: the server stops before its disk goes.
    _server: KillOnDrop,
    disk: Tmpfs,
    provider: MockServer,
    client: reqwest::Client,
    base: String,
    work: tempfile::TempDir,
}

impl ServerOnSmallDisk {
    /// Starts it and waits until it is ready; `None` (after saying so) where no tmpfs
    /// can be mounted.
    async fn start(provider_delay: Duration) -> Option<ServerOnSmallDisk> {
        let disk = match Tmpfs::mount("2m") {
            Ok(disk) => disk,
            Err(reason) => {
                cannot_run(format!("cannot mount a tmpfs ({reason})"));
                return None;
            }
        };
        let provider = messagebird_accepting_after(provider_delay).await;
        let work = tempfile::tempdir().unwrap();
        let bind = free_local_address();
        let log = std::fs::File::create(work.path().join(SERVER_LOG)).unwrap();
        let database_url = format!("sqlite://{}?mode=rwc", disk.path().join("t.db").display());
        let server = KillOnDrop(
            order_notify_command(work.path())
                .arg("serve")
                .env("ORDER_NOTIFY_DATABASE_URL", database_url)
                .env("ORDER_NOTIFY_BIND", &bind)
                .env("ORDER_NOTIFY_ADMIN_KEY", FULL_DISK_ADMIN)
                .env("ORDER_NOTIFY_RATE_LIMIT", "0")
                .env("ORDER_NOTIFY_SMS_PROVIDER", "messagebird")
                .env("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "full-disk")
                .env("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", provider.uri())
                .env("ORDER_NOTIFY_LEASE_SECS", LEASE_SECS.to_string())
                .env("ORDER_NOTIFY_RETRY_BASE_MS", "200")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let base = format!("http://{bind}");
        wait_until_ready(&client, &base).await;
        Some(ServerOnSmallDisk {
            _server: server,
            disk,
            provider,
            client,
            base,
            work,
        })
    }

    /// The end of the server's log, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.work.path().join(SERVER_LOG)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// One creation with its own `Idempotency-Key`; returns the status, the order id (on
/// 201) and whether the answer was a replay.
async fn create_with_key(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> (StatusCode, Option<String>, bool) {
    let items: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("Dish {i} of order {n}, slow-cooked with a long name"), "quantity": 1}))
        .collect();
    let response = client
        .post(format!("{base}/orders"))
        .bearer_auth(FULL_DISK_ADMIN)
        .header("Idempotency-Key", key)
        .json(
            &json!({"customer_name": format!("Guest {n}"), "phone": "+31612345678",
                      "items": items, "external_ref": format!("idem-{n}")}),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["id"].as_str().map(str::to_owned), replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_refused_on_a_full_disk_succeeds_with_the_same_idempotency_key_once_space_returns()
 {
    let Some(server) = ServerOnSmallDisk::start(Duration::ZERO).await else {
        return;
    };
    let (disk, client) = (&server.disk, &server.client);
    let base = server.base.as_str();

    let ballast = disk.plug().expect("fill the disk");
    let mut answered = Vec::new();
    for n in 0..40 {
        let key = format!("full-disk-{n}");
        let (status, id, _) = create_with_key(client, base, &key, n).await;
        assert!(
            status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::CREATED,
            "creation {n} on a full disk answered {status}"
        );
        answered.push((key, n, status, id));
    }
    let refused = answered
        .iter()
        .filter(|(.., status, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(refused > 0, "the full disk refused no creation");
    // Room for the retries' write-ahead log too (it grows to 4 MB before a checkpoint).
    std::fs::remove_file(&ballast).expect("remove the ballast");
    disk.grow("64m").expect("grow the disk");
    let space_returned = Instant::now();

    // The client's retry with the same key: created (the first time it is saved) or the
    // same order again, never a 409 "still in progress" for a request that failed.
    let mut conflicts = 0;
    for (key, n, status, first_id) in &answered {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (retried, id, replayed) = loop {
            let answer = create_with_key(client, base, key, *n).await;
            match answer.0 {
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT
                    if Instant::now() < deadline =>
                {
                    conflicts += usize::from(answer.0 == StatusCode::CONFLICT);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => break answer,
            }
        };
        assert_eq!(retried, StatusCode::CREATED, "{key} after space returned");
        if *status == StatusCode::CREATED {
            assert!(
                replayed,
                "{key} was created on the full disk: its retry is a replay"
            );
            assert_eq!(&id, first_id, "{key}");
        }
    }
    println!(
        "idempotency after a full disk: {refused} of 40 creations refused, all created on \
         retry with the same key {:.1?} after space returned ({conflicts} retries met a 409)",
        space_returned.elapsed()
    );
}

/// Waits (10 s at most) until sessions of the test database wait for a lock, and
/// returns their backends' pids.
async fn backends_reaching_a_lock(app: &TestApp) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = backends_waiting_for_a_lock(app).await;
        if !waiting.is_empty() {
            return waiting;
        }
        assert!(Instant::now() < deadline, "no request reached the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Terminates these backends: the requests using them are cut off mid-transaction.
async fn terminate(app: &TestApp, backends: Vec<i32>) {
    for pid in backends {
        app.db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_terminate_backend({pid})"),
            ))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_idempotency_key_whose_release_failed_is_freed_once_the_database_is_back() {
    let Some(app) = spawn_app_without_worker(DbKind::Postgres).await else {
        return;
    };
    let lock = |table: &'static str| {
        let db = app.db.clone();
        async move {
            let holder = db.begin().await.unwrap();
            holder
                .execute_unprepared(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
                .await
                .unwrap();
            holder
        }
    };
    let create = || {
        app.post("/orders", &app.admin_key, &order_body("Katherine Johnson"))
            .header("Idempotency-Key", "kitchen-tablet-7")
            .send()
    };
    // The key is claimed (committed), then the order's insert waits on the lock and its
    // connection is cut; the release of the key waits on a second lock and is cut too.
    let orders_held = lock("orders").await;
    let first = tokio::spawn(create());
    let insert = backends_reaching_a_lock(&app).await;
    // Taken before the insert is cut, so the release that follows must wait for it.
    let records_held = lock("idempotency_records").await;
    terminate(&app, insert).await;
    let release = backends_reaching_a_lock(&app).await;
    terminate(&app, release).await;
    let refused = first.await.unwrap().unwrap();
    assert_problem(refused, 503).await;
    records_held.rollback().await.unwrap();
    orders_held.rollback().await.unwrap();

    // The tablet retries with the same key, as the 503 told it to: within a few seconds
    // the key is free and the order is created once.
    let started = Instant::now();
    let created = loop {
        let response = create().await.unwrap();
        if response.status() != StatusCode::CONFLICT {
            break response;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the key stayed claimed by a request that failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(created.status(), StatusCode::CREATED);
    let orders = app.get_json("/orders", &app.admin_key).await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");
}
