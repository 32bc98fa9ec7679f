//! MessageBird's callbacks: status reports move texts to delivered or failed, replies
//! STOP and START opt customers out and in, and with a signing key nothing unsigned
//! gets through.

use std::time::{Duration, Instant};

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use order_notify::store::entities::sandbox_messages;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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

/// A `MessageBird-Signature-JWT` for a call to `url` with `body`.
fn signature(key: &str, url: &str, body: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"iss": "MessageBird", "nbf": now, "exp": now + 60, "jti": "t", "url_hash": hex_sha256(url.as_bytes())});
    if !body.is_empty() {
        claims["payload_hash"] = json!(hex_sha256(body));
    }
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    format!(
        "{header}.{claims}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

both_databases! {
    async fn status_reports_mark_texts_delivered_or_failed(app) {
        let (order_id, text) = sent_text(&app, "Ada").await;
        let reference = text["id"].as_str().unwrap();
        let query = format!("/webhooks/messagebird?id=mb-1&reference={reference}&recipient=31612345678&status=delivered&statusDatetime=2026-11-25T10:00:00%2B00:00");
        let response = app.client.get(app.url(&query)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let delivered = app.latest_text(&order_id).await;
        assert_eq!(delivered["state"], "delivered");
        assert_eq!(delivered["delivered_at"], "2026-11-25T10:00:00Z");

        let (order_id, text) = sent_text(&app, "Grace").await;
        let form = format!("id=mb-2&reference={}&status=delivery_failed&statusReason=unknown%20subscriber&statusErrorCode=1", text["id"].as_str().unwrap());
        let response = app.client.post(app.url("/webhooks/messagebird"))
            .header("content-type", "application/x-www-form-urlencoded").body(form).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let failed = app.latest_text(&order_id).await;
        assert_eq!(failed["state"], "failed");
        assert_eq!(failed["last_error"], "MessageBird reported delivery_failed: unknown subscriber (error code 1)");

        // Unknown texts are acknowledged, and a report never moves a text backwards.
        let before = app.snapshot().await;
        let unknown = app.client.get(app.url("/webhooks/messagebird?id=nope&reference=nope&status=delivered")).send().await.unwrap();
        assert_eq!(unknown.status(), 200);
        let late = format!("/webhooks/messagebird?reference={}&status=delivered", text["id"].as_str().unwrap());
        assert_eq!(app.client.get(app.url(&late)).send().await.unwrap().status(), 200);
        assert_eq!(app.latest_text(&order_id).await["state"], "failed");
        let interim = format!("/webhooks/messagebird?reference={reference}&status=buffered");
        assert_eq!(app.client.get(app.url(&interim)).send().await.unwrap().status(), 200);
        assert_eq!(app.snapshot().await, before);
        assert_problem(app.client.get(app.url("/webhooks/messagebird?id=1")).send().await.unwrap(), 400).await;
    }

    async fn stop_silences_a_customer_until_start(app) {
        let inbound = |text: &'static str| {
            let app = &app;
            async move {
                app.client.post(app.url("/webhooks/messagebird/inbound"))
                    .json(&json!({"originator": "31612345678", "recipient": "NomNom", "body": text}))
                    .send().await.unwrap()
            }
        };
        assert_eq!(inbound("Stop").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"][0]["source"], "messagebird");
        let order = app.create_order("Barbara").await;
        let id = order["id"].as_str().unwrap();
        let changed: Value = app.change_status(id, "confirmed").await.json().await.unwrap();
        assert_eq!(changed["notification"]["state"], "cancelled");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sandbox_messages::Entity::find().count(&app.db).await.unwrap(), 0, "nothing went to the provider");

        assert_eq!(inbound("where is my food?").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"].as_array().unwrap().len(), 1);
        assert_eq!(inbound("START").await.status(), 200);
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));
        app.change_status(id, "delayed").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while sandbox_messages::Entity::find().count(&app.db).await.unwrap() == 0 {
            assert!(Instant::now() < deadline, "no text after START");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_signing_key_only_signed_callbacks_count() {
    let app = spawn_app_with(
        DbKind::Sqlite,
        &[
            ("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", SIGNING_KEY),
            ("ORDER_NOTIFY_PUBLIC_URL", PUBLIC_URL),
        ],
    )
    .await
    .unwrap();
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
