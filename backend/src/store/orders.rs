//! Orders and their status history. Every write takes the transaction it belongs to,
//! so a caller can add its own rows (an idempotency record, later a notification) and
//! commit them together.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use super::entities::{order_events, orders};
pub use super::port::OrderError;
use crate::domain::{
    Actor, ExternalRef, HistoryEntry, NewOrder, Order, OrderEdit, OrderField, OrderFilter,
    OrderItem, OrderItems, OrderStatus, PhoneNumber, Scope,
};

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("order {id} holds an invalid value: {what}"))
}

fn to_order(model: orders::Model) -> Result<Order, DbErr> {
    let status = model.status.parse().map_err(|e| corrupt(model.id, e))?;
    let items: Vec<OrderItem> =
        serde_json::from_value(model.items).map_err(|e| corrupt(model.id, e))?;
    Ok(Order {
        seq: model.seq,
        id: model.id,
        external_ref: model.external_ref,
        customer_name: model.customer_name,
        phone: PhoneNumber::from_trusted(model.phone),
        items: OrderItems::from_trusted(items),
        status,
        version: model.version,
        created_by: model.created_by,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn scoped(query: sea_orm::Select<orders::Entity>, scope: Scope) -> sea_orm::Select<orders::Entity> {
    match scope {
        Scope::All => query,
        Scope::CreatedBy(key_id) => query.filter(orders::Column::CreatedBy.eq(key_id)),
    }
}

async fn append_event(
    txn: &DatabaseTransaction,
    order_id: Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: &Actor,
    at: DateTime<Utc>,
    changed: &[OrderField],
) -> Result<(), DbErr> {
    let changed = (!changed.is_empty()).then(|| {
        changed
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    order_events::ActiveModel {
        order_id: Set(order_id),
        from_status: Set(from.map(|s| s.as_str().to_owned())),
        to_status: Set(to.as_str().to_owned()),
        actor: Set(actor.name.clone()),
        actor_key_id: Set(actor.key_id),
        at: Set(at),
        changed: Set(changed),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map(|_| ())
}

/// Inserts a pending order and the history event that records its creation.
pub async fn create_order(
    txn: &DatabaseTransaction,
    new: NewOrder,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let now = super::now();
    let id = Uuid::now_v7();
    let external_ref = new.external_ref.map(ExternalRef::into_string);
    let items =
        serde_json::to_value(new.items.as_slice()).map_err(|e| DbErr::Custom(e.to_string()))?;
    let inserted = orders::ActiveModel {
        id: Set(id),
        external_ref: Set(external_ref.clone()),
        customer_name: Set(new.customer_name.into_string()),
        phone: Set(new.phone.into_string()),
        items: Set(items),
        status: Set(OrderStatus::Pending.as_str().to_owned()),
        version: Set(1),
        created_by: Set(actor.key_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await;
    let model = match inserted {
        Ok(model) => model,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(OrderError::DuplicateExternalRef(
                external_ref.unwrap_or_default(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    append_event(txn, id, None, OrderStatus::Pending, actor, now, &[]).await?;
    Ok(to_order(model)?)
}

pub async fn find_order(
    db: &impl ConnectionTrait,
    id: Uuid,
    scope: Scope,
) -> Result<Option<Order>, DbErr> {
    scoped(orders::Entity::find(), scope)
        .filter(orders::Column::Id.eq(id))
        .one(db)
        .await?
        .map(to_order)
        .transpose()
}

/// Escapes LIKE's wildcards so a search for `50%` finds "50%", not everything.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page of orders, newest first, and whether more follow. Paging by `seq` (keyset)
/// keeps pages stable while new orders arrive: they land before the first page, never
/// between pages.
pub async fn list_orders(
    db: &impl ConnectionTrait,
    filter: &OrderFilter,
    scope: Scope,
) -> Result<(Vec<Order>, bool), DbErr> {
    let mut query = scoped(orders::Entity::find(), scope);
    if !filter.statuses.is_empty() {
        query =
            query.filter(orders::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(search) = filter.search.as_deref() {
        let pattern = like_pattern(&search.to_lowercase());
        let lower_like = |column: orders::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        let mut any = Condition::any()
            .add(lower_like(orders::Column::CustomerName))
            .add(lower_like(orders::Column::ExternalRef));
        // Phone numbers are stored as +E164; match on the digits people type, whatever
        // spaces or dashes they put between them.
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 3 {
            any = any.add(orders::Column::Phone.contains(&digits));
        }
        query = query.filter(any);
    }
    if let Some(before) = filter.before_seq {
        query = query.filter(orders::Column::Seq.lt(before));
    }
    let mut rows = query
        .order_by_desc(orders::Column::Seq)
        .limit(filter.limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > filter.limit;
    rows.truncate(filter.limit as usize);
    let orders = rows.into_iter().map(to_order).collect::<Result<_, _>>()?;
    Ok((orders, more))
}

/// Applies `update` to `order` only if it is still at the version the caller read,
/// bumping the version, and appends the history entry (`to`, naming `changed`). A
/// concurrent change (another instance, another request) makes this fail with
/// `ConcurrentChange` instead of silently overwriting it. Returns when it happened.
async fn change_at_version(
    txn: &DatabaseTransaction,
    order: &Order,
    update: sea_orm::UpdateMany<orders::Entity>,
    to: OrderStatus,
    changed: &[OrderField],
    actor: &Actor,
) -> Result<DateTime<Utc>, OrderError> {
    let now = super::now();
    let updated = update
        .col_expr(orders::Column::Version, Expr::value(order.version + 1))
        .col_expr(orders::Column::UpdatedAt, Expr::value(now))
        .filter(orders::Column::Id.eq(order.id))
        .filter(orders::Column::Version.eq(order.version))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(OrderError::ConcurrentChange);
    }
    append_event(txn, order.id, Some(order.status), to, actor, now, changed).await?;
    Ok(now)
}

/// Moves an order to `target`: writes the status, bumps the version and appends the
/// event, at the version the caller read.
pub async fn change_status(
    txn: &DatabaseTransaction,
    order: &Order,
    target: OrderStatus,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let update = orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value(target.as_str()));
    let now = change_at_version(txn, order, update, target, &[], actor).await?;
    Ok(Order {
        status: target,
        version: order.version + 1,
        updated_at: now,
        ..order.clone()
    })
}

/// Corrects `order`'s details as `edit` says, bumps the version and appends a history
/// entry naming the `changed` fields (the status stays), at the version the caller read.
pub async fn edit_order(
    txn: &DatabaseTransaction,
    order: &Order,
    edit: &OrderEdit,
    changed: &[OrderField],
    actor: &Actor,
) -> Result<Order, OrderError> {
    let edited = edit.applied_to(order);
    let items =
        serde_json::to_value(edited.items.as_slice()).map_err(|e| DbErr::Custom(e.to_string()))?;
    let update = orders::Entity::update_many()
        .col_expr(
            orders::Column::CustomerName,
            Expr::value(edited.customer_name.clone()),
        )
        .col_expr(orders::Column::Phone, Expr::value(edited.phone.as_str()))
        .col_expr(orders::Column::Items, Expr::value(items));
    let now = change_at_version(txn, order, update, order.status, changed, actor).await?;
    Ok(Order {
        version: order.version + 1,
        updated_at: now,
        ..edited
    })
}

/// The order's history, oldest first.
pub async fn history(
    db: &impl ConnectionTrait,
    order_id: Uuid,
    limit: u64,
    after_seq: Option<i64>,
) -> Result<(Vec<HistoryEntry>, bool), DbErr> {
    let query = order_events::Entity::find().filter(order_events::Column::OrderId.eq(order_id));
    let (rows, more) = super::page_by_seq(
        db,
        query,
        order_events::Column::Seq,
        super::Paging::OldestFirst,
        limit,
        after_seq,
    )
    .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            let parse = |s: &str| s.parse::<OrderStatus>().map_err(|e| corrupt(order_id, e));
            Ok(HistoryEntry {
                seq: row.seq,
                from: row.from_status.as_deref().map(parse).transpose()?,
                to: parse(&row.to_status)?,
                actor: row.actor,
                at: row.at,
                changed: match row.changed.as_deref() {
                    None | Some("") => Vec::new(),
                    Some(list) => list
                        .split(',')
                        .map(|f| OrderField::parse(f).ok_or_else(|| corrupt(order_id, f)))
                        .collect::<Result<_, _>>()?,
                },
            })
        })
        .collect::<Result<_, DbErr>>()?;
    Ok((entries, more))
}

/// Whether any order exists (the demo seeds only an empty database).
pub async fn any_orders(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(orders::Entity::find().limit(1).one(db).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_a_search_are_taken_literally() {
        assert_eq!(like_pattern("ada"), "%ada%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
