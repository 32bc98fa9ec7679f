//! Webhooks out: order systems register where to hear of changes (admins hear of every
//! order, an integration key of the orders it created); the use cases that change
//! orders, texts and opt-outs put each event in the webhook outbox in their own
//! transaction; the dispatcher (`delivery::webhooks`) claims, signs and sends them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Page, Services, StorageError, next_position};
use crate::domain::{
    Actor, DueWebhook, EndpointUrl, EventType, Notification, Order, OrderField, OrderStatus, Role,
    Scope, Subscription, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
use crate::outbound::{self, Refused};
use crate::store::Writes;

/// How long this process trusts what it last read of the endpoints' subscriptions (as
/// it trusts its caches of keys and templates): an endpoint registered through another
/// process hears of changes made here at most this much later.
const INTEREST_TTL: Duration = Duration::from_secs(2);

/// The event types some live endpoint wants: a use case writes an event to the outbox
/// only then, so with no endpoint the hot paths pay nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest(u16);

impl Interest {
    fn of(subscriptions: &[Subscription]) -> Interest {
        let mut bits = 0;
        for (i, kind) in EventType::ALL.into_iter().enumerate() {
            if subscriptions.iter().any(|s| s.wants(kind)) {
                bits |= 1 << i;
            }
        }
        Interest(bits)
    }

    pub fn wants(self, kind: EventType) -> bool {
        let i = EventType::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every event type is listed");
        self.0 & (1 << i) != 0
    }

    pub fn any(self) -> bool {
        self.0 != 0
    }
}

/// What this process last read of the subscriptions, and when.
#[derive(Default)]
pub(super) struct InterestCache(Mutex<Option<(Instant, Interest)>>);

impl InterestCache {
    fn fresh(&self) -> Option<Interest> {
        let cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cached.and_then(|(at, interest)| (at.elapsed() < INTEREST_TTL).then_some(interest))
    }

    fn keep(&self, interest: Interest) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), interest));
    }

    fn forget(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// An endpoint as asked for.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    /// `None`: every event.
    pub events: Option<Vec<EventType>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateEndpointError {
    /// The address or the event list is not acceptable; `field` names which.
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl crate::store::writer::WriteError for CreateEndpointError {
    fn storage_fault(&self) -> Option<&StorageError> {
        match self {
            CreateEndpointError::Storage(e) => e.storage_fault(),
            CreateEndpointError::Invalid { .. } => None,
        }
    }
}

/// No endpoint with this id, or none the caller may see.
#[derive(Debug, thiserror::Error)]
#[error("There is no webhook endpoint {0}.")]
pub struct EndpointNotFound(pub Uuid);

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    NotFound(#[from] EndpointNotFound),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Whose endpoints a caller manages: an admin key every one (and its endpoints hear of
/// every order), an integration key its own.
fn endpoint_scope(by: &Actor) -> Scope {
    match (by.role, by.key_id) {
        (Role::Integration, Some(key)) => Scope::CreatedBy(key),
        _ => Scope::All,
    }
}

impl Services {
    /// Registers an endpoint after checking its address (and, unless private networks
    /// are allowed, that it resolves only to public addresses); it and its signing
    /// secret, which is shown this once.
    pub async fn create_webhook_endpoint(
        &self,
        by: &Actor,
        new: NewEndpoint,
    ) -> Result<(WebhookEndpoint, String), CreateEndpointError> {
        let url = EndpointUrl::parse(&new.url).map_err(|message| CreateEndpointError::Invalid {
            field: "url",
            message,
        })?;
        let subscription = Subscription::parse(new.events.as_deref()).map_err(|message| {
            CreateEndpointError::Invalid {
                field: "events",
                message,
            }
        })?;
        outbound::check_endpoint(&url, self.settings.webhooks_allow_private_networks)
            .await
            .map_err(|refused| CreateEndpointError::Invalid {
                field: "url",
                message: match refused {
                    Refused::Private { .. } => format!(
                        "must reach the public internet: {refused} (set ORDER_NOTIFY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true to allow it)"
                    ),
                    Refused::Unresolved(_) => format!("cannot be reached: {refused}"),
                },
            })?;
        let owner = match endpoint_scope(by) {
            Scope::CreatedBy(key) => Some(key),
            Scope::All => None,
        };
        let (address, name) = (url.as_str().to_owned(), by.name.clone());
        let created = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    txn.create_webhook_endpoint(&address, &subscription, owner, &name)
                        .await
                        .map_err(CreateEndpointError::from)
                })
            })
            .await?;
        self.webhook_interest.forget();
        log::info!(
            "webhook endpoint {} for {} created by key {:?}",
            created.0.id,
            created.0.url,
            by.name
        );
        Ok(created)
    }

    /// The endpoints the caller manages, oldest first.
    pub async fn webhook_endpoints(
        &self,
        by: &Actor,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        self.reads.webhook_endpoints(endpoint_scope(by)).await
    }

    /// Deletes an endpoint the caller manages; what it had yet to get is not sent.
    pub async fn delete_webhook_endpoint(&self, by: &Actor, id: Uuid) -> Result<(), EndpointError> {
        let scope = endpoint_scope(by);
        let deleted = self
            .writer
            .run(move |txn| Box::pin(async move { txn.delete_webhook_endpoint(id, scope).await }))
            .await?;
        self.webhook_interest.forget();
        if !deleted {
            return Err(EndpointNotFound(id).into());
        }
        log::info!("webhook endpoint {id} deleted by key {:?}", by.name);
        Ok(())
    }

    /// A page of an endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        by: &Actor,
        id: Uuid,
        page: Page,
    ) -> Result<(Vec<WebhookDelivery>, Option<i64>), EndpointError> {
        let endpoint = self
            .reads
            .webhook_endpoint(id, endpoint_scope(by))
            .await?
            .ok_or(EndpointNotFound(id))?;
        let (items, more) = self
            .reads
            .webhook_deliveries(endpoint.id, page.limit, page.from)
            .await?;
        let next = next_position(&items, more, |d| d.seq);
        Ok((items, next))
    }

    /// The event types some endpoint wants, as this process last read them.
    pub(crate) async fn webhook_interest(&self) -> Result<Interest, StorageError> {
        if let Some(interest) = self.webhook_interest.fresh() {
            return Ok(interest);
        }
        let interest = Interest::of(&self.reads.webhook_subscriptions().await?);
        self.webhook_interest.keep(interest);
        Ok(interest)
    }

    /// The bell the dispatcher listens to: rung after a write that queued an event.
    pub fn webhook_bell(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.webhook_bell.clone()
    }

    /// Rings the dispatcher's bell after a write that may have queued an event of one
    /// of `kinds`: only when some endpoint wants one of them, since every ring costs the
    /// dispatcher a claim through the writer.
    pub(crate) fn ring_webhooks(&self, interest: Interest, kinds: &[EventType]) {
        if kinds.iter().any(|kind| interest.wants(*kind)) {
            self.webhook_bell.notify_one();
        }
    }

    /// Leases up to `limit` due deliveries to `worker` for `lease`, counting an attempt.
    pub async fn claim_due_webhooks(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueWebhook>, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| {
                Box::pin(async move { txn.claim_due_webhooks(&worker, limit, lease).await })
            })
            .await
    }

    /// Records what an attempt at a delivery came to; whether `worker` still held it.
    pub async fn record_webhook_attempt(
        &self,
        due: &DueWebhook,
        worker: &str,
        attempt: WebhookAttempt,
    ) -> Result<bool, StorageError> {
        let (event, endpoint, worker) = (due.event_id, due.endpoint_id, worker.to_owned());
        self.writer
            .run(move |txn| {
                Box::pin(async move {
                    txn.record_webhook_attempt(event, endpoint, &worker, &attempt)
                        .await
                })
            })
            .await
    }

    /// Hands back the deliveries `worker` holds (it is stopping); how many.
    pub async fn release_webhook_leases(&self, worker: &str) -> Result<u64, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| Box::pin(async move { txn.release_webhook_leases(&worker).await }))
            .await
    }
}

