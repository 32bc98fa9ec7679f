//! The store's port (`store::port`) over sea-orm, for SQLite and PostgreSQL: every
//! connection reads, a writing transaction writes. Each method is one of the queries in
//! the modules beside this one; sea-orm's errors become [`StorageError`]s here, with the
//! storage fault under them classified once (`store::fault`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use uuid::Uuid;

use super::port::{
    Change, Claim, Cursor, KeySource, OrderError, Reads, RecentTexts, ReportApplied, Requeue,
    Revocation, Settled, StorageError, StoredResponse, Writes,
};
use super::{
    audit, changes, fault, idempotency, keys, notifications, opt_outs, orders, outbox,
    provider_calls, sandbox, templates, webhooks, write_check,
};
use crate::domain::{
    Actor, ApiKey, Attempt, AuditAction, AuditEntry, DeliveryReport, HistoryEntry, NewAuditEntry,
    NewOrder, Notification, NotificationState, OptOut, Order, OrderEdit, OrderField, OrderFilter,
    OrderStatus, Role, SandboxMessage, Scope, SmsText, StatusTemplate, Template,
};
use crate::domain::{
    DueWebhook, Subscription, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
use crate::metrics::QueueFigures;

impl From<DbErr> for StorageError {
    fn from(error: DbErr) -> Self {
        match fault::classify(&error) {
            Some(kind) => StorageError::fault_of(kind, error.to_string()),
            None => StorageError::other(error.to_string()),
        }
    }
}

impl From<DbErr> for OrderError {
    fn from(error: DbErr) -> Self {
        OrderError::Storage(error.into())
    }
}

#[async_trait]
impl<C: super::Conn> Reads for C {
    async fn find_order(&self, id: Uuid, scope: Scope) -> Result<Option<Order>, StorageError> {
        Ok(orders::find_order(self, id, scope).await?)
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        scope: Scope,
    ) -> Result<(Vec<Order>, bool), StorageError> {
        Ok(orders::list_orders(self, filter, scope).await?)
    }

    async fn history(
        &self,
        order: Uuid,
        limit: u64,
        after: Option<i64>,
    ) -> Result<(Vec<HistoryEntry>, bool), StorageError> {
        Ok(orders::history(self, order, limit, after).await?)
    }

    async fn texts_for_order(
        &self,
        order: Uuid,
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<Notification>, bool), StorageError> {
        Ok(notifications::list_for_order(self, order, limit, before).await?)
    }

    async fn latest_texts(
        &self,
        orders: &[Uuid],
    ) -> Result<HashMap<Uuid, Notification>, StorageError> {
        Ok(notifications::latest_for_orders(self, orders).await?)
    }

    async fn list_texts(
        &self,
        states: &[NotificationState],
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<Notification>, bool), StorageError> {
        Ok(notifications::list_notifications(self, states, limit, before).await?)
    }

    async fn find_text(&self, id: Uuid) -> Result<Option<Notification>, StorageError> {
        Ok(notifications::find_notification(self, id).await?)
    }

    async fn attempts_at(&self, id: Uuid) -> Result<Vec<Attempt>, StorageError> {
        Ok(outbox::attempts_at(self, id).await?)
    }

    async fn queue_figures(&self) -> Result<QueueFigures, StorageError> {
        Ok(outbox::queue_figures(self).await?)
    }

    async fn is_opted_out(&self, phone: &str) -> Result<bool, StorageError> {
        Ok(opt_outs::is_opted_out(self, phone).await?)
    }

    async fn opt_outs(&self) -> Result<Vec<OptOut>, StorageError> {
        Ok(opt_outs::list_opt_outs(self).await?)
    }

    async fn audit_trail(
        &self,
        actions: &[AuditAction],
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<AuditEntry>, bool), StorageError> {
        Ok(audit::list(self, actions, limit, before).await?)
    }

    async fn templates(&self) -> Result<Vec<StatusTemplate>, StorageError> {
        Ok(templates::list_templates(self).await?)
    }

    async fn template(&self, status: OrderStatus) -> Result<StatusTemplate, StorageError> {
        Ok(templates::find_template(self, status).await?)
    }

    async fn active_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StorageError> {
        Ok(keys::find_active_by_hash(self, hash).await?)
    }

    async fn key_is_active(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(keys::is_active(self, id).await?)
    }

    async fn active_keys(&self) -> Result<Vec<ApiKey>, StorageError> {
        Ok(keys::list_active(self).await?)
    }

    async fn key_for_stream_token(&self, token: &str) -> Result<Option<ApiKey>, StorageError> {
        Ok(keys::authenticate_stream_token(self, token).await?)
    }

    async fn changes_after(&self, cursor: Cursor, limit: u64) -> Result<Vec<Change>, StorageError> {
        Ok(changes::after(self, cursor, limit).await?)
    }

    async fn latest_change(&self) -> Result<Cursor, StorageError> {
        Ok(changes::latest(self).await?)
    }

    async fn can_resume_from(&self, cursor: Cursor) -> Result<bool, StorageError> {
        Ok(changes::can_resume_from(self, cursor).await?)
    }

    async fn sandbox_messages(&self, limit: u64) -> Result<Vec<SandboxMessage>, StorageError> {
        Ok(sandbox::recent(self, limit).await?)
    }

    async fn webhook_endpoints(&self, scope: Scope) -> Result<Vec<WebhookEndpoint>, StorageError> {
        Ok(webhooks::list_endpoints(self, scope).await?)
    }

    async fn webhook_endpoint(
        &self,
        id: Uuid,
        scope: Scope,
    ) -> Result<Option<WebhookEndpoint>, StorageError> {
        Ok(webhooks::find_endpoint(self, id, scope).await?)
    }

    async fn webhook_subscriptions(&self) -> Result<Vec<Subscription>, StorageError> {
        Ok(webhooks::subscriptions(self).await?)
    }

    async fn webhook_deliveries(
        &self,
        endpoint: Uuid,
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<WebhookDelivery>, bool), StorageError> {
        Ok(webhooks::list_deliveries(self, endpoint, limit, before).await?)
    }
}

#[async_trait]
impl<C: super::InTransaction> Writes for C {
    async fn insert_order(&self, new: NewOrder, actor: &Actor) -> Result<Order, OrderError> {
        orders::create_order(self, new, actor).await
    }

    async fn change_status(
        &self,
        order: &Order,
        to: OrderStatus,
        eta: Option<Option<DateTime<Utc>>>,
        actor: &Actor,
    ) -> Result<Order, OrderError> {
        orders::change_status(self, order, to, eta, actor).await
    }

    async fn edit_order(
        &self,
        order: &Order,
        edit: &OrderEdit,
        changed: &[OrderField],
        actor: &Actor,
    ) -> Result<Order, OrderError> {
        orders::edit_order(self, order, edit, changed, actor).await
    }

    async fn queue_text(
        &self,
        order: &Order,
        text: SmsText,
        provider: &str,
        held: Option<&str>,
        caused_by: Option<Uuid>,
    ) -> Result<Notification, StorageError> {
        Ok(notifications::queue_notification(self, order, text, provider, held, caused_by).await?)
    }

    async fn recent_texts_to(
        &self,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<RecentTexts, StorageError> {
        Ok(notifications::recent_to(self, recipient, since).await?)
    }

    async fn recent_texts_by(
        &self,
        key: Uuid,
        since: DateTime<Utc>,
    ) -> Result<RecentTexts, StorageError> {
        Ok(notifications::recent_by(self, key, since).await?)
    }

    async fn requeue_failed(&self, id: Uuid) -> Result<Requeue, StorageError> {
        Ok(notifications::requeue_failed(self, id).await?)
    }

    async fn record_delivery_report(
        &self,
        reference: Option<Uuid>,
        provider_message_id: Option<&str>,
        report: DeliveryReport,
    ) -> Result<ReportApplied, StorageError> {
        Ok(
            notifications::record_delivery_report(self, reference, provider_message_id, report)
                .await?,
        )
    }

    async fn first_sight(&self, provider: &str, call_id: &str) -> Result<bool, StorageError> {
        Ok(provider_calls::first_sight(self, provider, call_id).await?)
    }

    async fn prune_provider_calls(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        Ok(provider_calls::prune(self, before).await?)
    }

    async fn create_webhook_endpoint(
        &self,
        url: &str,
        subscription: &Subscription,
        owner: Option<Uuid>,
        created_by: &str,
    ) -> Result<(WebhookEndpoint, String), StorageError> {
        Ok(webhooks::create_endpoint(self, url, subscription, owner, created_by).await?)
    }

    async fn delete_webhook_endpoint(&self, id: Uuid, scope: Scope) -> Result<bool, StorageError> {
        Ok(webhooks::delete_endpoint(self, id, scope).await?)
    }

    async fn enqueue_webhook(&self, event: &WebhookEvent) -> Result<u64, StorageError> {
        Ok(webhooks::enqueue(self, event).await?)
    }

    async fn claim_due_webhooks(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueWebhook>, StorageError> {
        Ok(webhooks::claim_due(self, worker, limit, lease).await?)
    }

    async fn record_webhook_attempt(
        &self,
        event_id: Uuid,
        endpoint_id: Uuid,
        worker: &str,
        attempt: &WebhookAttempt,
    ) -> Result<bool, StorageError> {
        Ok(webhooks::record_attempt(self, event_id, endpoint_id, worker, attempt).await?)
    }

    async fn release_webhook_leases(&self, worker: &str) -> Result<u64, StorageError> {
        Ok(webhooks::release_leases(self, worker).await?)
    }

    async fn prune_webhook_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        Ok(webhooks::prune(self, before).await?)
    }

    async fn add_opt_out(&self, phone: &str, source: &str) -> Result<(), StorageError> {
        Ok(opt_outs::add_opt_out(self, phone, source).await?)
    }

    async fn remove_opt_out(&self, phone: &str) -> Result<bool, StorageError> {
        Ok(opt_outs::remove_opt_out(self, phone).await?)
    }

    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StorageError> {
        Ok(audit::record(self, entry).await?)
    }

    async fn claim_due(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Notification>, StorageError> {
        Ok(outbox::claim_due(self, worker, limit, lease).await?)
    }

    async fn record_outcomes(
        &self,
        worker: &str,
        outcomes: Vec<Settled>,
    ) -> Result<Vec<bool>, StorageError> {
        Ok(outbox::record_outcomes(self, worker, outcomes).await?)
    }

    async fn release_leases(&self, worker: &str) -> Result<u64, StorageError> {
        Ok(outbox::release_leases(self, worker).await?)
    }

    async fn record_sandbox_message(&self, message: &SandboxMessage) -> Result<(), StorageError> {
        Ok(sandbox::record(self, message).await?)
    }

    async fn save_template(
        &self,
        status: OrderStatus,
        template: &Template,
        enabled: bool,
        actor: &str,
    ) -> Result<StatusTemplate, StorageError> {
        Ok(templates::save_template(self, status, template, enabled, actor).await?)
    }

    async fn create_key(
        &self,
        name: &str,
        role: Role,
        source: KeySource,
    ) -> Result<(ApiKey, String), StorageError> {
        Ok(keys::create_key(self, name, role, source).await?)
    }

    async fn touch_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StorageError> {
        Ok(keys::touch(self, id, at).await?)
    }

    async fn revoke_key(&self, id: Uuid) -> Result<Revocation, StorageError> {
        Ok(keys::revoke(self, id).await?)
    }

    async fn create_stream_token(
        &self,
        key: Uuid,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>), StorageError> {
        Ok(keys::create_stream_token(self, key, ttl).await?)
    }

    async fn purge_expired_stream_tokens(&self) -> Result<u64, StorageError> {
        Ok(keys::purge_expired_stream_tokens(self).await?)
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        Ok(changes::prune(self, before).await?)
    }

    async fn claim_once(
        &self,
        key_id: Uuid,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, StorageError> {
        Ok(idempotency::claim(self, key_id, key, fingerprint).await?)
    }

    async fn complete_once(
        &self,
        key_id: Uuid,
        key: &str,
        answer: &StoredResponse,
    ) -> Result<(), StorageError> {
        Ok(idempotency::complete(self, key_id, key, answer).await?)
    }

    async fn release_once(&self, key_id: Uuid, key: &str) -> Result<(), StorageError> {
        Ok(idempotency::release(self, key_id, key).await?)
    }

    async fn purge_expired_once(&self) -> Result<u64, StorageError> {
        Ok(idempotency::purge_expired(self).await?)
    }

    async fn heartbeat(&self) -> Result<(), StorageError> {
        Ok(write_check::beat(self).await?)
    }
}
