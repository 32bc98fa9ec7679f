use crate::helpers::*;
use order_notify::store::entities::orders;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

async fn order_rows(app: &TestApp) -> u64 {
    orders::Entity::find().count(&app.db).await.unwrap()
}

both_databases! {
    async fn a_replayed_create_answers_the_first_response(app) {
        let first = app.post("/orders", &app.admin_key, &order_body("Ada")).header("Idempotency-Key", "create-1").send().await.unwrap();
        assert_eq!(first.status(), 201);
        let location = first.headers()["location"].clone();
        let first: Value = first.json().await.unwrap();
        // Same meaning, different key order and spacing: still the same request.
        let same = r#"{ "items": [{"quantity": 2, "name": "Margherita"}, {"name": "Cola", "quantity": 1}],
                        "phone": "+31 6 1234 5678", "customer_name": "Ada" }"#;
        let again = app.client.post(app.url("/orders")).bearer_auth(&app.admin_key)
            .header("content-type", "application/json").header("Idempotency-Key", "create-1")
            .body(same).send().await.unwrap();
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        assert_eq!(order_rows(&app).await, 1);
    }

    async fn a_key_reused_for_a_different_request_is_422(app) {
        app.post("/orders", &app.admin_key, &order_body("Ada")).header("Idempotency-Key", "k").send().await.unwrap();
        let before = app.snapshot().await;
        let other = app.post("/orders", &app.admin_key, &order_body("Bob")).header("Idempotency-Key", "k").send().await.unwrap();
        let problem = assert_problem(other, 422).await;
        assert!(problem["detail"].as_str().unwrap().contains("different request"));
        let order = &before["orders"]["items"][0];
        let other_route = app.patch(&format!("/orders/{}/status", order["id"].as_str().unwrap()), &app.admin_key,
            &json!({"status": "confirmed"})).header("Idempotency-Key", "k").send().await.unwrap();
        assert_problem(other_route, 422).await;
        assert_eq!(app.snapshot().await, before);
    }

    async fn concurrent_requests_with_one_key_act_once(app) {
        let requests = (0..12).map(|_| {
            app.post("/orders", &app.admin_key, &order_body("Racer")).header("Idempotency-Key", "race").send()
        });
        let responses = futures_util::future::join_all(requests).await;
        let mut created_ids = Vec::new();
        for response in responses {
            let response = response.unwrap();
            match response.status().as_u16() {
                201 => created_ids.push(response.json::<Value>().await.unwrap()["id"].clone()),
                409 => { assert_problem(response, 409).await; }
                other => panic!("unexpected status {other}"),
            }
        }
        assert!(!created_ids.is_empty());
        assert!(created_ids.iter().all(|id| *id == created_ids[0]), "{created_ids:?}");
        assert_eq!(order_rows(&app).await, 1);
        // Once the first has finished, the key answers its response.
        let later = app.post("/orders", &app.admin_key, &order_body("Racer")).header("Idempotency-Key", "race").send().await.unwrap();
        assert_eq!(later.json::<Value>().await.unwrap()["id"], created_ids[0]);
    }

    async fn a_replayed_status_change_changes_once(app) {
        let order = app.create_order("Grace").await;
        let path = format!("/orders/{}/status", order["id"].as_str().unwrap());
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let response = app.patch(&path, &app.admin_key, &json!({"status": "confirmed"})).header("Idempotency-Key", "confirm").send().await.unwrap();
            assert_eq!(response.status(), 200);
            bodies.push(response.json::<Value>().await.unwrap());
        }
        assert!(bodies.iter().all(|b| *b == bodies[0]));
        // A change made since then is not undone by a replay.
        app.change_status(order["id"].as_str().unwrap(), "delayed").await;
        let replay = app.patch(&path, &app.admin_key, &json!({"status": "confirmed"})).header("Idempotency-Key", "confirm").send().await.unwrap();
        assert_eq!(replay.json::<Value>().await.unwrap(), bodies[0]);
        let now = app.get_order(order["id"].as_str().unwrap()).await;
        assert_eq!((now["status"].as_str(), now["version"].as_i64()), (Some("delayed"), Some(3)));
    }

    async fn a_failed_request_leaves_its_key_free(app) {
        let order = app.create_order("Alan").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}/status");
        let guarded = app.patch(&path, &app.admin_key, &json!({"status": "confirmed"}))
            .header("Idempotency-Key", "retry-me").header("If-Match", "\"v7\"").send().await.unwrap();
        assert_problem(guarded, 412).await;
        let retried = app.patch(&path, &app.admin_key, &json!({"status": "confirmed"}))
            .header("Idempotency-Key", "retry-me").header("If-Match", "\"v1\"").send().await.unwrap();
        assert_eq!(retried.status(), 200);
    }

    async fn keys_are_scoped_to_the_api_key(app) {
        let (_, other) = app.create_key("shop", "integration").await;
        for key in [app.admin_key.clone(), other] {
            let response = app.post("/orders", &key, &order_body("Shared")).header("Idempotency-Key", "same").send().await.unwrap();
            assert_eq!(response.status(), 201);
            assert!(response.headers().get("idempotent-replayed").is_none());
        }
        assert_eq!(order_rows(&app).await, 2);
    }
}
