//! `order_events`: the history of each order (status changes and edits), appended in the same transaction
//! as the change it records.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub order_id: Uuid,
    /// `None` for the event that records the order's creation.
    pub from_status: Option<String>,
    pub to_status: String,
    /// The name of the key that made the change (or `system`).
    pub actor: String,
    pub actor_key_id: Option<Uuid>,
    pub at: ChronoDateTimeUtc,
    /// The fields an edit changed, comma-separated; `None` for a status change.
    pub changed: Option<String>,
    /// The order's promised time right after this step.
    pub eta: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
