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
use crate::domain::{DeliveryReport, Notification, NotificationState, Order, SmsText};

/// The texts to `recipient` queued since `since` that were not cancelled, and when
/// the oldest of them was queued. On PostgreSQL it first locks the number until the
/// transaction ends, so two instances cannot both count the same free place.
pub async fn recent_to(
    txn: &impl super::InTransaction,
    recipient: &str,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    use notifications::Column as C;
    recent(
        txn,
        &format!("texts to {recipient}"),
        C::Recipient.eq(recipient),
        since,
    )
    .await
}

/// The texts `key` caused since `since` that were not cancelled, locked on PostgreSQL
/// as [`recent_to`] is.
pub async fn recent_by(
    txn: &impl super::InTransaction,
    key: Uuid,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    use notifications::Column as C;
    recent(txn, &format!("texts by {key}"), C::CausedBy.eq(key), since).await
}

async fn recent(
    txn: &impl super::InTransaction,
    lock_name: &str,
    whose: sea_orm::sea_query::SimpleExpr,
    since: DateTime<Utc>,
) -> Result<RecentTexts, DbErr> {
    use notifications::Column as C;
    if txn.get_database_backend() == DbBackend::Postgres {
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))::text",
            [lock_name.into()],
        );
        txn.execute_raw(lock).await?;
    }
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
        .filter(whose)
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
    db: &impl ConnectionTrait,
    order_ids: &[Uuid],
) -> Result<HashMap<Uuid, Notification>, DbErr> {
    if order_ids.is_empty() {
        return Ok(HashMap::new());
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
