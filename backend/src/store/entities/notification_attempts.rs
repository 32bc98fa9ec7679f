//! `notification_attempts`: every attempt at a text (provider, time, outcome, error).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub notification_id: Uuid,
    pub provider: String,
    pub at: ChronoDateTimeUtc,
    pub outcome: String,
    pub error: Option<String>,
    pub took_ms: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
