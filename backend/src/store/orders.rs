//! Orders and their status history. Every write takes the transaction it belongs to,
//! so a caller can add its own rows (an idempotency record, later a notification) and
//! commit them together.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{order_events, orders};
pub use super::port::OrderError;
use super::sqlite::direct;
use crate::domain::{
    Actor, ExternalRef, HistoryEntry, NewOrder, Notes, Order, OrderEdit, OrderField, OrderFilter,
    OrderItem, OrderItems, OrderStatus, PhoneNumber, Scope, search_text,
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
        eta: model.eta,
        notes: model.notes,
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

/// Appends the history step that brought `order` (as it is after the step) from
/// `from`, naming the fields it `changed`.
async fn append_event(
    txn: &impl super::InTransaction,
    order: &Order,
    from: Option<OrderStatus>,
    actor: &Actor,
    changed: &[OrderField],
) -> Result<(), DbErr> {
    let changed = (!changed.is_empty()).then(|| {
        changed
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    if let Some(sqlite) = txn.sqlite() {
        // The insert below as plain SQL, without reading the row back.
        const SQL: &str = "INSERT INTO order_events \
            (order_id, from_status, to_status, actor, actor_key_id, at, changed, eta) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        return sqlite.run(|conn| {
            direct::execute(
                conn,
                SQL,
                &[
                    &direct::uuid(&order.id),
                    &from.map(OrderStatus::as_str),
                    &order.status.as_str(),
                    &actor.name,
                    &actor.key_id.as_ref().map(direct::uuid),
                    &direct::time(&order.updated_at),
                    &changed,
                    &order.eta.as_ref().map(direct::time),
                ],
            )
            .map(|_| ())
        });
    }
    order_events::ActiveModel {
        order_id: Set(order.id),
        from_status: Set(from.map(|s| s.as_str().to_owned())),
        to_status: Set(order.status.as_str().to_owned()),
        actor: Set(actor.name.clone()),
        actor_key_id: Set(actor.key_id),
        at: Set(order.updated_at),
        changed: Set(changed),
        eta: Set(order.eta),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map(|_| ())
}

/// Inserts a pending order and the history event that records its creation.
pub async fn create_order(
    txn: &impl super::InTransaction,
    new: NewOrder,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let now = super::now();
    let id = Uuid::now_v7();
    let external_ref = new.external_ref.map(ExternalRef::into_string);
    let notes = new.notes.map(Notes::into_string);
    let items =
        serde_json::to_value(new.items.as_slice()).map_err(|e| DbErr::Custom(e.to_string()))?;
    let search = search_text(
        new.customer_name.as_str(),
        external_ref.as_deref(),
        id,
        new.items.as_slice(),
        notes.as_deref(),
    );
    let inserted = orders::ActiveModel {
        id: Set(id),
        external_ref: Set(external_ref.clone()),
        customer_name: Set(new.customer_name.into_string()),
        phone: Set(new.phone.into_string()),
        items: Set(items),
        status: Set(OrderStatus::Pending.as_str().to_owned()),
        eta: Set(new.eta),
        notes: Set(notes),
        search_text: Set(search),
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
        Err(e) if super::sqlite::is_unique_violation(&e) => {
            return Err(OrderError::DuplicateExternalRef(
                external_ref.unwrap_or_default(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let order = to_order(model)?;
    append_event(txn, &order, None, actor, &[]).await?;
    Ok(order)
}

/// The columns an order is read from on the SQLite engine, as [`order_from_row`] takes
/// them.
macro_rules! order_columns {
    () => {
        "seq, id, external_ref, customer_name, phone, items, status, eta, notes, version, \
         created_by, created_at, updated_at"
    };
}

/// An order read on the SQLite engine (its columns as `order_columns!` lists them).
fn order_from_row(row: &rusqlite::Row<'_>) -> Result<Order, DbErr> {
    let id = direct::uuid_at(row, 1)?;
    let items: Vec<OrderItem> = direct::json_at(row, 5).map_err(|e| corrupt(id, e))?;
    Ok(Order {
        seq: direct::get(row, 0)?,
        id,
        external_ref: direct::get(row, 2)?,
        customer_name: direct::get(row, 3)?,
        phone: PhoneNumber::from_trusted(direct::get(row, 4)?),
        items: OrderItems::from_trusted(items),
        status: direct::text_at(row, 6)?
            .parse()
            .map_err(|e| corrupt(id, e))?,
        eta: direct::opt_time_at(row, 7)?,
        notes: direct::get(row, 8)?,
        version: direct::get(row, 9)?,
        created_by: direct::opt_uuid_at(row, 10)?,
        created_at: direct::time_at(row, 11)?,
        updated_at: direct::time_at(row, 12)?,
    })
}

pub async fn find_order(
    db: &impl super::Conn,
    id: Uuid,
    scope: Scope,
) -> Result<Option<Order>, DbErr> {
    if let Some(sqlite) = db.sqlite() {
        // The query below as plain SQL: every get, status change and text reads it.
        const ANY: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?1");
        const OWN: &str = concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE id = ?1 AND created_by = ?2"
        );
        let found = sqlite.run(|conn| match scope {
            Scope::All => direct::rows(conn, ANY, &[&direct::uuid(&id)], order_from_row),
            Scope::CreatedBy(key) => direct::rows(
                conn,
                OWN,
                &[&direct::uuid(&id), &direct::uuid(&key)],
                order_from_row,
            ),
        })?;
        return Ok(found.into_iter().next());
    }
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
    db: &impl super::Conn,
    filter: &OrderFilter,
    scope: Scope,
) -> Result<(Vec<Order>, bool), DbErr> {
    if let Some(sqlite) = db.sqlite() {
        return sqlite.run(|conn| list_orders_on_sqlite(conn, filter, scope));
    }
    let mut query = scoped(orders::Entity::find(), scope);
    if !filter.statuses.is_empty() {
        query =
            query.filter(orders::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(search) = &filter.search {
        let pattern = like_pattern(&search.text);
        let mut any = Condition::any()
            .add(Expr::col(orders::Column::SearchText).like(LikeExpr::new(pattern).escape('\\')));
        // Phone numbers are stored as +E164; match on the digits people type, whatever
        // spaces or dashes they put between them, and on the number they wrote
        // nationally.
        if let Some(digits) = &search.digits {
            any = any.add(orders::Column::Phone.contains(digits));
        }
        if let Some(phone) = &search.phone {
            any = any.add(orders::Column::Phone.eq(phone.as_str()));
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

/// [`list_orders`]'s query as plain SQL on the SQLite engine, condition for condition:
/// a page of the board is the read the kitchen's tablets make most.
fn list_orders_on_sqlite(
    conn: &rusqlite::Connection,
    filter: &OrderFilter,
    scope: Scope,
) -> Result<(Vec<Order>, bool), DbErr> {
    use rusqlite::types::Value as V;

    let mut sql = String::from(concat!("SELECT ", order_columns!(), " FROM orders WHERE 1"));
    let mut values: Vec<V> = Vec::new();
    if let Scope::CreatedBy(key) = scope {
        sql.push_str(" AND created_by = ?");
        values.push(V::Blob(direct::uuid(&key).to_vec()));
    }
    if !filter.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        direct::push_placeholders(&mut sql, filter.statuses.len());
        sql.push(')');
        values.extend(
            filter
                .statuses
                .iter()
                .map(|s| V::Text(s.as_str().to_owned())),
        );
    }
    if let Some(search) = &filter.search {
        sql.push_str(" AND (search_text LIKE ? ESCAPE '\\'");
        values.push(V::Text(like_pattern(&search.text)));
        if let Some(digits) = &search.digits {
            sql.push_str(" OR phone LIKE ?");
            values.push(V::Text(format!("%{digits}%")));
        }
        if let Some(phone) = &search.phone {
            sql.push_str(" OR phone = ?");
            values.push(V::Text(phone.as_str().to_owned()));
        }
        sql.push(')');
    }
    if let Some(before) = filter.before_seq {
        sql.push_str(" AND seq < ?");
        values.push(V::Integer(before));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    values.push(V::Integer(
        i64::try_from(filter.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    let params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
    let mut orders = direct::rows(conn, &sql, &params, order_from_row)?;
    let more = orders.len() as u64 > filter.limit;
    orders.truncate(filter.limit as usize);
    Ok((orders, more))
}

/// Writes `changed` (what `order`, as the caller read it, becomes: its status and
/// promised time, and the details among `fields`) only if the order is still at the
/// version the caller read, bumping the version, and appends the history step naming
/// the `fields` it changed. A concurrent change (another instance,
/// another request) makes this fail with `ConcurrentChange` instead of silently
/// overwriting it. Returns the order as written.
async fn change_at_version(
    txn: &impl super::InTransaction,
    order: &Order,
    changed: Order,
    fields: &[OrderField],
    actor: &Actor,
) -> Result<Order, OrderError> {
    let written = Order {
        version: order.version + 1,
        updated_at: super::now(),
        ..changed
    };
    // A status change (with or without a new time) leaves the details, and what search
    // looks through, as they are: only an edit writes them.
    let details = [
        OrderField::CustomerName,
        OrderField::Phone,
        OrderField::Items,
        OrderField::Notes,
    ];
    let edits_details = fields.iter().any(|field| details.contains(field));
    let updated = match txn.sqlite() {
        // A status change (or a new time) as plain SQL on SQLite's engine: the update
        // below without the details, at the version read.
        Some(sqlite) if !edits_details => {
            const SQL: &str = "UPDATE orders SET status = ?1, eta = ?2, version = ?3, \
                updated_at = ?4 WHERE id = ?5 AND version = ?6";
            sqlite.run(|conn| {
                direct::execute(
                    conn,
                    SQL,
                    &[
                        &written.status.as_str(),
                        &written.eta.as_ref().map(direct::time),
                        &written.version,
                        &direct::time(&written.updated_at),
                        &direct::uuid(&order.id),
                        &order.version,
                    ],
                )
            })? as u64
        }
        _ => {
            let mut update = orders::Entity::update_many()
                .col_expr(orders::Column::Status, Expr::value(written.status.as_str()))
                .col_expr(orders::Column::Eta, Expr::value(written.eta));
            if edits_details {
                let items = serde_json::to_value(written.items.as_slice())
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                update = update
                    .col_expr(
                        orders::Column::CustomerName,
                        Expr::value(written.customer_name.clone()),
                    )
                    .col_expr(orders::Column::Phone, Expr::value(written.phone.as_str()))
                    .col_expr(orders::Column::Items, Expr::value(items))
                    .col_expr(orders::Column::Notes, Expr::value(written.notes.clone()))
                    .col_expr(
                        orders::Column::SearchText,
                        Expr::value(written.search_text()),
                    );
            }
            update
                .col_expr(orders::Column::Version, Expr::value(written.version))
                .col_expr(orders::Column::UpdatedAt, Expr::value(written.updated_at))
                .filter(orders::Column::Id.eq(order.id))
                .filter(orders::Column::Version.eq(order.version))
                .exec(txn)
                .await?
                .rows_affected
        }
    };
    if updated != 1 {
        return Err(OrderError::ConcurrentChange);
    }
    append_event(txn, &written, Some(order.status), actor, fields).await?;
    Ok(written)
}

/// Moves an order to `target` (and, when `eta` is given, promises that time): writes
/// it, bumps the version and appends the history step, at the version the caller read.
pub async fn change_status(
    txn: &impl super::InTransaction,
    order: &Order,
    target: OrderStatus,
    eta: Option<Option<DateTime<Utc>>>,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let changed = Order {
        status: target,
        eta: eta.unwrap_or(order.eta),
        ..order.clone()
    };
    let fields = match changed.eta != order.eta {
        true => &[OrderField::Eta][..],
        false => &[],
    };
    change_at_version(txn, order, changed, fields, actor).await
}

/// Corrects `order`'s details as `edit` says, bumps the version and appends a history
/// entry naming the `changed` fields (the status stays), at the version the caller read.
pub async fn edit_order(
    txn: &impl super::InTransaction,
    order: &Order,
    edit: &OrderEdit,
    changed: &[OrderField],
    actor: &Actor,
) -> Result<Order, OrderError> {
    change_at_version(txn, order, edit.applied_to(order), changed, actor).await
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
                eta: row.eta,
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
