//! The Bird provider against a stand-in for Bird's platform API over real HTTP
//! (wiremock): the exact request as Bird's SDK builds it, the `sms_…` id recorded, one
//! `Idempotency-Key` for every attempt at a text, and refusals in Bird's words (a key
//! from another region said so). Then Bird's events (`POST /webhooks/bird`), signed by
//! Standard Webhooks as computed here and as Bird's SDK verifies them: deliveries,
//! failures, STOP and START, each applied once; unsigned, stale, tampered and forged
//! events refused.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "bk_eu1_0123456789abcdefTEST";
/// A webhook secret as Bird shows it: `whsec_` and 24 random bytes in base64.
pub(crate) const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn app_with_bird(server: &MockServer) -> TestApp {
    bird_app(DbKind::Sqlite, server, None).await.unwrap()
}

/// An app where Bird sends the texts (to `server`), with `secret` for its events.
async fn bird_app(kind: DbKind, server: &MockServer, secret: Option<&str>) -> Option<TestApp> {
    let base_url = server.uri();
    let mut settings = vec![
        ("ORDER_NOTIFY_SMS_PROVIDER", "bird"),
        ("ORDER_NOTIFY_BIRD_API_KEY", API_KEY),
        ("ORDER_NOTIFY_BIRD_BASE_URL", &base_url),
        ("ORDER_NOTIFY_SMS_ORIGINATOR", "Kitchen"),
        ("ORDER_NOTIFY_RETRY_BASE_MS", "10"),
    ];
    if let Some(secret) = secret {
        settings.push(("ORDER_NOTIFY_BIRD_WEBHOOK_SECRET", secret));
    }
    spawn_app_with(kind, &settings).await
}

fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": id, "direction": "outbound", "status": "accepted",
        "to": "+31612345678", "from": "Kitchen", "category": "transactional"
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bird_gets_the_request_its_sdk_would_send_and_its_id_is_recorded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(accepted("sms_01krdgeqcxet5s7t44vh8rt9mg"))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with_bird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(
        (text["state"].as_str(), text["provider"].as_str()),
        (Some("sent"), Some("bird"))
    );
    assert_eq!(
        text["provider_message_id"],
        "sms_01krdgeqcxet5s7t44vh8rt9mg"
    );

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {API_KEY}").as_str()
    );
    assert_eq!(
        request.headers["idempotency-key"],
        text["id"].as_str().unwrap()
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
            "to": "+31612345678",
            "from": "Kitchen",
            "text": text["body"],
            "category": "transactional",
            "metadata": {"notification_id": text["id"]},
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_at_a_text_carries_the_same_idempotency_key() {
    let server = MockServer::start().await;
    // Two answers lost to Bird's own trouble, then the text is taken.
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"error": {"type": "service_unavailable_error", "message": "try again"}}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_json(
                    json!({"error": {"type": "rate_limit_error", "message": "slow down"}}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(accepted("sms_01krdgeqcxet5s7t44vh8rt9mh"))
        .mount(&server)
        .await;
    let app = app_with_bird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "sent", "{text}");
    assert_eq!(text["attempts"], 3);
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, vec![text["id"].as_str().unwrap().to_owned(); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_the_text_in_birds_words_and_a_wrong_region_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"error": {
            "type": "validation_error", "code": "invalid_parameter",
            "message": "The request is invalid",
            "details": [{"param": "from", "message": "is not a sender of this workspace"}]
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with_bird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "failed");
    assert_eq!(
        text["last_error"],
        "Bird answered 422 Unprocessable Entity: The request is invalid; from: is not a sender of this workspace [invalid_parameter]"
    );
    drop(app);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(ResponseTemplate::new(421).set_body_json(
            json!({"error": {"type": "misdirected_error", "message": "wrong region"}}),
        ))
        .mount(&server)
        .await;
    let app = app_with_bird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "failed");
    assert!(
        text["last_error"]
            .as_str()
            .unwrap()
            .contains("another region"),
        "{text}"
    );
}

/// Sends one text with Bird's official Python SDK (`messagebird-sdk` on PyPI, package
/// `bird`) to `base_url`, as the SDK's own documentation shows, with `idempotency_key`;
/// whatever the SDK makes of the stand-in's answer does not matter here.
const SDK_SEND: &str = r#"
import json, sys
from bird import Bird
args = json.loads(sys.argv[1])
client = Bird(api_key=args["api_key"], base_url=args["base_url"], max_retries=0)
try:
    client.sms.send(
        to=args["to"], from_=args["from"], text=args["text"], category="transactional",
        metadata=args["metadata"],
        options={"idempotency_key": args["idempotency_key"], "max_retries": 0},
    )
except Exception as e:
    print(f"the SDK raised after sending: {type(e).__name__}", file=sys.stderr)
"#;

/// Whether Bird's SDK is there for the contract tests (CI requires it).
fn bird_sdk() -> bool {
    python_can_import("bird", "messagebird-sdk", "REQUIRE_BIRD_SDK")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_is_the_one_birds_official_sdk_makes() {
    if !bird_sdk() {
        return;
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("sms_01krdgeqcxet5s7t44vh8rt9mj"))
        .mount(&server)
        .await;
    let app = app_with_bird(&server).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "sent", "{text}");

    let args = json!({
        "api_key": API_KEY,
        "base_url": server.uri(),
        "to": text["recipient"],
        "from": "Kitchen",
        "text": text["body"],
        "metadata": {"notification_id": text["id"]},
        "idempotency_key": text["id"],
    });
    run_python(SDK_SEND, args).await;

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one send from each");
    let (ours, sdks) = (&requests[0], &requests[1]);
    assert_eq!(ours.method, sdks.method);
    assert_eq!(ours.url.path(), sdks.url.path());
    for header in ["authorization", "idempotency-key"] {
        assert_eq!(ours.headers[header], sdks.headers[header], "{header}");
    }
    let media = |r: &wiremock::Request| {
        let value = r.headers["content-type"].to_str().unwrap().to_owned();
        value.split(';').next().unwrap().trim().to_owned()
    };
    assert_eq!(media(ours), media(sdks));
    assert_eq!(
        ours.body_json::<Value>().unwrap(),
        sdks.body_json::<Value>().unwrap(),
        "the JSON body"
    );
}

/// A Standard Webhooks signature (`v1,<base64>`), computed here from the spec: HMAC-SHA256
/// keyed with the secret's base64 bytes over `id.timestamp.body`.
fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How one event call is signed.
pub(crate) enum Signing {
    /// As Bird signs: the secret, now.
    Bird,
    /// With another secret.
    Forged,
    /// By Bird, but `seconds` ago.
    Aged(i64),
    /// Signed for `body`, sent with another body.
    Tampered(&'static str),
    /// No signature headers at all.
    Unsigned,
}

/// Posts `event` to `/webhooks/bird` as call `id`, signed as `signing` says.
pub(crate) async fn post_event(
    app: &TestApp,
    id: &str,
    event: &Value,
    signing: Signing,
) -> reqwest::Response {
    let body = event.to_string();
    let now = chrono::Utc::now().timestamp();
    let (timestamp, signature, sent) = match signing {
        Signing::Bird => (
            now,
            standard_signature(WEBHOOK_SECRET, id, now, &body),
            body,
        ),
        Signing::Forged => (
            now,
            standard_signature("whsec_bm90IHRoZSBzZWNyZXQgYXQgYWxs", id, now, &body),
            body,
        ),
        Signing::Aged(seconds) => (
            now - seconds,
            standard_signature(WEBHOOK_SECRET, id, now - seconds, &body),
            body,
        ),
        Signing::Tampered(other) => (
            now,
            standard_signature(WEBHOOK_SECRET, id, now, &body),
            other.to_owned(),
        ),
        Signing::Unsigned => (now, String::new(), body),
    };
    let mut request = app
        .client
        .post(app.url("/webhooks/bird"))
        .header("content-type", "application/json")
        .body(sent);
    if !signature.is_empty() {
        request = request
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
    }
    request.send().await.unwrap()
}

/// Bird's event `kind` about `text` (as our send's metadata echoes it back).
fn sms_event(kind: &str, text: &Value, extra: Value) -> Value {
    let mut data = json!({
        "sms_id": text["provider_message_id"],
        "workspace_id": "ws_01krdgeqcxet5s7t44vh8rt9mg",
        "to": text["recipient"],
        "from": "Kitchen",
        "metadata": {"notification_id": text["id"]},
    });
    data.as_object_mut().unwrap().extend(unset_fields());
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"type": kind, "timestamp": "2026-05-21T12:00:00Z", "data": data})
}

/// The fields every SMS event carries that say nothing here (null unless a send used
/// tags or a template), as Bird's SDK requires them.
fn unset_fields() -> serde_json::Map<String, Value> {
    [
        "tags",
        "requested_language",
        "resolved_language",
        "template_id",
        "template_version_id",
        "template_content_hash",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), Value::Null))
    .collect()
}

