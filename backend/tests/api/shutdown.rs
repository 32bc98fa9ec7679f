//! SIGTERM: the server stops accepting, finishes its requests, lets the texts in flight
//! finish and hands back its leases, exits 0 — and after a restart every text is sent
//! exactly once.

use std::process::{Child, Stdio};

use crate::helpers::{
    create_order_at, free_local_address, messagebird_accepting_after, order_notify_command,
    terminate, wait_until_ready,
};
use std::time::{Duration, Instant};

use order_notify::store::entities::notifications;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;

const ADMIN: &str = "shutdown-test-admin-key-0123456789";

fn serve(dir: &std::path::Path, bind: &str, provider: &str) -> Child {
    order_notify_command(dir)
        .arg("serve")
        .env("ORDER_NOTIFY_BIND", bind)
        .env("ORDER_NOTIFY_ADMIN_KEY", ADMIN)
        .env("ORDER_NOTIFY_SMS_PROVIDER", "messagebird")
        .env("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "test-access-key")
        .env("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", provider)
        .env("ORDER_NOTIFY_SEND_CONCURRENCY", "4")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn count(db: &sea_orm::DatabaseConnection, state: &str) -> u64 {
    notifications::Entity::find()
        .filter(notifications::Column::State.eq(state))
        .count(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_of_sends_loses_and_repeats_nothing() {
    let provider = messagebird_accepting_after(Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let bind = free_local_address();
    let base = format!("http://{bind}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut server = serve(dir.path(), &bind, &provider.uri());
    wait_until_ready(&client, &base).await;
    const TEXTS: usize = 40;
    for i in 0..TEXTS {
        create_order_at(
            &client,
            &base,
            ADMIN,
            &format!("Guest {i}"),
            "+31612345678",
            true,
        )
        .await;
    }
    // 40 texts, 4 at a time, 400 ms each: the burst lasts 4 s. Stop it early on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = terminate(&mut server, Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status}");

    // What reached the provider is recorded as sent; the rest waits, unleased.
    let db_url = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("order-notify.db").display()
    );
    let db = order_notify::store::connect(&db_url).await.unwrap();
    let reached = provider.received_requests().await.unwrap().len() as u64;
    let sent = count(&db, "sent").await;
    assert!(
        reached > 0 && reached < TEXTS as u64,
        "{reached} sends before the stop"
    );
    assert_eq!(
        sent, reached,
        "every send in flight finished and was recorded"
    );
    assert_eq!(count(&db, "sending").await, 0, "a lease was left behind");
    assert_eq!(count(&db, "queued").await, TEXTS as u64 - sent);
    db.close().await.unwrap();

    // After a restart the rest goes out, and nothing twice.
    let mut server = serve(dir.path(), &bind, &provider.uri());
    wait_until_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = client
            .get(format!("{base}/notifications?state=sent&limit=200"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["items"].as_array().unwrap().len() == TEXTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every text was sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    let requests = provider.received_requests().await.unwrap();
    let mut references: Vec<String> = requests
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    references.sort();
    references.dedup();
    assert_eq!((requests.len(), references.len()), (TEXTS, TEXTS));
}
