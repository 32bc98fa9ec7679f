//! Migrations upgrade a database that already holds data, on both backends.

use crate::helpers::*;
use order_notify::domain::{CustomerName, OrderItems, OrderStatus, PhoneNumber};
use order_notify::store::{self, Migrator, orders};
use sea_orm::TransactionTrait;
use sea_orm_migration::MigratorTrait;

async fn upgrade_keeps_orders(kind: DbKind) {
    let Some(db) = TestDb::create(kind).await else {
        return;
    };
    let conn = store::connect(db.url()).await.unwrap();
    // The schema as the first release left it, with an order in it.
    Migrator::up(&conn, Some(1)).await.unwrap();
    let txn = conn.begin().await.unwrap();
    let actor = order_notify::domain::Actor {
        key_id: None,
        name: "before upgrade".into(),
    };
    let new = order_notify::domain::NewOrder {
        customer_name: CustomerName::parse("Ada").unwrap(),
        phone: PhoneNumber::parse("+31612345678", None).unwrap(),
        items: OrderItems::parse(&[("Soup".into(), 1)]).unwrap(),
        external_ref: None,
    };
    let order = orders::create_order(&txn, new, &actor).await.unwrap();
    txn.commit().await.unwrap();

    Migrator::up(&conn, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = orders::find_order(&conn, order.id, order_notify::domain::Scope::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, order);
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
