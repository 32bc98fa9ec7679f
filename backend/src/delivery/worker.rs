//! The worker: claim → send → record, in short transactions (none is held open while the
//! provider answers). It wakes at once when this process queues a text, and polls
//! slowly as a fallback for texts queued by other processes and for retries coming due.
//!
//! Outcomes are written by one ack writer per worker, which gathers whatever outcomes
//! have arrived while it wrote the last batch into one transaction: under load one
//! commit (one fsync on SQLite) records many sends.
//!
//! A crash after the provider accepted a text but before its record was written leaves
//! the text leased; when the lease runs out another worker sends it again. That window
//! is the only way a customer can get a text twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use uuid::Uuid;

use super::pace::{HORIZON, Pacer};
use super::retry::settle;
use crate::config::Settings;
use crate::domain::{Attempt, AttemptResult, Notification};
use crate::service::{Outcome, Services, Settled};
use crate::sms::failover::Failover;
use crate::sms::{OutgoingSms, SendOutcome};

/// How often an idle worker looks for work nobody told it about.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The most outcomes one ack transaction records.
const ACK_BATCH: usize = 512;
/// Backoff for outcomes the storage cannot take yet: soon at first, then every few
/// seconds, so a full disk is not hammered and a freed one is noticed quickly.
const ACK_RETRY_FIRST: Duration = Duration::from_millis(100);
const ACK_RETRY_LONGEST: Duration = Duration::from_secs(2);

/// An attempt and its outcome on their way to the database, and who waits for them to
/// be written.
struct Ack {
    settled: Settled,
    written: oneshot::Sender<Result<bool, String>>,
}

/// How long a stopping worker waits for the texts in flight: longer than one provider
/// call may take, so normally every one of them finishes and is recorded.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// A text's call to a provider: its slot (one of ORDER_NOTIFY_SEND_CONCURRENCY) and
/// its claim's place among the texts not yet answered; both go back together.
struct SendSlot {
    _slot: OwnedSemaphorePermit,
    _claim: OwnedSemaphorePermit,
}

pub struct Worker {
    /// Claims, outcomes and handed-back leases are use cases (`service::delivery`): they
    /// go through the writer, so on SQLite they share commits with the API's writes
    /// instead of queueing for the connection between them.
    services: Services,
    /// The providers, in priority order, behind their breakers.
    providers: Arc<Failover>,
    settings: Arc<Settings>,
    /// Rung by the use cases of this process when they queue a text.
    wake: Arc<Notify>,
    id: String,
    acks: mpsc::UnboundedSender<Ack>,
    /// Set while outcomes wait for the storage to take them (`write_acks`).
    acks_waiting: Arc<AtomicBool>,
}

impl Worker {
    /// `wake` is notified by whoever queues a text in this process.
    pub fn new(
        services: Services,
        providers: Arc<Failover>,
        settings: Arc<Settings>,
    ) -> Arc<Worker> {
        let wake = services.outbox_bell();
        let suffix = Uuid::new_v4().simple().to_string();
        let id = format!("worker-{}-{}", std::process::id(), &suffix[..8]);
        let (acks, queue) = mpsc::unbounded_channel();
        let acks_waiting = Arc::new(AtomicBool::new(false));
        // Ends when the worker (the last sender) is dropped.
        tokio::spawn(write_acks(
            services.clone(),
            id.clone(),
            queue,
            acks_waiting.clone(),
        ));
        Arc::new(Worker {
            services,
            providers,
            settings,
            wake,
            id,
            acks,
            acks_waiting,
        })
    }

