//! `orders`: one row per order. `seq` orders rows for keyset pagination; `id` is the
//! public identifier.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub external_ref: Option<String>,
    pub customer_name: String,
    /// E.164, validated before it was written.
    pub phone: String,
    /// `[{"name": …, "quantity": …}]`, validated before it was written.
    pub items: Json,
    pub status: String,
    /// The time the customer was promised the order.
    pub eta: Option<ChronoDateTimeUtc>,
    pub notes: Option<String>,
    /// What search looks through, folded (`domain::search_text`); written with every
    /// change to the fields it is made of.
    pub search_text: String,
    /// Bumped by every status change; the order's ETag.
    pub version: i32,
    /// The API key that created the order (integration keys see only these).
    pub created_by: Option<Uuid>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
