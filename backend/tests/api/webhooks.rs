//! MessageBird's callbacks: status reports move texts to delivered or failed, replies
//! STOP and START opt customers out and in; only signed calls count, and only when
//! MessageBird sends the texts and its signing key is set (404 otherwise).

use std::time::{Duration, Instant};

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use wiremock::MockServer;

const PUBLIC_URL: &str = "https://orders.example.com";
const SIGNING_KEY: &str = "mb-signing-key";

async fn sent_text(app: &TestApp, name: &str) -> (String, Value) {
    let order = app.create_order(name).await;
    let id = order["id"].as_str().unwrap().to_owned();
    app.change_status(&id, "confirmed").await;
    let text = app.wait_for_text(&id, &["sent"]).await;
    (id, text)
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

macro_rules! mac {
    ($digest:ty, $key:expr, $data:expr) => {{
        let mut mac = Hmac::<$digest>::new_from_slice($key.as_bytes()).unwrap();
        mac.update($data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }};
}

/// A `MessageBird-Signature-JWT` for a call to `url` with `body`, signed with `alg`
/// (HS256, HS384 or HS512) as MessageBird does.
fn signature_with(alg: &str, key: &str, url: &str, body: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"iss": "MessageBird", "nbf": now, "exp": now + 60, "jti": "t", "url_hash": hex_sha256(url.as_bytes())});
    if !body.is_empty() {
        claims["payload_hash"] = json!(hex_sha256(body));
    }
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature = match alg {
        "HS384" => mac!(Sha384, key, signed),
        "HS512" => mac!(Sha512, key, signed),
        _ => mac!(Sha256, key, signed),
    };
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn signature(key: &str, url: &str, body: &[u8]) -> String {
    signature_with("HS256", key, url, body)
}

/// The app with MessageBird sending (to a stand-in that accepts every text), its
/// signing key set and the public URL its signatures cover.
async fn messagebird_app(kind: DbKind) -> Option<(TestApp, MockServer)> {
    let provider = messagebird_accepting_after(Duration::ZERO).await;
    let app = spawn_app_with(
        kind,
        &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "messagebird"),
            ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "test_access_key"),
            ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &provider.uri()),
            ("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", SIGNING_KEY),
            ("ORDER_NOTIFY_PUBLIC_URL", PUBLIC_URL),
        ],
    )
    .await?;
    Some((app, provider))
}

/// A callback to `path` with a JSON `body` (none when empty), signed for the public URL.
async fn signed_call(app: &TestApp, path: &str, body: &[u8]) -> reqwest::Response {
    let token = signature(SIGNING_KEY, &format!("{PUBLIC_URL}{path}"), body);
    let request = if body.is_empty() {
        app.client.get(app.url(path))
    } else {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec())
    };
    request
        .header("MessageBird-Signature-JWT", token)
        .send()
        .await
        .unwrap()
}

/// An inbound text from +31 6 1234 5678 saying `text`, signed.
async fn inbound(app: &TestApp, text: &str) -> reqwest::Response {
    let body = json!({"originator": "31612345678", "recipient": "NomNom", "body": text});
    signed_call(
        app,
        "/webhooks/messagebird/inbound",
        body.to_string().as_bytes(),
    )
    .await
}

