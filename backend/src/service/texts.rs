//! The one recipe for a text about an order: choose its wording (the order's status
//! template, or words of the caller's own), render it for the order as it is now, and
//! queue it in the transaction of the change that caused it, so the text exists
//! exactly when the change does. A number that opted out gets a `cancelled` record
//! instead (`Writes::queue_text`), so the history says why
//! nothing arrived.

use uuid::Uuid;

use super::once::{Once, OnceError, Ran, RepeatRefused};
use super::{NotFound, Page, ReadError, Services, StorageError, key_label, next_position};
use crate::domain::{
    Actor, Attempt, Notification, NotificationState, Order, Role, Scope, Template,
};
use crate::store::Writes;
use crate::store::port::Requeue;
use crate::store::writer::WriteError;

/// Which words a text about an order is made of.
#[derive(Clone)]
pub(crate) enum Wording {
    /// The template of the order's current status. One that is switched off (the
    /// kitchen does not want that status texted) stops an automatic text, but not one
    /// that was `asked` for in so many words (`notify: true`, "Notify customer").
    StatusTemplate { asked: bool },
    /// The caller's own words (placeholders allowed).
    Own(Template),
}

impl Services {
    /// Queues the text `wording` gives for `order` in `txn`, or nothing when its status
    /// template is switched off and the text was not asked for. A text longer than
    /// [`crate::domain::MAX_SEGMENTS`] SMS is recorded `cancelled` with the reason instead.
    pub(crate) async fn queue_text(
        &self,
        txn: &dyn Writes,
        order: &Order,
        wording: Wording,
        by: &Actor,
    ) -> Result<Option<Notification>, StorageError> {
        let queued = self.queue_text_held(txn, order, wording, by).await?;
        Ok(queued.map(|(text, _)| text))
    }

    /// [`Services::queue_text`], saying also why the text was held back, if it was.
    async fn queue_text_held(
        &self,
        txn: &dyn Writes,
        order: &Order,
        wording: Wording,
        by: &Actor,
    ) -> Result<Option<(Notification, Option<Held>)>, StorageError> {
        let template = match wording {
            Wording::Own(template) => template,
            Wording::StatusTemplate { asked } => {
                let stored = self.templates.find(txn, order.status).await?;
                if !stored.enabled && !asked {
                    return Ok(None);
                }
                stored.template
            }
        };
        let text = order.render(&template, self.settings.timezone);
        let held = match text.too_long() {
            Some(reason) => {
                self.metrics.record_send_refusal("length");
                Some(Held::TooLong(reason))
            }
            None => self.limit(txn, order, by).await?.map(Held::Limit),
        };
        let reason = held.as_ref().map(|held| match held {
            Held::TooLong(reason) => reason.as_str(),
            Held::Limit(limited) => limited.reason.as_str(),
        });
        let provider = self.settings.sms.chosen();
        let caused_by = by.key_id.filter(|_| by.role == Role::Integration);
        let queued = txn
            .queue_text(order, text, provider, reason, caused_by)
            .await?;
        Ok(Some((queued, held)))
    }
}

/// Why a text was held back (recorded `cancelled`) instead of queued.
#[derive(Clone, Debug)]
enum Held {
    /// It would take more than [`crate::domain::MAX_SEGMENTS`] SMS.
    TooLong(String),
    Limit(Limited),
}

/// A sending limit that stops a text now, and when it will let one through again.
#[derive(Clone, Debug)]
struct Limited {
    /// Which limit (`recipient`, `key`), as `/metrics` counts it.
    kind: &'static str,
    reason: String,
    retry_after: std::time::Duration,
}

impl Services {
    /// The first sending limit that stops a text to `order` caused by `by` now, if any
    /// (counted in `/metrics`): the number's for the hour, then the key's for the day.
    async fn limit(
        &self,
        txn: &dyn Writes,
        order: &Order,
        by: &Actor,
    ) -> Result<Option<Limited>, StorageError> {
        if let Some(limited) = self.recipient_limit(txn, order).await? {
            self.metrics.record_send_refusal(limited.kind);
            return Ok(Some(limited));
        }
        let limited = self.key_limit(txn, by).await?;
        if let Some(limited) = &limited {
            self.metrics.record_send_refusal(limited.kind);
        }
        Ok(limited)
    }

