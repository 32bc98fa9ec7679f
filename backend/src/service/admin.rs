//! The kitchen's settings as use cases: API keys, the text for each status, the numbers
//! that opted out, and the sandbox's outbox.

use uuid::Uuid;

use super::webhooks::emit;
use super::{Page, ReadError, Services, StorageError, key_label, next_position};
use crate::domain::{
    Actor, ApiKey, AuditAction, AuditEntry, EventType, MAX_SEGMENTS, NewAuditEntry, OptOut,
    OrderStatus, PhoneNumber, Role, SandboxMessage, Scope, SmsText, StatusTemplate, Template,
    TemplateValues, WebhookEvent,
};
use crate::store::port::Revocation;

pub use crate::store::port::KeySource;

#[derive(Debug, thiserror::Error)]
pub enum RevokeKeyError {
    #[error("There is no active key {0}.")]
    NotFound(Uuid),
    /// Revoking it would lock everyone out.
    #[error("This is the only admin key left; create another admin key before revoking it.")]
    LastAdmin,
    /// ORDER_NOTIFY_ADMIN_KEY made it, and the next start would bring it back.
    #[error(
        "This key is set by ORDER_NOTIFY_ADMIN_KEY; change or unset that setting and restart to retire it."
    )]
    FromConfiguration,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A number that had not opted out (or is no number at all).
#[derive(Debug, thiserror::Error)]
pub enum SaveTemplateError {
    /// Its own words alone take more SMS than a text may.
    #[error("{0}")]
    TooLong(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, thiserror::Error)]
