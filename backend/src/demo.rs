//! `--demo`: a handful of sample orders in different states, so a new user sees a
//! working board at once. Added only to a database without orders.

use sea_orm::{DatabaseConnection, DbErr};

use crate::config::Settings;
use crate::domain::{Actor, NewOrder};
use crate::domain::{CustomerName, OrderItems, OrderStatus, PhoneNumber};
use crate::store::orders;

/// A sample: customer, phone, items (name, quantity) and the statuses it went through.
type Sample = (
    &'static str,
    &'static str,
    &'static [(&'static str, i64)],
    &'static [OrderStatus],
);

const SAMPLES: [Sample; 6] = [
    (
        "Ada Lovelace",
        "+31612345601",
        &[("Margherita", 1), ("Tiramisu", 2)],
        &[],
    ),
    (
        "Grace Hopper",
        "+31612345602",
        &[("Pad thai", 2)],
        &[OrderStatus::Confirmed],
    ),
    (
        "Alan Turing",
        "+31612345603",
        &[("Falafel wrap", 1), ("Mint tea", 1)],
        &[OrderStatus::Confirmed, OrderStatus::Delayed],
    ),
    (
        "Katherine Johnson",
        "+31612345604",
        &[("Ramen", 1)],
        &[OrderStatus::Confirmed, OrderStatus::Delivered],
    ),
    (
        "Edsger Dijkstra",
        "+31612345605",
        &[("Bitterballen", 12)],
        &[OrderStatus::Cancelled],
    ),
    (
        "Zoë Ångström",
        "+31612345606",
        &[("Poké bowl", 1), ("Lemonade", 2)],
        &[],
    ),
];

pub async fn seed(db: &DatabaseConnection, settings: &Settings) -> Result<(), DbErr> {
    if orders::any_orders(db).await? {
        return Ok(());
    }
    let actor = Actor {
        key_id: None,
        name: "demo".to_owned(),
        role: crate::domain::Role::Admin,
    };
    let invalid = |what: String| DbErr::Custom(format!("a demo order is invalid: {what}"));
    let txn = crate::store::begin_write(db).await?;
    for (name, phone, items, path) in SAMPLES {
        let raw_items: Vec<_> = items.iter().map(|(n, q)| (n.to_string(), *q)).collect();
        let new = NewOrder {
            customer_name: CustomerName::parse(name).map_err(|e| invalid(e.message))?,
            phone: PhoneNumber::parse(phone, settings.default_region)
                .map_err(|e| invalid(e.to_string()))?,
            items: OrderItems::parse(&raw_items).map_err(|e| invalid(format!("{e:?}")))?,
            external_ref: None,
        };
        let mut order = orders::create_order(&txn, new, &actor)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        for status in path {
            order = orders::change_status(&txn, &order, *status, &actor)
                .await
                .map_err(|e| invalid(e.to_string()))?;
        }
    }
    txn.commit().await?;
    log::info!("added {} demo orders", SAMPLES.len());
    Ok(())
}
