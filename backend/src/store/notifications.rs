//! Notifications: queued in the transaction of the change that causes them, read back
//! per order, and claimed and settled by the worker.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::entities::{notifications, opt_outs};
use crate::domain::{DeliveryReport, Notification, NotificationState, OptOut, Order, SmsText};
use crate::metrics::QueueFigures;

/// Why a text was recorded as `cancelled` for a number that opted out.
pub const OPTED_OUT: &str = "The customer opted out of texts (replied STOP); nothing was sent.";

fn to_notification(row: notifications::Model) -> Result<Notification, DbErr> {
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

pub async fn is_opted_out(db: &impl ConnectionTrait, phone: &str) -> Result<bool, DbErr> {
    Ok(opt_outs::Entity::find_by_id(phone.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Queues a text about `order` in the caller's transaction, so it exists exactly when
/// the change that caused it does. A number that opted out gets a `cancelled` record
/// instead, so the history shows why nothing arrived. One statement: the opt-out is
/// looked up inside the insert (`INSERT … SELECT … CASE WHEN EXISTS`), so the check and
/// the record cannot disagree and it costs no extra round trip.
pub async fn queue_notification(
    txn: &DatabaseTransaction,
    order: &Order,
    text: SmsText,
    provider: &str,
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
        .expr(
            Expr::case(opted_out(), NotificationState::Cancelled.as_str())
                .finally(NotificationState::Queued.as_str()),
        )
        .expr(Expr::case(opted_out(), OPTED_OUT).finally(Expr::val(Option::<String>::None)))
        .expr(Expr::val(0))
        .expr(Expr::val(provider))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
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

/// Every text about an order, newest first.
pub async fn list_for_order(
    db: &impl ConnectionTrait,
    order_id: Uuid,
) -> Result<Vec<Notification>, DbErr> {
    notifications::Entity::find()
        .filter(notifications::Column::OrderId.eq(order_id))
        .order_by_desc(notifications::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(to_notification)
        .collect()
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

/// Takes up to `limit` texts that are due (queued and past their `due_at`, or claimed by
/// a worker whose lease ran out, which means it died) and leases them to `worker`,
/// counting an attempt. Each text is claimed by one worker at a time: PostgreSQL skips
/// rows another worker has locked; SQLite runs the single statement under its write
/// lock. Raw SQL because the ORM cannot say `FOR UPDATE SKIP LOCKED`.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    worker: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Notification>, DbErr> {
    let now = super::now();
    let lease_expires_at =
        now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    let backend = db.get_database_backend();
    let (lock, p) = match backend {
        DbBackend::Postgres => ("FOR UPDATE SKIP LOCKED", '$'),
        _ => ("", '?'),
    };
    let sql = format!(
        "UPDATE notifications \
         SET state = 'sending', lease_owner = {p}1, lease_expires_at = {p}2, attempts = attempts + 1, updated_at = {p}3 \
         WHERE id IN (\
             SELECT id FROM notifications \
             WHERE (state = 'queued' AND due_at <= {p}3) OR (state = 'sending' AND lease_expires_at < {p}3) \
             ORDER BY due_at LIMIT {p}4 {lock}) \
         RETURNING *"
    );
    let values: Vec<sea_orm::Value> = vec![
        worker.into(),
        lease_expires_at.into(),
        now.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    let mut claimed = notifications::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?
        .into_iter()
        .map(to_notification)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|n| n.seq);
    Ok(claimed)
}

/// What the worker writes after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider_message_id: String,
    },
    RetryAt {
        due_at: DateTime<Utc>,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

/// Records an attempt's outcome, if `worker` still holds the lease (a worker that was
/// too slow and lost it must not overwrite the one that retook the text). Returns
/// whether it did.
pub async fn record_outcome(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    outcome: Outcome,
) -> Result<bool, DbErr> {
    let now = super::now();
    let no_time: Option<DateTime<Utc>> = None;
    let mut update = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notifications::Column::LeaseExpiresAt, Expr::value(no_time))
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now));
    update = match outcome {
        Outcome::Sent {
            provider_message_id,
        } => update
            .col_expr(
                notifications::Column::State,
                Expr::value(NotificationState::Sent.as_str()),
            )
            .col_expr(
                notifications::Column::ProviderMessageId,
                Expr::value(provider_message_id),
            )
            .col_expr(notifications::Column::SentAt, Expr::value(now))
            .col_expr(
                notifications::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Outcome::RetryAt { due_at, reason } => update
            .col_expr(
                notifications::Column::State,
                Expr::value(NotificationState::Queued.as_str()),
            )
            .col_expr(notifications::Column::DueAt, Expr::value(due_at))
            .col_expr(notifications::Column::LastError, Expr::value(reason)),
        Outcome::Failed { reason } => update
            .col_expr(
                notifications::Column::State,
                Expr::value(NotificationState::Failed.as_str()),
            )
            .col_expr(notifications::Column::LastError, Expr::value(reason)),
    };
    let result = update
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::State.eq(NotificationState::Sending.as_str()))
        .filter(notifications::Column::LeaseOwner.eq(worker))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records many attempts' outcomes (in the caller's transaction: one commit, so one
/// fsync on SQLite, for the whole batch); for each, whether `worker` still held its
/// lease.
pub async fn record_outcomes(
    txn: &DatabaseTransaction,
    worker: &str,
    outcomes: Vec<(Uuid, Outcome)>,
) -> Result<Vec<bool>, DbErr> {
    let mut recorded = Vec::with_capacity(outcomes.len());
    for (id, outcome) in outcomes {
        recorded.push(record_outcome(txn, id, worker, outcome).await?);
    }
    Ok(recorded)
}

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
    if let Some(before) = before_seq {
        query = query.filter(notifications::Column::Seq.lt(before));
    }
    let mut rows = query
        .order_by_desc(notifications::Column::Seq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let items = rows
        .into_iter()
        .map(to_notification)
        .collect::<Result<_, _>>()?;
    Ok((items, more))
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

#[derive(Debug, PartialEq, Eq)]
pub enum Requeue {
    Queued(Box<Notification>),
    NotFound,
    /// Only a failed text goes back in the queue; this one is in another state.
    NotFailed(NotificationState),
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

pub async fn list_opt_outs(db: &impl ConnectionTrait) -> Result<Vec<OptOut>, DbErr> {
    Ok(opt_outs::Entity::find()
        .order_by_desc(opt_outs::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| OptOut {
            phone: row.phone,
            source: row.source,
            created_at: row.created_at,
        })
        .collect())
}

/// Lets a number receive texts again; whether it had opted out.
pub async fn remove_opt_out(db: &impl ConnectionTrait, phone: &str) -> Result<bool, DbErr> {
    let deleted = opt_outs::Entity::delete_by_id(phone.to_owned())
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Applies a status report to the text it is about, found by our id (the `reference`
/// we sent) or else by the provider's id. Returns whether a text was found. Reports
/// only move texts forward: a delivered or failed text stays so.
pub async fn record_delivery_report(
    db: &impl ConnectionTrait,
    reference: Option<Uuid>,
    provider_message_id: Option<&str>,
    report: DeliveryReport,
) -> Result<bool, DbErr> {
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
        return Ok(false);
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
    update
        .filter(notifications::Column::Id.eq(notification.id))
        .filter(notifications::Column::State.is_in([
            NotificationState::Sending.as_str(),
            NotificationState::Sent.as_str(),
        ]))
        .exec(db)
        .await?;
    Ok(true)
}

/// Records that a number texted STOP (again is fine).
pub async fn add_opt_out(
    db: &impl ConnectionTrait,
    phone: &str,
    source: &str,
) -> Result<(), DbErr> {
    let row = opt_outs::ActiveModel {
        phone: Set(phone.to_owned()),
        source: Set(source.to_owned()),
        created_at: Set(super::now()),
    };
    opt_outs::Entity::insert(row)
        .on_conflict_do_nothing_on([opt_outs::Column::Phone])
        .exec(db)
        .await
        .map(|_| ())
}

/// Texts by state and the oldest one still queued, for `/metrics`.
pub async fn queue_figures(db: &impl ConnectionTrait) -> Result<QueueFigures, DbErr> {
    use sea_orm::sea_query::Func;
    let counts: Vec<(String, i64)> = notifications::Entity::find()
        .select_only()
        .column(notifications::Column::State)
        .expr(Func::count(Expr::col(notifications::Column::Id)))
        .group_by(notifications::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let oldest = notifications::Entity::find()
        .filter(notifications::Column::State.eq(NotificationState::Queued.as_str()))
        .order_by_asc(notifications::Column::CreatedAt)
        .one(db)
        .await?;
    Ok(QueueFigures {
        by_state: counts
            .into_iter()
            .map(|(state, count)| (state, u64::try_from(count).unwrap_or(0)))
            .collect(),
        oldest_queued: oldest.map(|text| text.created_at),
    })
}

/// Hands back what `worker` still holds (a stopping worker): those texts are queued again
/// and due now, for any worker to take. Returns how many.
pub async fn release_leases(db: &impl ConnectionTrait, worker: &str) -> Result<u64, DbErr> {
    let now = super::now();
    let released = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::State,
            Expr::value(NotificationState::Queued.as_str()),
        )
        .col_expr(
            notifications::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            notifications::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(notifications::Column::DueAt, Expr::value(now))
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .filter(notifications::Column::LeaseOwner.eq(worker))
        .filter(notifications::Column::State.eq(NotificationState::Sending.as_str()))
        .exec(db)
        .await?;
    Ok(released.rows_affected)
}
