//! Failover between providers (`ORDER_NOTIFY_SMS_PROVIDER=bird,twilio`), against two
//! stand-ins over real HTTP (wiremock): with the primary down every text is sent through
//! the secondary, and after failures in a row the primary is skipped until a probe
//! finds it back; a refusal is not tried elsewhere. Every attempt is in the text's
//! `attempts_log` (`GET /notifications/{id}`), and `/metrics` counts attempts per
//! provider and shows each breaker. On SQLite and PostgreSQL.

use crate::helpers::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Bird (first) and Twilio (second), each at its stand-in; the breaker trips after 3
/// failures in a row and cools down for `cooldown_ms`.
async fn two_providers(
    kind: DbKind,
    bird: &MockServer,
    twilio: &MockServer,
    cooldown_ms: u64,
) -> Option<TestApp> {
    let (bird_url, twilio_url) = (bird.uri(), twilio.uri());
    let cooldown = cooldown_ms.to_string();
    spawn_app_with(
        kind,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "bird,twilio"),
            ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_failover"),
            ("ORDER_NOTIFY_BIRD_BASE_URL", &bird_url),
            (
                "ORDER_NOTIFY_BIRD_WEBHOOK_SECRET",
                crate::bird::WEBHOOK_SECRET,
            ),
            ("ORDER_NOTIFY_TWILIO_ACCOUNT_SID", crate::twilio::SID),
            ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", crate::twilio::TOKEN),
            ("ORDER_NOTIFY_TWILIO_BASE_URL", &twilio_url),
            ("ORDER_NOTIFY_PUBLIC_URL", "https://orders.example.com"),
            ("ORDER_NOTIFY_RETRY_BASE_MS", "10"),
            ("ORDER_NOTIFY_SMS_BREAKER_FAILURES", "3"),
            ("ORDER_NOTIFY_SMS_BREAKER_COOLDOWN_MS", &cooldown),
        ],
    )
    .await
}

fn bird_down() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_json(
        json!({"error": {"type": "service_unavailable_error", "message": "maintenance"}}),
    )
}

fn bird_accepts() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "sms_01krdgeqcxet5s7t44vh8rt9mk"}))
}

async fn twilio_accepting() -> MockServer {
    crate::twilio::twilio_accepting("SM123").await
}

