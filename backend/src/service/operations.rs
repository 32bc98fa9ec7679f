//! Running the service: readiness (a real write through the writer, and the worker's
//! pulse), the figures for `/metrics`, and the periodic tidying of what expires.

use chrono::Duration;

use super::{Services, StorageError};
use crate::metrics::WorkerHealth;
use crate::store;
use crate::store::write_check::WriteHealth;

/// How long the change log keeps a change, so a client that was away this long can
/// still resume its event stream.
pub const CHANGE_RETENTION: Duration = Duration::hours(1);

/// How long a provider call's id is remembered, so a repeat of it changes nothing:
/// longer than any provider keeps retrying one call (Standard Webhooks senders retry
/// for about a day and a half).
pub const PROVIDER_CALL_RETENTION: Duration = Duration::days(3);
/// How long a finished webhook delivery (delivered, or failed for good) stays listed
/// under its endpoint.
pub const WEBHOOK_DELIVERY_RETENTION: Duration = Duration::days(7);

/// Whether this process can serve: a write can be committed and its worker (if it has
/// one) is going round its loop.
pub struct Readiness {
    pub database: WriteHealth,
    pub worker: WorkerHealth,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database == WriteHealth::Ok && self.worker != WorkerHealth::Stalled
    }
}

impl Services {
    pub async fn readiness(&self) -> Readiness {
        Readiness {
            database: self.write_check.check(&self.writer, &self.metrics).await,
            worker: self
                .metrics
                .worker_health(store::now(), self.settings.lease),
        }
    }

    /// This process's figures and the queue's, in Prometheus's text format.
    pub async fn metrics_text(&self) -> Result<String, StorageError> {
        let queue = self.reads.queue_figures().await?;
        Ok(self.metrics.render(&queue, store::now()))
    }

    /// Forgets expired idempotency keys and stream tokens, changes older than
    /// [`CHANGE_RETENTION`] and provider calls older than [`PROVIDER_CALL_RETENTION`],
    /// each as a piece of work of its own for the writer.
    pub async fn tidy_up(&self) {
        let writer = &self.writer;
        report(
            "expired idempotency keys",
            writer.run(|txn| txn.purge_expired_once()).await,
        );
        report(
            "expired stream tokens",
            writer.run(|txn| txn.purge_expired_stream_tokens()).await,
        );
        let before = store::now() - CHANGE_RETENTION;
        report(
            "old changes",
            writer.run(move |txn| txn.prune_changes(before)).await,
        );
        let before = store::now() - PROVIDER_CALL_RETENTION;
        report(
            "old provider calls",
            writer
                .run(move |txn| txn.prune_provider_calls(before))
                .await,
        );
        let before = store::now() - WEBHOOK_DELIVERY_RETENTION;
        report(
            "finished webhook deliveries",
            writer
                .run(move |txn| txn.prune_webhook_deliveries(before))
                .await,
        );
    }
}

fn report(what: &str, result: Result<u64, StorageError>) {
    match result {
        Ok(0) => {}
        Ok(n) => log::info!("forgot {n} {what}"),
        Err(e) => log::warn!("could not forget {what}: {e}"),
    }
}
