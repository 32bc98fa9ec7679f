//! The use cases: everything the service does, each rule once, whoever asks (the HTTP
//! edge today, the worker and the CLI as they move here). A use case takes plain
//! inputs, runs its reads on the read connections and its writes through the one
//! writer (`store::writer`), and returns a domain result or an error enum of its own;
//! `http::problem` turns those errors into problem+json in one place.
//!
//! Nothing outside this layer is handed a database connection: `Services` keeps them
//! private, so a write that would skip the writer has no connection to write on.

mod admin;
mod inbound;
mod once;
mod orders;
mod texts;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;

use crate::config::Settings;
use crate::store::templates::TemplateCache;
use crate::store::writer::Writer;

pub use admin::{LiftOptOutError, RevokeKeyError};
pub use inbound::{Reply, ReplyOutcome, Report};
pub use once::{Answer, Once, Ran, RepeatRefused};
pub use orders::{
    ChangeStatusError, CreateOrderError, Created, NotFound, OrderPage, ReadError,
    StatusChangeRequest, StatusChanged,
};
pub use texts::{Notified, NotifyError, RetryError};

/// What the use cases work with: the database (reads and the writer), the template
/// cache, the outbox bell the worker listens to, and the settings.
#[derive(Clone)]
pub struct Services {
    reads: DatabaseConnection,
    writer: Writer,
    templates: Arc<TemplateCache>,
    outbox: Arc<Notify>,
    settings: Arc<Settings>,
}

impl Services {
    /// `reads` serves reads that need not see a write still in flight (on SQLite the
    /// read-only connections beside the writer); every write goes through `writer`.
    pub fn new(
        reads: DatabaseConnection,
        writer: Writer,
        templates: Arc<TemplateCache>,
        outbox: Arc<Notify>,
        settings: Arc<Settings>,
    ) -> Self {
        Services {
            reads,
            writer,
            templates,
            outbox,
            settings,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The storage failed or refused: what every use case's error enum carries besides its
/// own cases. A storage fault (`store::fault`) is answered 503, anything else 500.
pub type StorageError = DbErr;

#[cfg(test)]
mod tests;
