//! The worker: queued texts reach the (sandbox) provider once, a dead worker's lease is
//! taken over, and two workers never send the same text.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::*;
use futures_util::StreamExt;
use order_notify::app;
use order_notify::store::entities::sandbox_messages;
use order_notify::store::outbox::{self, Outcome};
use sea_orm::EntityTrait;
use serde_json::json;

/// Polls until `check` holds, for at most ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_databases! {
    async fn a_status_change_reaches_the_sandbox(app) {
        let order = app.create_order("Ada Lovelace").await;
        let id = order["id"].as_str().unwrap();
        app.change_status(id, "confirmed").await;
        app.wait_for_text(id, &["sent"]).await;

        let text = app.latest_text(id).await;
        assert_eq!(text["attempts"], 1);
        assert!(text["sent_at"].is_string());
        let inbox = app.get_json("/sandbox/messages", &app.admin_key).await;
        let messages = inbox["items"].as_array().unwrap();
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message["notification_id"], text["id"]);
        assert_eq!(text["provider_message_id"], format!("sandbox-{}", message["id"].as_str().unwrap()));
        assert_eq!((message["recipient"].as_str(), message["originator"].as_str()), (Some("+31612345678"), Some("NomNom")));
        assert_eq!(message["body"], text["body"]);
        assert!(message["body"].as_str().unwrap().contains("Ada"));
        assert_eq!(app.get_order(id).await["last_notification"]["state"], "sent");
    }
}

