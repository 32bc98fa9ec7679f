//! `/metrics`: Prometheus text that moves with the requests, the queue and the sends.

use crate::helpers::*;
use serde_json::json;

both_databases! {
    async fn request_and_send_figures_move_with_the_traffic(app) {
        let before = scrape(&app.client, &app.address).await;
        let list = r#"order_notify_http_requests_total{method="GET",route="/orders",status="200"}"#;
        let order = app.create_order("Edsger Dijkstra").await;
        let id = order["id"].as_str().unwrap();
        for _ in 0..3 {
            app.get("/orders", &app.admin_key).send().await.unwrap();
        }
        app.get_order(id).await;
        app.client.get(app.url(&format!("/nowhere/{id}"))).send().await.unwrap();
        app.change_status(id, "confirmed").await;
        app.wait_for_text(id, &["sent"]).await;

        let mut fiction = order_body("Moriarty");
        fiction["phone"] = json!("+1 202 555 0199");
        let refused = app.create_order_as(&app.admin_key, &fiction).await;
        let refused_id = refused["id"].as_str().unwrap();
        app.change_status(refused_id, "confirmed").await;
        app.wait_for_text(refused_id, &["failed"]).await;

        let after = scrape(&app.client, &app.address).await;
        assert_eq!(metric(&after, list) - metric(&before, list), 3.0, "{after}");
        // Ids never become labels: the route is the pattern, unknown paths share one.
        assert_eq!(metric(&after, r#"order_notify_http_requests_total{method="GET",route="/orders/{id}",status="200"}"#), 1.0);
        assert_eq!(metric(&after, r#"order_notify_http_requests_total{method="GET",route="unmatched",status="404"}"#), 1.0);
        assert!(!after.contains(id), "an order id leaked into the figures");
        assert_eq!(metric(&after, r#"order_notify_http_request_duration_seconds_count{method="GET",route="/orders"}"#), 3.0);
        assert_eq!(metric(&after, r#"order_notify_notifications{state="sent"}"#), 1.0);
        assert_eq!(metric(&after, r#"order_notify_notifications{state="failed"}"#), 1.0);
        assert_eq!(metric(&after, r#"order_notify_send_duration_seconds_count{provider="sandbox"}"#), 2.0);
        assert_eq!(metric(&after, r#"order_notify_provider_errors_total{provider="sandbox",kind="refused"}"#), 1.0);
        assert_eq!(metric(&after, "order_notify_queue_depth"), 0.0);
        // Every series is declared, as Prometheus expects.
        for name in ["http_requests_total", "http_request_duration_seconds", "notifications", "queue_depth", "queue_oldest_age_seconds", "send_duration_seconds", "provider_errors_total"] {
            assert!(after.contains(&format!("# TYPE order_notify_{name} ")), "{name} undeclared");
        }
    }
}

both_databases! {
    async fn made_up_methods_share_one_label_and_cannot_grow_the_figures(app) {
        let invent = |i: usize| {
            let name = format!("X{i:04}{}", "M".repeat(4000));
            reqwest::Method::from_bytes(name.as_bytes()).unwrap()
        };
        // One of each kind first, so every series the run will touch exists (the
        // scrapes count themselves too).
        for path in ["/orders", "/healthz"] {
            let first = app.client.request(invent(0), app.url(path)).send().await.unwrap();
            assert!(first.status().is_client_error(), "{path}: {}", first.status());
        }
        scrape(&app.client, &app.address).await;
        let once = scrape(&app.client, &app.address).await;
        for i in 1..=500 {
            let path = if i % 2 == 0 { "/orders" } else { "/healthz" };
            app.client.request(invent(i), app.url(path)).send().await.unwrap();
        }
        let after = scrape(&app.client, &app.address).await;
        assert!(!after.contains("MMMM"), "a made-up method became a label");
        assert!(after.contains(r#"method="other""#), "{after}");
        // Only counts move: the same series, in about the same number of bytes.
        assert_eq!(after.lines().count(), once.lines().count());
        assert!(after.len() < once.len() + 4096, "{} bytes after, {} before", after.len(), once.len());
    }
}

async fn queued_texts_show_as_depth_and_age(kind: DbKind) {
    let Some(app) = spawn_app_without_worker(kind).await else {
        return;
    };
    let empty = scrape(&app.client, &app.address).await;
    assert_eq!(metric(&empty, "order_notify_queue_depth"), 0.0);
    assert_eq!(metric(&empty, "order_notify_queue_oldest_age_seconds"), 0.0);
    for name in ["Ada", "Grace"] {
        let order = app.create_order(name).await;
        app.change_status(order["id"].as_str().unwrap(), "confirmed")
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let queued = scrape(&app.client, &app.address).await;
    assert_eq!(metric(&queued, "order_notify_queue_depth"), 2.0);
    assert_eq!(
        metric(&queued, r#"order_notify_notifications{state="queued"}"#),
        2.0
    );
    let age = metric(&queued, "order_notify_queue_oldest_age_seconds");
    assert!((0.25..30.0).contains(&age), "oldest age {age}");
}

#[tokio::test]
async fn queued_texts_show_as_depth_and_age_on_sqlite() {
    queued_texts_show_as_depth_and_age(DbKind::Sqlite).await;
}

#[tokio::test]
async fn queued_texts_show_as_depth_and_age_on_postgres() {
    queued_texts_show_as_depth_and_age(DbKind::Postgres).await;
}
