//! The store as the use cases see it: what they may read ([`Reads`]) and what a
//! writing transaction may do besides ([`Writes`]), in domain types, with one error
//! type ([`StorageError`]) whatever the engine underneath.
//!
//! The use cases hold a `dyn Reads` for their reads and get a `dyn Writes` only inside
//! the writer (`store::writer`), so a write outside a writing transaction does not
//! compile. `store::sea` implements both over sea-orm, for SQLite and PostgreSQL; a
//! faster engine for one database goes beside it, behind the same two traits, and no
//! use case changes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    Actor, ApiKey, Attempt, AuditAction, AuditEntry, DeliveryReport, HistoryEntry, NewAuditEntry,
    NewOrder, Notification, NotificationState, OptOut, Order, OrderEdit, OrderField, OrderFilter,
    OrderStatus, Role, SandboxMessage, Scope, SmsText, StatusTemplate, Template,
};
use crate::domain::{
    DueWebhook, Subscription, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
pub use crate::fault::FaultKind;
use crate::metrics::QueueFigures;

/// The storage failed or refused. [`StorageError::fault`] says whether the disk or the
/// database server failed underneath (a full disk, read-only files, a lost connection),
/// which is answered 503 and retried; anything else (a bad row, a bug) is answered 500.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    fault: Option<FaultKind>,
    message: String,
}

impl StorageError {
    /// An error with no storage fault under it, in the engine's or a use case's words.
    pub fn other(message: impl Into<String>) -> StorageError {
        StorageError {
            fault: None,
            message: message.into(),
        }
    }

    /// A storage fault of `kind`, as the engine described it.
    pub fn fault_of(kind: FaultKind, message: impl Into<String>) -> StorageError {
        StorageError {
            fault: Some(kind),
            message: message.into(),
        }
    }

    /// How the storage failed underneath, if it did (and the error is not, say, a bad
    /// query or an invalid row).
    pub fn fault(&self) -> Option<FaultKind> {
        self.fault
    }
}

/// Why an order could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("this key already created an order with external_ref {0:?}")]
    DuplicateExternalRef(String),
    #[error("the order changed while this request was running")]
    ConcurrentChange,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A position in the change log: (writing transaction, row id). On SQLite the
/// transaction part is always 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub txid: i64,
    pub id: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.txid, self.id)
    }
}

impl FromStr for Cursor {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WRONG: &str = "is not an event id this server gave out";
        let (txid, id) = s.trim().split_once('-').ok_or(WRONG)?;
        let number = |part: &str| {
            part.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && part.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(WRONG)
        };
        Ok(Cursor {
            txid: number(txid)?,
            id: number(id)?,
        })
    }
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The order was created (version 1) or moved to `status`.
    Order {
        order_id: Uuid,
        status: OrderStatus,
        version: i32,
    },
    /// A text about the order was queued or reached `state`.
    Notification {
        order_id: Uuid,
        id: Uuid,
        state: NotificationState,
    },
    /// The key was revoked: its streams end.
    KeyRevoked { key_id: Uuid },
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub cursor: Cursor,
    /// The key that created the order (for a revoked key, that key).
    pub owner: Option<Uuid>,
    pub kind: ChangeKind,
    pub at: DateTime<Utc>,
}

/// The response a request gave, as kept for replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

/// What claiming an idempotency key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: do the work, then `complete_once` or `release_once`.
    Proceed,
    /// The same request already ran: answer with this.
    Replay(StoredResponse),
    /// The same key is being used by a request that has not finished.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

/// Where a key was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    Api,
    Cli,
    FirstStart,
    Env,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Api => "api",
            KeySource::Cli => "cli",
            KeySource::FirstStart => "first-start",
            KeySource::Env => "env",
        }
    }
}

/// What revoking a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    NotFound,
    /// Refused: it is the last admin key, and revoking it would lock everyone out.
    LastAdmin,
    /// Refused: ORDER_NOTIFY_ADMIN_KEY made it, and the next start would bring it back;
    /// it is retired by changing that setting.
    FromConfiguration,
}

/// A number's recent texts, as a sending limit counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentTexts {
    pub count: u64,
    /// When the oldest of them was queued.
    pub oldest: Option<DateTime<Utc>>,
}

