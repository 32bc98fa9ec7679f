//! The MessageBird provider against a stand-in server over real HTTP (wiremock): the
//! exact request, success, retries on 5xx and 429, a timeout, and a refusal.

use std::time::{Duration, Instant};

use crate::helpers::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCESS_KEY: &str = "test_access_key_123";

async fn app_with_messagebird(server: &MockServer) -> TestApp {
    let base_url = server.uri();
    spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "messagebird"),
            ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", ACCESS_KEY),
            ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &base_url),
            ("ORDER_NOTIFY_PUBLIC_URL", "https://orders.example.com"),
            ("ORDER_NOTIFY_RETRY_BASE_MS", "10"),
        ],
    )
    .await
    .unwrap()
}

fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": id, "recipients": {"totalCount": 1}}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagebird_gets_the_exact_request_and_its_id_is_recorded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(accepted("mb-123"))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with_messagebird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(
        (text["state"].as_str(), text["provider"].as_str()),
        (Some("sent"), Some("messagebird"))
    );
    assert_eq!(text["provider_message_id"], "mb-123");
    assert_eq!(text["attempts"], 1);

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.headers["authorization"],
        format!("AccessKey {ACCESS_KEY}").as_str()
    );
    assert!(
        request.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = request.body_json().unwrap();
    assert_eq!(
        body,
        json!({
            "originator": "NomNom",
            "recipients": ["31612345678"],
            "body": text["body"],
            "reference": text["id"],
            "datacoding": "plain",
            "reportUrl": "https://orders.example.com/webhooks/messagebird",
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_503s_then_success_takes_three_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(accepted("mb-3"))
        .mount(&server)
        .await;
    let app = app_with_messagebird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "sent");
    assert_eq!(text["attempts"], 3);
    assert_eq!(text["last_error"], Value::Null);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"errors": [{"code": 429, "description": "Too many requests"}]}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(accepted("mb-429"))
        .mount(&server)
        .await;
    let app = app_with_messagebird(&server).await;
    let started = Instant::now();
    let text = app.confirm_and_settle().await;
    assert_eq!(
        (text["state"].as_str(), text["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_at_once_with_messagebirds_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/messages"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "errors": [{"code": 9, "description": "no (correct) recipients found", "parameter": "recipients"}]
        })))
        .mount(&server).await;
    let app = app_with_messagebird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(
        (text["state"].as_str(), text["attempts"].as_i64()),
        (Some("failed"), Some(1))
    );
    assert!(
        text["last_error"]
            .as_str()
            .unwrap()
            .contains("no (correct) recipients found"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a refusal is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_times_out_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(accepted("too-late").set_delay(Duration::from_secs(12)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(accepted("mb-on-time"))
        .mount(&server)
        .await;
    let app = app_with_messagebird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(
        (text["state"].as_str(), text["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
    assert_eq!(text["provider_message_id"], "mb-on-time");
}
