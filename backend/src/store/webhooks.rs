//! Webhooks out on disk: the endpoints order systems registered, and the outbox of
//! deliveries (one row per event and endpoint) the worker claims with a lease, as it
//! claims texts.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::entities::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use crate::domain::{
    Audience, DeliveryState, DueWebhook, EventType, Scope, Secret, Subscription, WebhookAttempt,
    WebhookDelivery, WebhookEndpoint, WebhookEvent, message_id,
};

/// A new signing secret: 32 random bytes, base64, behind `whsec_` (the form Standard
/// Webhooks libraries take).
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn to_endpoint(row: endpoints::Model) -> WebhookEndpoint {
    WebhookEndpoint {
        id: row.id,
        url: row.url,
        subscription: Subscription::from_column(row.events.as_deref()),
        owner: row.owner_key_id,
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// Registers an endpoint; it and its secret (shown once).
pub async fn create_endpoint(
    db: &impl ConnectionTrait,
    url: &str,
    subscription: &Subscription,
    owner: Option<Uuid>,
    created_by: &str,
) -> Result<(WebhookEndpoint, String), DbErr> {
    let secret = new_secret();
    let row = endpoints::ActiveModel {
        id: Set(Uuid::now_v7()),
        url: Set(url.to_owned()),
        events: Set(subscription.to_column()),
        secret: Set(secret.clone()),
        owner_key_id: Set(owner),
        created_by: Set(created_by.to_owned()),
        created_at: Set(super::now()),
        deleted_at: Set(None),
    };
    let row = endpoints::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    Ok((to_endpoint(row), secret))
}

fn in_scope(
    mut find: sea_orm::Select<endpoints::Entity>,
    scope: Scope,
) -> sea_orm::Select<endpoints::Entity> {
    find = find.filter(endpoints::Column::DeletedAt.is_null());
    match scope {
        Scope::All => find,
        Scope::CreatedBy(key) => find.filter(endpoints::Column::OwnerKeyId.eq(key)),
    }
}

/// The endpoints `scope` may see (an admin every one), oldest first.
pub async fn list_endpoints(
    db: &impl ConnectionTrait,
    scope: Scope,
) -> Result<Vec<WebhookEndpoint>, DbErr> {
    Ok(in_scope(endpoints::Entity::find(), scope)
        .order_by_asc(endpoints::Column::CreatedAt)
        .order_by_asc(endpoints::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(to_endpoint)
        .collect())
}

pub async fn find_endpoint(
    db: &impl ConnectionTrait,
    id: Uuid,
    scope: Scope,
) -> Result<Option<WebhookEndpoint>, DbErr> {
    Ok(in_scope(endpoints::Entity::find(), scope)
        .filter(endpoints::Column::Id.eq(id))
        .one(db)
        .await?
        .map(to_endpoint))
}

/// Deletes the endpoint if `scope` may see it; what it still had to deliver fails
/// ("the endpoint was deleted"). Whether there was one.
pub async fn delete_endpoint(
    db: &impl ConnectionTrait,
    id: Uuid,
    scope: Scope,
) -> Result<bool, DbErr> {
    let Some(endpoint) = find_endpoint(db, id, scope).await? else {
        return Ok(false);
    };
    let now = super::now();
    endpoints::Entity::update_many()
        .col_expr(endpoints::Column::DeletedAt, Expr::value(now))
        .filter(endpoints::Column::Id.eq(endpoint.id))
        .exec(db)
        .await?;
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::State,
            Expr::value(DeliveryState::Failed.as_str()),
        )
        .col_expr(
            deliveries::Column::LastError,
            Expr::value("the endpoint was deleted"),
        )
        .col_expr(
            deliveries::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(deliveries::Column::EndpointId.eq(endpoint.id))
        .filter(deliveries::Column::State.is_in([
            DeliveryState::Pending.as_str(),
            DeliveryState::Sending.as_str(),
        ]))
        .exec(db)
        .await?;
    Ok(true)
}

/// The events some live endpoint wants (`None` in the list: one wants every event).
pub async fn subscriptions(db: &impl ConnectionTrait) -> Result<Vec<Subscription>, DbErr> {
    let rows: Vec<Option<String>> = endpoints::Entity::find()
        .select_only()
        .column(endpoints::Column::Events)
        .filter(endpoints::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|events| Subscription::from_column(events.as_deref()))
        .collect())
}

/// Puts `event` in the outbox of every live endpoint that wants it and may hear of it:
/// admins' endpoints always; an integration key's (while the key is not revoked) when
/// the order is one it created, or, for a customer's event, when it created an order
/// for that number. One statement whatever the number of endpoints; raw SQL because
/// the ORM cannot say INSERT … SELECT. Returns how many deliveries it queued.
pub async fn enqueue(db: &impl ConnectionTrait, event: &WebhookEvent) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let (p, contains) = match backend {
        DbBackend::Postgres => ('$', "strpos(e.events, $5) > 0"),
        _ => ('?', "instr(e.events, ?5) > 0"),
    };
    let (audience, key): (String, sea_orm::Value) = match &event.audience {
        Audience::OrderOf(Some(owner)) => (format!("e.owner_key_id = {p}6"), (*owner).into()),
        // An order no key created (made by the command line): admins' endpoints only.
        Audience::OrderOf(None) => (
            format!("e.owner_key_id = {p}6"),
            Option::<Uuid>::None.into(),
        ),
        Audience::CustomersOf(phone) => (
            format!("e.owner_key_id IN (SELECT created_by FROM orders WHERE phone = {p}6)"),
            phone.clone().into(),
        ),
    };
    let sql = format!(
        "INSERT INTO webhook_deliveries \
             (event_id, endpoint_id, event_type, order_id, body, state, attempts, due_at, created_at, updated_at) \
         SELECT {p}1, e.id, {p}2, {p}3, {p}4, 'pending', 0, {p}7, {p}7, {p}7 \
         FROM webhook_endpoints e \
         WHERE e.deleted_at IS NULL \
           AND (e.events IS NULL OR {contains}) \
           AND (e.owner_key_id IS NULL OR ({audience} \
                AND e.owner_key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NULL)))"
    );
    let now = super::now();
    let values: Vec<sea_orm::Value> = vec![
        event.id.into(),
        event.kind.as_str().into(),
        event.order_id.into(),
        event.body.clone().into(),
        format!(",{},", event.kind).into(),
        key,
        now.into(),
    ];
    let result = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(result.rows_affected())
}

/// Leases up to `limit` due deliveries to `worker` for `lease`, counting an attempt, as
/// `outbox::claim_due` does for texts (and raw SQL for the same reason); each with its
/// endpoint's address and secret.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    worker: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DueWebhook>, DbErr> {
    let now = super::now();
    let lease_expires_at =
        now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let backend = db.get_database_backend();
    let (lock, p) = match backend {
        DbBackend::Postgres => ("FOR UPDATE SKIP LOCKED", '$'),
        _ => ("", '?'),
    };
    let sql = format!(
        "UPDATE webhook_deliveries \
         SET state = 'sending', lease_owner = {p}1, lease_expires_at = {p}2, attempts = attempts + 1, \
             last_attempt_at = {p}3, updated_at = {p}3 \
         WHERE seq IN (\
             SELECT seq FROM webhook_deliveries \
             WHERE (state = 'pending' AND due_at <= {p}3) OR (state = 'sending' AND lease_expires_at < {p}3) \
             ORDER BY due_at LIMIT {p}4 {lock}) \
         RETURNING *"
    );
    let values: Vec<sea_orm::Value> = vec![
        worker.into(),
        lease_expires_at.into(),
        now.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    let mut claimed = deliveries::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    claimed.sort_by_key(|d| d.seq);
    let ids: Vec<Uuid> = claimed.iter().map(|d| d.endpoint_id).collect();
    let by_id: HashMap<Uuid, endpoints::Model> = endpoints::Entity::find()
        .filter(endpoints::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    Ok(claimed
        .into_iter()
        .filter_map(|d| {
            let endpoint = by_id.get(&d.endpoint_id)?;
            Some(DueWebhook {
                event_id: d.event_id,
                endpoint_id: d.endpoint_id,
                url: endpoint.url.clone(),
                secret: Secret::new(endpoint.secret.clone()),
                body: d.body,
                attempts: d.attempts,
                created_at: d.created_at,
            })
        })
        .collect())
}

/// Records what an attempt came to, if `worker` still holds the delivery's lease;
/// whether it did.
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    endpoint_id: Uuid,
    worker: &str,
    attempt: &WebhookAttempt,
) -> Result<bool, DbErr> {
    let now = super::now();
    let mut update = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            deliveries::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now));
    let status = |s: &Option<u16>| s.map(i32::from);
    update = match attempt {
        WebhookAttempt::Delivered { status: code } => update
            .col_expr(
                deliveries::Column::State,
                Expr::value(DeliveryState::Delivered.as_str()),
            )
            .col_expr(
                deliveries::Column::LastStatus,
                Expr::value(i32::from(*code)),
            )
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(deliveries::Column::DeliveredAt, Expr::value(now)),
        WebhookAttempt::Retry {
            status: code,
            error,
            at,
        } => update
            .col_expr(
                deliveries::Column::State,
                Expr::value(DeliveryState::Pending.as_str()),
            )
            .col_expr(deliveries::Column::LastStatus, Expr::value(status(code)))
            .col_expr(deliveries::Column::LastError, Expr::value(error.clone()))
            .col_expr(deliveries::Column::DueAt, Expr::value(*at)),
        WebhookAttempt::GaveUp {
            status: code,
            error,
        } => update
            .col_expr(
                deliveries::Column::State,
                Expr::value(DeliveryState::Failed.as_str()),
            )
            .col_expr(deliveries::Column::LastStatus, Expr::value(status(code)))
            .col_expr(deliveries::Column::LastError, Expr::value(error.clone())),
    };
    let result = update
        .filter(deliveries::Column::EventId.eq(event_id))
        .filter(deliveries::Column::EndpointId.eq(endpoint_id))
        .filter(deliveries::Column::State.eq(DeliveryState::Sending.as_str()))
        .filter(deliveries::Column::LeaseOwner.eq(worker))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Hands back what `worker` still holds (it is stopping): due again now.
