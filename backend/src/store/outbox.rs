//! The worker's side of the texts: claim the due ones with a lease, record what each
//! attempt did, hand back leases on the way out, and the queue's figures for `/metrics`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::entities::{notification_attempts as attempts, notifications};
use super::notifications::to_notification;
pub use super::port::{Outcome, Settled};
use crate::domain::{Attempt, AttemptResult, Notification, NotificationState};
use crate::metrics::QueueFigures;

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

/// Records an attempt's outcome, and `provider` as the text's (the one that took it,
/// or the last one tried), if `worker` still holds the lease (a worker that was too
/// slow and lost it must not overwrite the one that retook the text). Returns whether
/// it did.
pub async fn record_outcome(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    provider: &str,
    outcome: Outcome,
) -> Result<bool, DbErr> {
    let now = super::now();
    let no_time: Option<DateTime<Utc>> = None;
    let mut update = notifications::Entity::update_many()
        .col_expr(notifications::Column::Provider, Expr::value(provider))
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

/// Records many attempts and their outcomes (in the caller's transaction: one commit,
/// so one fsync on SQLite, for the whole batch); for each, whether `worker` still held
/// its lease. Every attempt is kept, whoever holds the lease now: it was made.
pub async fn record_outcomes(
    txn: &impl super::InTransaction,
    worker: &str,
    outcomes: Vec<Settled>,
) -> Result<Vec<bool>, DbErr> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = outcomes.iter().map(|settled| attempts::ActiveModel {
        seq: NotSet,
        notification_id: Set(settled.id),
        provider: Set(settled.attempt.provider.clone()),
        at: Set(settled.attempt.at),
        outcome: Set(settled.attempt.outcome.as_str().to_owned()),
        error: Set(settled.attempt.error.clone()),
        took_ms: Set(i32::try_from(settled.attempt.took_ms).unwrap_or(i32::MAX)),
    });
    attempts::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    let mut recorded = Vec::with_capacity(outcomes.len());
    for settled in outcomes {
        recorded.push(
            record_outcome(
                txn,
                settled.id,
                worker,
                &settled.attempt.provider,
                settled.outcome,
            )
            .await?,
        );
    }
    Ok(recorded)
}

/// Every attempt at text `id`, oldest first.
pub async fn attempts_at(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Attempt>, DbErr> {
    let rows = attempts::Entity::find()
        .filter(attempts::Column::NotificationId.eq(id))
        .order_by_asc(attempts::Column::Seq)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Attempt {
            provider: row.provider,
            at: row.at,
            outcome: AttemptResult::parse(&row.outcome).unwrap_or(AttemptResult::Retry),
            error: row.error,
            took_ms: u32::try_from(row.took_ms).unwrap_or(0),
        })
        .collect())
}

/// Texts by state and the oldest one still queued, for `/metrics`.
pub async fn queue_figures(db: &impl ConnectionTrait) -> Result<QueueFigures, DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct ByState {
        state: String,
        count: i64,
    }
    let counts: Vec<(String, i64)> = notifications::Entity::find()
        .select_only()
        .column(notifications::Column::State)
        .column_as(notifications::Column::Id.count(), "count")
        .group_by(notifications::Column::State)
        .into_model::<ByState>()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.state, row.count))
        .collect();
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
