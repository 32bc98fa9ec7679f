//! `api_keys`: bearer keys, stored only as a SHA-256 hash of the secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub role: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// The first characters of the secret, so a person can tell keys apart.
    pub prefix: String,
    /// How the key came to be: `api`, `cli`, `first-start` or `env`.
    pub source: String,
    pub created_at: ChronoDateTimeUtc,
    pub last_used_at: Option<ChronoDateTimeUtc>,
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
