//! The sandbox provider's outbox: what it "sent", kept, and read back newest first.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect, Set,
};

use super::entities::sandbox_messages;
use crate::domain::SandboxMessage;

/// Keeps a text the sandbox "sent".
pub async fn record(db: &impl ConnectionTrait, message: &SandboxMessage) -> Result<(), DbErr> {
    sandbox_messages::ActiveModel {
        id: Set(message.id),
        notification_id: Set(message.notification_id),
        recipient: Set(message.recipient.clone()),
        originator: Set(message.originator.clone()),
        body: Set(message.body.clone()),
        encoding: Set(message.encoding.clone()),
        segments: Set(message.segments),
        created_at: Set(message.created_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

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
