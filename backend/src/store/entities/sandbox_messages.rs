//! `sandbox_messages`: what the sandbox provider "sent", so a new user (and the tests)
//! can see texts without a real provider.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sandbox_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub notification_id: Uuid,
    pub recipient: String,
    pub originator: String,
    pub body: String,
    pub encoding: String,
    pub segments: i32,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