/// A customer's text to our number.
fn received(from: &str, text: &str) -> Value {
    let mut data = json!({
        "sms_id": "sms_01krdgeqcxet5s7t44vh8rt9mz", "workspace_id": "ws_01krdgeqcxet5s7t44vh8rt9mg",
        "to": "+3197010200300", "from": from, "text": text, "metadata": null,
        "segments": {"count": 1, "encoding": "GSM_7BIT", "characters": text.chars().count()},
    });
    data.as_object_mut().unwrap().extend(unset_fields());
    json!({"type": "sms.received", "timestamp": "2026-05-21T12:00:00Z", "data": data})
}

/// `text` as it is now.
async fn text_now(app: &TestApp, text: &Value) -> Value {
    let order = text["order_id"].as_str().unwrap();
    let texts = app
        .get_json(&format!("/orders/{order}/notifications"), &app.admin_key)
        .await;
    texts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == text["id"])
        .cloned()
        .unwrap()
}

async fn opted_out(app: &TestApp) -> Vec<String> {
    let list = app.get_json("/opt-outs", &app.admin_key).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phone"].as_str().unwrap().to_owned())
        .collect()
}

async fn bird_accepting() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms/messages"))
        .respond_with(accepted("sms_01krdgeqcxet5s7t44vh8rt9mk"))
        .mount(&server)
        .await;
    server
}

