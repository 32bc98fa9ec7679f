//! `webhook_deliveries`: the webhook outbox, one row per event and endpoint.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub order_id: Option<Uuid>,
    pub body: String,
    pub state: String,
    pub attempts: i32,
    pub due_at: ChronoDateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<ChronoDateTimeUtc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<ChronoDateTimeUtc>,
    pub delivered_at: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
