//! The physical limit the benchmark compares the service against: one connection doing,
//! in a tight loop and with nothing else around it, exactly the database work a request
//! does. Used by `bench/run`; prints one line of JSON.
//!
//!     cargo run --release --example raw_limit -- <database-url> <scenario> <seconds> \
//!         [full|normal] [sqlx|rusqlite] [writes-per-commit]
//!
//! Scenarios: `status-change` (update the order, append its event, queue its text: one
//! transaction, with the real schema's triggers), `notify` (queue a text), `get` (one
//! order by id), `list` (the newest 50 orders).
//!
//! The driver is sqlx (what the service runs on today) or, for SQLite, rusqlite: SQLite
//! called directly on this thread, with cached prepared statements and no hand-off to a
//! connection thread, which is the database's own limit. With rusqlite, a write
//! scenario can put several writes in one commit, each in its savepoint, as the
//! service's group commit does (`writes-per-commit`, default 1).

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
    let driver = rest.get(1).map(String::as_str).unwrap_or("sqlx");
    let per_commit: usize = rest.get(2).map_or(Ok(1), |n| n.parse())?;

    // The service's own schema (tables, indexes, triggers); plain SQL from here on.
    let db = store::connect(url).await?;
    store::migrate(&db).await?;
    db.close().await?;

    let done = if driver == "rusqlite" {
        let path = url
            .strip_prefix("sqlite://")
            .and_then(|rest| rest.split('?').next())
            .ok_or_else(|| anyhow::anyhow!("rusqlite needs a sqlite:// URL"))?;
        direct::drive(path, scenario, run, synchronous, per_commit.max(1))?
    } else if url.starts_with("sqlite:") {
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
        "{{\"scenario\":\"{scenario}\",\"synchronous\":\"{synchronous}\",\"driver\":\"{driver}\",\"per_commit\":{per_commit},\"per_second\":{:.0}}}",
        done as f64 / seconds
    );
    Ok(())
}

/// SQLite through rusqlite: the same statements, on this thread.
mod direct {
    use std::time::{Duration, Instant};

    use chrono::Utc;
    use rusqlite::types::Value;
    use rusqlite::{Connection, TransactionBehavior, params};
    use uuid::Uuid;

    use super::{
        GET_ORDER, INSERT_EVENT, INSERT_ORDER, INSERT_TEXT, LIST_ORDERS, ORDERS, UPDATE_ORDER,
    };

    /// sqlx's `$n` placeholders as SQLite's own `?n`.
    fn sql(statement: &str) -> String {
        statement.replace('$', "?")
    }

    /// Reads every column of every row, as a caller turning rows into values would.
    fn read_all(rows: &mut rusqlite::Rows<'_>) -> rusqlite::Result<usize> {
        let mut values = 0;
        while let Some(row) = rows.next()? {
            for i in 0..row.as_ref().column_count() {
                let _: Value = row.get(i)?;
                values += 1;
            }
        }
        Ok(values)
    }

    pub fn drive(
        path: &str,
        scenario: &str,
        run: Duration,
        synchronous: &str,
        per_commit: usize,
    ) -> anyhow::Result<usize> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            if synchronous == "normal" {
                "NORMAL"
            } else {
                "FULL"
            },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(32);
        let now = Utc::now().to_rfc3339();
        let mut ids = Vec::with_capacity(ORDERS);
        {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(&sql(INSERT_ORDER))?;
                for _ in 0..ORDERS {
                    let id = Uuid::now_v7();
                    insert.execute(params![id.as_bytes(), now, now])?;
                    ids.push(id);
                }
            }
            tx.commit()?;
        }
        let mut delayed = vec![false; ids.len()];
        let started = Instant::now();
        let mut done = 0usize;
        while started.elapsed() < run {
            let now = Utc::now().to_rfc3339();
            match scenario {
                "status-change" | "notify" => {
                    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    for _ in 0..per_commit {
                        let i = done % ids.len();
                        let id = ids[i].as_bytes().to_vec();
                        // Each write in its savepoint, as the group commit runs them.
                        let sp = tx.savepoint()?;
                        if scenario == "status-change" {
                            let (from, to) = if delayed[i] {
                                ("delayed", "confirmed")
                            } else {
                                ("confirmed", "delayed")
                            };
                            delayed[i] = !delayed[i];
                            sp.prepare_cached(&sql(UPDATE_ORDER))?
                                .execute(params![to, now, id])?;
                            sp.prepare_cached(&sql(INSERT_EVENT))?
                                .execute(params![id, from, to, now])?;
                            sp.prepare_cached(&sql(INSERT_TEXT))?.execute(params![
                                Uuid::now_v7().as_bytes(),
                                id,
                                to,
                                now,
                                now,
                                now
                            ])?;
                        } else {
                            sp.prepare_cached(&sql(INSERT_TEXT))?.execute(params![
                                Uuid::now_v7().as_bytes(),
                                id,
                                "confirmed",
                                now,
                                now,
                                now
                            ])?;
                        }
                        sp.commit()?;
                        done += 1;
                    }
                    tx.commit()?;
                }
                "get" => {
                    let id = ids[done % ids.len()].as_bytes().to_vec();
                    let mut get = conn.prepare_cached(&sql(GET_ORDER))?;
                    let mut rows = get.query(params![id])?;
                    anyhow::ensure!(read_all(&mut rows)? > 0, "the order is not there");
                    done += 1;
                }
                "list" => {
                    let mut list = conn.prepare_cached(LIST_ORDERS)?;
                    let mut rows = list.query([])?;
                    read_all(&mut rows)?;
                    done += 1;
                }
                other => anyhow::bail!("unknown scenario {other:?}"),
            }
        }
        Ok(done)
    }
}
