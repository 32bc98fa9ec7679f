//! Sending limits count, on every text queued, the number's texts of the last hour and
//! the texts its integration key caused today: each text now records the key whose
//! request caused it (`caused_by`; NULL for the kitchen's own tools and the system),
//! and an index on each pair keeps each count one short range read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("notifications")
                    .add_column(uuid_null("caused_by"))
                    .to_owned(),
            )
            .await?;
        for (name, first) in [
            ("notifications_recipient_created", "recipient"),
            ("notifications_caused_by_created", "caused_by"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("notifications")
                        .col(first)
                        .col("created_at")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "notifications_recipient_created",
            "notifications_caused_by_created",
        ] {
            manager
                .drop_index(Index::drop().name(name).table("notifications").to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("notifications")
                    .drop_column("caused_by")
                    .to_owned(),
            )
            .await
    }
}