pub enum LiftOptOutError {
    #[error("{0} has not opted out.")]
    NotOptedOut(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Services {
    /// The active keys, oldest first.
    pub async fn keys(&self) -> Result<Vec<ApiKey>, StorageError> {
        self.reads.active_keys().await
    }

    /// A new key with `name` (already checked: `domain::parse_key_name`) and its secret,
    /// which is never stored and so shown this once. `source` says where it was asked
    /// for (the API, the command line).
    pub async fn create_key(
        &self,
        by: &Actor,
        name: String,
        role: Role,
        source: KeySource,
    ) -> Result<(ApiKey, String), StorageError> {
        let actor = by.clone();
        let (key, secret) = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let (key, secret) = txn.create_key(&name, role, source).await?;
                    let detail = format!("{:?}, role {}", key.name, key.role);
                    txn.record_audit(&NewAuditEntry::by(
                        &actor,
                        AuditAction::KeyCreated,
                        key.id.to_string(),
                        Some(detail),
                    ))
                    .await?;
                    Ok::<_, StorageError>((key, secret))
                })
            })
            .await?;
        log::info!(
            "key {} ({:?}, {}) created by key {:?} ({})",
            key.id,
            key.name,
            key.role,
            by.name,
            key_label(by)
        );
        Ok((key, secret))
    }

    /// Revokes a key: requests with it fail from then on. The last admin key and the
    /// one from ORDER_NOTIFY_ADMIN_KEY stay.
    pub async fn revoke_key(&self, by: &Actor, id: Uuid) -> Result<(), RevokeKeyError> {
        let actor = by.clone();
        let revocation = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let revocation = txn.revoke_key(id).await?;
                    if revocation == Revocation::Revoked {
                        txn.record_audit(&NewAuditEntry::by(
                            &actor,
                            AuditAction::KeyRevoked,
                            id.to_string(),
                            None,
                        ))
                        .await?;
                    }
                    Ok::<_, StorageError>(revocation)
                })
            })
            .await?;
        match revocation {
            Revocation::Revoked => {
                // Not even a moment's grace from this process's cache of keys.
                self.keys.forget(id);
                log::info!("key {id} revoked by key {:?} ({})", by.name, key_label(by));
                Ok(())
            }
            Revocation::NotFound => Err(RevokeKeyError::NotFound(id)),
            Revocation::LastAdmin => Err(RevokeKeyError::LastAdmin),
            Revocation::FromConfiguration => Err(RevokeKeyError::FromConfiguration),
        }
    }

    /// One template per status, in workflow order.
    pub async fn templates(&self) -> Result<Vec<StatusTemplate>, StorageError> {
        self.reads.templates().await
    }

    /// Replaces the text for `status`; this process uses it from the next change on. A
    /// template whose own words alone take more than [`MAX_SEGMENTS`] SMS is refused:
    /// no order could be texted with it.
    pub async fn save_template(
        &self,
        by: &Actor,
        status: OrderStatus,
        template: Template,
        enabled: bool,
    ) -> Result<StatusTemplate, SaveTemplateError> {
        let fixed = template.fixed_text().segments();
        if fixed > MAX_SEGMENTS {
            return Err(SaveTemplateError::TooLong(format!(
                "The template's own words take {fixed} SMS before any order's details are in it; at most {MAX_SEGMENTS} are sent."
            )));
        }
        let actor = by.clone();
        let saved = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let saved = txn
                        .save_template(status, &template, enabled, &actor.name)
                        .await?;
                    let detail = format!(
                        "{} {:?}",
                        if enabled { "enabled" } else { "disabled" },
                        template.body()
                    );
                    txn.record_audit(&NewAuditEntry::by(
                        &actor,
                        AuditAction::TemplateSaved,
                        status.as_str(),
                        Some(detail),
                    ))
                    .await?;
                    Ok::<_, StorageError>(saved)
                })
            })
            .await?;
        self.templates.forget();
        log::info!(
            "{status} template saved (enabled: {enabled}) by key {:?} ({})",
            by.name,
            key_label(by)
        );
        Ok(saved)
    }

    /// What `template` gives for an order the caller may see, or for the sample order.
    pub async fn preview(
        &self,
        scope: Scope,
        template: &Template,
        order: Option<Uuid>,
    ) -> Result<SmsText, ReadError> {
        Ok(match order {
            None => template.render(&TemplateValues::sample(OrderStatus::Confirmed)),
            Some(id) => self
                .order(scope, id)
                .await?
                .render(template, self.settings.timezone),
        })
    }

    /// The numbers that texted STOP, newest first.
    pub async fn opt_outs(&self) -> Result<Vec<OptOut>, StorageError> {
        self.reads.opt_outs().await
    }

    /// Lets a number receive texts again, as if it had texted START.
    pub async fn lift_opt_out(
        &self,
        by: &Actor,
        raw: &str,
    ) -> Result<PhoneNumber, LiftOptOutError> {
        let not_opted_out = || LiftOptOutError::NotOptedOut(raw.to_owned());
        let phone =
            PhoneNumber::parse(raw, self.settings.default_region).map_err(|_| not_opted_out())?;
        let number = phone.as_str().to_owned();
        let actor = by.clone();
        let interest = self.webhook_interest().await?;
        let removed = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let removed = txn.remove_opt_out(&number).await?;
                    if removed {
                        emit(txn, interest, EventType::CustomerOptedIn, || {
                            let now = crate::store::now();
                            WebhookEvent::customer(
                                EventType::CustomerOptedIn,
                                &number,
                                "admin",
                                now,
                            )
                        })
                        .await?;
                        let detail = "lifted by an admin (DELETE /opt-outs)".to_owned();
                        txn.record_audit(&NewAuditEntry::by(
                            &actor,
                            AuditAction::OptOutLifted,
                            number,
                            Some(detail),
                        ))
                        .await?;
                    }
                    Ok::<_, StorageError>(removed)
                })
            })
            .await?;
        if !removed {
            return Err(not_opted_out());
        }
        self.ring_webhooks(interest, &[EventType::CustomerOptedIn]);
        log::info!(
            "opt-out of {phone} lifted by key {:?} ({})",
            by.name,
            key_label(by)
        );
        Ok(phone)
    }

    /// A page of the audit trail, newest first (only `actions`, all when empty), and
    /// where the next page starts when there is one.
    pub async fn audit_trail(
        &self,
        actions: &[AuditAction],
        page: Page,
    ) -> Result<(Vec<AuditEntry>, Option<i64>), StorageError> {
        let (entries, more) = self
            .reads
            .audit_trail(actions, page.limit, page.from)
            .await?;
        let next = next_position(&entries, more, |e| e.seq);
        Ok((entries, next))
    }

    /// The `limit` texts the sandbox provider "sent" last, newest first.
    pub async fn sandbox_outbox(&self, limit: u64) -> Result<Vec<SandboxMessage>, StorageError> {
        self.reads.sandbox_messages(limit).await
    }

    /// Keeps a text the sandbox provider "sent", for its outbox.
    pub async fn keep_sandbox_message(&self, message: SandboxMessage) -> Result<(), StorageError> {
        self.writer
            .run(move |txn| Box::pin(async move { txn.record_sandbox_message(&message).await }))
            .await
    }
}

#[async_trait::async_trait]
impl crate::sms::sandbox::Outbox for Services {
    async fn keep(&self, message: SandboxMessage) -> Result<(), String> {
        self.keep_sandbox_message(message)
            .await
            .map_err(|e| e.to_string())
    }
}
