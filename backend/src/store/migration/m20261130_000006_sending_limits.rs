//! Sending limits count a number's texts of the last hour on every text queued: an
//! index on (recipient, created_at) keeps that one short range read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("notifications_recipient_created")
                    .table("notifications")
                    .col("recipient")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("notifications_recipient_created")
                    .table("notifications")
                    .to_owned(),
            )
            .await
    }
}
