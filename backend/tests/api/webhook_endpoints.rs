//! Webhooks out (`/webhook-endpoints`): an order system registers an address and gets
//! every change as a signed Standard Webhooks message, checked here by an HMAC of our
//! own and by Bird's official SDK (an independent verifier that accepts event types it
//! does not know); retries keep the `webhook-id`; redirects are not followed; an
//! integration key hears only of its own orders; private addresses are refused when
//! registered and when connected to. Endpoints are wiremock servers over real HTTP, on
//! SQLite and PostgreSQL.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;
use order_notify::store::entities::webhook_endpoints;

/// Wiremock listens on 127.0.0.1, which only an operator's opt-in lets us call.
const PRIVATE_OK: (&str, &str) = ("ORDER_NOTIFY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true");

async fn app_calling_private(kind: DbKind, extra: &[(&str, &str)]) -> Option<TestApp> {
    let mut vars = vec![PRIVATE_OK];
    vars.extend_from_slice(extra);
    spawn_app_with(kind, &vars).await
}

/// Registers an endpoint with `key`; the 201 body.
async fn register(app: &TestApp, key: &str, body: Value) -> Value {
    let response = app
        .post("/webhook-endpoints", key, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    response.json().await.unwrap()
}

/// Waits (15 s at most) until `server` got `count` requests at `at`; those requests.
async fn wait_for_calls(server: &MockServer, at: &str, count: usize) -> Vec<Request> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let calls: Vec<Request> = server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == at)
            .collect();
        if calls.len() >= count {
            return calls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{at} got {} of {count} calls",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header<'r>(request: &'r Request, name: &str) -> &'r str {
    request.headers[name].to_str().unwrap()
}

/// Checks a message as the spec says a receiver should, with our own HMAC (not the
/// library the server signs with): `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`
/// with the secret's base64 bytes, and a timestamp near now. Returns the body's JSON.
fn verify(request: &Request, secret: &str) -> Value {
    let id = header(request, "webhook-id");
    let timestamp = header(request, "webhook-timestamp");
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let given = header(request, "webhook-signature");
    assert!(
        given.split(' ').any(|s| s == format!("v1,{expected}")),
        "the signature {given} is not v1,{expected}"
    );
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((-5..=60).contains(&age), "timestamp {age} s old");
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(header(request, "content-type"), "application/json");
    serde_json::from_slice(&request.body).unwrap()
}

fn types(calls: &[Request], secret: &str) -> Vec<String> {
    calls
        .iter()
        .map(|c| verify(c, secret)["type"].as_str().unwrap().to_owned())
        .collect()
}

