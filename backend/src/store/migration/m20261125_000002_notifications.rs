//! Notifications (the outbox the worker sends from), message templates per status,
//! customers who opted out, and the sandbox provider's message store.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .col(big_pk_auto("seq"))
                    .col(uuid_uniq("id"))
                    .col(uuid("order_id"))
                    .col(string_len("order_status", 16))
                    .col(string("recipient"))
                    .col(text("body"))
                    .col(string_len("encoding", 8))
                    .col(integer("segments"))
                    .col(string_len("state", 16))
                    .col(integer("attempts"))
                    .col(string_len("provider", 16))
                    .col(string_null("provider_message_id"))
                    .col(text_null("last_error"))
                    // When the next attempt may start (retries wait here).
                    .col(timestamp_with_time_zone("due_at"))
                    // The worker that claimed it, until when.
                    .col(string_null("lease_owner"))
                    .col(timestamp_with_time_zone_null("lease_expires_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("notifications_order_id")
                            .from("notifications", "order_id")
                            .to("orders", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's claim: due texts in a state it sends, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("notifications_state_due_at")
                    .table("notifications")
                    .col("state")
                    .col("due_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_order_id_seq")
                    .table("notifications")
                    .col("order_id")
                    .col("seq")
                    .to_owned(),
            )
            .await?;
        // Status reports find their text by the provider's id.
        manager
            .create_index(
                Index::create()
                    .name("notifications_provider_message_id")
                    .table("notifications")
                    .col("provider_message_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("templates")
                    .col(string_len("status", 16).primary_key())
                    .col(text("body"))
                    .col(boolean("enabled"))
                    .col(string("updated_by"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("opt_outs")
                    .col(string("phone").primary_key())
                    .col(string("source"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sandbox_messages")
                    .col(big_pk_auto("seq"))
                    .col(uuid_uniq("id"))
                    .col(uuid("notification_id"))
                    .col(string("recipient"))
                    .col(string("originator"))
                    .col(text("body"))
                    .col(string_len("encoding", 8))
                    .col(integer("segments"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["sandbox_messages", "opt_outs", "templates", "notifications"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
