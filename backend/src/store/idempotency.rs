//! Idempotency records: the first request with a given `Idempotency-Key` claims the key,
//! and its response is stored in the same transaction as the work it did, so a retry
//! after a timeout (or a crash) gets that response instead of doing the work twice.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, TryInsertResult,
};
use uuid::Uuid;

use super::entities::idempotency_records as records;
pub use super::port::{Claim, StoredResponse};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// A claim still `running` after this long belongs to a request that died (a crash or a
/// lost connection to the database); a new request may take the key over.
pub const ABANDONED_AFTER: Duration = Duration::minutes(2);

const RUNNING: &str = "running";
const DONE: &str = "done";

fn filter_key(key_id: Uuid, idempotency_key: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(records::Column::KeyId.eq(key_id))
        .add(records::Column::IdempotencyKey.eq(idempotency_key))
}

async fn insert_running(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    idempotency_key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = records::ActiveModel {
        key_id: Set(key_id),
        idempotency_key: Set(idempotency_key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        state: Set(RUNNING.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        response_location: Set(None),
        created_at: Set(now),
    };
    // DO NOTHING rather than a unique violation: on PostgreSQL a failed statement
    // would end the transaction the claim runs in.
    let inserted = records::Entity::insert(row)
        .on_conflict_do_nothing_on([records::Column::KeyId, records::Column::IdempotencyKey])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(1)))
}

/// Claims `idempotency_key` for the request with this fingerprint. Run it as a piece of
/// work of its own, committed before the request's work, so a concurrent request with
/// the same key sees the claim.
pub async fn claim(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    idempotency_key: &str,
    fingerprint: &str,
) -> Result<Claim, DbErr> {
    // Two rounds at most: the second follows the removal of an expired record.
    for _ in 0..2 {
        let now = super::now();
        if insert_running(db, key_id, idempotency_key, fingerprint, now).await? {
            return Ok(Claim::Proceed);
        }
        let Some(existing) = records::Entity::find()
            .filter(filter_key(key_id, idempotency_key))
            .one(db)
            .await?
        else {
            continue;
        };
        if now - existing.created_at > RETENTION {
            records::Entity::delete_many()
                .filter(filter_key(key_id, idempotency_key))
                .filter(records::Column::CreatedAt.eq(existing.created_at))
                .exec(db)
                .await?;
            continue;
        }
        if existing.fingerprint != fingerprint {
            return Ok(Claim::Mismatch);
        }
        if existing.state == DONE {
            let status = existing.response_status.unwrap_or(500);
            return Ok(Claim::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                body: existing.response_body.unwrap_or_default(),
                location: existing.response_location,
            }));
        }
        if now - existing.created_at > ABANDONED_AFTER {
            // Take over only if nobody else did in the meantime.
            let taken = records::Entity::update_many()
                .col_expr(records::Column::CreatedAt, Expr::value(now))
                .filter(filter_key(key_id, idempotency_key))
                .filter(records::Column::State.eq(RUNNING))
                .filter(records::Column::CreatedAt.eq(existing.created_at))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(Claim::Proceed);
            }
        }
        return Ok(Claim::InFlight);
    }
    Ok(Claim::InFlight)
}

/// Stores the response inside the transaction that did the work.
pub async fn complete(
    txn: &impl super::InTransaction,
    key_id: Uuid,
    idempotency_key: &str,
    response: &StoredResponse,
) -> Result<(), DbErr> {
    records::Entity::update_many()
        .col_expr(records::Column::State, Expr::value(DONE))
        .col_expr(
            records::Column::ResponseStatus,
            Expr::value(i32::from(response.status)),
        )
        .col_expr(
            records::Column::ResponseBody,
            Expr::value(response.body.clone()),
        )
        .col_expr(
            records::Column::ResponseLocation,
            Expr::value(response.location.clone()),
        )
        .filter(filter_key(key_id, idempotency_key))
        .exec(txn)
        .await
        .map(|_| ())
}

/// Gives the key back after a request that failed (and so changed nothing): a retry
/// may then try again.
pub async fn release(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    idempotency_key: &str,
) -> Result<(), DbErr> {
    records::Entity::delete_many()
        .filter(filter_key(key_id, idempotency_key))
        .filter(records::Column::State.eq(RUNNING))
        .exec(db)
        .await
        .map(|_| ())
}

/// Forgets keys older than the retention period.
pub async fn purge_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let cutoff = super::now() - RETENTION;
    records::Entity::delete_many()
        .filter(records::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}
