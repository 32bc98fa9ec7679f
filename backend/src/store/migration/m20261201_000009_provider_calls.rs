//! `provider_calls`: the ids of the provider callbacks already applied (Bird's
//! `webhook-id`), so that a call the provider repeats changes nothing the second time.
//! Kept for three days, longer than any provider keeps retrying one call.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("provider_calls")
                    .col(string("provider"))
                    .col(string("call_id"))
                    .col(timestamp_with_time_zone("received_at"))
                    .primary_key(Index::create().col("provider").col("call_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("provider_calls_received_at")
                    .table("provider_calls")
                    .col("received_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("provider_calls").to_owned())
            .await
    }
}
