//! Storage faults in one process: a PostgreSQL backend terminated under a request, and
//! a worker whose outcome cannot be recorded. (Full and read-only disks under the real
//! binary are in `storage_drill`.)

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::*;

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
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let waiting = backends_waiting_for_a_lock(&app).await;
        if !waiting.is_empty() {
            break waiting;
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for pid in waiting {
        app.db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_terminate_backend({pid})"),
            ))
            .await
            .unwrap();
    }
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
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("order_notify_storage_errors_total{kind=\"connection\"} 1"),
        "{metrics}"
    );
}
