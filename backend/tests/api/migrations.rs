//! Migrations upgrade a database that already holds data, on both backends.

use crate::helpers::*;
use order_notify::domain::{OrderFilter, OrderSearch, OrderStatus, Scope};
use order_notify::store::entities::orders;
use order_notify::store::{self, Migrator};
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, EntityTrait, Set, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use serde_json::json;

async fn upgrade_keeps_orders(kind: DbKind) {
    let Some(db) = TestDb::create(kind).await else {
        return;
    };
    let conn = store::connect(db.url()).await.unwrap();
    // The schema as the first release left it, with an order in it.
    Migrator::up(&conn, Some(1)).await.unwrap();
    // Written as the first release wrote it: the order's row and its creation's
    // history entry, in the columns that release had.
    let id = uuid::Uuid::now_v7();
    let at = chrono::Utc::now();
    let row = orders::Entity::insert(orders::ActiveModel {
        id: Set(id),
        external_ref: Set(None),
        customer_name: Set("Zoë Ångström".to_owned()),
        phone: Set("+31612345678".to_owned()),
        items: Set(json!([{"name": "Soup", "quantity": 1}])),
        status: Set("pending".to_owned()),
        version: Set(1),
        created_by: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    });
    let txn = conn.begin().await.unwrap();
    row.exec(&txn).await.unwrap();
    let event = Query::insert()
        .into_table("order_events")
        .columns(["order_id", "from_status", "to_status", "actor", "at"])
        .values_panic([
            id.into(),
            Option::<String>::None.into(),
            "pending".into(),
            "before upgrade".into(),
            at.into(),
        ])
        .to_owned();
    txn.execute(&event).await.unwrap();
    txn.commit().await.unwrap();

    Migrator::up(&conn, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store::orders::find_order(&conn, id, Scope::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kept.customer_name.as_str(), kept.phone.as_str()),
        ("Zoë Ångström", "+31612345678")
    );
    assert_eq!((kept.status, kept.version), (OrderStatus::Pending, 1));
    assert_eq!(kept.items.as_slice()[0].name, "Soup");
    let (history, _) = store::orders::history(&conn, id, 50, None).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from, history[0].to),
        (None, OrderStatus::Pending)
    );
    assert!(
        history[0].changed.is_empty(),
        "an entry from before edits names no fields"
    );
    // Orders from before search had its own column are found as new ones are: by the
    // name without accents, the code the texts give, an item.
    let code = order_notify::domain::short_ref(id);
    for q in [
        "zoe angstrom",
        code.as_str(),
        &code[1..].to_lowercase(),
        "SOUP",
    ] {
        let filter = OrderFilter {
            search: Some(OrderSearch::new(q, None)),
            limit: 10,
            ..OrderFilter::default()
        };
        let (found, _) = store::orders::list_orders(&conn, &filter, Scope::All)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{q}");
    }
    let templates = store::templates::list_templates(&conn).await.unwrap();
    assert_eq!(templates.len(), OrderStatus::ALL.len());
    // Running them again is a no-op.
    store::migrate(&conn).await.unwrap();
}

#[tokio::test]
async fn migrations_upgrade_an_existing_sqlite_database() {
    upgrade_keeps_orders(DbKind::Sqlite).await;
}

#[tokio::test]
async fn migrations_upgrade_an_existing_postgres_database() {
    upgrade_keeps_orders(DbKind::Postgres).await;
}
