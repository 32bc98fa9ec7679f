//! The built SPA is served at `/`: its files as they are, index.html for pages the
//! browser navigates to, and the API unaffected.

use crate::helpers::*;
use order_notify::{app, config::Settings};
use serde_json::Value;

#[tokio::test]
async fn the_static_dir_is_served_with_a_fallback_for_browser_pages() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<!doctype html><title>board</title>",
    )
    .unwrap();
    std::fs::write(dist.path().join("assets/app-1234.js"), "console.log('hi')").unwrap();
    let dir = dist.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(DbKind::Sqlite, &[("ORDER_NOTIFY_STATIC_DIR", &dir)])
        .await
        .unwrap();

    let index = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self';"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    assert!(index.text().await.unwrap().contains("<title>board</title>"));
    let script = app
        .client
        .get(app.url("/assets/app-1234.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );

    let page = app
        .client
        .get(app.url("/board/today"))
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<title>board</title>"));
    let missing_file = app
        .client
        .get(app.url("/assets/gone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_file.headers()["cache-control"], "no-cache");
    assert_problem(missing_file, 404).await;

    let orders = app.get("/orders", &app.admin_key).send().await.unwrap();
    assert_eq!(
        orders.json::<Value>().await.unwrap()["items"],
        serde_json::json!([])
    );
    assert_problem(
        app.client
            .get(app.url("/orders"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test]
async fn without_a_built_dashboard_the_root_points_to_the_api_docs() {
    let app = spawn_app(DbKind::Sqlite).await.unwrap();
    let root = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert!(root.text().await.unwrap().contains("/swagger-ui/"));
}

#[tokio::test]
async fn demo_orders_fill_an_empty_database_once() {
    let db = TestDb::create(DbKind::Sqlite).await.unwrap();
    let settings: Settings = settings_for(db.url(), &[("ORDER_NOTIFY_DEMO", "1")]);
    let conn = app::open_database(&settings).await.unwrap();
    app::prepare(&conn, &settings).await.unwrap();
    app::prepare(&conn, &settings).await.unwrap();
    let filter = order_notify::domain::OrderFilter {
        limit: 100,
        ..Default::default()
    };
    let (orders, _) =
        order_notify::store::orders::list_orders(&conn, &filter, order_notify::domain::Scope::All)
            .await
            .unwrap();
    assert_eq!(orders.len(), 6);
    let statuses: std::collections::HashSet<_> = orders.iter().map(|o| o.status).collect();
    assert!(
        statuses.len() >= 4,
        "the demo shows several statuses: {statuses:?}"
    );
}

#[tokio::test]
async fn dashboard_files_are_compressed_for_browsers_that_accept_it() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").unwrap();
    let bundle = "export const board = 'orders';\n".repeat(400);
    std::fs::write(dist.path().join("assets/app-5678.js"), &bundle).unwrap();
    let dir = dist.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(DbKind::Sqlite, &[("ORDER_NOTIFY_STATIC_DIR", &dir)])
        .await
        .unwrap();

    let url = app.url("/assets/app-5678.js");
    let zipped = app
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), 200);
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let compressed = zipped.bytes().await.unwrap();
    assert!(compressed.len() < bundle.len() / 10, "{}", compressed.len());

    let plain = app.client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap(), bundle);

    // The API's answers are not touched by the dashboard's headers: they have their own.
    let orders = app.get("/orders", &app.admin_key).send().await.unwrap();
    let policy = &orders.headers()["content-security-policy"];
    assert_eq!(policy, "default-src 'none'; frame-ancestors 'none'");

    // The files are counted under one route label, not one per file.
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
        metrics.contains(
            "order_notify_http_requests_total{method=\"GET\",route=\"static\",status=\"200\"} 2"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("app-5678"));
}

/// The headers that keep an answer out of caches, type sniffing and other sites' frames.
fn assert_protected(response: &reqwest::Response, what: &str, policy: &str) {
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store", "{what}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["content-security-policy"], policy, "{what}");
}

#[tokio::test]
async fn api_answers_are_not_stored_sniffed_or_framed() {
    let app = spawn_app(DbKind::Sqlite).await.unwrap();
    let api = "default-src 'none'; frame-ancestors 'none'";
    let created = app
        .post(
            "/keys",
            &app.admin_key,
            &serde_json::json!({"name": "pos", "role": "integration"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_protected(&created, "a new key's secret", api);
    let list = app.get("/orders", &app.admin_key).send().await.unwrap();
    assert_protected(&list, "a list", api);
    let refused = app.client.get(app.url("/orders")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_protected(&refused, "a refusal", api);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_protected(&health, "/healthz", api);
    let swagger = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(swagger.status(), 200);
    assert_protected(&swagger, "Swagger UI", "frame-ancestors 'none'");
}
