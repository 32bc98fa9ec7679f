//! A stand-in for MessageBird's `POST /messages` for benchmarks and drills: answers
//! after a fixed latency, and counts what it was sent, by reference, so a run can tell
//! lost, duplicated and unexpected texts apart.
//!
//!     cargo run --release --example stub_provider -- <port> <latency-ms>
//!
//! `GET /stats` answers `{"requests", "distinct", "duplicates", "first_at", "last_at"}`
//! (times in Unix milliseconds); `GET /references` lists every reference received.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Default)]
struct Seen {
    requests: u64,
    by_reference: HashMap<String, u32>,
    first_at: Option<u128>,
    last_at: Option<u128>,
}

struct Stub {
    latency: Duration,
    seen: Mutex<Seen>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

async fn send(stub: web::Data<Stub>, body: web::Json<Value>) -> HttpResponse {
    tokio::time::sleep(stub.latency).await;
    let reference = body["reference"].as_str().unwrap_or("").to_owned();
    let count = {
        let mut seen = stub.seen.lock().unwrap_or_else(|e| e.into_inner());
        let at = now_ms();
        seen.requests += 1;
        seen.first_at.get_or_insert(at);
        seen.last_at = Some(at);
        let count = seen.by_reference.entry(reference.clone()).or_default();
        *count += 1;
        *count
    };
    HttpResponse::Created().json(json!({
        "id": format!("stub-{reference}-{count}"),
        "recipients": {"totalCount": 1, "totalSentCount": 1},
    }))
}

async fn stats(stub: web::Data<Stub>) -> HttpResponse {
    let seen = stub.seen.lock().unwrap_or_else(|e| e.into_inner());
    let duplicates: u64 = seen
        .by_reference
        .values()
        .map(|n| u64::from(n.saturating_sub(1)))
        .sum();
    HttpResponse::Ok().json(json!({
        "requests": seen.requests,
        "distinct": seen.by_reference.len(),
        "duplicates": duplicates,
        "first_at": seen.first_at,
        "last_at": seen.last_at,
    }))
}

async fn references(stub: web::Data<Stub>) -> HttpResponse {
    let seen = stub.seen.lock().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(seen.by_reference.keys().collect::<Vec<_>>())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args.first().and_then(|p| p.parse().ok()).unwrap_or(9900);
    let latency_ms: u64 = args.get(1).and_then(|l| l.parse().ok()).unwrap_or(50);
    let stub = web::Data::new(Stub {
        latency: Duration::from_millis(latency_ms),
        seen: Mutex::new(Seen::default()),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(stub.clone())
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .route("/messages", web::post().to(send))
            .route("/stats", web::get().to(stats))
            .route("/references", web::get().to(references))
    })
    .backlog(4096)
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