    /// The name its leases carry.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims and sends until `stop` turns true (or the task running it is dropped), with
    /// at most ORDER_NOTIFY_SEND_CONCURRENCY texts in flight. On stop it claims nothing
    /// more, lets the texts in flight finish (each send is bounded by the provider
    /// timeout) for up to `DRAIN_LIMIT`, then hands back any lease it still holds so
    /// another worker can take those texts at once instead of after the lease.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let limit = match self.settings.send_rate_limit {
            Some(rate) => format!(", at most {rate} a second"),
            None => String::new(),
        };
        log::info!(
            "{} sending through {} (up to {} at once{limit})",
            self.id,
            self.providers.names().join(", then "),
            self.settings.send_concurrency
        );
        // A slot is a call to a provider in flight (ORDER_NOTIFY_SEND_CONCURRENCY of
        // them). It is handed back as soon as the provider answers, while the outcome
        // waits for the ack writer's next commit: a slot held through that commit sat
        // idle for it, and the worker sent at three quarters of what its slots allow.
        // A text claimed and not yet recorded holds a permit of `unrecorded` until its
        // outcome is written, so no more than twice the slots' texts are ever leased
        // here, and a stopping worker waits for their records, not only for the calls.
        // A quarter as many texts again may be claimed ahead and wait for a slot: a
        // freed slot starts the next text at once instead of after a claim's commit
        // (they wait one provider call at most, well inside their lease).
        let slots = Arc::new(Semaphore::new(self.settings.send_concurrency));
        let unsent = Arc::new(Semaphore::new(self.most_unsent()));
        let unrecorded = Arc::new(Semaphore::new(self.most_unrecorded()));
        let mut pacer = self
            .settings
            .send_rate_limit
            .map(|rate| Pacer::new(rate, Instant::now()));
        while !*stop.borrow() {
            self.services.metrics().worker_beat(self.services.now());
            // Claim only what may start soon: under a rate limit, what the pacer has
            // room for in the next second, so no claimed text outwaits its lease.
            let idle_slots = unsent
                .available_permits()
                .min(unrecorded.available_permits());
            let room = pacer
                .as_ref()
                .map_or(usize::MAX, |p| p.room(Instant::now()));
            let free = idle_slots.min(room);
            let mut more_waiting = false;
            // While outcomes cannot be recorded (a full disk), claim nothing: a claim
            // could not be committed either, and once the storage is back this
            // worker's own texts whose leases ran out meanwhile must get their
            // outcomes, not a second send.
            if free > 0 && !self.acks_waiting.load(Ordering::Acquire) {
                let claimed = self
                    .services
                    .claim_due(&self.id, free, self.settings.lease)
                    .await;
                match claimed {
                    Ok(batch) => {
                        more_waiting = batch.len() == free;
                        for notification in batch {
                            // Both are free: no more was claimed than either has.
                            let (Ok(claim), Ok(record)) = (
                                unsent.clone().acquire_owned().await,
                                unrecorded.clone().acquire_owned().await,
                            ) else {
                                return;
                            };
                            let start = pacer.as_mut().map(|p| p.book(Instant::now()));
                            let worker = self.clone();
                            let slots = slots.clone();
                            tokio::spawn(async move {
                                if let Some(start) = start {
                                    tokio::time::sleep_until(start).await;
                                }
                                let Ok(slot) = slots.acquire_owned().await else {
                                    return;
                                };
                                let slot = SendSlot {
                                    _slot: slot,
                                    _claim: claim,
                                };
                                worker.attempt(notification, slot).await;
                                drop(record);
                                worker.wake.notify_one();
                            });
                        }
                    }
                    Err(e) => log::warn!("{}: cannot claim texts: {e}", self.id),
                }
            }
            // The rate limit, not the free slots, holds back texts that are due: come
            // back when a quarter of a second has freed up (claims in chunks, not one
            // text per query).
            let held_by_pacer = room < idle_slots && (more_waiting || room == 0);
            if more_waiting && !held_by_pacer {
                continue;
            }
            let poll = match pacer.as_ref() {
                Some(p) if held_by_pacer => {
                    (p.free_at() + HORIZON / 4).saturating_duration_since(Instant::now())
                }
                _ => POLL_INTERVAL,
            };
            tokio::select! {
                _ = self.wake.notified(), if !held_by_pacer => {}
                _ = tokio::time::sleep(poll) => {}
                changed = stop.changed() => {
                    // Its owner dropped the switch without stopping: stop now rather
                    // than spin on a channel that can never change again.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        self.drain(&unrecorded).await;
    }

    /// How many texts this worker may hold claimed and not yet answered by the
    /// provider: one per slot, and a quarter as many again waiting for one.
    fn most_unsent(&self) -> usize {
        let concurrency = self.settings.send_concurrency;
        concurrency.saturating_add((concurrency / 4).max(1))
    }

    /// How many texts this worker may hold claimed and not yet recorded: twice the
    /// slots. That holds every unsent text (the concurrency is at least 1, so
    /// `most_unsent` is never more) and leaves room for those whose outcome waits
    /// for its commit.
    fn most_unrecorded(&self) -> usize {
        self.settings.send_concurrency.saturating_mul(2)
    }

    /// Waits for every text this worker claimed to be sent and recorded (`unrecorded`
    /// has all its permits back), then hands back what is still leased.
    async fn drain(&self, unrecorded: &Semaphore) {
        let capacity = self.most_unrecorded();
        let all = u32::try_from(capacity).unwrap_or(u32::MAX);
        let in_flight = capacity - unrecorded.available_permits();
        log::info!("{} stopping: {in_flight} texts in flight", self.id);
        if tokio::time::timeout(DRAIN_LIMIT, unrecorded.acquire_many(all))
            .await
            .is_err()
        {
            log::warn!(
                "{}: texts still in flight after {} s; their leases are handed back",
                self.id,
                DRAIN_LIMIT.as_secs()
            );
        }
        let released = self.services.release_leases(&self.id).await;
        match released {
            Ok(0) => log::info!("{} stopped", self.id),
            Ok(n) => log::info!("{} stopped; handed back {n} leased texts", self.id),
            Err(e) => log::warn!(
                "{}: cannot hand back leases ({e}); they are retaken when they run out",
                self.id
            ),
        }
    }

    /// One attempt at one text, and its record. `slot` is handed back once the provider
    /// has answered.
    async fn attempt(&self, notification: Notification, slot: SendSlot) {
        let sms = OutgoingSms {
            reference: notification.id,
            recipient: notification.recipient.clone(),
            originator: self.settings.sms_originator.as_str().to_owned(),
            body: notification.body.clone(),
            encoding: notification.encoding,
            segments: notification.segments,
        };
        // The text's provider is the one its last recorded attempt went to. After an
        // attempt that failed, the next goes elsewhere while another provider is up.
        // A text taken back after a crash, with no failure recorded, goes to the
        // providers in order again: Bird would know it by its Idempotency-Key.
        let failed_last = (notification.attempts > 1 && notification.last_error.is_some())
            .then_some(notification.provider.as_str());
        let at = self.services.now();
        let attempted = self.providers.send(&sms, failed_last).await;
        drop(slot);
        self.wake.notify_one();
        let (provider, answer, elapsed) = (attempted.provider, attempted.outcome, attempted.took);
        let (result, error) = match &answer {
            SendOutcome::Accepted { .. } => (AttemptResult::Accepted, None),
            SendOutcome::Retry { reason, .. } => (AttemptResult::Retry, Some(reason.clone())),
            SendOutcome::Refused { reason } => (AttemptResult::Refused, Some(reason.clone())),
        };
        let metrics = self.services.metrics();
        metrics.record_send(provider, result, elapsed);
        metrics.record_breakers(&self.providers.states());
        let took = elapsed.as_millis();
        let elsewhere = result == AttemptResult::Retry && self.providers.another_is_up(provider);
        let outcome = settle(
            answer,
            notification.attempts,
            self.settings.retry_max_attempts,
            self.settings.retry_base,
            self.services.now(),
            elsewhere,
        );
        match &outcome {
            Outcome::Sent { .. } => log::info!(
                "text {} (order {}) sent through {provider} in {took} ms",
                notification.id,
                notification.order_id,
            ),
            Outcome::RetryAt { due_at, reason } => log::warn!(
                "text {} attempt {} through {provider} failed ({reason}); retrying at {due_at}{}",
                notification.id,
                notification.attempts,
                if elsewhere {
                    " through another provider"
                } else {
                    ""
                }
            ),
            Outcome::Failed { reason } => {
                log::warn!(
                    "text {} failed through {provider}: {reason}",
                    notification.id
                )
            }
        }
        let settled = Settled {
            id: notification.id,
            attempt: Attempt {
                provider: provider.to_owned(),
                at,
                outcome: result,
                error,
                took_ms: u32::try_from(took).unwrap_or(u32::MAX),
            },
            outcome,
        };
        let (written, recorded) = oneshot::channel();
        let ack = Ack { settled, written };
        let result = match self.acks.send(ack) {
            Ok(()) => recorded
                .await
                .unwrap_or_else(|_| Err("the ack writer stopped".to_owned())),
            Err(_) => Err("the ack writer stopped".to_owned()),
        };
        match result {
            Ok(true) => {}
            Ok(false) => log::warn!(
                "text {}: the lease ran out before the outcome was recorded; another worker has it",
                notification.id
            ),
            Err(e) => log::error!(
                "text {}: cannot record the outcome ({e}); it will be retried when its lease runs out",
                notification.id
            ),
        }
    }
}

/// Writes outcomes as they come, each batch (all that waited, up to `ACK_BATCH`) in one
/// transaction. A batch the storage cannot take (a full disk, a lost connection) is
/// written again with backoff until it can: the texts were sent, and an outcome that is
/// dropped would have them sent again once their leases run out. Meanwhile
/// `acks_waiting` holds the worker's claims.
async fn write_acks(
    services: Services,
    worker: String,
    mut queue: mpsc::UnboundedReceiver<Ack>,
    acks_waiting: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(ACK_BATCH);
    while queue.recv_many(&mut batch, ACK_BATCH).await > 0 {
        let (waiting, outcomes): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|ack| (ack.written, ack.settled))
            .unzip();
        let mut pause = ACK_RETRY_FIRST;
        let written = loop {
            let written = services.record_outcomes(&worker, outcomes.clone()).await;
            match written {
                Err(e) if e.fault().is_some() => {
                    if !acks_waiting.swap(true, Ordering::AcqRel) {
                        log::warn!(
                            "{worker}: cannot record {} outcomes ({e}); trying again until the database takes them",
                            outcomes.len()
                        );
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(ACK_RETRY_LONGEST);
                }
                other => break other,
            }
        };
        acks_waiting.store(false, Ordering::Release);
        match written {
            Ok(recorded) => {
                for (written, recorded) in waiting.into_iter().zip(recorded) {
                    let _ = written.send(Ok(recorded));
                }
            }
            Err(e) => {
                for written in waiting {
                    let _ = written.send(Err(e.to_string()));
                }
            }
        }
    }
}
