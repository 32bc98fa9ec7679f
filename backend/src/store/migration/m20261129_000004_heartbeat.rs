//! One row that `/readyz` rewrites (at most once a second) to prove a write can still
//! be committed: a database that answers reads but cannot save (a full disk, read-only
//! files) is not ready.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("heartbeat")
                    .col(integer("id").primary_key())
                    .col(big_integer("beats"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("heartbeat")
                    .columns(["id", "beats"])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("heartbeat").to_owned())
            .await
    }
}
