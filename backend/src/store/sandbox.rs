//! The sandbox provider's outbox, read back newest first.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect};

use super::entities::sandbox_messages;
use crate::domain::SandboxMessage;

/// The `limit` texts the sandbox "sent" last, newest first.
pub async fn recent(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<SandboxMessage>, DbErr> {
    let rows = sandbox_messages::Entity::find()
        .order_by_desc(sandbox_messages::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| SandboxMessage {
            id: row.id,
            notification_id: row.notification_id,
            recipient: row.recipient,
            originator: row.originator,
            body: row.body,
            encoding: row.encoding,
            segments: row.segments,
            created_at: row.created_at,
        })
        .collect())
}
