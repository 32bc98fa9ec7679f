//! The Twilio provider against a stand-in server (wiremock), and Twilio's signed
//! callbacks.

use std::time::Duration;

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "twilio-auth-token";
const PUBLIC_URL: &str = "https://orders.example.com";

async fn app_with_twilio(server: &MockServer) -> TestApp {
    let base_url = server.uri();
    spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "twilio"),
            ("ORDER_NOTIFY_TWILIO_ACCOUNT_SID", SID),
            ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", TOKEN),
            ("ORDER_NOTIFY_TWILIO_BASE_URL", &base_url),
            ("ORDER_NOTIFY_PUBLIC_URL", PUBLIC_URL),
            ("ORDER_NOTIFY_RETRY_BASE_MS", "10"),
        ],
    )
    .await
    .unwrap()
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

/// Twilio's signature, computed here independently of the service's code.
pub(crate) fn sign(url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let data: String = std::iter::once(url.to_owned())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn callback(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).form(fields);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_gets_the_exact_request_and_its_callbacks_must_be_signed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM123", "status": "queued"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with_twilio(&server).await;
    let order = app.create_order("Ada Lovelace").await;
    let order_id = order["id"].as_str().unwrap();
    app.change_status(order_id, "confirmed").await;
    let text = app.wait_for_text(order_id, &["sent", "failed"]).await;
    assert_eq!(
        (text["state"].as_str(), text["provider"].as_str()),
        (Some("sent"), Some("twilio"))
    );
    assert_eq!(text["provider_message_id"], "SM123");

    let request = &server.received_requests().await.unwrap()[0];
    let basic = format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")));
    assert_eq!(request.headers["authorization"], basic.as_str());
    let mut form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
    form.sort();
    let mut expected = vec![
        ("Body".to_owned(), text["body"].as_str().unwrap().to_owned()),
        ("From".to_owned(), "NomNom".to_owned()),
        (
            "StatusCallback".to_owned(),
            format!("{PUBLIC_URL}/webhooks/twilio/status"),
        ),
        ("To".to_owned(), "+31612345678".to_owned()),
    ];
    expected.sort();
    assert_eq!(form, expected);

    let status_url = format!("{PUBLIC_URL}/webhooks/twilio/status");
    let delivered = [("MessageSid", "SM123"), ("MessageStatus", "delivered")];
    assert_problem(
        callback(&app, "/webhooks/twilio/status", &delivered, None).await,
        401,
    )
    .await;
    let forged = Some(sign(
        &status_url,
        &[("MessageSid", "SM123"), ("MessageStatus", "sent")],
    ));
    assert_problem(
        callback(&app, "/webhooks/twilio/status", &delivered, forged).await,
        401,
    )
    .await;
    assert_eq!(
        app.wait_for_text(order_id, &["sent", "failed"]).await["state"],
        "sent",
        "nothing changed"
    );
    let signed = Some(sign(&status_url, &delivered));
    assert_eq!(
        callback(&app, "/webhooks/twilio/status", &delivered, signed)
            .await
            .status(),
        200
    );
    let text = app.latest_text(order_id).await;
    assert_eq!(text["state"], "delivered");

    let inbound_url = format!("{PUBLIC_URL}/webhooks/twilio/inbound");
    let stop = [("From", "+31612345678"), ("Body", "STOP")];
    assert_problem(
        callback(&app, "/webhooks/twilio/inbound", &stop, None).await,
        401,
    )
    .await;
    let reply = callback(
        &app,
        "/webhooks/twilio/inbound",
        &stop,
        Some(sign(&inbound_url, &stop)),
    )
    .await;
    assert_eq!(reply.status(), 200);
    assert!(reply.text().await.unwrap().contains("<Response>"));
    let opt_outs = app.get_json("/opt-outs", &app.admin_key).await;
    assert_eq!(
        (
            opt_outs["items"][0]["phone"].as_str(),
            opt_outs["items"][0]["source"].as_str()
        ),
        (Some("+31612345678"), Some("twilio"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_refusal_fails_at_once_and_a_failed_callback_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(messages_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211, "message": "The 'To' number +31612345678 is not a valid phone number.", "status": 400
        })))
        .up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM9"})))
        .mount(&server)
        .await;
    let app = app_with_twilio(&server).await;
    let order = app.create_order("Grace Hopper").await;
    let order_id = order["id"].as_str().unwrap();
    app.change_status(order_id, "confirmed").await;
    let text = app.wait_for_text(order_id, &["sent", "failed"]).await;
    assert_eq!(
        (text["state"].as_str(), text["attempts"].as_i64()),
        (Some("failed"), Some(1))
    );
    assert!(
        text["last_error"]
            .as_str()
            .unwrap()
            .contains("[code 21211]"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    app.change_status(order_id, "delayed").await;
    let sent = app.wait_for_text(order_id, &["sent"]).await;
    let undelivered = [
        ("MessageSid", "SM9"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ];
    let signature = Some(sign(
        &format!("{PUBLIC_URL}/webhooks/twilio/status"),
        &undelivered,
    ));
    assert_eq!(
        callback(&app, "/webhooks/twilio/status", &undelivered, signature)
            .await
            .status(),
        200
    );
    let text = app.latest_text(order_id).await;
    assert_eq!(text["id"], sent["id"]);
    assert_eq!(
        (text["state"].as_str(), text["last_error"].as_str()),
        (
            Some("failed"),
            Some("Twilio reported undelivered (error 30003)")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_twilio_configured_its_callbacks_are_refused() {
    let app = spawn_app(DbKind::Sqlite).await.unwrap();
    let stop = [("From", "+31612345678"), ("Body", "STOP")];
    assert_problem(
        callback(
            &app,
            "/webhooks/twilio/inbound",
            &stop,
            Some("anything".into()),
        )
        .await,
        404,
    )
    .await;
    let delivered = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
    assert_problem(
        callback(&app, "/webhooks/twilio/status", &delivered, None).await,
        404,
    )
    .await;
    assert_eq!(
        app.get_json("/opt-outs", &app.admin_key).await["items"],
        json!([])
    );
}

const SHARED_KEY: &str = "webhooks-shared-secret-0123456789";
const SHARED_SETTINGS: &str = "key=webhooks_sharedkey_01,algorithm=HMAC_SHA256";

/// Twilio's newer signature, computed here: HMAC-SHA256 with the shared key over the
/// URL and the sorted fields.
fn sign_sha256(key: &str, url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let data: String = std::iter::once(url.to_owned())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A status callback with both signature headers as given.
async fn callback_with_settings(
    app: &TestApp,
    fields: &[(&str, &str)],
    signature: &str,
    settings: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/twilio/status"))
        .form(fields)
        .header("X-Twilio-Signature", signature);
    if let Some(settings) = settings {
        request = request.header("X-Twilio-Webhooks-Signature-Settings", settings);
    }
    request.send().await.unwrap()
}

async fn twilio_with_webhook_key(server: &MockServer, key: Option<&str>) -> TestApp {
    let base_url = server.uri();
    let mut settings = vec![
        ("ORDER_NOTIFY_SMS_PROVIDER", "twilio"),
        ("ORDER_NOTIFY_TWILIO_ACCOUNT_SID", SID),
        ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", TOKEN),
        ("ORDER_NOTIFY_TWILIO_BASE_URL", &base_url),
        ("ORDER_NOTIFY_PUBLIC_URL", PUBLIC_URL),
    ];
    if let Some(key) = key {
        settings.push(("ORDER_NOTIFY_TWILIO_WEBHOOK_KEY", key));
    }
    spawn_app_with(DbKind::Sqlite, &settings).await.unwrap()
}

/// A Twilio stand-in that takes every text, answering with message `sid`.
pub(crate) async fn twilio_accepting(sid: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": sid})))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_signed_with_the_shared_key_and_hmac_sha256_is_believed() {
    let server = twilio_accepting("SM256").await;
    let app = twilio_with_webhook_key(&server, Some(SHARED_KEY)).await;
    let text = app.confirm_and_settle().await;
    assert_eq!(text["state"], "sent");
    let status_url = format!("{PUBLIC_URL}/webhooks/twilio/status");
    let with_port = "https://orders.example.com:443/webhooks/twilio/status";
    let delivered = [("MessageSid", "SM256"), ("MessageStatus", "delivered")];

    let refused = [
        // The right algorithm with the auth token, not the shared key.
        (
            sign_sha256(TOKEN, &status_url, &delivered),
            Some(SHARED_SETTINGS),
        ),
        // The legacy signature, while the call says it was signed with the shared key.
        (sign(&status_url, &delivered), Some(SHARED_SETTINGS)),
        // The shared key's signature without the header that names it.
        (sign_sha256(SHARED_KEY, &status_url, &delivered), None),
        // An algorithm nobody knows.
        (
            sign_sha256(SHARED_KEY, &status_url, &delivered),
            Some("key=webhooks_sharedkey_01,algorithm=HMAC_SHA512"),
        ),
        // Another URL.
        (
            sign_sha256(
                SHARED_KEY,
                "https://orders.example.com:8443/webhooks/twilio/status",
                &delivered,
            ),
            Some(SHARED_SETTINGS),
        ),
    ];
    for (signature, settings) in refused {
        let answer = callback_with_settings(&app, &delivered, &signature, settings).await;
        assert_problem(answer, 401).await;
    }
    assert_eq!(
        app.latest_text(text["order_id"].as_str().unwrap()).await["state"],
        "sent"
    );

    // Signed over the URL with its port written out: Twilio does that too.
    let signature = sign_sha256(SHARED_KEY, with_port, &delivered);
    let answer = callback_with_settings(&app, &delivered, &signature, Some(SHARED_SETTINGS)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        app.latest_text(text["order_id"].as_str().unwrap()).await["state"],
        "delivered"
    );
    // The legacy scheme still works beside it, with or without the port.
    let read = [("MessageSid", "SM256"), ("MessageStatus", "read")];
    for url in [status_url.as_str(), with_port] {
        let signature = sign(url, &read);
        let answer = callback_with_settings(&app, &read, &signature, None).await;
        assert_eq!(answer.status(), 200, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_key_signature_is_refused_while_no_webhook_key_is_set() {
    let server = twilio_accepting("SM257").await;
    let app = twilio_with_webhook_key(&server, None).await;
    let status_url = format!("{PUBLIC_URL}/webhooks/twilio/status");
    let delivered = [("MessageSid", "SM257"), ("MessageStatus", "delivered")];
    for key in [SHARED_KEY, TOKEN] {
        let signature = sign_sha256(key, &status_url, &delivered);
        let answer =
            callback_with_settings(&app, &delivered, &signature, Some(SHARED_SETTINGS)).await;
        assert_problem(answer, 401).await;
    }
}

/// Signs calls with Twilio's own Python `RequestValidator` (PyPI `twilio`): prints one
/// signature per call.
const TWILIO_SIGN: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator
args = json.loads(sys.argv[1])
for call in args["calls"]:
    validator = RequestValidator(call["key"])
    print(validator.compute_signature(call["url"], call["params"], call["algorithm"]))
"#;

/// Whether Twilio's library is there for the contract test (CI requires it).
fn twilio_sdk() -> bool {
    python_can_import("twilio.request_validator", "twilio", "REQUIRE_TWILIO_SDK")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_twilios_own_validator_signs_is_believed() {
    if !twilio_sdk() {
        return;
    }
    let server = twilio_accepting("SM258").await;
    let app = twilio_with_webhook_key(&server, Some(SHARED_KEY)).await;
    let status_url = format!("{PUBLIC_URL}/webhooks/twilio/status");
    let with_port = "https://orders.example.com:443/webhooks/twilio/status";
    let params = json!({"MessageSid": "SM404", "MessageStatus": "delivered", "ErrorCode": ""});
    let calls = json!([
        {"key": SHARED_KEY, "url": status_url, "params": params, "algorithm": "HMAC_SHA256"},
        {"key": SHARED_KEY, "url": with_port, "params": params, "algorithm": "HMAC_SHA256"},
        {"key": TOKEN, "url": status_url, "params": params, "algorithm": "HMAC_SHA1"},
        {"key": TOKEN, "url": with_port, "params": params, "algorithm": "HMAC_SHA1"},
    ]);
    let args = json!({"calls": calls});
    let signatures: Vec<String> = run_python(TWILIO_SIGN, args)
        .await
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(signatures.len(), 4);
    let fields = [
        ("MessageSid", "SM404"),
        ("MessageStatus", "delivered"),
        ("ErrorCode", ""),
    ];
    for (n, signature) in signatures.iter().enumerate() {
        let settings = (n < 2).then_some(SHARED_SETTINGS);
        let answer = callback_with_settings(&app, &fields, signature, settings).await;
        assert_eq!(answer.status(), 200, "call {n}");
    }
    // Each one with the other scheme's header is refused.
    for (n, signature) in signatures.iter().enumerate() {
        let settings = (n >= 2).then_some(SHARED_SETTINGS);
        let answer = callback_with_settings(&app, &fields, signature, settings).await;
        assert_problem(answer, 401).await;
    }
}
