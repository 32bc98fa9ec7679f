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
    assert!(index.text().await.unwrap().contains("<title>board</title>"));
    let script = app
        .client
        .get(app.url("/assets/app-1234.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
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
    let filter = order_notify::store::orders::OrderFilter {
        limit: 100,
        ..Default::default()
    };
    let (orders, _) = order_notify::store::orders::list_orders(
        &conn,
        &filter,
        order_notify::store::orders::Scope::All,
    )
    .await
    .unwrap();
    assert_eq!(orders.len(), 6);
    let statuses: std::collections::HashSet<_> = orders.iter().map(|o| o.status).collect();
    assert!(
        statuses.len() >= 4,
        "the demo shows several statuses: {statuses:?}"
    );
}
