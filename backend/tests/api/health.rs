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

    async fn docs_are_public(app) {
        let spec: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(spec["info"]["title"], "order-notify");
        assert!(spec["paths"]["/orders"].is_object());
        let ui = app.client.get(app.url("/swagger-ui/")).send().await.unwrap();
        assert_eq!(ui.status(), StatusCode::OK);
        assert!(ui.text().await.unwrap().contains("swagger"));
    }

    async fn unknown_paths_and_methods_are_problems(app) {
        let missing = app.client.get(app.url("/nothing-here")).send().await.unwrap();
        assert_problem(missing, 404).await;
        let wrong_method = app.client.delete(app.url("/orders")).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_problem(wrong_method, 405).await;
    }
}
