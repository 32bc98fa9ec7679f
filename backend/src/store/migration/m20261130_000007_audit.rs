//! The audit trail (`audit_events`): key creation and revocation, template changes and
//! opt-out removals, who did them and when. `seq` orders the trail and pages it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(big_pk_auto("seq"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor"))
                    .col(uuid_null("key_id"))
                    .col(string("action"))
                    .col(string("subject"))
                    .col(text_null("detail"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_action_seq")
                    .table("audit_events")
                    .col("action")
                    .col("seq")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_events").to_owned())
            .await
    }
}
