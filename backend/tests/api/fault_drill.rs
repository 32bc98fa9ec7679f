//! Fault drill: a provider that fails one attempt in five, in the ways real ones do: a
//! 500, a 429 with `Retry-After`, a 10 s stall (past the client's timeout), a connection
//! dropped without an answer. Every text must end `sent` or `failed` within the retry
//! budget, nothing may be attempted before a `Retry-After` has passed, and a refusal
//! (a 4xx the provider means) gets exactly one attempt.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use order_notify::store::entities::notifications;
use rand::Rng;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{
    KillOnDrop, create_order_at, free_local_address, order_notify_command, wait_until_ready,
};

const ADMIN: &str = "fault-drill-admin-key-0123456789";
/// The provider refuses this number for good (as MessageBird does an invalid one).
const REFUSED: &str = "+31612340000";
const MAX_ATTEMPTS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Accepted,
    ServerError,
    TooMany,
    Stalled,
    Dropped,
    Refused,
}

#[derive(Clone, Debug)]
struct Attempt {
    reference: String,
    at: Instant,
    answer: Answer,
}

type Log = Arc<Mutex<Vec<Attempt>>>;

/// Reads one HTTP/1.1 request (headers, then a Content-Length body).
async fn read_request(stream: &mut TcpStream) -> Option<Value> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    serde_json::from_slice(&buffer[header_end..header_end + length]).ok()
}

