//! The SQLite engine's connections reached directly, for the store's hot statements:
//! the few queries every status change, "Notify customer", order and page of orders
//! runs. On SQLite they are written as plain SQL beside the sea-orm queries they mirror
//! (`store::orders`, `store::notifications`), prepared once per connection and read
//! straight into the domain's types. Through sea-orm each of them built a sea-query
//! statement, converted every value to and from sea-orm's, and read each row into a
//! map of column names: callgrind put that at a third to a half of the instructions of
//! each of those requests (`bench/README.md`).
//!
//! Values are written in the forms the rest of the engine writes them (`engine`), so a
//! row reads the same whichever path wrote it: UUIDs as 16-byte blobs, times as
//! RFC 3339 text.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, ToSql};
use sea_orm::{DbErr, RuntimeErr};
use uuid::Uuid;

use super::engine::{self, InBatch, ReadConnections, WriteConnection};

/// One of the engine's connections, as a query of the store holds it.
#[derive(Clone, Copy)]
pub enum Direct<'a> {
    /// A read on the request's own thread, on an idle read connection.
    Reader(&'a ReadConnections),
    /// A statement of the writer's batch, inside its transaction.
    Writer(&'a WriteConnection),
}

impl Direct<'_> {
    /// Runs `run` on the connection, with the same fault handling as every other
    /// statement of the engine (a read connection that met a broken file is closed).
    pub fn run<T>(&self, run: impl FnOnce(&Connection) -> Result<T, DbErr>) -> Result<T, DbErr> {
        match self {
            Direct::Reader(readers) => readers.with(run),
            Direct::Writer(writer) => writer.with(run),
        }
    }
}

impl<'a> From<&'a InBatch> for Direct<'a> {
    fn from(batch: &'a InBatch) -> Direct<'a> {
        Direct::Writer(&batch.0)
    }
}

/// Runs a cached statement that returns rows, reading each with `read`.
pub fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    read: impl FnMut(&Row<'_>) -> Result<T, DbErr>,
) -> Result<Vec<T>, DbErr> {
    let mut statement = prepared(conn, sql)?;
    let mut found = Vec::new();
    rows_into(&mut statement, params, read, &mut found)?;
    Ok(found)
}

/// The connection's cached statement for `sql`, to run several times in a row.
pub fn prepared<'c>(
    conn: &'c Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>, DbErr> {
    conn.prepare_cached(sql)
        .map_err(|e| engine::db_error(&e, DbErr::Query))
}

/// Runs `statement` with `params`, adding each row `read` reads to `found`.
pub fn rows_into<T>(
    statement: &mut rusqlite::Statement<'_>,
    params: &[&dyn ToSql],
    mut read: impl FnMut(&Row<'_>) -> Result<T, DbErr>,
    found: &mut Vec<T>,
) -> Result<(), DbErr> {
    let fail = |e: rusqlite::Error| engine::db_error(&e, DbErr::Query);
    let mut rows = statement.query(params).map_err(fail)?;
    while let Some(row) = rows.next().map_err(fail)? {
        found.push(read(row)?);
    }
    Ok(())
}

/// Runs a cached statement for its effect; how many rows it changed.
pub fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<usize, DbErr> {
    let fail = |e: rusqlite::Error| engine::db_error(&e, DbErr::Exec);
    let mut statement = conn.prepare_cached(sql).map_err(fail)?;
    statement.execute(params).map_err(fail)
}

/// Appends `count` parameters, separated by commas, to `sql` (for an `IN (…)`).
pub fn push_placeholders(sql: &mut String, count: usize) {
    for i in 0..count {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
    }
}

/// A time as the engine stores one.
pub fn time(t: &DateTime<Utc>) -> String {
    engine::rfc3339(t)
}

/// A UUID as the engine stores one.
pub fn uuid(id: &Uuid) -> &[u8] {
    id.as_bytes()
}

fn invalid(index: usize, what: impl std::fmt::Display) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(format!("column {index}: {what}")))
}

fn raw<'r>(row: &'r Row<'_>, index: usize) -> Result<ValueRef<'r>, DbErr> {
    row.get_ref(index)
        .map_err(|e| engine::db_error(&e, DbErr::Query))
}

/// Column `index` of `row`, as rusqlite reads its type.
pub fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, DbErr> {
    row.get(index).map_err(|e| invalid(index, e))
}

/// A text column, borrowed from the row.
pub fn text_at<'r>(row: &'r Row<'_>, index: usize) -> Result<&'r str, DbErr> {
    raw(row, index)?.as_str().map_err(|e| invalid(index, e))
}

pub fn opt_uuid_at(row: &Row<'_>, index: usize) -> Result<Option<Uuid>, DbErr> {
    match raw(row, index)? {
        ValueRef::Null => Ok(None),
        value => engine::stored_uuid(value)
            .map(Some)
            .map_err(|e| invalid(index, e)),
    }
}

