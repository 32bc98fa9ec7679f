//! Texts about orders: queued in the transaction of the change that causes them, read
//! back per order and across orders, queued again after a failure, and moved on by the
//! providers' status reports. The worker's side (claims, leases, outcomes) is in
//! `outbox`, the numbers that texted STOP in `opt_outs`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Statement,
};
use uuid::Uuid;

use super::entities::{notifications, opt_outs};
use super::port::ReportApplied;
pub use super::port::{RecentTexts, Requeue};
use super::sqlite::direct;
use crate::domain::{DeliveryReport, Notification, NotificationState, Order, SmsText};

/// The texts to `recipient` queued since `since` that were not cancelled, and when
/// the oldest of them was queued. On PostgreSQL it first locks the number until the
/// transaction ends, so two instances cannot both count the same free place.
pub async fn recent_to(
    txn: &impl super::InTransaction,
    recipient: &str,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    recent(txn, Whose::To(recipient), since).await
}

/// The texts `key` caused since `since` that were not cancelled, locked on PostgreSQL
/// as [`recent_to`] is.
pub async fn recent_by(
    txn: &impl super::InTransaction,
    key: Uuid,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    recent(txn, Whose::By(key), since).await
}

/// Whose texts a sending limit counts.
#[derive(Clone, Copy)]
enum Whose<'a> {
    /// A number's.
    To(&'a str),
    /// An integration key's.
    By(Uuid),
}

async fn recent(
    txn: &impl super::InTransaction,
    whose: Whose<'_>,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    use notifications::Column as C;
    if let Some(sqlite) = txn.sqlite() {
        return sqlite.run(|conn| recent_on_sqlite(conn, whose, since));
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        let lock_name = match whose {
            Whose::To(recipient) => format!("texts to {recipient}"),
            Whose::By(key) => format!("texts by {key}"),
        };
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))::text",
            [lock_name.into()],
        );
        txn.execute_raw(lock).await?;
    }
    let condition = match whose {
        Whose::To(recipient) => C::Recipient.eq(recipient),
        Whose::By(key) => C::CausedBy.eq(key),
    };
    /// Read by name (an expression is named after the column whose type it has), so
    /// every engine hands it over alike.
    #[derive(sea_orm::FromQueryResult)]
    struct Recent {
        count: i64,
        created_at: Option<DateTime<Utc>>,
    }
    let (count, oldest) = notifications::Entity::find()
        .select_only()
        .column_as(C::Id.count(), "count")
        .column_as(C::CreatedAt.min(), "created_at")
        .filter(condition)
        .filter(C::CreatedAt.gte(since))
        .filter(C::State.ne(NotificationState::Cancelled.as_str()))
        .into_model::<Recent>()
        .one(txn)
        .await?
        .map_or((0, None), |r| (r.count, r.created_at));
    Ok(RecentTexts {
        count: u64::try_from(count).unwrap_or(0),
        oldest,
    })
}

/// [`recent`]'s count as plain SQL on the SQLite engine's writer (a sending limit
/// weighs every text queued). No lock is needed there: the writer's transaction holds
/// SQLite's only write lock until it commits.
fn recent_on_sqlite(
    conn: &rusqlite::Connection,
    whose: Whose<'_>,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    const TO: &str = "SELECT count(id), min(created_at) FROM notifications \
        WHERE recipient = ?1 AND created_at >= ?2 AND state <> 'cancelled'";
    const BY: &str = "SELECT count(id), min(created_at) FROM notifications \
        WHERE caused_by = ?1 AND created_at >= ?2 AND state <> 'cancelled'";
    let since = direct::time(&since);
    let read = |row: &rusqlite::Row<'_>| {
        Ok(RecentTexts {
            count: u64::try_from(direct::get::<i64>(row, 0)?).unwrap_or(0),
            oldest: direct::opt_time_at(row, 1)?,
        })
    };
    let found = match whose {
        Whose::To(recipient) => direct::rows(conn, TO, &[&recipient, &since], read)?,
        Whose::By(key) => direct::rows(conn, BY, &[&direct::uuid(&key), &since], read)?,
    };
    Ok(found.into_iter().next().unwrap_or(RecentTexts {
        count: 0,
        oldest: None,
    }))
}

