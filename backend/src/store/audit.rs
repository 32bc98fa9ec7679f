//! The audit trail: written beside the change it records, read back newest first.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::entities::audit_events;
use crate::domain::{AuditAction, AuditEntry, NewAuditEntry};

pub async fn record(db: &impl ConnectionTrait, entry: &NewAuditEntry) -> Result<(), DbErr> {
    let row = audit_events::ActiveModel {
        at: Set(super::now()),
        actor: Set(entry.actor.clone()),
        key_id: Set(entry.key_id),
        action: Set(entry.action.as_str().to_owned()),
        subject: Set(entry.subject.clone()),
        detail: Set(entry.detail.clone()),
        ..Default::default()
    };
    audit_events::Entity::insert(row).exec(db).await.map(|_| ())
}

/// A page of the trail, newest first, older than `before` when given, only `actions`
/// (all when empty); and whether there are more.
pub async fn list(
    db: &impl ConnectionTrait,
    actions: &[AuditAction],
    limit: u64,
    before: Option<i64>,
) -> Result<(Vec<AuditEntry>, bool), DbErr> {
    let mut query = audit_events::Entity::find();
    if !actions.is_empty() {
        query =
            query.filter(audit_events::Column::Action.is_in(actions.iter().map(|a| a.as_str())));
    }
    let (rows, more) = super::page_by_seq(
        db,
        query,
        audit_events::Column::Seq,
        super::Paging::NewestFirst,
        limit,
        before,
    )
    .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            let action = row.action.parse().map_err(|e: String| {
                DbErr::Custom(format!(
                    "audit entry {} holds an invalid action: {e}",
                    row.seq
                ))
            })?;
            Ok(AuditEntry {
                seq: row.seq,
                at: row.at,
                actor: row.actor,
                key_id: row.key_id,
                action,
                subject: row.subject,
                detail: row.detail,
            })
        })
        .collect::<Result<_, DbErr>>()?;
    Ok((entries, more))
}
