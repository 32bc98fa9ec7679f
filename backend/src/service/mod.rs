//! The use cases: everything the service does, each rule once, whoever asks (the HTTP
//! edge today, the worker and the CLI as they move here). A use case takes plain
//! inputs, reads through the store's port (`store::Reads`), writes through the one
//! writer (`store::writer`, which hands the work a `store::Writes`), and returns a
//! domain result or an error enum of its own; `http::problem` turns those errors into
//! problem+json in one place.
//!
//! No use case sees the database engine (sea-orm, a connection, a transaction), and
//! nothing outside this layer is handed the store: `Services` keeps it private, so a
//! write that would skip the writer has nothing to write on.

mod access;
mod admin;
mod delivery;
mod inbound;
mod key_cache;
pub mod live;
mod once;
mod operations;
mod orders;
mod template_cache;
mod texts;
mod webhooks;

use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::Actor;
use crate::metrics::Metrics;
use crate::store::Reads;
use crate::store::write_check::WriteCheck;
use crate::store::writer::Writer;
use key_cache::KeyCache;
use template_cache::TemplateCache;

pub use access::{Known, STREAM_TOKEN_TTL};
pub use admin::{KeySource, LiftOptOutError, RevokeKeyError, SaveTemplateError};
pub use delivery::{Outcome, Settled};
pub use inbound::{CallbackId, Reply, ReplyOutcome, Report};
pub use once::{Answer, Once, Ran, RepeatRefused};
pub use operations::Readiness;
pub use orders::{
    ChangeStatusError, CreateOrderError, Created, EditOrderError, EditRequest, Edited, OrderPage,
    StatusChangeRequest, StatusChanged,
};
pub use texts::{Notified, NotifyError, RetryError};
pub use webhooks::{CreateEndpointError, EndpointError, EndpointNotFound, Interest, NewEndpoint};

/// What the use cases work with: the database (reads and the writer), the caches of
/// templates and keys, the outbox bell the worker listens to, this process's figures,
/// the readiness probe and the settings. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Services {
    reads: Arc<dyn Reads>,
    writer: Writer,
    templates: Arc<TemplateCache>,
    keys: Arc<KeyCache>,
    outbox: Arc<Notify>,
    metrics: Arc<Metrics>,
    write_check: Arc<WriteCheck>,
    settings: Arc<Settings>,
    webhook_interest: Arc<webhooks::InterestCache>,
    webhook_bell: Arc<Notify>,
}

impl Services {
    /// `reads` serves reads that need not see a write still in flight (on SQLite the
    /// read-only connections beside the writer); every write goes through `writer`.
    pub fn new(
        reads: Arc<dyn Reads>,
        writer: Writer,
        outbox: Arc<Notify>,
        metrics: Arc<Metrics>,
        settings: Arc<Settings>,
    ) -> Self {
        Services {
            reads,
            writer,
            templates: Arc::default(),
            keys: Arc::default(),
            outbox,
            metrics,
            write_check: Arc::default(),
            settings,
            webhook_interest: Arc::default(),
            webhook_bell: Arc::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This process's request and send figures.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The bell a use case rings when it queues a text: the worker in this process
    /// waits on it, so a text goes out at once instead of at the next poll.
    pub fn outbox_bell(&self) -> Arc<Notify> {
        self.outbox.clone()
    }
}

/// No order with this id, or none the caller may see (another integration key's).
#[derive(Debug, thiserror::Error)]
#[error("There is no order {0}.")]
pub struct NotFound(pub Uuid);

/// A page of a list read in a fixed order: at most `limit` entries, starting after the
/// position `from` (the last entry of the page before) when given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub from: Option<i64>,
}

impl Page {
    /// The first `limit` entries.
    pub fn first(limit: u64) -> Page {
        Page { limit, from: None }
    }
}

/// Where the page after `items` starts: the last item's position (`seq`), when the
/// store said more follow.
fn next_position<T>(items: &[T], more: bool, seq: impl Fn(&T) -> i64) -> Option<i64> {
    if more { items.last().map(seq) } else { None }
}

/// A read of one thing that may not be there.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The key's id as the log lines show it.
pub(crate) fn key_label(actor: &Actor) -> String {
    actor
        .key_id
        .map_or_else(|| "no key".to_owned(), |id| id.to_string())
}

/// The storage failed or refused: what every use case's error enum carries besides its
/// own cases. A storage fault (`StorageError::fault`) is answered 503, anything else 500.
pub use crate::store::StorageError;

/// How the storage failed underneath: the disk is full, the files are read-only, …
pub use crate::store::port::FaultKind;

/// The storage fault under `error`, for an error met on its way out to a client: a
/// broken file or connection also retires every read connection opened before now.
pub fn storage_fault_seen(error: &StorageError) -> Option<FaultKind> {
    let kind = error.fault()?;
    if matches!(
        kind,
        FaultKind::Io | FaultKind::Corrupt | FaultKind::CannotOpen
    ) {
        crate::store::fault::note_read_fault(kind);
    }
    Some(kind)
}

#[cfg(test)]
mod tests;
