//! Corrections to an order's details (`PATCH /orders/{id}`): the history records which
//! fields an edit changed, and an edit is news to the live stream as a status change is.
//!
//! The stream's triggers fired only when the status changed; an edit changes the
//! version and not the status, so they now fire on either.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = "
DROP TRIGGER orders_changed ON orders;
CREATE TRIGGER orders_changed AFTER INSERT OR UPDATE OF status, version ON orders
    FOR EACH ROW EXECUTE FUNCTION order_notify_order_changed();
";

const POSTGRES_DOWN: &str = "
DROP TRIGGER orders_changed ON orders;
CREATE TRIGGER orders_changed AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION order_notify_order_changed();
";

const SQLITE_UP: [&str; 2] = [
    "DROP TRIGGER orders_status_changed",
    "CREATE TRIGGER orders_status_changed AFTER UPDATE OF status, version ON orders BEGIN
        INSERT INTO changes (kind, order_id, owner, status, version, at)
        VALUES ('order', NEW.id, NEW.created_by, NEW.status, NEW.version, NEW.updated_at);
    END",
];

const SQLITE_DOWN: [&str; 2] = [
    "DROP TRIGGER orders_status_changed",
    "CREATE TRIGGER orders_status_changed AFTER UPDATE OF status ON orders BEGIN
        INSERT INTO changes (kind, order_id, owner, status, version, at)
        VALUES ('order', NEW.id, NEW.created_by, NEW.status, NEW.version, NEW.updated_at);
    END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("order_events")
                    // The fields an edit changed, comma-separated; NULL for a status change.
                    .add_column(string_null("changed"))
                    .to_owned(),
            )
            .await?;
        triggers(manager, POSTGRES_UP, &SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        triggers(manager, POSTGRES_DOWN, &SQLITE_DOWN).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("order_events")
                    .drop_column("changed")
                    .to_owned(),
            )
            .await
    }
}

async fn triggers(
    manager: &SchemaManager<'_>,
    postgres: &str,
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(postgres).await?;
    } else {
        for statement in sqlite {
            db.execute_unprepared(statement).await?;
        }
    }
    Ok(())
}