    /// Whether the integration key `by` has caused its texts for the UTC day
    /// (`ORDER_NOTIFY_TEXTS_PER_KEY_PER_DAY`); the kitchen's own keys have no such limit.
    async fn key_limit(
        &self,
        txn: &dyn Writes,
        by: &Actor,
    ) -> Result<Option<Limited>, StorageError> {
        let per_day = self.settings.texts_per_key_per_day;
        let Some(key) = by.key_id.filter(|_| by.role == Role::Integration) else {
            return Ok(None);
        };
        if per_day == 0 {
            return Ok(None);
        }
        let now = self.now();
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        let recent = txn.recent_texts_by(key, midnight).await?;
        if recent.count < u64::from(per_day) {
            return Ok(None);
        }
        let retry_after = (midnight + chrono::Duration::days(1) - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1));
        Ok(Some(Limited {
            kind: "key",
            reason: format!(
                "The key {:?} has caused {} texts today (UTC); at most {per_day} a day are sent for one integration key.",
                by.name, recent.count
            ),
            retry_after,
        }))
    }

    /// Whether `order`'s number has had its texts for the rolling hour
    /// (`ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR`), counted in `txn` so the text about
    /// to be queued is weighed against every one committed before it.
    async fn recipient_limit(
        &self,
        txn: &dyn Writes,
        order: &Order,
    ) -> Result<Option<Limited>, StorageError> {
        let per_hour = self.settings.texts_per_recipient_per_hour;
        if per_hour == 0 {
            return Ok(None);
        }
        let now = self.now();
        let hour = chrono::Duration::hours(1);
        let recent = txn
            .recent_texts_to(order.phone.as_str(), now - hour)
            .await?;
        if recent.count < u64::from(per_hour) {
            return Ok(None);
        }
        let frees_at = recent.oldest.map_or(now, |oldest| oldest + hour);
        let retry_after = (frees_at - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1));
        Ok(Some(Limited {
            kind: "recipient",
            reason: format!(
                "{} has had {} texts in the last hour; at most {per_hour} are sent to one number per hour.",
                order.phone, recent.count
            ),
            retry_after,
        }))
    }
}