/// What queueing a failed text again did.
#[derive(Debug, PartialEq, Eq)]
pub enum Requeue {
    Queued(Box<Notification>),
    NotFound,
    /// Only a failed text goes back in the queue; this one is in another state.
    NotFailed(NotificationState),
}

/// What a provider's status report did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReportApplied {
    /// It names no text we know.
    NoText,
    /// The text had already moved on (delivered or failed): reports only move forward.
    Unchanged,
    /// The text, as the report left it.
    Changed(Box<Notification>),
}

/// What the worker writes after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider_message_id: String,
    },
    RetryAt {
        due_at: DateTime<Utc>,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

/// One attempt at a text as the worker made it, and what it means for the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub id: Uuid,
    pub attempt: Attempt,
    pub outcome: Outcome,
}

/// What the use cases read. Reads outside a writing transaction may miss a write still
/// in flight; inside one ([`Writes`]) they see the transaction's own writes.
#[async_trait]
pub trait Reads: Send + Sync {
    /// The order, if it is there and `scope` may see it.
    async fn find_order(&self, id: Uuid, scope: Scope) -> Result<Option<Order>, StorageError>;
    /// A page of orders, newest first, and whether there are more.
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        scope: Scope,
    ) -> Result<(Vec<Order>, bool), StorageError>;
    /// A page of the order's history, oldest first, after `after` when given; and
    /// whether there are more.
    async fn history(
        &self,
        order: Uuid,
        limit: u64,
        after: Option<i64>,
    ) -> Result<(Vec<HistoryEntry>, bool), StorageError>;

    /// A page of the texts about the order, newest first, older than `before` when
    /// given; and whether there are more.
    async fn texts_for_order(
        &self,
        order: Uuid,
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<Notification>, bool), StorageError>;
    /// The newest text about each of the orders that has one.
    async fn latest_texts(
        &self,
        orders: &[Uuid],
    ) -> Result<HashMap<Uuid, Notification>, StorageError>;
    /// A page of texts in the given states (all when empty), newest first, older than
    /// `before` when given, and whether there are more.
    async fn list_texts(
        &self,
        states: &[NotificationState],
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<Notification>, bool), StorageError>;
    async fn find_text(&self, id: Uuid) -> Result<Option<Notification>, StorageError>;
    /// Every attempt at the text, oldest first.
    async fn attempts_at(&self, id: Uuid) -> Result<Vec<Attempt>, StorageError>;
    /// How many texts wait, and how long the oldest has waited.
    async fn queue_figures(&self) -> Result<QueueFigures, StorageError>;

    async fn is_opted_out(&self, phone: &str) -> Result<bool, StorageError>;
    async fn opt_outs(&self) -> Result<Vec<OptOut>, StorageError>;

    /// A page of the audit trail, newest first, older than `before` when given, only
    /// `actions` (all when empty); and whether there are more.
    async fn audit_trail(
        &self,
        actions: &[AuditAction],
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<AuditEntry>, bool), StorageError>;

    /// One template per status, in workflow order (the default where none was saved).
    async fn templates(&self) -> Result<Vec<StatusTemplate>, StorageError>;
    async fn template(&self, status: OrderStatus) -> Result<StatusTemplate, StorageError>;

    async fn active_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StorageError>;
    async fn key_is_active(&self, id: Uuid) -> Result<bool, StorageError>;
    async fn active_keys(&self) -> Result<Vec<ApiKey>, StorageError>;
    /// The key a stream token stands for, while the token is valid and the key active.
    async fn key_for_stream_token(&self, token: &str) -> Result<Option<ApiKey>, StorageError>;

    /// Up to `limit` changes after `cursor`, in commit order.
    async fn changes_after(&self, cursor: Cursor, limit: u64) -> Result<Vec<Change>, StorageError>;
    /// The position of the newest change every reader may take.
    async fn latest_change(&self) -> Result<Cursor, StorageError>;
    /// Whether the log still holds everything after `cursor`.
    async fn can_resume_from(&self, cursor: Cursor) -> Result<bool, StorageError>;

    /// The newest texts the sandbox provider "sent", newest first.
    async fn sandbox_messages(&self, limit: u64) -> Result<Vec<SandboxMessage>, StorageError>;

    /// The webhook endpoints `scope` may see, oldest first.
    async fn webhook_endpoints(&self, scope: Scope) -> Result<Vec<WebhookEndpoint>, StorageError>;
    async fn webhook_endpoint(
        &self,
        id: Uuid,
        scope: Scope,
    ) -> Result<Option<WebhookEndpoint>, StorageError>;
    /// What each live endpoint wants.
    async fn webhook_subscriptions(&self) -> Result<Vec<Subscription>, StorageError>;
    /// A page of an endpoint's deliveries, newest first, older than `before` when
    /// given; and whether there are more.
    async fn webhook_deliveries(
        &self,
        endpoint: Uuid,
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<WebhookDelivery>, bool), StorageError>;
}

