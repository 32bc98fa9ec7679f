//! Webhooks out: `webhook_endpoints` (where an order system wants to hear of changes,
//! and the secret its messages are signed with) and `webhook_deliveries` (the outbox:
//! one row per event and endpoint, written in the transaction of the change it tells
//! of, delivered by the worker with retries).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .col(uuid("id").primary_key())
                    .col(text("url"))
                    // NULL: every event; else `,name,name,`.
                    .col(text_null("events"))
                    // Kept readable: every message is signed with it.
                    .col(string("secret"))
                    // The integration key whose orders it hears of; NULL: an admin's.
                    .col(uuid_null("owner_key_id"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("deleted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(big_pk_auto("seq"))
                    .col(uuid("event_id"))
                    .col(uuid("endpoint_id"))
                    .col(string("event_type"))
                    .col(uuid_null("order_id"))
                    .col(text("body"))
                    .col(string("state"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(string_null("lease_owner"))
                    .col(timestamp_with_time_zone_null("lease_expires_at"))
                    .col(integer_null("last_status"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "webhook_deliveries_one_per_endpoint",
                &["event_id", "endpoint_id"][..],
            ),
            ("webhook_deliveries_due", &["state", "due_at"][..]),
            (
                "webhook_deliveries_by_endpoint",
                &["endpoint_id", "seq"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table("webhook_deliveries");
            for col in cols {
                index.col(*col);
            }
            if name.ends_with("one_per_endpoint") {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Customer events find the keys that created orders for a number.
        manager
            .create_index(
                Index::create()
                    .name("orders_by_phone")
                    .table("orders")
                    .col("phone")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("orders_by_phone")
                    .table("orders")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("webhook_deliveries").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("webhook_endpoints").to_owned())
            .await
    }
}
