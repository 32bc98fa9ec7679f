//! Provider callbacks already applied, by the id the provider gave each: a repeated
//! call finds its id here and changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, TryInsertResult,
};

use super::entities::provider_calls as calls;

/// Records the call `call_id` from `provider`; whether it is the first time. DO NOTHING
/// rather than a unique violation: on PostgreSQL a failed statement would end the
/// transaction the call is applied in.
pub async fn first_sight(
    db: &impl ConnectionTrait,
    provider: &str,
    call_id: &str,
) -> Result<bool, DbErr> {
    let row = calls::ActiveModel {
        provider: Set(provider.to_owned()),
        call_id: Set(call_id.to_owned()),
        received_at: Set(super::now()),
    };
    let inserted = calls::Entity::insert(row)
        .on_conflict_do_nothing_on([calls::Column::Provider, calls::Column::CallId])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(1)))
}

/// Forgets the calls received before `before`; how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    calls::Entity::delete_many()
        .filter(calls::Column::ReceivedAt.lt(before))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}
