//! `notifications`: every text, from queued to its final state. It doubles as the
//! outbox the worker claims from (state, due_at, lease).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub order_id: Uuid,
    pub order_status: String,
    pub recipient: String,
    pub body: String,
    pub encoding: String,
    pub segments: i32,
    pub state: String,
    pub attempts: i32,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub due_at: ChronoDateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub sent_at: Option<ChronoDateTimeUtc>,
    pub delivered_at: Option<ChronoDateTimeUtc>,
    /// The integration key whose request caused the text (sending limits count them).
    pub caused_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