/// Queues the event `make` builds, if some endpoint wants its kind (so an unwanted
/// event is not even built).
pub(crate) async fn emit(
    txn: &dyn Writes,
    interest: Interest,
    kind: EventType,
    make: impl FnOnce() -> WebhookEvent,
) -> Result<(), StorageError> {
    if interest.wants(kind) {
        txn.enqueue_webhook(&make()).await?;
    }
    Ok(())
}

/// Queues an `order.*` event about `order` as it is now (with the status it left, or
/// the details that changed), if some endpoint wants it.
pub(crate) async fn emit_order(
    txn: &dyn Writes,
    interest: Interest,
    kind: EventType,
    order: &Order,
    from: Option<OrderStatus>,
    changed: Option<&[OrderField]>,
) -> Result<(), StorageError> {
    emit(txn, interest, kind, || {
        WebhookEvent::order(kind, order, from, changed, order.updated_at)
    })
    .await
}

/// Queues a `notification.*` event about `text`, to the endpoints of the key that
/// created its order.
pub(crate) async fn emit_text(
    txn: &dyn Writes,
    interest: Interest,
    kind: EventType,
    text: &Notification,
) -> Result<(), StorageError> {
    if !interest.wants(kind) {
        return Ok(());
    }
    let owner = txn
        .find_order(text.order_id, Scope::All)
        .await?
        .and_then(|order| order.created_by);
    let at = crate::store::now();
    txn.enqueue_webhook(&WebhookEvent::notification(kind, text, owner, at))
        .await?;
    Ok(())
}
