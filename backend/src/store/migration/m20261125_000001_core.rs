//! The core schema: orders, their status history, API keys and idempotency records.
//! Notifications, templates and opt-outs arrive in later migrations and point at
//! `orders.id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("orders")
                    .col(big_pk_auto("seq"))
                    .col(uuid_uniq("id"))
                    .col(string_null("external_ref"))
                    .col(string("customer_name"))
                    .col(string("phone"))
                    .col(json("items"))
                    .col(string_len("status", 16))
                    .col(integer("version"))
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        // One order per external reference per key: the 409 on a duplicate comes from here,
        // so two racing creates cannot both win.
        manager
            .create_index(
                Index::create()
                    .name("orders_created_by_external_ref")
                    .table("orders")
                    .col("created_by")
                    .col("external_ref")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("orders_status_seq")
                    .table("orders")
                    .col("status")
                    .col("seq")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("order_events")
                    .col(big_pk_auto("seq"))
                    .col(uuid("order_id"))
                    .col(string_len_null("from_status", 16))
                    .col(string_len("to_status", 16))
                    .col(string("actor"))
                    .col(uuid_null("actor_key_id"))
                    .col(timestamp_with_time_zone("at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("order_events_order_id")
                            .from("order_events", "order_id")
                            .to("orders", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("order_events_order_id")
                    .table("order_events")
                    .col("order_id")
                    .col("seq")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    .col(string_len("role", 16))
                    .col(string_len_uniq("secret_hash", 64))
                    .col(string_len("prefix", 16))
                    .col(string_len("source", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("idempotency_records")
                    .col(uuid("key_id"))
                    .col(string_len("idempotency_key", 255))
                    .col(string_len("fingerprint", 64))
                    .col(string_len("state", 16))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(string_null("response_location"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("key_id").col("idempotency_key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_records_created_at")
                    .table("idempotency_records")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["idempotency_records", "api_keys", "order_events", "orders"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
