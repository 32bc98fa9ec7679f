//! sea-orm entities: one module per table, mirroring `store::migration`.

pub mod api_keys;
pub mod audit_events;
pub mod changes;
pub mod idempotency_records;
pub mod notification_attempts;
pub mod notifications;
pub mod opt_outs;
pub mod order_events;
pub mod orders;
pub mod provider_calls;
pub mod sandbox_messages;
pub mod stream_tokens;
pub mod templates;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