async fn reply(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn serve_one(mut stream: TcpStream, log: Log) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let reference = request["reference"].as_str().unwrap_or("").to_owned();
    let recipient = request["recipients"][0].as_str().unwrap_or("").to_owned();
    let answer = {
        // Chosen and logged under one lock, so the first four answers that are not a
        // refusal are one fault of each kind (every kind is then surely met; by chance
        // alone one went missing about one run in 60) and the rest are drawn at random.
        let mut log = log.lock().unwrap();
        let answer = if format!("+{recipient}") == REFUSED {
            Answer::Refused
        } else {
            let drawn = log.iter().filter(|a| a.answer != Answer::Refused).count();
            match (drawn, rand::rng().random_range(0..100)) {
                (0, _) | (_, 0..5) => Answer::ServerError,
                (1, _) | (_, 5..10) => Answer::TooMany,
                (2, _) | (_, 10..15) => Answer::Stalled,
                (3, _) | (_, 15..20) => Answer::Dropped,
                _ => Answer::Accepted,
            }
        };
        log.push(Attempt {
            reference: reference.clone(),
            at: Instant::now(),
            answer,
        });
        answer
    };
    match answer {
        Answer::Accepted => {
            let body = json!({"id": format!("mb-{reference}"), "recipients": {"totalCount": 1}});
            reply(&mut stream, "201 Created", "", &body.to_string()).await;
        }
        Answer::ServerError => {
            reply(
                &mut stream,
                "500 Internal Server Error",
                "",
                r#"{"errors":[{"code":99,"description":"internal error"}]}"#,
            )
            .await;
        }
        Answer::TooMany => {
            reply(
                &mut stream,
                "429 Too Many Requests",
                "Retry-After: 1\r\n",
                r#"{"errors":[{"code":429,"description":"slow down"}]}"#,
            )
            .await;
        }
        Answer::Stalled => {
            // Longer than the worker's 10 s timeout; then the connection just closes.
            tokio::time::sleep(Duration::from_secs(11)).await;
        }
        Answer::Dropped => drop(stream),
        Answer::Refused => {
            reply(&mut stream, "422 Unprocessable Entity", "", r#"{"errors":[{"code":21,"description":"no (correct) recipients found","parameter":"recipients"}]}"#).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_ends_sent_or_failed_within_its_budget_and_retry_after_is_honoured() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let accepting = {
        let log = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, log.clone()));
            }
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let bind = free_local_address();
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    let server = KillOnDrop(
        order_notify_command(dir.path())
            .arg("serve")
            .env("ORDER_NOTIFY_BIND", &bind)
            .env("ORDER_NOTIFY_ADMIN_KEY", ADMIN)
            .env("ORDER_NOTIFY_RATE_LIMIT", "0")
            .env("ORDER_NOTIFY_SMS_PROVIDER", "messagebird")
            .env("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "drill")
            .env("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", "drill")
            .env("ORDER_NOTIFY_PUBLIC_URL", &base)
            .env("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", &provider)
            .env("ORDER_NOTIFY_RETRY_MAX_ATTEMPTS", MAX_ATTEMPTS.to_string())
            .env("ORDER_NOTIFY_RETRY_BASE_MS", "200")
            .env("ORDER_NOTIFY_SEND_CONCURRENCY", "16")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_ready(&client, &base).await;

    let mut refused_texts = Vec::new();
    for i in 0..100 {
        let phone = if i % 10 == 0 { REFUSED } else { "+31612345678" };
        let created =
            create_order_at(&client, &base, ADMIN, &format!("Fault {i}"), phone, true).await;
        let text = created["last_notification"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if phone == REFUSED {
            refused_texts.push(text);
        }
    }

    let db_url = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("order-notify.db").display()
    );
    let db = order_notify::store::connect(&db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let texts = loop {
        let texts = notifications::Entity::find().all(&db).await.unwrap();
        if texts
            .iter()
            .all(|t| t.state == "sent" || t.state == "failed")
        {
            break texts;
        }
        assert!(
            Instant::now() < deadline,
            "texts still waiting: {:?}",
            texts
                .iter()
                .filter(|t| t.state != "sent" && t.state != "failed")
                .map(|t| (&t.state, t.attempts))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    db.close().await.unwrap();
    drop(server);
    accepting.abort();

    let log = log.lock().unwrap().clone();
    let mut by_text: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for attempt in &log {
        by_text
            .entry(attempt.reference.as_str())
            .or_default()
            .push(attempt);
    }
    let mut faults: HashMap<String, usize> = HashMap::new();
    for attempt in &log {
        *faults.entry(format!("{:?}", attempt.answer)).or_default() += 1;
    }
    println!(
        "fault drill: {} texts, {} attempts: {faults:?}",
        texts.len(),
        log.len()
    );
    assert_eq!(texts.len(), 100);
    for text in &texts {
        let id = text.id.to_string();
        let attempts = by_text.get(id.as_str()).cloned().unwrap_or_default();
        // The database counts every attempt the provider saw, and no more.
        assert_eq!(text.attempts as usize, attempts.len(), "{text:?}");
        assert!(attempts.len() <= MAX_ATTEMPTS, "{text:?}");
        if refused_texts.contains(&id) {
            assert_eq!(text.state, "failed", "{text:?}");
            assert_eq!(attempts.len(), 1, "a refusal is not retried: {text:?}");
            assert!(
                text.last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("recipients"),
                "{text:?}"
            );
            continue;
        }
        let accepted = attempts
            .iter()
            .filter(|a| a.answer == Answer::Accepted)
            .count();
        match text.state.as_str() {
            "sent" => assert_eq!(accepted, 1, "sent once: {text:?}"),
            _ => assert_eq!(
                (accepted, attempts.len()),
                (0, MAX_ATTEMPTS),
                "failed only when the budget ran out: {text:?}"
            ),
        }
        for pair in attempts.windows(2) {
            if pair[0].answer == Answer::TooMany {
                let waited = pair[1].at - pair[0].at;
                assert!(
                    waited >= Duration::from_secs(1),
                    "retried {waited:?} after a 429 with Retry-After: 1"
                );
            }
        }
    }
    for answer in [
        Answer::ServerError,
        Answer::TooMany,
        Answer::Stalled,
        Answer::Dropped,
    ] {
        assert!(
            log.iter().any(|a| a.answer == answer),
            "the drill never injected {answer:?}"
        );
    }
}
