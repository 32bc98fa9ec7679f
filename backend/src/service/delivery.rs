//! The worker's use cases: claim the texts that are due with a lease, record what each
//! attempt did, and hand the leases back on the way out. Through the writer, so on
//! SQLite they share commits with the API's writes.

use std::time::Duration;

use super::{Services, StorageError};
use crate::domain::Notification;

/// What an attempt did to a text (sent, to be retried, failed for good), and the
/// attempt with it.
pub use crate::store::port::{Outcome, Settled};

impl Services {
    /// Leases up to `limit` due texts to `worker` for `lease`, counting an attempt.
    pub async fn claim_due(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Notification>, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| Box::pin(async move { txn.claim_due(&worker, limit, lease).await }))
            .await
    }

    /// Records the attempts and what they did, in one transaction; for each, whether
    /// the text was still `worker`'s to settle.
    pub async fn record_outcomes(
        &self,
        worker: &str,
        outcomes: Vec<Settled>,
    ) -> Result<Vec<bool>, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| Box::pin(async move { txn.record_outcomes(&worker, outcomes).await }))
            .await
    }

    /// Hands back `worker`'s leases (it is stopping); how many.
    pub async fn release_leases(&self, worker: &str) -> Result<u64, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| Box::pin(async move { txn.release_leases(&worker).await }))
            .await
    }
}