/// What "Notify customer" did.
#[derive(Clone, Debug)]
pub enum Notified {
    /// The text is queued; a worker sends it.
    Queued(Notification),
    /// The customer texted STOP: the refusal is recorded (`cancelled`, so the order's
    /// history shows it) and nothing is sent.
    OptedOut(Notification),
    /// A limit held the text back (its status template renders too long for this
    /// order): recorded `cancelled` with the reason in `last_error`, nothing is sent.
    Held(Notification),
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A sending limit (`recipient`: the number's texts for the hour; `key`: the
    /// integration key's for the day) stops the text; nothing was queued.
    #[error("{reason}")]
    Limit {
        kind: &'static str,
        reason: String,
        retry_after: std::time::Duration,
    },
    /// Words of the caller's own that render longer than [`crate::domain::MAX_SEGMENTS`] SMS.
    #[error("{0}")]
    TooLong(String),
    /// A text in the key's own words, from a key whose role may not send one.
    #[error("a {0} key may send the status's text only, not one in its own words")]
    OwnWordsNotAllowed(Role),
    #[error(transparent)]
    Repeat(#[from] RepeatRefused),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a text could not be queued again.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("There is no notification {0}.")]
    NotFound(Uuid),
    /// Only a failed text is retried; this one is in another state.
    #[error("Only a failed text can be retried; this one is {0}.")]
    NotFailed(NotificationState),
    /// The number texted STOP since.
    #[error("{0} texted STOP; no text is sent until they text START.")]
    OptedOut(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl WriteError for NotifyError {
    fn storage_fault(&self) -> Option<&StorageError> {
        match self {
            NotifyError::Storage(e) => e.storage_fault(),
            _ => None,
        }
    }
}

impl OnceError for NotifyError {
    fn lost_race(&self) -> bool {
        false
    }
}

impl WriteError for RetryError {
    fn storage_fault(&self) -> Option<&StorageError> {
        match self {
            RetryError::Storage(e) => e.storage_fault(),
            _ => None,
        }
    }
}

impl Services {
    /// "Notify customer": queues the order's current status text (even when that
    /// template is switched off: the text was asked for), or words of the caller's own.
    pub async fn notify_customer(
        &self,
        by: &Actor,
        scope: Scope,
        order: Uuid,
        own_words: Option<Template>,
        once: Option<Once<Notified>>,
    ) -> Result<Ran<Notified>, NotifyError> {
        if own_words.is_some() && !by.role.may_word_texts() {
            return Err(NotifyError::OwnWordsNotAllowed(by.role));
        }
        let (this, actor) = (self.clone(), by.clone());
        let ran = self
            .write_once(once, move |txn| {
                let (this, own_words, actor) = (this.clone(), own_words.clone(), actor.clone());
                Box::pin(async move {
                    let order = txn.find_order(order, scope).await?.ok_or(NotFound(order))?;
                    let own = own_words.is_some();
                    let wording = match own_words {
                        Some(template) => Wording::Own(template),
                        None => Wording::StatusTemplate { asked: true },
                    };
                    let (text, held) = this
                        .queue_text_held(txn, &order, wording, &actor)
                        .await?
                        .ok_or_else(|| {
                            StorageError::other("an asked-for text was not queued".to_owned())
                        })?;
                    // An error here gives up the whole write, the held text's record too.
                    Ok::<_, NotifyError>(match held {
                        // Asked for by hand: refused, with when to try again.
                        Some(Held::Limit(limited)) => {
                            return Err(NotifyError::Limit {
                                kind: limited.kind,
                                reason: limited.reason,
                                retry_after: limited.retry_after,
                            });
                        }
                        // The caller can shorten their own words: refused.
                        Some(Held::TooLong(reason)) if own => {
                            return Err(NotifyError::TooLong(reason));
                        }
                        Some(Held::TooLong(_)) => Notified::Held(text),
                        None if text.state == NotificationState::Cancelled => {
                            Notified::OptedOut(text)
                        }
                        None => Notified::Queued(text),
                    })
                })
            })
            .await?;
        if let Ran::Done {
            outcome: Notified::Queued(text),
            ..
        } = &ran
        {
            self.outbox.notify_one();
            log::info!(
                "notification {} for order {order} queued by key {:?} ({})",
                text.id,
                by.name,
                key_label(by)
            );
        }
        Ok(ran)
    }

    /// Queues a failed text again, with a fresh set of attempts, unless the number
    /// texted STOP since (checked in the same transaction: on SQLite, where the writer
    /// takes one piece of work at a time, no STOP can land in between).
    pub async fn retry_text(&self, by: &Actor, id: Uuid) -> Result<Notification, RetryError> {
        let requeue = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    if let Some(existing) = txn.find_text(id).await?
                        && txn.is_opted_out(&existing.recipient).await?
                    {
                        return Err(RetryError::OptedOut(existing.recipient));
                    }
                    Ok(txn.requeue_failed(id).await?)
                })
            })
            .await?;
        match requeue {
            Requeue::Queued(text) => {
                log::info!(
                    "notification {id} queued again by key {:?} ({})",
                    by.name,
                    key_label(by)
                );
                self.outbox.notify_one();
                Ok(*text)
            }
            Requeue::NotFound => Err(RetryError::NotFound(id)),
            Requeue::NotFailed(state) => Err(RetryError::NotFailed(state)),
        }
    }

    /// A text the caller may see (an integration key: about an order it created), with
    /// every attempt at it, oldest first.
    pub async fn text_with_attempts(
        &self,
        scope: Scope,
        id: Uuid,
    ) -> Result<(Notification, Vec<Attempt>), ReadError> {
        let text = self
            .reads
            .find_text(id)
            .await?
            .ok_or(ReadError::NotFound(NotFound(id)))?;
        // Another key's order is "not found" for the text too, never its data.
        self.order(scope, text.order_id)
            .await
            .map_err(|e| match e {
                ReadError::NotFound(_) => ReadError::NotFound(NotFound(id)),
                other => other,
            })?;
        let attempts = self.reads.attempts_at(id).await?;
        Ok((text, attempts))
    }

    /// The texts about an order the caller may see, newest first.
    pub async fn texts_for_order(
        &self,
        scope: Scope,
        order: Uuid,
        page: Page,
    ) -> Result<(Vec<Notification>, Option<i64>), ReadError> {
        let order = self.order(scope, order).await?;
        let (texts, more) = self
            .reads
            .texts_for_order(order.id, page.limit, page.from)
            .await?;
        let next = next_position(&texts, more, |t| t.seq);
        Ok((texts, next))
    }

    /// Texts across all orders in these states (all when empty), newest first, a page
    /// at a time; and where the next page starts.
    pub async fn list_texts(
        &self,
        states: &[NotificationState],
        page: Page,
    ) -> Result<(Vec<Notification>, Option<i64>), StorageError> {
        let (items, more) = self.reads.list_texts(states, page.limit, page.from).await?;
        let next = next_position(&items, more, |n| n.seq);
        Ok((items, next))
    }
}