/// Why a text was recorded as `cancelled` for a number that opted out.
pub const OPTED_OUT: &str = "The customer opted out of texts (replied STOP); nothing was sent.";

pub(super) fn to_notification(row: notifications::Model) -> Result<Notification, DbErr> {
    let invalid = |what: String| {
        DbErr::Custom(format!(
            "notification {} holds an invalid value: {what}",
            row.id
        ))
    };
    Ok(Notification {
        seq: row.seq,
        id: row.id,
        order_id: row.order_id,
        order_status: row
            .order_status
            .parse()
            .map_err(|e| invalid(format!("{e}")))?,
        encoding: row.encoding.parse().map_err(invalid)?,
        segments: u32::try_from(row.segments).unwrap_or(0),
        state: row.state.parse().map_err(|e| invalid(format!("{e}")))?,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        recipient: row.recipient,
        body: row.body,
        provider: row.provider,
        provider_message_id: row.provider_message_id,
        last_error: row.last_error,
        created_at: row.created_at,
        sent_at: row.sent_at,
        delivered_at: row.delivered_at,
    })
}

/// Queues a text about `order` in the caller's transaction, so it exists exactly when
/// the change that caused it does. A number that opted out gets a `cancelled` record
/// instead, so the history shows why nothing arrived. One statement: the opt-out is
/// looked up inside the insert (`INSERT … SELECT … CASE WHEN EXISTS`), so the check and
/// the record cannot disagree and it costs no extra round trip.
pub async fn queue_notification(
    txn: &impl super::InTransaction,
    order: &Order,
    text: SmsText,
    provider: &str,
    held: Option<&str>,
    caused_by: Option<Uuid>,
) -> Result<Notification, DbErr> {
    use notifications::Column as C;
    use sea_orm::sea_query::Query;

    let now = super::now();
    if let Some(sqlite) = txn.sqlite() {
        return sqlite
            .run(|conn| queue_on_sqlite(conn, order, text, provider, held, caused_by, now));
    }
    let opted_out = || {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(opt_outs::Entity)
                .and_where(opt_outs::Column::Phone.eq(order.phone.as_str()))
                .to_owned(),
        )
    };
    // Held by a limit: cancelled with its reason. Otherwise cancelled only if the
    // number opted out, decided in the insert itself.
    let (state, last_error): (Expr, Expr) = match held {
        Some(reason) => (
            Expr::val(NotificationState::Cancelled.as_str()),
            Expr::val(reason),
        ),
        None => (
            Expr::case(opted_out(), NotificationState::Cancelled.as_str())
                .finally(NotificationState::Queued.as_str())
                .into(),
            Expr::case(opted_out(), OPTED_OUT)
                .finally(Expr::val(Option::<String>::None))
                .into(),
        ),
    };
    let values = Query::select()
        .expr(Expr::val(Uuid::now_v7()))
        .expr(Expr::val(order.id))
        .expr(Expr::val(order.status.as_str()))
        .expr(Expr::val(order.phone.as_str()))
        .expr(Expr::val(text.encoding().as_str()))
        .expr(Expr::val(
            i32::try_from(text.segments()).unwrap_or(i32::MAX),
        ))
        .expr(Expr::val(text.into_body()))
        .expr(state)
        .expr(last_error)
        .expr(Expr::val(0))
        .expr(Expr::val(provider))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .expr(Expr::val(caused_by))
        .to_owned();
    let insert = Query::insert()
        .into_table(notifications::Entity)
        .columns([
            C::Id,
            C::OrderId,
            C::OrderStatus,
            C::Recipient,
            C::Encoding,
            C::Segments,
            C::Body,
            C::State,
            C::LastError,
            C::Attempts,
            C::Provider,
            C::DueAt,
            C::CreatedAt,
            C::UpdatedAt,
            C::CausedBy,
        ])
        .select_from(values)
        .map_err(|e| DbErr::Custom(format!("building the insert of a text: {e}")))?
        .returning_all()
        .to_owned();
    let row = notifications::Entity::find()
        .from_raw_sql(txn.get_database_backend().build(&insert))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::Custom("the insert of a text returned no row".to_owned()))?;
    to_notification(row)
}