pub fn uuid_at(row: &Row<'_>, index: usize) -> Result<Uuid, DbErr> {
    opt_uuid_at(row, index)?.ok_or_else(|| invalid(index, "a UUID is missing"))
}

pub fn opt_time_at(row: &Row<'_>, index: usize) -> Result<Option<DateTime<Utc>>, DbErr> {
    match raw(row, index)? {
        ValueRef::Null => Ok(None),
        value => engine::stored_time(value)
            .map(Some)
            .map_err(|e| invalid(index, e)),
    }
}

pub fn time_at(row: &Row<'_>, index: usize) -> Result<DateTime<Utc>, DbErr> {
    opt_time_at(row, index)?.ok_or_else(|| invalid(index, "a time is missing"))
}

/// A JSON column, read without going through a string of our own.
pub fn json_at<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> Result<T, DbErr> {
    match raw(row, index)? {
        ValueRef::Text(text) | ValueRef::Blob(text) => {
            serde_json::from_slice(text).map_err(|e| invalid(index, e))
        }
        other => Err(invalid(
            index,
            format!("{:?} is no JSON", other.data_type()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;
    use sea_orm::TransactionTrait;

    use crate::config::PoolSettings;
    use crate::domain::{
        Actor, CustomerName, NewOrder, Notes, OrderFilter, OrderItems, OrderSearch, OrderStatus,
        PhoneNumber, Role, Scope, SmsText,
    };
    use crate::metrics::Metrics;
    use crate::store::port::{OrderError, Reads, StorageError, Writes};
    use crate::store::writer::Writer;
    use crate::store::{self, notifications, sqlite};

    fn unexpected(error: OrderError) -> StorageError {
        StorageError::other(error.to_string())
    }

    fn new_order(name: &str, phone: &str, notes: Option<&str>) -> NewOrder {
        NewOrder {
            customer_name: CustomerName::parse(name).unwrap(),
            phone: PhoneNumber::from_trusted(phone.to_owned()),
            items: OrderItems::parse(&[("Pad thai".to_owned(), 2), ("Spring rolls".to_owned(), 1)])
                .unwrap(),
            external_ref: None,
            notes: notes.map(|n| Notes::parse(n).unwrap().unwrap()),
            eta: None,
        }
    }

    /// Everything the SQLite engine writes and reads as plain SQL reads the same through
    /// the sea-orm queries it mirrors, on one file: orders changed, texts queued (one
    /// held by a limit, one to a number that texted STOP), pages filtered every way the
    /// API can filter them, an integration key's own orders, the last texts, and the
    /// counts a sending limit takes.
    #[tokio::test]
    async fn the_plain_statements_read_and_write_what_the_sea_orm_queries_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirror.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = store::connect(&url).await.unwrap();
        store::migrate(&db).await.unwrap();
        let writer = Writer::new(
            db.clone(),
            &url,
            &PoolSettings::default(),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let kitchen = Actor {
            key_id: None,
            name: "kitchen".to_owned(),
            role: Role::Staff,
        };
        let partner_key = uuid::Uuid::now_v7();
        let partner = Actor {
            key_id: Some(partner_key),
            name: "partner".to_owned(),
            role: Role::Integration,
        };
        let eta = store::now() + Duration::minutes(25);
        let (orders, texts) = writer
            .run(move |txn: &dyn Writes| {
                Box::pin(async move {
                    let mut orders = Vec::new();
                    let mut texts = Vec::new();
                    for (i, (name, phone)) in [
                        ("Zoë Achterberg", "+31612345678"),
                        ("Ada 50%_off", "+31687654321"),
                        ("Grace", "+447700900123"),
                        ("Extra One", "+31600000001"),
                        ("Extra Two", "+31600000002"),
                        ("Extra Three", "+31600000003"),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let by = if i == 1 { &partner } else { &kitchen };
                        let notes = (i == 2).then_some("ring bell 3");
                        let order = txn
                            .insert_order(new_order(name, phone, notes), by)
                            .await
                            .map_err(unexpected)?;
                        orders.push(order);
                    }
                    txn.add_opt_out("+447700900123", "test").await?;
                    let confirmed = txn
                        .change_status(
                            &orders[0],
                            OrderStatus::Confirmed,
                            Some(Some(eta)),
                            &kitchen,
                        )
                        .await
                        .map_err(unexpected)?;
                    texts.push(
                        txn.queue_text(
                            &confirmed,
                            SmsText::new("Confirmed, Zoë"),
                            "sandbox",
                            None,
                            None,
                        )
                        .await?,
                    );
                    let delayed = txn
                        .change_status(&confirmed, OrderStatus::Delayed, Some(None), &kitchen)
                        .await
                        .map_err(unexpected)?;
                    texts.push(
                        txn.queue_text(
                            &delayed,
                            SmsText::new("Running late"),
                            "sandbox",
                            None,
                            None,
                        )
                        .await?,
                    );
                    texts.push(
                        txn.queue_text(
                            &orders[1],
                            SmsText::new("Yours"),
                            "sandbox",
                            Some("held by a limit"),
                            Some(partner_key),
                        )
                        .await?,
                    );
                    texts.push(
                        txn.queue_text(&orders[2], SmsText::new("Hi"), "sandbox", None, None)
                            .await?,
                    );
                    orders[0] = delayed;
                    Ok::<_, StorageError>((orders, texts))
                })
            })
            .await
            .unwrap();

        // Written by the plain statements, read back by sea-orm: the same values.
        for text in &texts {
            assert_eq!(db.find_text(text.id).await.unwrap().as_ref(), Some(text));
        }
        assert_eq!(texts[2].state.as_str(), "cancelled");
        assert_eq!(texts[2].last_error.as_deref(), Some("held by a limit"));
        assert_eq!(
            texts[3].state.as_str(),
            "cancelled",
            "the number texted STOP"
        );
        assert_eq!(
            texts[3].last_error.as_deref(),
            Some(notifications::OPTED_OUT)
        );
        assert_eq!(texts[0].state.as_str(), "queued");
        let (history, _) = db.history(orders[0].id, 10, None).await.unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(history[1].eta, Some(eta));
        assert_eq!(history[2].eta, None);

        // Read by the plain statements and by sea-orm: the same answers.
        let readers = sqlite::ReadConnections::new(path.clone());
        for order in &orders {
            for scope in [Scope::All, Scope::CreatedBy(partner_key)] {
                let plain = readers.find_order(order.id, scope).await.unwrap();
                assert_eq!(plain, db.find_order(order.id, scope).await.unwrap());
                assert_eq!(
                    plain.is_some(),
                    scope == Scope::All || order.created_by == Some(partner_key)
                );
            }
            assert_eq!(
                readers
                    .find_order(order.id, Scope::All)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(order)
            );
        }
        let searches = ["zoe", "50%", "_", "0612345678", "612 345", "bell", "nobody"];
        let mut filters: Vec<OrderFilter> = searches
            .iter()
            .map(|q| OrderFilter {
                statuses: Vec::new(),
                search: Some(OrderSearch::new(q, Some(phonenumber::country::Id::NL))),
                limit: 50,
                before_seq: None,
            })
            .collect();
        filters.push(OrderFilter {
            statuses: vec![OrderStatus::Pending, OrderStatus::Delayed],
            search: None,
            limit: 1,
            before_seq: None,
        });
        filters.push(OrderFilter {
            statuses: Vec::new(),
            search: None,
            limit: 50,
            before_seq: Some(orders[2].seq),
        });
        let mut found_any = 0;
        for filter in &filters {
            for scope in [Scope::All, Scope::CreatedBy(partner_key)] {
                let plain = readers.list_orders(filter, scope).await.unwrap();
                assert_eq!(
                    plain,
                    db.list_orders(filter, scope).await.unwrap(),
                    "{filter:?}"
                );
                found_any += plain.0.len();
            }
        }
        assert!(
            found_any > 10,
            "the filters found too little to compare: {found_any}"
        );
        let ids: Vec<_> = orders.iter().map(|o| o.id).collect();
        // Six orders are looked up together, one alone.
        let latest = readers.latest_texts(&ids).await.unwrap();
        assert_eq!(latest, db.latest_texts(&ids).await.unwrap());
        assert_eq!(latest.get(&orders[0].id), Some(&texts[1]));
        assert_eq!(latest.len(), 3, "three of the orders were texted");
        let alone = readers.latest_texts(&ids[..1]).await.unwrap();
        assert_eq!(alone, db.latest_texts(&ids[..1]).await.unwrap());
        assert_eq!(alone.get(&orders[0].id), Some(&texts[1]));

        // The counts a sending limit takes, on the writer and through sea-orm.
        let since = store::now() - Duration::hours(1);
        let counted = writer
            .run(move |txn: &dyn Writes| {
                Box::pin(async move {
                    Ok::<_, StorageError>((
                        txn.recent_texts_to("+31612345678", since).await?,
                        txn.recent_texts_by(partner_key, since).await?,
                    ))
                })
            })
            .await
            .unwrap();
        let txn = db.begin().await.unwrap();
        assert_eq!(
            counted.0,
            txn.recent_texts_to("+31612345678", since).await.unwrap()
        );
        assert_eq!(
            counted.1,
            txn.recent_texts_by(partner_key, since).await.unwrap()
        );
        txn.rollback().await.unwrap();
        assert_eq!(counted.0.count, 2);
        assert_eq!(counted.0.oldest, Some(texts[0].created_at));
        assert_eq!(counted.1.count, 0, "a held text is not counted");
    }
}
