//! What the providers tell us, whichever provider it is: a status report about a text
//! we sent, and a customer's reply (STOP opts the number out, START back in). The
//! webhooks verify and parse each provider's call; the rules are here, once.

use super::webhooks::{emit, emit_text};
use super::{Services, StorageError};
pub use crate::domain::{CallbackId, Reply, Report};
use crate::domain::{
    EventType, Keyword, NewAuditEntry, NotificationState, PhoneNumber, WebhookEvent,
};
use crate::store::port::ReportApplied;

/// What a reply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Not STOP or START (or a synonym): nothing to do.
    NoKeyword,
    /// A keyword from a number that is not a valid phone number.
    UnreadableNumber(Keyword),
    OptedOut(PhoneNumber),
    OptedIn(PhoneNumber),
}

impl Services {
    /// Applies a status report to the text it is about (reports only move a text
    /// forward: a delivered or failed text stays so); whether a text was found.
    pub async fn apply_delivery_report(&self, report: Report) -> Result<bool, StorageError> {
        Ok(self.apply_report_once(report, None).await? == Some(true))
    }

    /// Applies a status report as [`Services::apply_delivery_report`] does, unless the
    /// call `once` names was applied before: then `None`, and nothing changes.
    pub async fn apply_report_once(
        &self,
        report: Report,
        once: Option<CallbackId>,
    ) -> Result<Option<bool>, StorageError> {
        let interest = self.webhook_interest().await?;
        let found = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    if let Some(call) = &once
                        && !txn.first_sight(call.provider, &call.id).await?
                    {
                        return Ok(None);
                    }
                    let applied = txn
                        .record_delivery_report(
                            report.reference,
                            report.provider_message_id.as_deref(),
                            report.says,
                        )
                        .await?;
                    if let ReportApplied::Changed(text) = &applied {
                        let kind = match text.state {
                            NotificationState::Delivered => Some(EventType::NotificationDelivered),
                            NotificationState::Failed => Some(EventType::NotificationFailed),
                            _ => None,
                        };
                        if let Some(kind) = kind {
                            emit_text(txn, interest, kind, text).await?;
                        }
                    }
                    Ok::<_, StorageError>(Some(applied != ReportApplied::NoText))
                })
            })
            .await?;
        if found == Some(true) {
            let kinds = [
                EventType::NotificationDelivered,
                EventType::NotificationFailed,
            ];
            self.ring_webhooks(interest, &kinds);
        }
        Ok(found)
    }

    /// Applies STOP (or a synonym) or START from a customer's reply.
    pub async fn apply_reply(&self, reply: Reply) -> Result<ReplyOutcome, StorageError> {
        Ok(self
            .apply_reply_once(reply, None)
            .await?
            .expect("a reply without a call id is never a repeat"))
    }

    /// Applies a reply as [`Services::apply_reply`] does, unless the call `once` names
    /// was applied before: then `None`, and nothing changes.
    pub async fn apply_reply_once(
        &self,
        reply: Reply,
        once: Option<CallbackId>,
    ) -> Result<Option<ReplyOutcome>, StorageError> {
        let Some(keyword) = Keyword::of_reply(&reply.text) else {
            return Ok(Some(ReplyOutcome::NoKeyword));
        };
        let raw = if !reply.sender.is_empty() && reply.sender.chars().all(|c| c.is_ascii_digit()) {
            format!("+{}", reply.sender)
        } else {
            reply.sender
        };
        let Ok(phone) = PhoneNumber::parse(&raw, self.settings.default_region) else {
            log::warn!(
                "{}: a {keyword:?} from an unreadable number was ignored",
                reply.via
            );
            return Ok(Some(ReplyOutcome::UnreadableNumber(keyword)));
        };
        let (number, via) = (phone.as_str().to_owned(), reply.via);
        let interest = self.webhook_interest().await?;
        let applied = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    if let Some(call) = &once
                        && !txn.first_sight(call.provider, &call.id).await?
                    {
                        return Ok(false);
                    }
                    let now = crate::store::now();
                    match keyword {
                        Keyword::Stop => {
                            txn.add_opt_out(&number, via).await?;
                            emit(txn, interest, EventType::CustomerOptedOut, || {
                                WebhookEvent::customer(
                                    EventType::CustomerOptedOut,
                                    &number,
                                    via,
                                    now,
                                )
                            })
                            .await?;
                        }
                        // Replies come only through a provider's signed callback (the
                        // webhooks answer nothing else), so this is the customer
                        // speaking; who lifted the opt-out stays in the audit trail.
                        Keyword::Start => {
                            if txn.remove_opt_out(&number).await? {
                                txn.record_audit(&NewAuditEntry::start_from_customer(&number, via))
                                    .await?;
                                emit(txn, interest, EventType::CustomerOptedIn, || {
                                    WebhookEvent::customer(
                                        EventType::CustomerOptedIn,
                                        &number,
                                        via,
                                        now,
                                    )
                                })
                                .await?;
                            }
                        }
                    }
                    Ok::<_, StorageError>(true)
                })
            })
            .await?;
        if !applied {
            return Ok(None);
        }
        let kind = match keyword {
            Keyword::Stop => EventType::CustomerOptedOut,
            Keyword::Start => EventType::CustomerOptedIn,
        };
        self.ring_webhooks(interest, &[kind]);
        Ok(Some(match keyword {
            Keyword::Stop => {
                log::info!("{phone} opted out of texts (STOP via {via})");
                ReplyOutcome::OptedOut(phone)
            }
            Keyword::Start => {
                log::info!("{phone} opted in to texts again (START via {via})");
                ReplyOutcome::OptedIn(phone)
            }
        }))
    }

    /// The time now, as the store writes it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::store::now()
    }
}
