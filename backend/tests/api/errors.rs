//! Every status code of the contract's Errors section, each answered as problem+json
//! and each leaving the data exactly as it was.

use crate::helpers::*;
use order_notify::store::entities::orders;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

both_databases! {
    async fn malformed_json_is_400(app) {
        let order = app.create_order("Ada").await;
        let before = app.snapshot().await;
        for body in ["{\"customer_name\": ", "not json", ""] {
            let response = app.client.post(app.url("/orders")).bearer_auth(&app.admin_key)
                .header("content-type", "application/json").body(body).send().await.unwrap();
            assert_problem(response, 400).await;
        }
        let response = app.client.patch(app.url(&format!("/orders/{}/status", order["id"].as_str().unwrap())))
            .bearer_auth(&app.admin_key).header("content-type", "application/json").body("{status: confirmed}")
            .send().await.unwrap();
        assert_problem(response, 400).await;
        assert_eq!(app.snapshot().await, before);
    }

    async fn a_malformed_id_in_the_path_is_400(app) {
        let response = app.get("/orders/not-a-uuid", &app.admin_key).send().await.unwrap();
        let problem = assert_problem(response, 400).await;
        assert!(problem["detail"].as_str().unwrap().contains("not-a-uuid"));
        let response = app.client.delete(app.url("/keys/12")).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_problem(response, 400).await;
    }

    async fn missing_unknown_and_revoked_keys_are_401(app) {
        app.create_order("Ada").await;
        let before = app.snapshot().await;
        let no_key = app.client.post(app.url("/orders")).json(&order_body("Eve")).send().await.unwrap();
        assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
        assert_problem(no_key, 401).await;
        let unknown = app.post("/orders", "onk_made-up", &order_body("Eve")).send().await.unwrap();
        assert_problem(unknown, 401).await;
        let basic = app.client.get(app.url("/orders")).basic_auth("admin", Some(&app.admin_key)).send().await.unwrap();
        assert_problem(basic, 401).await;
        // 401 comes before anything else is looked at, even a body that is wrong too.
        let bad_everything = app.client.post(app.url("/orders")).header("content-type", "text/plain").body("x").send().await.unwrap();
        assert_problem(bad_everything, 401).await;
        assert_eq!(app.snapshot().await, before);

        let (id, key) = app.create_key("temp", "staff").await;
        assert_eq!(app.get("/orders", &key).send().await.unwrap().status(), 200);
        let revoked = app.revoke_key(&id).await;
        assert_eq!(revoked.status(), 204);
        assert_problem(app.get("/orders", &key).send().await.unwrap(), 401).await;
    }

    async fn a_role_without_the_right_is_403(app) {
        let (_, staff) = app.create_key("kitchen", "staff").await;
        let before = app.snapshot().await;
        let response = app.post("/keys", &staff, &json!({"name": "mine", "role": "admin"})).send().await.unwrap();
        let problem = assert_problem(response, 403).await;
        assert!(problem["detail"].as_str().unwrap().contains("admin"));
        assert_eq!(app.snapshot().await, before);
    }

    async fn an_unknown_id_is_404(app) {
        let before = app.snapshot().await;
        let id = uuid::Uuid::new_v4();
        for response in [
            app.get(&format!("/orders/{id}"), &app.admin_key).send().await.unwrap(),
            app.get(&format!("/orders/{id}/events"), &app.admin_key).send().await.unwrap(),
            app.change_status(&id.to_string(), "confirmed").await,
            app.revoke_key(&id.to_string()).await,
        ] {
            assert_problem(response, 404).await;
        }
        assert_eq!(app.snapshot().await, before);
    }

    async fn a_body_over_64_kib_is_413(app) {
        let before = app.snapshot().await;
        let mut body = order_body("Ada");
        body["padding"] = json!("x".repeat(64 * 1024));
        let response = app.post("/orders", &app.admin_key, &body).send().await.unwrap();
        let problem = assert_problem(response, 413).await;
        assert!(problem["detail"].as_str().unwrap().contains("65536"));
        // Without a Content-Length (chunked), the limit holds while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b' '; 40 * 1024]), Ok(vec![b' '; 40 * 1024])];
        let stream = futures_util::stream::iter(chunks);
        let response = app.client.post(app.url("/orders")).bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
        assert_problem(response, 413).await;
        assert_eq!(app.snapshot().await, before);
    }

    async fn a_body_that_is_not_json_is_415(app) {
        let before = app.snapshot().await;
        let body = serde_json::to_string(&order_body("Ada")).unwrap();
        let form = app.client.post(app.url("/orders")).bearer_auth(&app.admin_key)
            .header("content-type", "text/plain").body(body.clone()).send().await.unwrap();
        assert_problem(form, 415).await;
        let none = app.client.post(app.url("/orders")).bearer_auth(&app.admin_key).body(body).send().await.unwrap();
        assert_problem(none, 415).await;
        assert_eq!(app.snapshot().await, before);
    }

    async fn invalid_fields_are_422_and_each_is_named(app) {
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap().to_owned();
        let before = app.snapshot().await;
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"customer_name": " ", "phone": "+31612345678", "items": [{"name": "Pie", "quantity": 1}]}), vec!["customer_name"]),
            (json!({"customer_name": "Bo", "phone": "call me", "items": [{"name": "Pie", "quantity": 1}]}), vec!["phone"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": [{"name": "Pie", "quantity": 0}]}), vec!["items[0].quantity"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": []}), vec!["items"]),
            (json!({"customer_name": "", "phone": "", "items": [{"name": "", "quantity": -1}]}),
                vec!["customer_name", "phone", "items[0].name", "items[0].quantity"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": [{"name": "Pie", "quantity": "two"}]}), vec!["items[0].quantity"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678"}), vec!["body"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": [{"name": "Pie", "quantity": 1}], "colour": "red"}), vec!["colour"]),
            (json!([1, 2]), vec!["body"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": [["Pie", 1]]}), vec!["items[0]"]),
            (json!({"customer_name": "Bo", "phone": "+31612345678", "items": [{"name": "Pie", "quantity": 1, "x": 1}]}), vec!["items[0].x"]),
        ];
        for (body, fields) in cases {
            let response = app.post("/orders", &app.admin_key, &body).send().await.unwrap();
            let problem = assert_problem(response, 422).await;
            assert_eq!(error_fields(&problem), fields, "{body}");
        }
        let unknown_status = app.change_status(&id, "shipped").await;
        let problem = assert_problem(unknown_status, 422).await;
        assert_eq!(error_fields(&problem), ["status"]);
        assert!(problem["detail"].as_str().unwrap().contains("shipped"));
        for query in ["limit=0", "limit=201", "limit=ten", "status=shipped", "cursor=bogus", "colour=red"] {
            let response = app.get(&format!("/orders?{query}"), &app.admin_key).send().await.unwrap();
            assert_problem(response, 422).await;
        }
        let bad_key = app.post("/keys", &app.admin_key, &json!({"name": "x", "role": "root"})).send().await.unwrap();
        assert_problem(bad_key, 422).await;
        let bad_idempotency_key = app.post("/orders", &app.admin_key, &order_body("Bo"))
            .header("Idempotency-Key", "has spaces").send().await.unwrap();
        assert_eq!(error_fields(&assert_problem(bad_idempotency_key, 422).await), ["Idempotency-Key"]);
        assert_eq!(app.snapshot().await, before);
    }

    async fn guessed_keys_cannot_reach_the_key_lookup_or_the_health_checks(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_RATE_LIMIT", "1"), ("ORDER_NOTIFY_RATE_LIMIT_BURST", "3")]).await.unwrap();
        let (_, tablet) = app.create_key("tablet", "staff").await;
        for i in 0..3 {
            let guess = app.get("/orders", &format!("onk_guess{i}")).send().await.unwrap();
            assert_problem(guess, 401).await;
        }
        // The address's bucket is empty: the next request with a key is refused before
        // its key is looked up, whether the key is wrong or right.
        assert_problem(app.get("/orders", "onk_guess3").send().await.unwrap(), 429).await;
        assert_problem(app.get("/orders", &tablet).send().await.unwrap(), 429).await;
        for path in ["/healthz", "/readyz", "/metrics"] {
            assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(app.get("/orders", &tablet).send().await.unwrap().status(), 200);
    }

    async fn provider_callbacks_are_limited_per_address_too(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_RATE_LIMIT", "1"), ("ORDER_NOTIFY_RATE_LIMIT_BURST", "3")]).await.unwrap();
        // The sandbox sends here, so MessageBird's route answers 404: the limit comes first.
        let stop = |_| app.client.post(app.url("/webhooks/messagebird/inbound"))
            .form(&[("originator", "+31612345678"), ("body", "STOP")]).send();
        for i in 0..3 {
            assert_eq!(stop(i).await.unwrap().status(), 404);
        }
        let limited = stop(3).await.unwrap();
        assert!(limited.headers().contains_key("retry-after"));
        assert_problem(limited, 429).await;
    }

    async fn too_many_requests_is_429_with_retry_after(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_RATE_LIMIT", "1"), ("ORDER_NOTIFY_RATE_LIMIT_BURST", "3")]).await.unwrap();
        for _ in 0..3 {
            assert_eq!(app.get("/orders", &app.admin_key).send().await.unwrap().status(), 200);
        }
        let limited = app.post("/orders", &app.admin_key, &order_body("Ada")).send().await.unwrap();
        let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        let problem = assert_problem(limited, 429).await;
        assert!(problem["detail"].as_str().unwrap().contains("try again"));
        assert_eq!(orders::Entity::find().count(&app.db).await.unwrap(), 0);

        // Requests without a key are limited per client address, apart from the key's bucket.
        for _ in 0..3 {
            assert_eq!(app.client.get(app.url("/openapi.json")).send().await.unwrap().status(), 200);
        }
        assert_problem(app.client.get(app.url("/openapi.json")).send().await.unwrap(), 429).await;
        assert_problem(app.get("/orders", "onk_guess").send().await.unwrap(), 429).await;
        // Health, readiness and the figures are never limited.
        for path in ["/healthz", "/readyz", "/metrics"] {
            for _ in 0..5 {
                assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
            }
        }

        // The bucket refills at the configured rate.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(app.get("/orders", &app.admin_key).send().await.unwrap().status(), 200);
    }
}
