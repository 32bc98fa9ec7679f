//! What the kitchen display needs of an order: the time the customer was promised
//! (`eta`, also recorded on each history step), the kitchen's `notes`, and
//! `search_text`, the folded text search looks through (the name without accents, the
//! code the texts give, the items, the notes), filled in here for the orders taken
//! before it existed.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{prelude::*, schema::*};

use crate::domain::{OrderItem, search_text};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Orders folded per round trip while filling in `search_text`.
const BATCH: i64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            timestamp_with_time_zone_null("eta"),
            text_null("notes"),
            text("search_text").default("").to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table("orders")
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("order_events")
                    .add_column(timestamp_with_time_zone_null("eta"))
                    .to_owned(),
            )
            .await?;
        fill_search_text(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("order_events")
                    .drop_column("eta")
                    .to_owned(),
            )
            .await?;
        for column in ["search_text", "notes", "eta"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("orders")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

async fn fill_search_text(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let (select, update) = match backend {
        DbBackend::Postgres => (
            "SELECT seq, id, customer_name, external_ref, items FROM orders WHERE seq > $1 ORDER BY seq LIMIT $2",
            "UPDATE orders SET search_text = $1 WHERE seq = $2",
        ),
        _ => (
            "SELECT seq, id, customer_name, external_ref, items FROM orders WHERE seq > ? ORDER BY seq LIMIT ?",
            "UPDATE orders SET search_text = ? WHERE seq = ?",
        ),
    };
    let mut after = 0_i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                select,
                [after.into(), BATCH.into()],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("", "seq")?;
        for row in &rows {
            let seq: i64 = row.try_get("", "seq")?;
            let id: uuid::Uuid = row.try_get("", "id")?;
            let name: String = row.try_get("", "customer_name")?;
            let external_ref: Option<String> = row.try_get("", "external_ref")?;
            let items: serde_json::Value = row.try_get("", "items")?;
            let items: Vec<OrderItem> = serde_json::from_value(items)
                .map_err(|e| DbErr::Custom(format!("order {id} holds invalid items: {e}")))?;
            let text = search_text(&name, external_ref.as_deref(), id, &items, None);
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                update,
                [text.into(), seq.into()],
            ))
            .await?;
        }
    }
}
