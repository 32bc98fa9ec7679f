//! The Bird provider against a stand-in for Bird's platform API over real HTTP
//! (wiremock): the exact request as Bird's SDK builds it, the `sms_…` id recorded, one
//! `Idempotency-Key` for every attempt at a text, and refusals in Bird's words (a key
//! from another region said so).

use crate::helpers::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "bk_eu1_0123456789abcdefTEST";

async fn app_with_bird(server: &MockServer) -> TestApp {
    let base_url = server.uri();
    spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "bird"),
            ("ORDER_NOTIFY_BIRD_API_KEY", API_KEY),
            ("ORDER_NOTIFY_BIRD_BASE_URL", &base_url),
            ("ORDER_NOTIFY_SMS_ORIGINATOR", "Kitchen"),
            ("ORDER_NOTIFY_RETRY_BASE_MS", "10"),
        ],
    )
    .await
    .unwrap()
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

/// Whether python3 can import Bird's SDK; without it the contract test is skipped
/// (`pip install messagebird-sdk`), unless REQUIRE_BIRD_SDK=1.
fn bird_sdk() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import bird"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("REQUIRE_BIRD_SDK").is_ok_and(|v| v == "1") {
            panic!(
                "REQUIRE_BIRD_SDK=1 but python3 cannot import bird (pip install messagebird-sdk)"
            );
        }
        eprintln!("skipped: Bird's Python SDK is not installed (pip install messagebird-sdk)");
    }
    found
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
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", SDK_SEND, &args.to_string()])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

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
