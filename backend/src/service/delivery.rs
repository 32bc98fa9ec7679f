//! The worker's use cases: claim the texts that are due with a lease, record what each
//! attempt did, and hand the leases back on the way out. Through the writer, so on
//! SQLite they share commits with the API's writes.

use std::time::Duration;

use uuid::Uuid;

use super::webhooks::emit_text;
use super::{Services, StorageError};
use crate::domain::{EventType, Notification};

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
        let interest = self.webhook_interest().await?;
        let ends_some = outcomes
            .iter()
            .any(|settled| !matches!(settled.outcome, Outcome::RetryAt { .. }));
        let held = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    // Which texts end here, and how, for the webhooks.
                    let ends: Vec<(usize, Uuid, EventType)> = outcomes
                        .iter()
                        .enumerate()
                        .filter_map(|(i, settled)| match settled.outcome {
                            Outcome::Sent { .. } => {
                                Some((i, settled.id, EventType::NotificationSent))
                            }
                            Outcome::Failed { .. } => {
                                Some((i, settled.id, EventType::NotificationFailed))
                            }
                            Outcome::RetryAt { .. } => None,
                        })
                        .collect();
                    let held = txn.record_outcomes(&worker, outcomes).await?;
                    for (i, id, kind) in ends {
                        // Only the worker that still held the text changed it.
                        if !interest.wants(kind) || held.get(i) != Some(&true) {
                            continue;
                        }
                        if let Some(text) = txn.find_text(id).await? {
                            emit_text(txn, interest, kind, &text).await?;
                        }
                    }
                    Ok::<_, StorageError>(held)
                })
            })
            .await?;
        if ends_some {
            let kinds = [EventType::NotificationSent, EventType::NotificationFailed];
            self.ring_webhooks(interest, &kinds);
        }
        Ok(held)
    }

    /// Hands back `worker`'s leases (it is stopping); how many.
    pub async fn release_leases(&self, worker: &str) -> Result<u64, StorageError> {
        let worker = worker.to_owned();
        self.writer
            .run(move |txn| Box::pin(async move { txn.release_leases(&worker).await }))
            .await
    }
}
