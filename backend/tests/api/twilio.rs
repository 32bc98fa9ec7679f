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

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";
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
fn sign(url: &str, fields: &[(&str, &str)]) -> String {
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
