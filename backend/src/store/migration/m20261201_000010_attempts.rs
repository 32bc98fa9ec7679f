//! `notification_attempts`: every attempt at a text, with the provider asked, when, what
//! it answered and how long it took, so `GET /notifications/{id}` can show a text's path
//! through failover.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notification_attempts")
                    .col(big_pk_auto("seq"))
                    .col(uuid("notification_id"))
                    .col(string("provider"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("outcome"))
                    .col(text_null("error"))
                    .col(integer("took_ms"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_attempts_by_text")
                    .table("notification_attempts")
                    .col("notification_id")
                    .col("seq")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("notification_attempts").to_owned())
            .await
    }
}