/// A delivery and a failure become the text's state; STOP and START work; a repeated
/// event (same `webhook-id`, fresh signature) changes nothing.
async fn signed_events_are_applied_once(kind: DbKind) {
    let server = bird_accepting().await;
    let Some(app) = bird_app(kind, &server, Some(WEBHOOK_SECRET)).await else {
        return;
    };
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "sent", "{text}");

    let delivered = sms_event("sms.delivered", &text, json!({}));
    let answer = post_event(&app, "msg_delivered_1", &delivered, Signing::Bird).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let now = text_now(&app, &text).await;
    assert_eq!(now["state"], "delivered", "{now}");
    assert_eq!(now["delivered_at"], "2026-05-21T12:00:00Z");

    // A second text fails; Bird's reason is kept.
    let order = text["order_id"].as_str().unwrap();
    app.change_status(order, "delayed").await;
    let second = app.wait_for_text(order, &["sent", "failed"]).await;
    assert_ne!(second["id"], text["id"]);
    let failed = sms_event(
        "sms.undelivered",
        &second,
        json!({"error": {"code": "unreachable", "description": "Handset is off",
            "carrier_error_code": "27", "occurred_at": "2026-05-21T12:00:00Z", "permanent": null}}),
    );
    let answer = post_event(&app, "msg_failed_1", &failed, Signing::Bird).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let now = text_now(&app, &second).await;
    assert_eq!(now["state"], "failed", "{now}");
    assert_eq!(
        now["last_error"],
        "Bird reported undelivered: Handset is off (unreachable; carrier code 27)"
    );

    // STOP, then START, then Bird delivers the STOP again (our answer to it was lost).
    let number = text["recipient"].as_str().unwrap().to_owned();
    let stop = received(&number, "Stop");
    assert_eq!(
        post_event(&app, "msg_stop_1", &stop, Signing::Bird)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(opted_out(&app).await, vec![number.clone()]);
    let start = received(&number, "START");
    assert_eq!(
        post_event(&app, "msg_start_1", &start, Signing::Bird)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(opted_out(&app).await.is_empty());
    let again = post_event(&app, "msg_stop_1", &stop, Signing::Bird).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert!(
        opted_out(&app).await.is_empty(),
        "a repeated STOP undid the customer's START"
    );

    // Events that change nothing, or about texts we never sent, are acknowledged.
    let sent = sms_event("sms.sent", &text, json!({"carrier": "KPN"}));
    let future = json!({"type": "sms.translated", "timestamp": "t", "data": {"x": 1}});
    let stranger = json!({"type": "sms.delivered", "timestamp": "2026-05-21T12:00:00Z",
        "data": {"sms_id": "sms_01krdgeqcxet5s7t44vh8rt9mq", "metadata": null}});
    for (id, event) in [
        ("msg_sent", &sent),
        ("msg_new", &future),
        ("msg_other", &stranger),
    ] {
        let answer = post_event(&app, id, event, Signing::Bird).await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT, "{event}");
    }
    assert_eq!(text_now(&app, &text).await["state"], "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_are_applied_once_on_sqlite() {
    signed_events_are_applied_once(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_are_applied_once_on_postgres() {
    signed_events_are_applied_once(DbKind::Postgres).await;
}

/// Unsigned, forged, stale, early and tampered events are 401 and change nothing; a
/// signed body that is no event is 400.
async fn only_birds_fresh_signature_is_believed(kind: DbKind) {
    let server = bird_accepting().await;
    let Some(app) = bird_app(kind, &server, Some(WEBHOOK_SECRET)).await else {
        return;
    };
    let text = app.confirm_and_settle().await;
    let number = text["recipient"].as_str().unwrap().to_owned();
    let failed = sms_event("sms.failed", &text, json!({}));
    let stop = received(&number, "STOP");
    let attempts = [
        (Signing::Unsigned, &failed),
        (Signing::Forged, &failed),
        (Signing::Aged(301), &failed),
        (Signing::Aged(-301), &stop),
        (
            Signing::Tampered(
                r#"{"type":"sms.received","data":{"from":"+31612345678","text":"STOP"}}"#,
            ),
            &stop,
        ),
        (Signing::Unsigned, &stop),
        (Signing::Forged, &stop),
    ];
    for (n, (signing, event)) in attempts.into_iter().enumerate() {
        let answer = post_event(&app, &format!("msg_bad_{n}"), event, signing).await;
        let problem = assert_problem(answer, 401).await;
        assert_eq!(
            problem["detail"],
            "The Bird signature is missing, invalid or too old."
        );
    }
    assert_eq!(text_now(&app, &text).await["state"], "sent");
    assert!(opted_out(&app).await.is_empty());

    // Within the window either way is fine (clocks differ a little).
    let answer = post_event(&app, "msg_late", &stop, Signing::Aged(240)).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert_eq!(opted_out(&app).await, vec![number]);

    let not_an_event = json!({"data": {"sms_id": "sms_1"}});
    let answer = post_event(&app, "msg_odd", &not_an_event, Signing::Bird).await;
    assert_problem(answer, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_birds_fresh_signature_is_believed_on_sqlite() {
    only_birds_fresh_signature_is_believed(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_birds_fresh_signature_is_believed_on_postgres() {
    only_birds_fresh_signature_is_believed(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn birds_events_are_not_found_without_bird_and_its_secret() {
    let server = bird_accepting().await;
    let event = json!({"type": "sms.delivered", "data": {}});
    let without_secret = bird_app(DbKind::Sqlite, &server, None).await.unwrap();
    let answer = post_event(&without_secret, "msg_1", &event, Signing::Bird).await;
    let problem = assert_problem(answer, 404).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ORDER_NOTIFY_BIRD_WEBHOOK_SECRET"),
        "{problem}"
    );
    // Bird's secret set, but the sandbox sends.
    let sandbox = spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_BIRD_API_KEY", API_KEY),
            ("ORDER_NOTIFY_BIRD_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await
    .unwrap();
    let answer = post_event(&sandbox, "msg_1", &event, Signing::Bird).await;
    assert_problem(answer, 404).await;
}

/// The events these tests send, signed as they sign them, are what Bird's SDK accepts:
/// so the signing and the events' shape are Bird's, not only our reading of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_these_tests_sign_are_the_ones_birds_sdk_verifies() {
    if !bird_sdk() {
        return;
    }
    let text = json!({
        "id": "0193a1b2-0000-7000-8000-000000000001",
        "recipient": "+31612345678",
        "provider_message_id": "sms_01krdgeqcxet5s7t44vh8rt9mk",
    });
    let events = [
        received("+31612345678", "STOP"),
        sms_event("sms.delivered", &text, json!({})),
        sms_event(
            "sms.undelivered",
            &text,
            json!({"error": {"code": "unreachable", "description": "Handset is off",
                "carrier_error_code": "27", "occurred_at": "2026-05-21T12:00:00Z", "permanent": null}}),
        ),
    ];
    let now = chrono::Utc::now().timestamp();
    let calls: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            let body = event.to_string();
            let id = format!("msg_sdk_{n}");
            json!({"body": body, "headers": {
                "webhook-id": id,
                "webhook-timestamp": now.to_string(),
                "webhook-signature": standard_signature(WEBHOOK_SECRET, &id, now, &body),
            }})
        })
        .collect();
    let args = json!({"secret": WEBHOOK_SECRET, "calls": calls});
    let types = run_python(BIRD_SDK_UNWRAP, args).await;
    assert_eq!(
        types.split_whitespace().collect::<Vec<_>>(),
        ["sms.received", "sms.delivered", "sms.undelivered"]
    );
}
