//! What the providers tell us, whichever provider it is: a status report about a text
//! we sent, and a customer's reply (STOP opts the number out, START back in). The
//! webhooks verify and parse each provider's call; the rules are here, once.

use super::{Services, StorageError};
use crate::domain::{Keyword, NewAuditEntry, PhoneNumber};
pub use crate::domain::{Reply, Report};

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
        let found = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    txn.record_delivery_report(
                        report.reference,
                        report.provider_message_id.as_deref(),
                        report.says,
                    )
                    .await
                })
            })
            .await?;
        Ok(found)
    }

    /// Applies STOP (or a synonym) or START from a customer's reply.
    pub async fn apply_reply(&self, reply: Reply) -> Result<ReplyOutcome, StorageError> {
        let Some(keyword) = Keyword::of_reply(&reply.text) else {
            return Ok(ReplyOutcome::NoKeyword);
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
            return Ok(ReplyOutcome::UnreadableNumber(keyword));
        };
        let (number, via) = (phone.as_str().to_owned(), reply.via);
        match keyword {
            Keyword::Stop => {
                self.writer
                    .run(move |txn| Box::pin(async move { txn.add_opt_out(&number, via).await }))
                    .await?;
                log::info!("{phone} opted out of texts (STOP via {via})");
                Ok(ReplyOutcome::OptedOut(phone))
            }
            Keyword::Start => {
                // Replies come only through a provider's signed callback (the webhooks
                // answer nothing else), so this is the customer speaking; who lifted the
                // opt-out stays in the audit trail.
                self.writer
                    .run(move |txn| {
                        Box::pin(async move {
                            if txn.remove_opt_out(&number).await? {
                                txn.record_audit(&NewAuditEntry::start_from_customer(&number, via))
                                    .await?;
                            }
                            Ok::<_, StorageError>(())
                        })
                    })
                    .await?;
                log::info!("{phone} opted in to texts again (START via {via})");
                Ok(ReplyOutcome::OptedIn(phone))
            }
        }
    }

    /// The time now, as the store writes it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::store::now()
    }
}
