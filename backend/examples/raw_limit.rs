//! The physical limit the benchmark compares the service against: one connection doing,
//! in a tight loop and with nothing else around it, exactly the database work a request
//! does. Used by `bench/run`; prints one line of JSON.
//!
//!     cargo run --release --example raw_limit -- <database-url> <scenario> <seconds> [full|normal]
//!
//! Scenarios: `status-change` (update the order, append its event, queue its text: one
//! transaction, with the real schema's triggers), `notify` (queue a text), `get` (one
//! order by id), `list` (the newest 50 orders).

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::Utc;
use order_notify::store;
use sea_orm::sqlx::{self, Connection};
use uuid::Uuid;

const ORDERS: usize = 10_000;

const INSERT_ORDER: &str = "INSERT INTO orders (id, customer_name, phone, items, status, version, created_at, updated_at) \
     VALUES ($1, 'Bench Customer', '+31612345678', '[{\"name\":\"Soup\",\"quantity\":1}]', 'confirmed', 1, $2, $3)";
const UPDATE_ORDER: &str =
    "UPDATE orders SET status = $1, version = version + 1, updated_at = $2 WHERE id = $3";
const INSERT_EVENT: &str = "INSERT INTO order_events (order_id, from_status, to_status, actor, at) \
     VALUES ($1, $2, $3, 'bench', $4)";
const INSERT_TEXT: &str = "INSERT INTO notifications (id, order_id, order_status, recipient, body, encoding, segments, \
     state, attempts, provider, due_at, created_at, updated_at) \
     VALUES ($1, $2, $3, '+31612345678', 'Sorry Bench, order #abcdef needs a little longer than we planned.', \
     'GSM-7', 1, 'queued', 0, 'sandbox', $4, $5, $6)";
const GET_ORDER: &str = "SELECT * FROM orders WHERE id = $1";
const LIST_ORDERS: &str = "SELECT * FROM orders ORDER BY seq DESC LIMIT 50";

/// Seeds the orders, then runs `scenario` for `run`; returns how many were done.
macro_rules! drive {
    ($conn:expr, $scenario:expr, $run:expr) => {{
        let conn = $conn;
        let now = Utc::now();
        let mut ids = Vec::with_capacity(ORDERS);
        let mut tx = conn.begin().await?;
        for _ in 0..ORDERS {
            let id = Uuid::now_v7();
            sqlx::query(INSERT_ORDER)
                .bind(id)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        tx.commit().await?;
        let mut delayed = vec![false; ids.len()];
        let started = Instant::now();
        let mut done = 0usize;
        while started.elapsed() < $run {
            let i = done % ids.len();
            let id = ids[i];
            let now = Utc::now();
            match $scenario {
                "status-change" => {
                    let (from, to) = if delayed[i] {
                        ("delayed", "confirmed")
                    } else {
                        ("confirmed", "delayed")
                    };
                    delayed[i] = !delayed[i];
                    let mut tx = conn.begin().await?;
                    sqlx::query(UPDATE_ORDER)
                        .bind(to)
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(INSERT_EVENT)
                        .bind(id)
                        .bind(from)
                        .bind(to)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(INSERT_TEXT)
                        .bind(Uuid::now_v7())
                        .bind(id)
                        .bind(to)
                        .bind(now)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                "notify" => {
                    sqlx::query(INSERT_TEXT)
                        .bind(Uuid::now_v7())
                        .bind(id)
                        .bind("confirmed")
                        .bind(now)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                }
                "get" => {
                    sqlx::query(GET_ORDER)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                }
                "list" => {
                    sqlx::query(LIST_ORDERS).fetch_all(&mut *conn).await?;
                }
                other => anyhow::bail!("unknown scenario {other:?}"),
            }
            done += 1;
        }
        done
    }};
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, scenario, seconds, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: raw_limit <database-url> <scenario> <seconds> [full|normal]");
    };
    let seconds: f64 = seconds.parse()?;
    let run = Duration::from_secs_f64(seconds);
    let synchronous = rest.first().map(String::as_str).unwrap_or("full");

    // The service's own schema (tables, indexes, triggers); plain SQL from here on.
    let db = store::connect(url).await?;
    store::migrate(&db).await?;
    db.close().await?;

    let done = if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                "normal" => sqlx::sqlite::SqliteSynchronous::Normal,
                _ => sqlx::sqlite::SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        drive!(&mut conn, scenario.as_str(), run)
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        drive!(&mut conn, scenario.as_str(), run)
    };
    println!(
        "{{\"scenario\":\"{scenario}\",\"synchronous\":\"{synchronous}\",\"per_second\":{:.0}}}",
        done as f64 / seconds
    );
    Ok(())
}