/// One order confirmed, its text settled, read back with its attempts.
async fn one_text(app: &TestApp, key: &str) -> Value {
    let order = app.create_order_as(key, &order_body("Grace Hopper")).await;
    let id = order["id"].as_str().unwrap();
    let response = app
        .patch(
            &format!("/orders/{id}/status"),
            key,
            &json!({"status": "confirmed"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = app.wait_for_text(id, &["sent", "failed"]).await;
    let detail = app
        .get(
            &format!("/notifications/{}", text["id"].as_str().unwrap()),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    detail.json().await.unwrap()
}

/// The providers its attempts went to, and what each came to.
fn path_of(text: &Value) -> Vec<(String, String)> {
    text["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(provider: &str, outcome: &str) -> (String, String) {
    (provider.to_owned(), outcome.to_owned())
}

async fn with_the_primary_down_every_text_goes_through_the_secondary(kind: DbKind) {
    let bird = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(bird_down())
        .mount(&bird)
        .await;
    let twilio = twilio_accepting().await;
    let Some(app) = two_providers(kind, &bird, &twilio, 60_000).await else {
        return;
    };
    let (_, integration) = app.create_key("webshop", "integration").await;

    let mut texts = Vec::new();
    for n in 0..6 {
        // Integration and admin keys take turns; each reads its own texts.
        let key = if n % 2 == 0 {
            integration.clone()
        } else {
            app.admin_key.clone()
        };
        texts.push(one_text(&app, &key).await);
    }
    for text in &texts {
        assert_eq!(
            (text["state"].as_str(), text["provider"].as_str()),
            (Some("sent"), Some("twilio")),
            "{text}"
        );
        assert_eq!(text["provider_message_id"], "SM123");
    }
    // The first three failed with Bird first, then the breaker took Bird out.
    for text in &texts[..3] {
        assert_eq!(
            path_of(text),
            vec![pair("bird", "retry"), pair("twilio", "accepted")]
        );
        let first = &text["attempts_log"][0];
        assert!(
            first["error"]
                .as_str()
                .unwrap()
                .contains("Bird answered 503"),
            "{first}"
        );
        assert!(text["attempts_log"][1]["error"].is_null());
    }
    for text in &texts[3..] {
        assert_eq!(path_of(text), vec![pair("twilio", "accepted")]);
    }
    assert_eq!(bird.received_requests().await.unwrap().len(), 3);
    assert_eq!(twilio.received_requests().await.unwrap().len(), 6);

    let metrics = scrape(&app.client, &app.url("")).await;
    let value = |series: &str| metric(&metrics, series);
    assert_eq!(
        value(r#"order_notify_provider_attempts_total{provider="bird",outcome="retry"}"#),
        3.0
    );
    assert_eq!(
        value(r#"order_notify_provider_attempts_total{provider="twilio",outcome="accepted"}"#),
        6.0
    );
    assert_eq!(
        value(r#"order_notify_provider_breaker{provider="bird",state="open"}"#),
        1.0
    );
    assert_eq!(
        value(r#"order_notify_provider_breaker{provider="twilio",state="closed"}"#),
        1.0
    );

    // An integration key reads only its own texts; another's is not found.
    let (_, other) = app.create_key("pos", "integration").await;
    let admins_text = texts[1]["id"].as_str().unwrap();
    let answer = app
        .get(&format!("/notifications/{admins_text}"), &integration)
        .send()
        .await
        .unwrap();
    assert_problem(answer, 404).await;
    let theirs = texts[0]["id"].as_str().unwrap();
    let answer = app
        .get(&format!("/notifications/{theirs}"), &other)
        .send()
        .await
        .unwrap();
    assert_problem(answer, 404).await;
    let answer = app
        .get(
            "/notifications/0193a1b2-0000-7000-8000-000000000001",
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_problem(answer, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_primary_down_every_text_goes_through_the_secondary_on_sqlite() {
    with_the_primary_down_every_text_goes_through_the_secondary(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_primary_down_every_text_goes_through_the_secondary_on_postgres() {
    with_the_primary_down_every_text_goes_through_the_secondary(DbKind::Postgres).await;
}

async fn the_breaker_lets_one_probe_through_and_closes_when_the_primary_is_back(kind: DbKind) {
    let bird = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(bird_down())
        .up_to_n_times(3)
        .mount(&bird)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(bird_accepts())
        .mount(&bird)
        .await;
    let twilio = twilio_accepting().await;
    let Some(app) = two_providers(kind, &bird, &twilio, 1_500).await else {
        return;
    };
    let key = app.admin_key.clone();
    let mut providers = Vec::new();
    for _ in 0..4 {
        providers.push(one_text(&app, &key).await["provider"].clone());
    }
    // Out for the cooldown; then the next text probes Bird, which is back.
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    let probe = one_text(&app, &key).await;
    assert_eq!(path_of(&probe), vec![pair("bird", "accepted")]);
    providers.push(probe["provider"].clone());
    providers.push(one_text(&app, &key).await["provider"].clone());
    assert_eq!(
        providers,
        ["twilio", "twilio", "twilio", "twilio", "bird", "bird"]
    );
    assert_eq!(bird.received_requests().await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_lets_one_probe_through_and_closes_when_the_primary_is_back_on_sqlite() {
    the_breaker_lets_one_probe_through_and_closes_when_the_primary_is_back(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_lets_one_probe_through_and_closes_when_the_primary_is_back_on_postgres() {
    the_breaker_lets_one_probe_through_and_closes_when_the_primary_is_back(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_the_text_without_trying_another_provider() {
    let bird = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"error": {
            "type": "validation_error", "code": "invalid_parameter",
            "message": "The request is invalid",
            "details": [{"param": "to", "message": "is not a mobile number"}]
        }})))
        .mount(&bird)
        .await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM9"})))
        .expect(0)
        .mount(&twilio)
        .await;
    let app = two_providers(DbKind::Sqlite, &bird, &twilio, 60_000)
        .await
        .unwrap();
    let key = app.admin_key.clone();
    for _ in 0..4 {
        let text = one_text(&app, &key).await;
        assert_eq!(text["state"], "failed");
        assert_eq!(text["provider"], "bird");
        assert_eq!(path_of(&text), vec![pair("bird", "refused")]);
        assert_eq!(
            text["last_error"],
            "Bird answered 422 Unprocessable Entity: The request is invalid; to: is not a mobile number [invalid_parameter]"
        );
    }
    // Refusals are answers: Bird stays up.
    let metrics = scrape(&app.client, &app.url("")).await;
    assert_eq!(
        metric(
            &metrics,
            r#"order_notify_provider_breaker{provider="bird",state="closed"}"#
        ),
        1.0
    );
}

/// With two providers sending, each one's callbacks are answered (signed by its own
/// scheme); a provider that does not send is still 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sending_providers_callbacks_are_answered() {
    let bird = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(bird_accepts())
        .mount(&bird)
        .await;
    let twilio = twilio_accepting().await;
    let app = two_providers(DbKind::Sqlite, &bird, &twilio, 60_000)
        .await
        .unwrap();
    let key = app.admin_key.clone();
    let text = one_text(&app, &key).await;
    assert_eq!(text["provider"], "bird");

    // Bird says the text was delivered.
    let event = json!({"type": "sms.delivered", "timestamp": "2026-05-21T12:00:00Z", "data": {
        "sms_id": text["provider_message_id"], "metadata": {"notification_id": text["id"]}}});
    let answer =
        crate::bird::post_event(&app, "msg_both_1", &event, crate::bird::Signing::Bird).await;
    assert_eq!(answer.status(), 204);
    let order = text["order_id"].as_str().unwrap();
    assert_eq!(app.latest_text(order).await["state"], "delivered");

    // The customer texts STOP to the Twilio number.
    let stop = [("From", "+31612345678"), ("Body", "STOP")];
    let url = "https://orders.example.com/webhooks/twilio/inbound";
    let answer = app
        .client
        .post(app.url("/webhooks/twilio/inbound"))
        .header("X-Twilio-Signature", crate::twilio::sign(url, &stop))
        .form(&stop)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let opt_outs = app.get_json("/opt-outs", &app.admin_key).await;
    assert_eq!(opt_outs["items"][0]["phone"], "+31612345678");
    assert_eq!(opt_outs["items"][0]["source"], "twilio");

    let answer = app
        .client
        .post(app.url("/webhooks/messagebird"))
        .form(&[("id", "x"), ("status", "delivered")])
        .send()
        .await
        .unwrap();
    assert_problem(answer, 404).await;
}