both_databases! {
    async fn endpoints_are_registered_listed_and_deleted_with_the_secret_shown_once(app) {
        let kind = app.kind;
        drop(app);
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
        let Some(app) = app_calling_private(kind, &[]).await else { return };
        let url = format!("{}/hooks/admin", server.uri());
        let created = register(&app, &app.admin_key, json!({"url": url, "events": ["order.status_changed", "order.created", "order.created"]})).await;
        let secret = created["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        let raw = base64::engine::general_purpose::STANDARD.decode(&secret[6..]).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(created["events"], json!(["order.created", "order.status_changed"]));
        assert_eq!(created["all_orders"], true);
        let id = created["id"].as_str().unwrap();

        // Staff keys cannot manage webhooks.
        let (_, staff) = app.create_key("Tablet", "staff").await;
        let refused = app.post("/webhook-endpoints", &staff, &json!({"url": url})).send().await.unwrap();
        assert_problem(refused, 403).await;
        assert_problem(app.get("/webhook-endpoints", &staff).send().await.unwrap(), 403).await;

        // An integration key's endpoint is its own; it sees only its own.
        let (_, shop) = app.create_key("Webshop", "integration").await;
        let mine = register(&app, &shop, json!({"url": format!("{}/hooks/shop", server.uri())})).await;
        assert_eq!(mine["events"], Value::Null);
        assert_eq!(mine["all_orders"], false);
        let listed = app.get_json("/webhook-endpoints", &shop).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["id"], mine["id"]);
        let all = app.get_json("/webhook-endpoints", &app.admin_key).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 2);
        for item in all["items"].as_array().unwrap() {
            assert!(item.get("secret").is_none(), "a listed endpoint shows its secret: {item}");
        }
        let theirs = app.client.delete(app.url(&format!("/webhook-endpoints/{id}"))).bearer_auth(&shop).send().await.unwrap();
        assert_problem(theirs, 404).await;
        assert_problem(app.get(&format!("/webhook-endpoints/{id}/deliveries"), &shop).send().await.unwrap(), 404).await;

        // Deleted: gone from the list, and told of nothing more.
        let deleted = app.client.delete(app.url(&format!("/webhook-endpoints/{id}"))).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let all = app.get_json("/webhook-endpoints", &app.admin_key).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 1);
        assert_problem(app.get(&format!("/webhook-endpoints/{id}/deliveries"), &app.admin_key).send().await.unwrap(), 404).await;
        app.create_order("After the delete").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let calls = server.received_requests().await.unwrap();
        assert!(calls.iter().all(|c| c.url.path() != "/hooks/admin"), "a deleted endpoint was called");
    }

    async fn private_and_malformed_addresses_are_refused_and_nothing_is_registered(app) {
        for (url, says) in [
            ("http://127.0.0.1:9/h", "127.0.0.1"),
            ("http://localhost:9/h", "localhost"),
            ("http://10.1.2.3/h", "private"),
            ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
            ("http://[::1]:8080/h", "::1"),
            ("http://[::ffff:127.0.0.1]/h", "private"),
            ("https://no-such-host.invalid/h", "does not resolve"),
            ("ftp://shop.example/h", "https://"),
            ("https://user:secret@shop.example/h", "password"),
            ("shop.example/h", "absolute"),
        ] {
            let response = app.post("/webhook-endpoints", &app.admin_key, &json!({"url": url})).send().await.unwrap();
            let problem = assert_problem(response, 422).await;
            assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
            let message = problem["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(says), "{url}: {message}");
        }
        for events in [json!([]), json!(["order.eaten"]), json!("order.created")] {
            let response = app.post("/webhook-endpoints", &app.admin_key, &json!({"url": "https://93.184.216.34/h", "events": events})).send().await.unwrap();
            let status = response.status().as_u16();
            let problem = assert_problem(response, status).await;
            assert_eq!(status, 422, "{events}: {problem}");
        }
        let unknown = app.post("/webhook-endpoints", &app.admin_key, &json!({"url": "https://93.184.216.34/h", "secret": "mine"})).send().await.unwrap();
        assert_problem(unknown, 422).await;
        assert_eq!(webhook_endpoints::Entity::find().count(&app.db).await.unwrap(), 0);
    }

    async fn every_change_reaches_the_endpoint_signed_so_an_independent_verifier_accepts_it(app) {
        let kind = app.kind;
        drop(app);
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/hooks")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
        let Some(app) = app_calling_private(kind, &[]).await else { return };
        let created = register(&app, &app.admin_key, json!({"url": format!("{}/hooks", server.uri())})).await;
        let secret = created["secret"].as_str().unwrap().to_owned();

        let order = app.create_order("Ada Lovelace").await;
        let id = order["id"].as_str().unwrap();
        app.change_status(id, "confirmed").await;
        app.wait_for_text(id, &["sent"]).await;
        let edit = app.patch(&format!("/orders/{id}"), &app.admin_key, &json!({"notes": "Ring twice"})).send().await.unwrap();
        assert_eq!(edit.status(), 200);
        let mut fiction = order_body("Moriarty");
        fiction["phone"] = json!("+1 202 555 0199");
        fiction["notify"] = json!(true);
        let refused = app.create_order_as(&app.admin_key, &fiction).await;

        let calls = wait_for_calls(&server, "/hooks", 6).await;
        let mut seen = types(&calls, &secret);
        seen.sort();
        assert_eq!(seen, ["notification.failed", "notification.sent", "order.created", "order.created", "order.status_changed", "order.updated"]);
        let bodies: Vec<Value> = calls.iter().map(|c| verify(c, &secret)).collect();
        let of = |kind: &str| bodies.iter().find(|b| b["type"] == kind).unwrap().clone();
        let changed = of("order.status_changed");
        assert_eq!(changed["data"]["order"]["id"], id);
        assert_eq!(changed["data"]["order"]["status"], "confirmed");
        assert_eq!(changed["data"]["from"], "pending");
        assert!(chrono::DateTime::parse_from_rfc3339(changed["timestamp"].as_str().unwrap()).is_ok());
        let updated = of("order.updated");
        assert_eq!(updated["data"]["changed"], json!(["notes"]));
        assert_eq!(updated["data"]["order"]["notes"], "Ring twice");
        let sent = of("notification.sent");
        assert_eq!(sent["data"]["notification"]["order_id"], id);
        assert_eq!(sent["data"]["notification"]["state"], "sent");
        let failed = of("notification.failed");
        assert_eq!(failed["data"]["notification"]["order_id"], refused["id"]);
        assert!(failed["data"]["notification"]["last_error"].as_str().is_some());
        let mut ids: Vec<&str> = calls.iter().map(|c| header(c, "webhook-id")).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "every event has its own webhook-id");

        // Bird's SDK (Standard Webhooks in Python) accepts every one of them.
        if python_can_import("bird", "messagebird-sdk", "REQUIRE_BIRD_SDK") {
            let calls_json: Vec<Value> = calls.iter().map(|c| json!({
                "body": String::from_utf8(c.body.clone()).unwrap(),
                "headers": {
                    "webhook-id": header(c, "webhook-id"),
                    "webhook-timestamp": header(c, "webhook-timestamp"),
                    "webhook-signature": header(c, "webhook-signature"),
                },
            })).collect();
            let printed = run_python(BIRD_SDK_UNWRAP, json!({"secret": secret, "calls": calls_json})).await;
            let mut sdk_types: Vec<&str> = printed.lines().collect();
            sdk_types.sort();
            assert_eq!(sdk_types, seen);
            // Under another secret, it refuses them.
            let other = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
            let refused = tokio::task::spawn_blocking(move || {
                std::process::Command::new("python3")
                    .args(["-c", BIRD_SDK_UNWRAP, &json!({"secret": other, "calls": calls_json}).to_string()])
                    .output()
                    .unwrap()
            }).await.unwrap();
            assert!(!refused.status.success(), "the SDK accepted a message under another secret");
        }

        // Each delivery is listed: delivered at the first attempt, with its status.
        let deliveries = app.get_json(&format!("/webhook-endpoints/{}/deliveries", created["id"].as_str().unwrap()), &app.admin_key).await;
        let items = deliveries["items"].as_array().unwrap();
        assert_eq!(items.len(), 6);
        for item in items {
            assert_eq!(item["state"], "delivered", "{item}");
            assert_eq!(item["attempts"], 1);
            assert_eq!(item["last_status"], 204);
            assert!(ids.contains(&item["id"].as_str().unwrap()));
        }
    }

    async fn a_failing_endpoint_is_retried_with_the_same_webhook_id_and_redirects_are_not_followed(app) {
        let kind = app.kind;
        drop(app);
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/flaky")).respond_with(ResponseTemplate::new(503)).up_to_n_times(2).with_priority(1).mount(&server).await;
        Mock::given(method("POST")).and(path("/flaky")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&server).await;
        let elsewhere = format!("{}/elsewhere", server.uri());
        Mock::given(method("POST")).and(path("/moved")).respond_with(ResponseTemplate::new(307).insert_header("location", elsewhere.as_str())).mount(&server).await;
        Mock::given(method("POST")).and(path("/elsewhere")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let Some(app) = app_calling_private(kind, &[("ORDER_NOTIFY_RETRY_BASE_MS", "100")]).await else { return };
        let only_new = json!(["order.created"]);
        let flaky = register(&app, &app.admin_key, json!({"url": format!("{}/flaky", server.uri()), "events": only_new})).await;
        let moved = register(&app, &app.admin_key, json!({"url": format!("{}/moved", server.uri()), "events": only_new})).await;
        let order = app.create_order("Grace Hopper").await;

        let calls = wait_for_calls(&server, "/flaky", 3).await;
        let secret = flaky["secret"].as_str().unwrap();
        for call in &calls {
            verify(call, secret);
            assert_eq!(header(call, "webhook-id"), header(&calls[0], "webhook-id"));
            assert_eq!(call.body, calls[0].body, "the same message every time");
        }
        let body = verify(&calls[0], secret);
        assert_eq!(body["data"]["order"]["id"], order["id"]);
        let path_of = |endpoint: &Value| format!("/webhook-endpoints/{}/deliveries", endpoint["id"].as_str().unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let listed = app.get_json(&path_of(&flaky), &app.admin_key).await;
            let delivery = &listed["items"][0];
            if delivery["state"] == "delivered" {
                assert_eq!(delivery["attempts"], 3);
                assert_eq!(delivery["last_status"], 200);
                assert_eq!(delivery["last_error"], Value::Null);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never delivered: {delivery}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // A redirect is an answer that is not 2xx: retried, never followed.
        wait_for_calls(&server, "/moved", 2).await;
        let listed = app.get_json(&path_of(&moved), &app.admin_key).await;
        let delivery = &listed["items"][0];
        assert_eq!(delivery["last_status"], 307, "{delivery}");
        assert!(delivery["last_error"].as_str().unwrap().contains("redirects are not followed"));
        assert!(matches!(delivery["state"].as_str(), Some("pending" | "sending")), "{delivery}");
        let followed = server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/elsewhere").count();
        assert_eq!(followed, 0, "a redirect was followed");
        // /metrics counts this process's attempts by what they came to.
        let figures = scrape(&app.client, &app.address).await;
        assert_eq!(metric(&figures, r#"order_notify_webhook_attempts_total{outcome="delivered"}"#), 1.0);
        assert!(metric(&figures, r#"order_notify_webhook_attempts_total{outcome="retry"}"#) >= 3.0);
        assert_eq!(metric(&figures, r#"order_notify_webhook_attempts_total{outcome="failed"}"#), 0.0);
    }

    async fn an_integration_keys_endpoint_hears_only_of_the_orders_that_key_created(app) {
        let kind = app.kind;
        drop(app);
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let Some(app) = app_calling_private(kind, &[]).await else { return };
        let (_, one) = app.create_key("Webshop", "integration").await;
        let (two_id, two) = app.create_key("Till", "integration").await;
        let events = json!(["order.created", "order.status_changed"]);
        let admin = register(&app, &app.admin_key, json!({"url": format!("{}/admin", server.uri()), "events": events})).await;
        let shop = register(&app, &one, json!({"url": format!("{}/one", server.uri()), "events": events})).await;
        let till = register(&app, &two, json!({"url": format!("{}/two", server.uri()), "events": events})).await;
        let from_one = app.create_order_as(&one, &order_body("From One")).await;
        let from_two = app.create_order_as(&two, &order_body("From Two")).await;
        let from_kitchen = app.create_order("From the kitchen").await;

        let order_ids = |calls: &[Request], secret: &Value| -> Vec<String> {
            let mut ids: Vec<String> = calls.iter().map(|c| verify(c, secret.as_str().unwrap())["data"]["order"]["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        };
        let mut all = vec![from_one["id"].as_str().unwrap().to_owned(), from_two["id"].as_str().unwrap().to_owned(), from_kitchen["id"].as_str().unwrap().to_owned()];
        all.sort();
        assert_eq!(order_ids(&wait_for_calls(&server, "/admin", 3).await, &admin["secret"]), all);
        assert_eq!(order_ids(&wait_for_calls(&server, "/one", 1).await, &shop["secret"]), [from_one["id"].as_str().unwrap()]);
        assert_eq!(order_ids(&wait_for_calls(&server, "/two", 1).await, &till["secret"]), [from_two["id"].as_str().unwrap()]);

        // A revoked key's endpoint hears nothing more, even of its own orders.
        assert_eq!(app.revoke_key(&two_id).await.status(), StatusCode::NO_CONTENT);
        app.change_status(from_two["id"].as_str().unwrap(), "confirmed").await;
        wait_for_calls(&server, "/admin", 4).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let calls = server.received_requests().await.unwrap();
        let count = |at: &str| calls.iter().filter(|r| r.url.path() == at).count();
        assert_eq!((count("/admin"), count("/one"), count("/two")), (4, 1, 1));
    }

    async fn an_address_that_is_private_at_connect_time_is_refused_and_retried(app) {
        // Registered around the API's check (as a name whose DNS later points inside
        // would be): the dispatcher refuses both a literal address and a name that
        // resolves to loopback, and never connects.
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let port = server.address().port();
        for url in [
            format!("http://127.0.0.1:{port}/literal"),
            format!("http://localhost:{port}/named"),
        ] {
            webhook_endpoints::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                url: Set(url.clone()),
                events: Set(None),
                secret: Set(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([1u8; 32]))),
                owner_key_id: Set(None),
                created_by: Set("test".into()),
                created_at: Set(chrono::Utc::now()),
                deleted_at: Set(None),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        // The interest cache is read afresh after 2 s.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        app.create_order("Inside job").await;
        let endpoints = app.get_json("/webhook-endpoints", &app.admin_key).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for (endpoint, says) in endpoints["items"].as_array().unwrap().iter().zip(["127.0.0.1", "localhost is"]) {
            loop {
                let listed = app.get_json(&format!("/webhook-endpoints/{}/deliveries", endpoint["id"].as_str().unwrap()), &app.admin_key).await;
                let delivery = &listed["items"][0];
                if let Some(error) = delivery["last_error"].as_str() {
                    assert!(error.contains(says) && error.contains("private"), "{error}");
                    assert_eq!(delivery["state"], "pending", "{delivery}");
                    assert_eq!(delivery["last_status"], Value::Null);
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "no attempt: {delivery}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(server.received_requests().await.unwrap().len(), 0, "connected to a private address");
    }

    async fn a_message_nobody_takes_for_24_hours_fails_for_good(app) {
        let kind = app.kind;
        drop(app);
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
        let Some(app) = app_calling_private(kind, &[("ORDER_NOTIFY_RETRY_BASE_MS", "200")]).await else { return };
        let hook = register(&app, &app.admin_key, json!({"url": format!("{}/down", server.uri()), "events": ["order.created"]})).await;
        app.create_order("Too late").await;
        wait_for_calls(&server, "/down", 1).await;
        // The event happened a day ago (as if the endpoint had been failing all along).
        use order_notify::store::entities::webhook_deliveries as deliveries;
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        let day_ago = chrono::Utc::now() - chrono::Duration::hours(24) - chrono::Duration::seconds(1);
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::CreatedAt, Expr::value(day_ago))
            .filter(deliveries::Column::EventType.eq("order.created"))
            .exec(&app.db)
            .await
            .unwrap();
        let path = format!("/webhook-endpoints/{}/deliveries", hook["id"].as_str().unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let listed = app.get_json(&path, &app.admin_key).await;
            let delivery = &listed["items"][0];
            if delivery["state"] == "failed" {
                assert_eq!(delivery["last_status"], 500);
                assert!(delivery["last_error"].as_str().unwrap().contains("500"), "{delivery}");
                assert_eq!(delivery["next_attempt_at"], Value::Null);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never gave up: {delivery}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Given up: no more attempts.
        let calls = server.received_requests().await.unwrap().len();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(server.received_requests().await.unwrap().len(), calls);
        let figures = scrape(&app.client, &app.address).await;
        assert_eq!(metric(&figures, r#"order_notify_webhook_attempts_total{outcome="failed"}"#), 1.0);
    }
}
