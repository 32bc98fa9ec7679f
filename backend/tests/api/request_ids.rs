//! Request ids: kept or made, echoed, in problem bodies, and on the request's log lines.

use crate::helpers::*;
use serde_json::{Value, json};

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_callers_id_is_echoed_and_one_is_made_otherwise() {
    let app = spawn_app(DbKind::Sqlite).await.unwrap();
    let kept = app
        .get("/orders", &app.admin_key)
        .header("x-request-id", "till-7:order.42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
    assert_eq!(request_id(&kept), "till-7:order.42");

    let first = app.client.get(app.url("/healthz")).send().await.unwrap();
    let second = app.client.get(app.url("/healthz")).send().await.unwrap();
    let (first, second) = (request_id(&first), request_id(&second));
    assert_eq!(first.len(), 32, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_ne!(first, second);

    // An id that could break a log line is replaced, not trusted.
    let odd = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a b\tc")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&odd).len(), 32);
}

#[tokio::test]
async fn problems_name_the_request_they_answer() {
    let app = spawn_app(DbKind::Sqlite).await.unwrap();
    // From a handler.
    let missing = app
        .get(&format!("/orders/{}", uuid::Uuid::new_v4()), &app.admin_key)
        .header("x-request-id", "lost-order-1")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&missing), "lost-order-1");
    assert_eq!(
        assert_problem(missing, 404).await["request_id"],
        "lost-order-1"
    );
    // From the key check, before any handler runs.
    let anonymous = app.client.get(app.url("/orders")).send().await.unwrap();
    let id = request_id(&anonymous);
    assert_eq!(assert_problem(anonymous, 401).await["request_id"], id);
    // A validation failure, with a made-up id.
    let invalid = app
        .post("/orders", &app.admin_key, &json!({"customer_name": ""}))
        .send()
        .await
        .unwrap();
    let id = request_id(&invalid);
    let problem: Value = assert_problem(invalid, 422).await;
    assert_eq!(problem["request_id"], id);
}

#[test]
fn log_lines_of_a_request_carry_its_id_and_never_a_secret() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let admin = "request-id-test-admin-key-0123456789";
    let bind = free_local_address();
    let mut server = order_notify_command(dir.path())
        .env("ORDER_NOTIFY_BIND", &bind)
        .env("ORDER_NOTIFY_ADMIN_KEY", admin)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secret = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let created = client
                .post(format!("http://{bind}/keys"))
                .bearer_auth(admin)
                .header("x-request-id", "trace-key-create-1")
                .json(&json!({"name": "till", "role": "staff"}))
                .send()
                .await;
            if let Ok(response) = created {
                assert_eq!(response.status(), 201);
                let key: Value = response.json().await.unwrap();
                return key["key"].as_str().unwrap().to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server never started"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();

    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("trace-key-create-1"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("created by key")),
        "the handler's own line lacks the id:\n{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"POST /keys HTTP/1.1\" 201")),
        "the access log line lacks the id:\n{log}"
    );
    assert!(!log.contains(&secret), "a new key's secret was logged");
    assert!(!log.contains(admin), "the admin key was logged");
}
