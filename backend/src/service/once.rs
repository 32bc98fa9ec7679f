//! Writes that may be asked for twice (`Idempotency-Key`): the first request with a key
//! claims it, its work and the answer it gave are committed in one transaction, and a
//! repeat gets that answer back instead of doing the work again. So "did it happen?"
//! and "what was answered?" can never disagree.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::Services;
use crate::store::port::Claim;
use crate::store::writer::{WriteError, Writer};
use crate::store::{StorageError, Writes};

/// The answer a write gave, as kept for its repeats: status code, JSON body and
/// `Location`. The edge that answers decides what it holds.
pub use crate::store::port::StoredResponse as Answer;

/// How often work that lost a race with a concurrent change is tried again.
const MAX_ATTEMPTS: usize = 5;

/// A write that may be repeated: the API key's id, the `Idempotency-Key` it came with,
/// a fingerprint of the request (a different request with the same key is refused),
/// and how to turn the outcome into the answer to keep.
pub struct Once<T> {
    pub key_id: Uuid,
    pub key: String,
    pub fingerprint: String,
    pub answer: fn(&T) -> Answer,
}

/// What a write that may be repeated did.
pub enum Ran<T> {
    /// It ran now; `answer` is the one kept for repeats (none without a key).
    Done { outcome: T, answer: Option<Answer> },
    /// It had run before: this is what was answered then.
    Replayed(Answer),
}

/// Why a repeat was refused.
#[derive(Debug, thiserror::Error)]
pub enum RepeatRefused {
    #[error(
        "A request with this Idempotency-Key is still being processed; retry once it has finished."
    )]
    InFlight,
    #[error(
        "This Idempotency-Key was already used for a different request; use a new key for a new request."
    )]
    Mismatch,
}

/// What an error of a write that may be repeated must say: whether the storage failed
/// underneath (`WriteError`), and whether the work lost a race with a concurrent change
/// and may simply run again.
pub(crate) trait OnceError: WriteError + From<RepeatRefused> {
    fn lost_race(&self) -> bool;
}

impl Services {
    /// Runs `work` through the writer, honouring `once` if given: a repeat answers what
    /// was kept, a different request with the same key or one whose twin still runs is
    /// refused, and work that fails changes nothing and frees the key again. The work
    /// may run more than once, after losing a race with a concurrent change
    /// (PostgreSQL), so it owns what it uses.
    pub(crate) async fn write_once<T, E, W>(
        &self,
        once: Option<Once<T>>,
        work: W,
    ) -> Result<Ran<T>, E>
    where
        T: Send + 'static,
        E: OnceError,
        W: for<'t> Fn(&'t dyn Writes) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
    {
        let claimed = match once {
            Some(once) => match self.claim(&once).await? {
                Claim::Proceed => Some(Arc::new(once)),
                Claim::Replay(answer) => return Ok(Ran::Replayed(answer)),
                Claim::InFlight => return Err(RepeatRefused::InFlight.into()),
                Claim::Mismatch => return Err(RepeatRefused::Mismatch.into()),
            },
            None => None,
        };
        let work = Arc::new(work);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let (work, claimed) = (work.clone(), claimed.clone());
            let outcome: Result<Ran<T>, E> = self
                .writer
                .run(move |txn| {
                    Box::pin(async move {
                        let outcome = work(txn).await?;
                        let answer = match &claimed {
                            Some(once) => {
                                let answer = (once.answer)(&outcome);
                                txn.complete_once(once.key_id, &once.key, &answer).await?;
                                Some(answer)
                            }
                            None => None,
                        };
                        Ok(Ran::Done { outcome, answer })
                    })
                })
                .await;
            match outcome {
                Err(e) if e.lost_race() && attempt < MAX_ATTEMPTS => continue,
                outcome => break outcome,
            }
        };
        if outcome.is_err()
            && let Some(once) = claimed
        {
            release(self.writer.clone(), once.key_id, once.key.clone()).await;
        }
        outcome
    }

    /// Claims the key as a piece of work of its own, committed before the request's
    /// work, so a concurrent request with the same key sees the claim.
    async fn claim<T>(&self, once: &Once<T>) -> Result<Claim, StorageError> {
        let (key_id, key, fingerprint) = (once.key_id, once.key.clone(), once.fingerprint.clone());
        self.writer
            .run(move |txn| {
                Box::pin(async move { txn.claim_once(key_id, &key, &fingerprint).await })
            })
            .await
    }
}

/// How long a key whose release the storage refused is tried again: as long as it would
/// otherwise stay claimed (`ABANDONED_AFTER`), after which anyone may take it over.
const RELEASE_RETRIES: u32 = 120;

/// Frees the key of a request that failed, so the client's retry with the same key runs
/// instead of being refused as in flight. When the storage refuses that too (the
/// request itself probably failed for the same reason), it is tried again every second
/// in the background, so the key is free soon after the storage is back.
async fn release(writer: Writer, key_id: Uuid, key: String) {
    let attempt = move |writer: Writer, key: String| async move {
        writer
            .run(move |txn| Box::pin(async move { txn.release_once(key_id, &key).await }))
            .await
    };
    match attempt(writer.clone(), key.clone()).await {
        Ok(_) => {}
        Err(e) if e.fault().is_some() => {
            tokio::spawn(async move {
                for _ in 0..RELEASE_RETRIES {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    match attempt(writer.clone(), key.clone()).await {
                        Err(e) if e.fault().is_some() => continue,
                        Err(e) => {
                            log::warn!("could not release an idempotency key of key {key_id}: {e}")
                        }
                        Ok(_) => {}
                    }
                    return;
                }
            });
        }
        Err(e) => log::warn!("could not release an idempotency key of key {key_id}: {e}"),
    }
}