both_databases! {
    async fn status_reports_mark_texts_delivered_or_failed(app) {
        let kind = app.kind;
        drop(app);
        let Some((app, _provider)) = messagebird_app(kind).await else { return };
        let (order_id, text) = sent_text(&app, "Ada").await;
        let reference = text["id"].as_str().unwrap();
        let query = format!("/webhooks/messagebird?id=mb-1&reference={reference}&recipient=31612345678&status=delivered&statusDatetime=2026-11-25T10:00:00%2B00:00");
        assert_eq!(signed_call(&app, &query, b"").await.status(), 200);
        let delivered = app.latest_text(&order_id).await;
        assert_eq!(delivered["state"], "delivered");
        assert_eq!(delivered["delivered_at"], "2026-11-25T10:00:00Z");

        let (order_id, text) = sent_text(&app, "Grace").await;
        let form = format!("id=mb-2&reference={}&status=delivery_failed&statusReason=unknown%20subscriber&statusErrorCode=1", text["id"].as_str().unwrap());
        let response = app.client.post(app.url("/webhooks/messagebird"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("MessageBird-Signature-JWT", signature(SIGNING_KEY, &format!("{PUBLIC_URL}/webhooks/messagebird"), form.as_bytes()))
            .body(form).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let failed = app.latest_text(&order_id).await;
        assert_eq!(failed["state"], "failed");
        assert_eq!(failed["last_error"], "MessageBird reported delivery_failed: unknown subscriber (error code 1)");

        // Unknown texts are acknowledged, and a report never moves a text backwards.
        let before = app.snapshot().await;
        assert_eq!(signed_call(&app, "/webhooks/messagebird?id=nope&reference=nope&status=delivered", b"").await.status(), 200);
        let late = format!("/webhooks/messagebird?reference={}&status=delivered", text["id"].as_str().unwrap());
        assert_eq!(signed_call(&app, &late, b"").await.status(), 200);
        assert_eq!(app.latest_text(&order_id).await["state"], "failed");
        let interim = format!("/webhooks/messagebird?reference={reference}&status=buffered");
        assert_eq!(signed_call(&app, &interim, b"").await.status(), 200);
        assert_eq!(app.snapshot().await, before);
        assert_problem(signed_call(&app, "/webhooks/messagebird?id=1", b"").await, 400).await;
    }

    async fn stop_silences_a_customer_until_start(app) {
        let kind = app.kind;
        drop(app);
        let Some((app, provider)) = messagebird_app(kind).await else { return };
        assert_eq!(inbound(&app, "Stop").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"][0]["source"], "messagebird");
        let order = app.create_order("Barbara").await;
        let id = order["id"].as_str().unwrap();
        let changed: Value = app.change_status(id, "confirmed").await.json().await.unwrap();
        assert_eq!(changed["notification"]["state"], "cancelled");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(provider.received_requests().await.unwrap().len(), 0, "nothing went to the provider");

        assert_eq!(inbound(&app, "where is my food?").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"].as_array().unwrap().len(), 1);
        assert_eq!(inbound(&app, "START").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));
        // Who lifted it is kept.
        let lifted = app.get_json("/audit?action=opt_out.lifted", &app.admin_key).await;
        assert_eq!(lifted["items"].as_array().unwrap().len(), 1, "{lifted}");
        assert_eq!(lifted["items"][0]["actor"], "customer (START via messagebird)");
        assert_eq!(lifted["items"][0]["subject"], "+31612345678");
        assert!(lifted["items"][0]["key_id"].is_null());
        app.change_status(id, "delayed").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while provider.received_requests().await.unwrap().is_empty() {
            assert!(Instant::now() < deadline, "no text after START");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn callbacks_for_a_provider_that_does_not_send_are_404_and_change_nothing(app) {
        // The default sandbox sends: nobody may report on its texts or opt numbers out
        // through MessageBird's or Twilio's routes, signed or not.
        let (order_id, text) = sent_text(&app, "Ada").await;
        let before = app.snapshot().await;
        let reference = text["id"].as_str().unwrap();
        let forged = [
            app.client.get(app.url(&format!("/webhooks/messagebird?reference={reference}&status=delivery_failed"))),
            app.client.post(app.url("/webhooks/messagebird")).form(&[("reference", reference), ("status", "delivery_failed")]),
            app.client.post(app.url("/webhooks/messagebird/inbound")).form(&[("originator", "31612345678"), ("body", "STOP")]),
            app.client.post(app.url("/webhooks/messagebird/inbound"))
                .header("MessageBird-Signature-JWT", signature(SIGNING_KEY, &format!("{PUBLIC_URL}/webhooks/messagebird/inbound"), b""))
                .form(&[("originator", "31612345678"), ("body", "START")]),
            app.client.post(app.url("/webhooks/twilio/inbound")).header("X-Twilio-Signature", "x").form(&[("From", "+31612345678"), ("Body", "STOP")]),
            app.client.post(app.url("/webhooks/twilio/status")).header("X-Twilio-Signature", "x").form(&[("MessageSid", "SM1"), ("MessageStatus", "failed")]),
        ];
        for request in forged {
            let problem = assert_problem(request.send().await.unwrap(), 404).await;
            assert!(problem["detail"].as_str().unwrap().contains("not the SMS provider"), "{problem}");
        }
        assert_eq!(app.snapshot().await, before);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));
        assert_eq!(app.latest_text(&order_id).await["state"], "sent");

        // MessageBird's signing key set while the sandbox sends: even a correctly
        // signed call is not answered.
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[
            ("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", SIGNING_KEY),
            ("ORDER_NOTIFY_PUBLIC_URL", PUBLIC_URL),
        ]).await.unwrap();
        let problem = assert_problem(inbound(&app, "STOP").await, 404).await;
        assert!(problem["detail"].as_str().unwrap().contains("not the SMS provider"), "{problem}");
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));

        // MessageBird sending without a signing key: its callbacks are 404 as well.
        drop(app);
        let provider = messagebird_accepting_after(Duration::ZERO).await;
        let app = spawn_app_with(kind, &[
            ("ORDER_NOTIFY_SMS_PROVIDER", "messagebird"),
            ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "test_access_key"),
            ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &provider.uri()),
        ]).await.unwrap();
        let stop = app.client.post(app.url("/webhooks/messagebird/inbound"))
            .form(&[("originator", "31612345678"), ("body", "STOP")]).send().await.unwrap();
        let problem = assert_problem(stop, 404).await;
        assert!(problem["detail"].as_str().unwrap().contains("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY"), "{problem}");
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs384_and_hs512_signatures_are_accepted() {
    let (app, _provider) = messagebird_app(DbKind::Sqlite).await.unwrap();
    let path = "/webhooks/messagebird/inbound";
    for (alg, text) in [("HS384", "STOP"), ("HS512", "START")] {
        let body = json!({"originator": "31612345678", "body": text}).to_string();
        let wrong = signature_with(
            alg,
            "not-the-key",
            &format!("{PUBLIC_URL}{path}"),
            body.as_bytes(),
        );
        let refused = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("MessageBird-Signature-JWT", wrong)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_problem(refused, 401).await;
        let right = signature_with(
            alg,
            SIGNING_KEY,
            &format!("{PUBLIC_URL}{path}"),
            body.as_bytes(),
        );
        let accepted = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("MessageBird-Signature-JWT", right)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 200, "{alg}");
        let opted_out = app.get_json("/opt-outs", &app.admin_key).await["items"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(opted_out, usize::from(text == "STOP"), "{alg} {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_url_comes_from_the_public_url_never_from_the_callers_headers() {
    let (app, _provider) = messagebird_app(DbKind::Sqlite).await.unwrap();
    let path = "/webhooks/messagebird/inbound";
    let body = json!({"originator": "31612345678", "body": "STOP"}).to_string();
    // Signed for the address the caller claims, with Host and X-Forwarded-* to match.
    let claimed = signature(
        SIGNING_KEY,
        &format!("http://evil.example{path}"),
        body.as_bytes(),
    );
    let refused = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("MessageBird-Signature-JWT", claimed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401).await;
    assert_eq!(
        app.get_json("/opt-outs", &app.admin_key).await["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_callbacks_count() {
    let (app, _provider) = messagebird_app(DbKind::Sqlite).await.unwrap();
    let (order_id, text) = sent_text(&app, "Ada").await;
    let path = format!(
        "/webhooks/messagebird?reference={}&status=delivered",
        text["id"].as_str().unwrap()
    );
    let before = app.snapshot().await;

    let unsigned = app.client.get(app.url(&path)).send().await.unwrap();
    assert_problem(unsigned, 401).await;
    let wrong_key = app
        .client
        .get(app.url(&path))
        .header(
            "MessageBird-Signature-JWT",
            signature("not-the-key", &format!("{PUBLIC_URL}{path}"), b""),
        )
        .send()
        .await
        .unwrap();
    assert_problem(wrong_key, 401).await;
    let other_url = app
        .client
        .get(app.url(&path))
        .header(
            "MessageBird-Signature-JWT",
            signature(
                SIGNING_KEY,
                &format!("{PUBLIC_URL}/webhooks/messagebird?status=delivered"),
                b"",
            ),
        )
        .send()
        .await
        .unwrap();
    assert_problem(other_url, 401).await;
    let stop = br#"{"originator":"31612345678","body":"STOP"}"#;
    let body_swapped = app
        .client
        .post(app.url("/webhooks/messagebird/inbound"))
        .header("content-type", "application/json")
        .header(
            "MessageBird-Signature-JWT",
            signature(
                SIGNING_KEY,
                &format!("{PUBLIC_URL}/webhooks/messagebird/inbound"),
                b"{}",
            ),
        )
        .body(stop.to_vec())
        .send()
        .await
        .unwrap();
    assert_problem(body_swapped, 401).await;
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.latest_text(&order_id).await["state"], "sent");

    let signed = app
        .client
        .get(app.url(&path))
        .header(
            "MessageBird-Signature-JWT",
            signature(SIGNING_KEY, &format!("{PUBLIC_URL}{path}"), b""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    assert_eq!(app.latest_text(&order_id).await["state"], "delivered");
    let signed_stop = app
        .client
        .post(app.url("/webhooks/messagebird/inbound"))
        .header("content-type", "application/json")
        .header(
            "MessageBird-Signature-JWT",
            signature(
                SIGNING_KEY,
                &format!("{PUBLIC_URL}/webhooks/messagebird/inbound"),
                stop,
            ),
        )
        .body(stop.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_stop.status(), 200);
    assert_eq!(
        app.get_json("/opt-outs", &app.admin_key).await["items"][0]["phone"],
        "+31612345678"
    );
}
