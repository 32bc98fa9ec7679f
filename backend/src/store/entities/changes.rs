//! `changes`: the log of order and text changes that `GET /events` streams, written by
//! triggers (see the migration) and kept for a while so clients can resume.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The writing transaction's id on PostgreSQL; 0 on SQLite, whose single writer
    /// commits in `id` order anyway.
    pub txid: i64,
    pub kind: String,
    pub order_id: Option<Uuid>,
    pub owner: Option<Uuid>,
    pub status: String,
    pub version: Option<i32>,
    pub notification_id: Option<Uuid>,
    pub at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
