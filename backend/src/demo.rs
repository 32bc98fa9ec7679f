//! `--demo`: a handful of sample orders in different states, so a new user sees a
//! working board at once. Added only to a database without orders.

use sea_orm::{DatabaseConnection, DbErr};

use crate::config::Settings;
use crate::domain::{Actor, NewOrder};
use crate::domain::{CustomerName, Notes, OrderItems, OrderStatus, PhoneNumber};
use crate::store::orders;
use chrono::SubsecRound;

/// A sample: customer, phone, items (name, quantity), the statuses it went through and
/// the kitchen's notes. Orders that reached confirmed or delayed were promised a time.
type Sample = (
    &'static str,
    &'static str,
    &'static [(&'static str, i64)],
    &'static [OrderStatus],
    Option<&'static str>,
);

const SAMPLES: [Sample; 6] = [
    (
        "Ada Lovelace",
        "+31612345601",
        &[("Margherita", 1), ("Tiramisu", 2)],
        &[],
        None,
    ),
    (
        "Grace Hopper",
        "+31612345602",
        &[("Pad thai", 2)],
        &[OrderStatus::Confirmed],
        Some("Ring bell 3, side door"),
    ),
    (
        "Alan Turing",
        "+31612345603",
        &[("Falafel wrap", 1), ("Mint tea", 1)],
        &[OrderStatus::Confirmed, OrderStatus::Delayed],
        None,
    ),
    (
        "Katherine Johnson",
        "+31612345604",
        &[("Ramen", 1)],
        &[OrderStatus::Confirmed, OrderStatus::Delivered],
        None,
    ),
    (
        "Edsger Dijkstra",
        "+31612345605",
        &[("Bitterballen", 12)],
        &[OrderStatus::Cancelled],
        None,
    ),
    (
        "Zoë Ångström",
        "+31612345606",
        &[("Poké bowl", 1), ("Lemonade", 2)],
        &[],
        Some("Allergic to peanuts"),
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
    let now = crate::store::now().trunc_subsecs(0);
    for (minutes, (name, phone, items, path, notes)) in (15..).step_by(10).zip(SAMPLES) {
        let raw_items: Vec<_> = items.iter().map(|(n, q)| (n.to_string(), *q)).collect();
        let new = NewOrder {
            customer_name: CustomerName::parse(name).map_err(|e| invalid(e.message))?,
            phone: PhoneNumber::parse(phone, settings.default_region)
                .map_err(|e| invalid(e.to_string()))?,
            items: OrderItems::parse(&raw_items).map_err(|e| invalid(format!("{e:?}")))?,
            external_ref: None,
            notes: notes
                .map(|n| Notes::parse(n).map_err(|e| invalid(e.message)))
                .transpose()?
                .flatten(),
            eta: None,
        };
        let mut order = orders::create_order(&txn, new, &actor)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        for status in path {
            let eta = matches!(status, OrderStatus::Confirmed | OrderStatus::Delayed)
                .then(|| now + chrono::Duration::minutes(minutes));
            order = orders::change_status(&txn, &order, *status, eta.map(Some), &actor)
                .await
                .map_err(|e| invalid(e.to_string()))?;
        }
    }
    txn.commit().await?;
    log::info!("added {} demo orders", SAMPLES.len());
    Ok(())
}