pub async fn release_leases(db: &impl ConnectionTrait, worker: &str) -> Result<u64, DbErr> {
    let now = super::now();
    let released = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::State,
            Expr::value(DeliveryState::Pending.as_str()),
        )
        .col_expr(
            deliveries::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            deliveries::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(deliveries::Column::DueAt, Expr::value(now))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(deliveries::Column::LeaseOwner.eq(worker))
        .filter(deliveries::Column::State.eq(DeliveryState::Sending.as_str()))
        .exec(db)
        .await?;
    Ok(released.rows_affected)
}

fn to_delivery(row: deliveries::Model) -> Result<WebhookDelivery, DbErr> {
    let kind = row
        .event_type
        .parse::<EventType>()
        .map_err(|e| DbErr::Custom(format!("webhook delivery {}: {e}", row.seq)))?;
    let state = DeliveryState::parse(&row.state).ok_or_else(|| {
        DbErr::Custom(format!(
            "webhook delivery {}: unknown state {:?}",
            row.seq, row.state
        ))
    })?;
    Ok(WebhookDelivery {
        id: message_id(row.event_id),
        seq: row.seq,
        kind,
        order_id: row.order_id,
        state,
        attempts: row.attempts,
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error,
        last_attempt_at: row.last_attempt_at,
        next_attempt_at: (state == DeliveryState::Pending).then_some(row.due_at),
        delivered_at: row.delivered_at,
        created_at: row.created_at,
    })
}

/// A page of the endpoint's deliveries, newest first, older than `before` when given;
/// and whether there are more.
pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    endpoint: Uuid,
    limit: u64,
    before: Option<i64>,
) -> Result<(Vec<WebhookDelivery>, bool), DbErr> {
    let mut find = deliveries::Entity::find().filter(deliveries::Column::EndpointId.eq(endpoint));
    if let Some(before) = before {
        find = find.filter(deliveries::Column::Seq.lt(before));
    }
    let mut rows = find
        .order_by_desc(deliveries::Column::Seq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let items = rows
        .into_iter()
        .map(to_delivery)
        .collect::<Result<_, _>>()?;
    Ok((items, more))
}

/// Forgets the deliveries that ended (delivered or failed) before `before`; how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::State.is_in([
            DeliveryState::Delivered.as_str(),
            DeliveryState::Failed.as_str(),
        ]))
        .filter(deliveries::Column::UpdatedAt.lt(before))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}
