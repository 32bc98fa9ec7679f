use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

both_databases! {
    async fn health_and_readiness_need_no_key(app) {
        for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], status);
        }
    }

    async fn readiness_reports_the_database_and_the_worker(app) {
        // The worker beats as soon as its loop starts; give it a moment.
        let mut body = Value::Null;
        for _ in 0..50 {
            body = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
            if body["worker"] == "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(body, serde_json::json!({"status": "ready", "database": "ok", "worker": "running"}));
    }

    async fn docs_are_public(app) {
        let spec: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(spec["info"]["title"], "order-notify");
        assert!(spec["paths"]["/orders"].is_object());
        let ui = app.client.get(app.url("/swagger-ui/")).send().await.unwrap();
        assert_eq!(ui.status(), StatusCode::OK);
        assert!(ui.text().await.unwrap().contains("swagger"));
        // The page is told where the document is.
        let start = app.client.get(app.url("/swagger-ui/swagger-initializer.js")).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::OK);
        assert!(start.text().await.unwrap().contains("\"/openapi.json\""));
    }

    async fn unknown_paths_and_methods_are_problems(app) {
        let missing = app.client.get(app.url("/nothing-here")).send().await.unwrap();
        assert_problem(missing, 404).await;
        let wrong_method = app.client.delete(app.url("/orders")).bearer_auth(&app.admin_key).send().await.unwrap();
        // RFC 9110: a 405 says which methods the resource takes.
        assert_eq!(wrong_method.headers()["allow"], "GET, POST");
        assert_problem(wrong_method, 405).await;
        let trace = app.client.request(reqwest::Method::TRACE, app.url("/healthz")).send().await.unwrap();
        assert_eq!(trace.headers()["allow"], "GET");
        assert_problem(trace, 405).await;
    }
}

async fn an_api_only_instance_says_it_has_no_worker(kind: DbKind) {
    let Some(app) = spawn_app_without_worker(kind).await else {
        return;
    };
    let body: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["worker"], "off");
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn an_api_only_instance_says_it_has_no_worker_on_sqlite() {
    an_api_only_instance_says_it_has_no_worker(DbKind::Sqlite).await;
}

#[tokio::test]
async fn an_api_only_instance_says_it_has_no_worker_on_postgres() {
    an_api_only_instance_says_it_has_no_worker(DbKind::Postgres).await;
}