/// [`queue_notification`] as plain SQL on the SQLite engine's writer, and the text
/// built from what was written instead of read back. The opt-out is looked up first, in
/// the same transaction: it holds SQLite's only write lock, so no STOP can be recorded
/// between the look-up and the insert.
fn queue_on_sqlite(
    conn: &rusqlite::Connection,
    order: &Order,
    text: SmsText,
    provider: &str,
    held: Option<&str>,
    caused_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Notification, DbErr> {
    const OPTED_OUT_SQL: &str = "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE phone = ?1)";
    const INSERT: &str = "INSERT INTO notifications \
        (id, order_id, order_status, recipient, encoding, segments, body, state, last_error, \
         attempts, provider, due_at, created_at, updated_at, caused_by) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?11, ?11, ?12)";
    let (state, last_error) = match held {
        Some(reason) => (NotificationState::Cancelled, Some(reason.to_owned())),
        None => {
            let phone = order.phone.as_str();
            let opted_out = direct::rows(conn, OPTED_OUT_SQL, &[&phone], |row| {
                direct::get::<bool>(row, 0)
            })?;
            match opted_out.first() {
                Some(true) => (NotificationState::Cancelled, Some(OPTED_OUT.to_owned())),
                _ => (NotificationState::Queued, None),
            }
        }
    };
    let id = Uuid::now_v7();
    let encoding = text.encoding();
    let segments = u32::try_from(text.segments()).unwrap_or(u32::MAX);
    let body = text.into_body();
    let at = direct::time(&now);
    direct::execute(
        conn,
        INSERT,
        &[
            &direct::uuid(&id),
            &direct::uuid(&order.id),
            &order.status.as_str(),
            &order.phone.as_str(),
            &encoding.as_str(),
            &i32::try_from(segments).unwrap_or(i32::MAX),
            &body,
            &state.as_str(),
            &last_error,
            &provider,
            &at,
            &caused_by.as_ref().map(direct::uuid),
        ],
    )?;
    Ok(Notification {
        seq: conn.last_insert_rowid(),
        id,
        order_id: order.id,
        order_status: order.status,
        recipient: order.phone.as_str().to_owned(),
        body,
        encoding,
        segments: segments.min(i32::MAX as u32),
        state,
        attempts: 0,
        provider: provider.to_owned(),
        provider_message_id: None,
        last_error,
        created_at: now,
        sent_at: None,
        delivered_at: None,
    })
}

/// The columns a text is read from on the SQLite engine, as [`text_from_row`] takes
/// them.
macro_rules! text_columns {
    () => {
        "seq, id, order_id, order_status, recipient, body, encoding, segments, state, \
         attempts, provider, provider_message_id, last_error, created_at, sent_at, delivered_at"
    };
}

/// A text read on the SQLite engine (its columns as `text_columns!` lists them).
fn text_from_row(row: &rusqlite::Row<'_>) -> Result<Notification, DbErr> {
    let id = direct::uuid_at(row, 1)?;
    let invalid =
        |what: String| DbErr::Custom(format!("notification {id} holds an invalid value: {what}"));
    Ok(Notification {
        seq: direct::get(row, 0)?,
        id,
        order_id: direct::uuid_at(row, 2)?,
        order_status: direct::text_at(row, 3)?
            .parse()
            .map_err(|e| invalid(format!("{e}")))?,
        recipient: direct::get(row, 4)?,
        body: direct::get(row, 5)?,
        encoding: direct::text_at(row, 6)?.parse().map_err(invalid)?,
        segments: u32::try_from(direct::get::<i64>(row, 7)?).unwrap_or(0),
        state: direct::text_at(row, 8)?
            .parse()
            .map_err(|e| invalid(format!("{e}")))?,
        attempts: u32::try_from(direct::get::<i64>(row, 9)?).unwrap_or(0),
        provider: direct::get(row, 10)?,
        provider_message_id: direct::get(row, 11)?,
        last_error: direct::get(row, 12)?,
        created_at: direct::time_at(row, 13)?,
        sent_at: direct::opt_time_at(row, 14)?,
        delivered_at: direct::opt_time_at(row, 15)?,
    })
}

/// [`latest_for_orders`] on the SQLite engine: an order read alone (a get, a status
/// change) and every page of the board read the last text of their orders. For a few
/// orders, each one's is one step down the (order_id, seq) index, by one prepared
/// statement run once per order; for more, one query takes the largest `seq` of each
/// (as sea-orm's does), which costs SQLite a temporary table to group them but less
/// per order (callgrind, a page of 50: 3,000 instructions an order grouped, 4,200 one
/// by one; an order alone: 35,000 grouped, 5,600 by itself).
fn latest_on_sqlite(
    conn: &rusqlite::Connection,
    order_ids: &[Uuid],
) -> Result<Vec<Notification>, DbErr> {
    const ONE_BY_ONE: usize = 4;
    const EACH: &str = concat!(
        "SELECT ",
        text_columns!(),
        " FROM notifications WHERE order_id = ?1 ORDER BY seq DESC LIMIT 1"
    );
    let mut texts = Vec::with_capacity(order_ids.len());
    if order_ids.len() <= ONE_BY_ONE {
        let mut statement = direct::prepared(conn, EACH)?;
        for id in order_ids {
            direct::rows_into(
                &mut statement,
                &[&direct::uuid(id)],
                text_from_row,
                &mut texts,
            )?;
        }
        return Ok(texts);
    }
    let mut sql = String::from(concat!(
        "SELECT ",
        text_columns!(),
        " FROM notifications WHERE seq IN (SELECT max(seq) FROM notifications WHERE order_id IN ("
    ));
    direct::push_placeholders(&mut sql, order_ids.len());
    sql.push_str(") GROUP BY order_id) ORDER BY seq ASC");
    let ids: Vec<&[u8]> = order_ids.iter().map(direct::uuid).collect();
    let params: Vec<&dyn rusqlite::ToSql> = ids.iter().map(|id| id as _).collect();
    let mut statement = direct::prepared(conn, &sql)?;
    direct::rows_into(&mut statement, &params, text_from_row, &mut texts)?;
    Ok(texts)
}

/// A page of the texts `query` selects, newest first, before `before_seq` when given.
async fn newest_first(
    db: &impl ConnectionTrait,
    query: Select<notifications::Entity>,
    limit: u64,
    before_seq: Option<i64>,
) -> Result<(Vec<Notification>, bool), DbErr> {
    let (rows, more) = super::page_by_seq(
        db,
        query,
        notifications::Column::Seq,
        super::Paging::NewestFirst,
        limit,
        before_seq,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(to_notification)
        .collect::<Result<_, _>>()?;
    Ok((items, more))
}

/// A page of the texts about an order, newest first.
pub async fn list_for_order(
    db: &impl ConnectionTrait,
    order_id: Uuid,
    limit: u64,
    before_seq: Option<i64>,
) -> Result<(Vec<Notification>, bool), DbErr> {
    let query = notifications::Entity::find().filter(notifications::Column::OrderId.eq(order_id));
    newest_first(db, query, limit, before_seq).await
}

/// The newest text of each of these orders (orders without one are absent).
pub async fn latest_for_orders(
    db: &impl super::Conn,
    order_ids: &[Uuid],
) -> Result<HashMap<Uuid, Notification>, DbErr> {
    if order_ids.is_empty() {
        return Ok(HashMap::new());
    }
    if let Some(sqlite) = db.sqlite() {
        let texts = sqlite.run(|conn| latest_on_sqlite(conn, order_ids))?;
        return Ok(texts.into_iter().map(|t| (t.order_id, t)).collect());
    }
    // Only each order's newest text, found through the (order_id, seq) index: an order
    // that has been texted a hundred times costs one row, not a hundred.
    let newest = sea_orm::sea_query::Query::select()
        .expr(sea_orm::sea_query::Func::max(Expr::col(
            notifications::Column::Seq,
        )))
        .from(notifications::Entity)
        .and_where(notifications::Column::OrderId.is_in(order_ids.iter().copied()))
        .group_by_col(notifications::Column::OrderId)
        .to_owned();
    let rows = notifications::Entity::find()
        .filter(notifications::Column::Seq.in_subquery(newest))
        .order_by_asc(notifications::Column::Seq)
        .all(db)
        .await?;
    let mut latest = HashMap::new();
    for row in rows {
        let notification = to_notification(row)?;
        latest.insert(notification.order_id, notification);
    }
    Ok(latest)
}

// The outbox: the worker's side.

/// A page of texts across all orders, newest first, optionally only in some states.
pub async fn list_notifications(
    db: &impl ConnectionTrait,
    states: &[NotificationState],
    limit: u64,
    before_seq: Option<i64>,
) -> Result<(Vec<Notification>, bool), DbErr> {
    let mut query = notifications::Entity::find();
    if !states.is_empty() {
        query = query.filter(notifications::Column::State.is_in(states.iter().map(|s| s.as_str())));
    }
    newest_first(db, query, limit, before_seq).await
}

pub async fn find_notification(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Notification>, DbErr> {
    notifications::Entity::find()
        .filter(notifications::Column::Id.eq(id))
        .one(db)
        .await?
        .map(to_notification)
        .transpose()
}

/// Puts a failed text back in the queue with a fresh set of attempts.
pub async fn requeue_failed(db: &impl ConnectionTrait, id: Uuid) -> Result<Requeue, DbErr> {
    let now = super::now();
    let updated = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::State,
            Expr::value(NotificationState::Queued.as_str()),
        )
        .col_expr(notifications::Column::Attempts, Expr::value(0))
        .col_expr(notifications::Column::DueAt, Expr::value(now))
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::State.eq(NotificationState::Failed.as_str()))
        .exec(db)
        .await?;
    match find_notification(db, id).await? {
        None => Ok(Requeue::NotFound),
        Some(n) if updated.rows_affected == 1 => Ok(Requeue::Queued(Box::new(n))),
        Some(n) => Ok(Requeue::NotFailed(n.state)),
    }
}

/// Applies a status report to the text it is about, found by our id (the `reference`
/// we sent) or else by the provider's id. Returns whether a text was found. Reports
/// only move texts forward: a delivered or failed text stays so.
pub async fn record_delivery_report(
    db: &impl ConnectionTrait,
    reference: Option<Uuid>,
    provider_message_id: Option<&str>,
    report: DeliveryReport,
) -> Result<ReportApplied, DbErr> {
    let mut found = None;
    if let Some(id) = reference {
        found = find_notification(db, id).await?;
    }
    if found.is_none()
        && let Some(provider_id) = provider_message_id.filter(|p| !p.is_empty())
    {
        found = notifications::Entity::find()
            .filter(notifications::Column::ProviderMessageId.eq(provider_id))
            .one(db)
            .await?
            .map(to_notification)
            .transpose()?;
    }
    let Some(notification) = found else {
        return Ok(ReportApplied::NoText);
    };
    let now = super::now();
    let mut update = notifications::Entity::update_many()
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now));
    update = match report {
        DeliveryReport::Delivered { at } => update
            .col_expr(
                notifications::Column::State,
                Expr::value(NotificationState::Delivered.as_str()),
            )
            .col_expr(notifications::Column::DeliveredAt, Expr::value(at)),
        DeliveryReport::Failed { reason } => update
            .col_expr(
                notifications::Column::State,
                Expr::value(NotificationState::Failed.as_str()),
            )
            .col_expr(notifications::Column::LastError, Expr::value(reason)),
    };
    if notification.provider_message_id.is_none()
        && let Some(provider_id) = provider_message_id
    {
        update = update.col_expr(
            notifications::Column::ProviderMessageId,
            Expr::value(provider_id),
        );
    }
    let updated = update
        .filter(notifications::Column::Id.eq(notification.id))
        .filter(notifications::Column::State.is_in([
            NotificationState::Sending.as_str(),
            NotificationState::Sent.as_str(),
        ]))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(ReportApplied::Unchanged);
    }
    Ok(match find_notification(db, notification.id).await? {
        Some(text) => ReportApplied::Changed(Box::new(text)),
        None => ReportApplied::Unchanged,
    })
}