/// What a writing transaction may do besides reading. Nothing of it is kept unless the
/// transaction commits.
#[async_trait]
pub trait Writes: Reads {
    /// Inserts a pending order and the history entry of its creation.
    async fn insert_order(&self, new: NewOrder, actor: &Actor) -> Result<Order, OrderError>;
    /// Moves `order` (as read in this transaction) to `to`, promising `eta` when it is
    /// given (`Some(None)` withdraws the promise), with its history entry;
    /// [`OrderError::ConcurrentChange`] if it is no longer at that version.
    async fn change_status(
        &self,
        order: &Order,
        to: OrderStatus,
        eta: Option<Option<DateTime<Utc>>>,
        actor: &Actor,
    ) -> Result<Order, OrderError>;
    /// Corrects `order` (as read in this transaction) as `edit` says, with a history
    /// entry naming the `changed` fields; [`OrderError::ConcurrentChange`] if it is no
    /// longer at that version.
    async fn edit_order(
        &self,
        order: &Order,
        edit: &OrderEdit,
        changed: &[OrderField],
        actor: &Actor,
    ) -> Result<Order, OrderError>;

    /// Queues a text about `order`, or records it `cancelled`: with `held` as its
    /// reason when given (a limit stopped it), else if the number opted out.
    /// `caused_by` is the integration key whose request caused it.
    async fn queue_text(
        &self,
        order: &Order,
        text: SmsText,
        provider: &str,
        held: Option<&str>,
        caused_by: Option<Uuid>,
    ) -> Result<Notification, StorageError>;
    /// The texts to `recipient` queued since `since` and not cancelled (what a sending
    /// limit counts). Until the transaction ends, no other writer counts that number.
    async fn recent_texts_to(
        &self,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<RecentTexts, StorageError>;
    /// The texts `key` caused since `since` and not cancelled, counted as
    /// [`Writes::recent_texts_to`] counts a number's.
    async fn recent_texts_by(
        &self,
        key: Uuid,
        since: DateTime<Utc>,
    ) -> Result<RecentTexts, StorageError>;
    /// Puts a failed text back in the queue with a fresh set of attempts.
    async fn requeue_failed(&self, id: Uuid) -> Result<Requeue, StorageError>;
    /// Applies a provider's report to the text it names.
    async fn record_delivery_report(
        &self,
        reference: Option<Uuid>,
        provider_message_id: Option<&str>,
        report: DeliveryReport,
    ) -> Result<ReportApplied, StorageError>;

    /// Records that the provider's call `call_id` is being applied; whether it is the
    /// first time (a repeat must change nothing).
    async fn first_sight(&self, provider: &str, call_id: &str) -> Result<bool, StorageError>;
    /// Forgets the provider calls received before `before`; how many.
    async fn prune_provider_calls(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;

    /// A new webhook endpoint and its signing secret (shown once).
    async fn create_webhook_endpoint(
        &self,
        url: &str,
        subscription: &Subscription,
        owner: Option<Uuid>,
        created_by: &str,
    ) -> Result<(WebhookEndpoint, String), StorageError>;
    /// Deletes the endpoint if `scope` may see it (what it had yet to get fails);
    /// whether there was one.
    async fn delete_webhook_endpoint(&self, id: Uuid, scope: Scope) -> Result<bool, StorageError>;
    /// Queues `event` for every endpoint that wants it and may hear of it; how many.
    async fn enqueue_webhook(&self, event: &WebhookEvent) -> Result<u64, StorageError>;
    /// Leases up to `limit` due webhook deliveries to `worker` for `lease`.
    async fn claim_due_webhooks(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueWebhook>, StorageError>;
    /// Records an attempt at a delivery, if `worker` still holds it; whether it did.
    async fn record_webhook_attempt(
        &self,
        event_id: Uuid,
        endpoint_id: Uuid,
        worker: &str,
        attempt: &WebhookAttempt,
    ) -> Result<bool, StorageError>;
    /// Hands back the deliveries `worker` holds; how many.
    async fn release_webhook_leases(&self, worker: &str) -> Result<u64, StorageError>;
    /// Forgets the deliveries that ended before `before`; how many.
    async fn prune_webhook_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;

    /// Records a STOP; `source` says where it came from.
    async fn add_opt_out(&self, phone: &str, source: &str) -> Result<(), StorageError>;
    /// Records a START; whether the number had opted out.
    async fn remove_opt_out(&self, phone: &str) -> Result<bool, StorageError>;
    /// Adds an entry to the audit trail.
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StorageError>;

    /// Leases up to `limit` due texts to `worker` for `lease`.
    async fn claim_due(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Notification>, StorageError>;
    /// Records attempts (each one always: it was made) and their outcomes; for each,
    /// whether `worker` still held the lease (only then does the outcome change the text).
    async fn record_outcomes(
        &self,
        worker: &str,
        outcomes: Vec<Settled>,
    ) -> Result<Vec<bool>, StorageError>;
    /// Hands back every lease `worker` holds; how many.
    async fn release_leases(&self, worker: &str) -> Result<u64, StorageError>;
    /// Keeps a text the sandbox provider "sent".
    async fn record_sandbox_message(&self, message: &SandboxMessage) -> Result<(), StorageError>;

    async fn save_template(
        &self,
        status: OrderStatus,
        template: &Template,
        enabled: bool,
        actor: &str,
    ) -> Result<StatusTemplate, StorageError>;

    /// A new key and its secret (shown once; only its hash is kept).
    async fn create_key(
        &self,
        name: &str,
        role: Role,
        source: KeySource,
    ) -> Result<(ApiKey, String), StorageError>;
    /// Records when the key was last used.
    async fn touch_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StorageError>;
    async fn revoke_key(&self, id: Uuid) -> Result<Revocation, StorageError>;
    /// A new stream token for the key, and when it expires.
    async fn create_stream_token(
        &self,
        key: Uuid,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>), StorageError>;
    async fn purge_expired_stream_tokens(&self) -> Result<u64, StorageError>;
    /// Drops the change log's entries older than `before`; how many.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;

    /// Claims an idempotency key for a request with this fingerprint.
    async fn claim_once(
        &self,
        key_id: Uuid,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, StorageError>;
    /// Keeps the answer of the request that claimed the key.
    async fn complete_once(
        &self,
        key_id: Uuid,
        key: &str,
        answer: &StoredResponse,
    ) -> Result<(), StorageError>;
    /// Frees a claimed key whose request failed.
    async fn release_once(&self, key_id: Uuid, key: &str) -> Result<(), StorageError>;
    async fn purge_expired_once(&self) -> Result<u64, StorageError>;

    /// The smallest real write (one row rewritten in place), proving the storage takes
    /// writes (`/readyz`).
    async fn heartbeat(&self) -> Result<(), StorageError>;
}

/// How many rows one read of the log takes.
const PAGE: u64 = 500;

/// Everything the log holds after a position, read a page at a time:
/// `while let Some(page) = pages.next(reads).await? { … }`.
pub struct Pages {
    cursor: Cursor,
    done: bool,
}

impl Pages {
    pub fn after(cursor: Cursor) -> Pages {
        Pages {
            cursor,
            done: false,
        }
    }

    /// The next page in commit order, or `None` once the end of the log was reached.
    pub async fn next(&mut self, reads: &dyn Reads) -> Result<Option<Vec<Change>>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let page = reads.changes_after(self.cursor, PAGE).await?;
        self.done = (page.len() as u64) < PAGE;
        if let Some(last) = page.last() {
            self.cursor = last.cursor;
        }
        Ok((!page.is_empty()).then_some(page))
    }
}