async fn lease_takeover(kind: DbKind) {
    let Some(app) = spawn_app_without_worker(kind).await else {
        return;
    };
    let order = app.create_order("Grace Hopper").await;
    let id = order["id"].as_str().unwrap();
    app.change_status(id, "confirmed").await;
    assert_eq!(
        app.latest_text(id).await["state"],
        "queued",
        "no worker runs yet"
    );

    // A worker claims the text and dies before sending it.
    let dead = outbox::claim_due(&app.db, "dead-worker", 10, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        outbox::claim_due(&app.db, "other", 10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    let worker = app::start_worker(
        app.settings.clone(),
        app.db.clone(),
        Arc::new(tokio::sync::Notify::new()),
        Arc::default(),
    )
    .unwrap();
    app.wait_for_text(id, &["sent"]).await;
    worker.abort();
    let text = app.latest_text(id).await;
    assert_eq!(text["attempts"], 2);
    assert_eq!(
        sandbox_messages::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        1
    );
    // The dead worker's late answer changes nothing.
    let late = Outcome::Failed {
        reason: "late".into(),
    };
    assert!(
        !outbox::record_outcome(&app.db, dead[0].id, "dead-worker", "sandbox", late)
            .await
            .unwrap()
    );
    assert_eq!(app.latest_text(id).await["state"], "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_lease_is_taken_over_on_sqlite() {
    lease_takeover(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_lease_is_taken_over_on_postgres() {
    lease_takeover(DbKind::Postgres).await;
}

async fn two_workers(kind: DbKind) {
    let Some(app) = spawn_app_without_worker(kind).await else {
        return;
    };
    let app = &app;
    let orders: Vec<String> = futures_util::stream::iter(0..30)
        .map(|i| async move { app_order(app, i).await })
        .buffer_unordered(8)
        .collect()
        .await;
    let requests = orders
        .iter()
        .flat_map(|id| std::iter::repeat_n(id.clone(), 10));
    futures_util::stream::iter(requests)
        .for_each_concurrent(8, |id| async move {
            let response = app
                .post(
                    &format!("/orders/{id}/notifications"),
                    &app.admin_key,
                    &json!({}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        })
        .await;

    // Two workers, each with its own connections, as two processes would have.
    let mut workers = Vec::new();
    for _ in 0..2 {
        let db = order_notify::store::connect(app.settings.database_url.as_str())
            .await
            .unwrap();
        workers.push(
            app::start_worker(
                app.settings.clone(),
                db,
                Arc::new(tokio::sync::Notify::new()),
                Arc::default(),
            )
            .unwrap(),
        );
    }
    eventually("300 texts are in the sandbox", || async {
        sandbox_messages::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len()
            >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for worker in workers {
        worker.abort();
    }
    let sent = sandbox_messages::Entity::find().all(&app.db).await.unwrap();
    let distinct: HashSet<_> = sent.iter().map(|m| m.notification_id).collect();
    assert_eq!(sent.len(), 300, "each text exactly once");
    assert_eq!(distinct.len(), 300);
}

async fn app_order(app: &TestApp, i: usize) -> String {
    app.create_order(&format!("Customer {i}")).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_send_each_of_300_texts_once_on_sqlite() {
    two_workers(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_send_each_of_300_texts_once_on_postgres() {
    two_workers(DbKind::Postgres).await;
}

/// ORDER_NOTIFY_SEND_RATE_LIMIT: 40 due texts at 20 a second take two seconds, evenly
/// spaced, and no second holds more than the limit (plus the text at its edge).
async fn rate_limited_worker(kind: DbKind) {
    let Some(app) = spawn_app_without_worker(kind).await else {
        return;
    };
    let order = app_order(&app, 0).await;
    for _ in 0..40 {
        let queued = app
            .post(
                &format!("/orders/{order}/notifications"),
                &app.admin_key,
                &json!({}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(queued.status(), 202);
    }
    let mut settings = (*app.settings).clone();
    settings.send_rate_limit = Some(20);
    let worker = app::start_worker(
        Arc::new(settings),
        app.db.clone(),
        Arc::new(tokio::sync::Notify::new()),
        Arc::default(),
    )
    .unwrap();
    eventually("40 texts are in the sandbox", || async {
        sandbox_messages::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len()
            >= 40
    })
    .await;
    worker.stop().await;

    let mut sent: Vec<_> = sandbox_messages::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.created_at)
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 40);
    let span = sent[39] - sent[0];
    assert!(
        span >= chrono::Duration::milliseconds(1_850),
        "40 texts at 20/s need 1.95 s, took {span}"
    );
    for (i, first) in sent.iter().enumerate() {
        let within_a_second = sent[i..]
            .iter()
            .take_while(|t| **t - *first < chrono::Duration::seconds(1))
            .count();
        assert!(
            within_a_second <= 21,
            "{within_a_second} texts in one second from #{i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_worker_spaces_its_sends_on_sqlite() {
    rate_limited_worker(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_worker_spaces_its_sends_on_postgres() {
    rate_limited_worker(DbKind::Postgres).await;
}

/// A MessageBird stand-in that notes when each text reaches it and accepts it after
/// `delay`.
struct Timed {
    arrived: Arc<std::sync::Mutex<Vec<Instant>>>,
    delay: Duration,
}

impl wiremock::Respond for Timed {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.arrived.lock().unwrap().push(Instant::now());
        messagebird_accepted(self.delay)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_texts_than_the_send_concurrency_are_with_the_provider_at_once() {
    const AT_ONCE: usize = 3;
    const TEXTS: usize = 12;
    let delay = Duration::from_millis(300);
    let arrived = Arc::new(std::sync::Mutex::new(Vec::new()));
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/messages"))
        .respond_with(Timed {
            arrived: arrived.clone(),
            delay,
        })
        .mount(&provider)
        .await;
    let uri = provider.uri();
    let app = spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "messagebird"),
            ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "test-access-key"),
            ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &uri),
            ("ORDER_NOTIFY_SEND_CONCURRENCY", &AT_ONCE.to_string()),
        ],
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..TEXTS {
        let order = app.create_order(&format!("Guest {i}")).await;
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.change_status(id, "confirmed").await;
    }
    for id in &ids {
        app.wait_for_text(id, &["sent"]).await;
    }
    let mut arrived = arrived.lock().unwrap().clone();
    arrived.sort();
    assert_eq!(arrived.len(), TEXTS);
    // Every text that reached the provider less than `delay` after another was sent
    // while that one was still unanswered: in any such stretch there are at most
    // AT_ONCE arrivals, and with twelve texts queued the worker uses all of them.
    let stretch = delay - Duration::from_millis(20);
    let most = (0..arrived.len())
        .map(|i| {
            arrived[..=i]
                .iter()
                .filter(|t| arrived[i].duration_since(**t) < stretch)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most, AT_ONCE, "texts with the provider at once");
}
