//! The change log behind `GET /events`, and the short-lived tokens that let a browser's
//! EventSource (which cannot send headers) open it.
//!
//! Triggers write the log, so every writer (API instances, workers, webhooks, even a
//! hand-run UPDATE) is seen, in the same transaction as the change itself. On
//! PostgreSQL each row also carries the id of the transaction that wrote it, and the
//! trigger wakes listening instances with `NOTIFY`: readers take only rows whose
//! transaction is older than every transaction still running, ordered by (txid, id), so
//! a row committed late never lands behind a position a reader has already passed.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The channel the PostgreSQL triggers notify on.
pub const CHANGES_CHANNEL: &str = "order_notify_changes";

const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION order_notify_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, order_id, owner, status, version, at)
    VALUES ('order', NEW.id, NEW.created_by, NEW.status, NEW.version, NEW.updated_at);
    PERFORM pg_notify('order_notify_changes', '');
    RETURN NULL;
END $$;

CREATE TRIGGER orders_changed AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION order_notify_order_changed();

CREATE FUNCTION order_notify_notification_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, order_id, owner, status, notification_id, at)
    SELECT 'notification', NEW.order_id, o.created_by, NEW.state, NEW.id, NEW.updated_at
    FROM orders o WHERE o.id = NEW.order_id;
    PERFORM pg_notify('order_notify_changes', '');
    RETURN NULL;
END $$;

CREATE TRIGGER notifications_created AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION order_notify_notification_changed();

CREATE TRIGGER notifications_state_changed AFTER UPDATE OF state ON notifications
    FOR EACH ROW WHEN (NEW.state <> OLD.state AND NEW.state <> 'sending')
    EXECUTE FUNCTION order_notify_notification_changed();

CREATE FUNCTION order_notify_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, owner, status, at) VALUES ('key', NEW.id, 'revoked', NEW.revoked_at);
    PERFORM pg_notify('order_notify_changes', '');
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_revoked AFTER UPDATE OF revoked_at ON api_keys
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION order_notify_key_revoked();
"#;

// A claim (queued → sending) is not news to anyone watching: only the outcome is.
// A revoked key is news to the streams it has open, which end.
const SQLITE_TRIGGERS: [&str; 5] = [
    "CREATE TRIGGER orders_created AFTER INSERT ON orders BEGIN
        INSERT INTO changes (kind, order_id, owner, status, version, at)
        VALUES ('order', NEW.id, NEW.created_by, NEW.status, NEW.version, NEW.updated_at);
    END",
    "CREATE TRIGGER orders_status_changed AFTER UPDATE OF status ON orders BEGIN
        INSERT INTO changes (kind, order_id, owner, status, version, at)
        VALUES ('order', NEW.id, NEW.created_by, NEW.status, NEW.version, NEW.updated_at);
    END",
    "CREATE TRIGGER notifications_created AFTER INSERT ON notifications BEGIN
        INSERT INTO changes (kind, order_id, owner, status, notification_id, at)
        SELECT 'notification', NEW.order_id, o.created_by, NEW.state, NEW.id, NEW.updated_at
        FROM orders o WHERE o.id = NEW.order_id;
    END",
    "CREATE TRIGGER notifications_state_changed AFTER UPDATE OF state ON notifications
        WHEN NEW.state <> OLD.state AND NEW.state <> 'sending' BEGIN
        INSERT INTO changes (kind, order_id, owner, status, notification_id, at)
        SELECT 'notification', NEW.order_id, o.created_by, NEW.state, NEW.id, NEW.updated_at
        FROM orders o WHERE o.id = NEW.order_id;
    END",
    "CREATE TRIGGER api_keys_revoked AFTER UPDATE OF revoked_at ON api_keys
        WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL BEGIN
        INSERT INTO changes (kind, owner, status, at) VALUES ('key', NEW.id, 'revoked', NEW.revoked_at);
    END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut txid = big_integer("txid");
        if backend == DbBackend::Postgres {
            txid.default(Expr::cust("(pg_current_xact_id()::text::bigint)"));
        } else {
            txid.default(0);
        }
        manager
            .create_table(
                Table::create()
                    .table("changes")
                    .col(big_pk_auto("id"))
                    .col(txid)
                    // `order`, `notification` or `key` (a revoked key).
                    .col(string_len("kind", 16))
                    .col(uuid_null("order_id"))
                    // The key that created the order (integration keys see only
                    // theirs), or the revoked key.
                    .col(uuid_null("owner"))
                    // The order's status, the text's state, or `revoked`.
                    .col(string_len("status", 16))
                    .col(integer_null("version"))
                    .col(uuid_null("notification_id"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("changes_txid_id")
                    .table("changes")
                    .col("txid")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("changes_at")
                    .table("changes")
                    .col("at")
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if backend == DbBackend::Postgres {
            db.execute_unprepared(POSTGRES_TRIGGERS).await?;
        } else {
            for trigger in SQLITE_TRIGGERS {
                db.execute_unprepared(trigger).await?;
            }
        }

        manager
            .create_table(
                Table::create()
                    .table("stream_tokens")
                    .col(string("token_hash").primary_key())
                    .col(uuid("key_id"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("stream_tokens_key_id")
                            .from("stream_tokens", "key_id")
                            .to("api_keys", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER orders_changed ON orders;
                 DROP TRIGGER notifications_created ON notifications;
                 DROP TRIGGER notifications_state_changed ON notifications;
                 DROP TRIGGER api_keys_revoked ON api_keys;
                 DROP FUNCTION order_notify_order_changed();
                 DROP FUNCTION order_notify_notification_changed();
                 DROP FUNCTION order_notify_key_revoked();",
            )
            .await?;
        } else {
            for name in [
                "orders_created",
                "orders_status_changed",
                "notifications_created",
                "notifications_state_changed",
                "api_keys_revoked",
            ] {
                db.execute_unprepared(&format!("DROP TRIGGER {name}"))
                    .await?;
            }
        }
        for table in ["stream_tokens", "changes"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
