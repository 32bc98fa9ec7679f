//! The pure middle of the service: types that cannot hold a bad value and the rules
//! between them. Nothing here touches HTTP, the database or the clock.

mod audit;
mod inbound;
mod key;
mod keyword;
mod notification;
mod order;
mod phone;
pub mod rfc3339;
mod role;
mod secret;
mod sms;
mod status;
mod template;
mod webhook;

pub use audit::{AuditAction, AuditEntry, NewAuditEntry};
pub use inbound::{CallbackId, Reply, Report};
pub use key::{ApiKey, hash_secret, parse_key_name};
pub use keyword::Keyword;
pub use notification::{
    Attempt, AttemptResult, DeliveryReport, Notification, NotificationState, OptOut, SandboxMessage,
};
pub use order::{
    Actor, CustomerName, ExternalRef, HistoryEntry, IfMatch, NewOrder, Notes, Order, OrderEdit,
    OrderField, OrderFilter, OrderItem, OrderItems, OrderSearch, Scope, ValidationError, fold,
    is_hidden, line_pattern, notes_pattern, parse_eta, search_text, tag_list_matches, version_tag,
};
pub use phone::{AllowedCountries, PhoneError, PhoneNumber, PhonePolicy};
pub use role::Role;
pub use secret::Secret;
pub use sms::{Encoding, MAX_SEGMENTS, SmsText};
pub use status::{OrderStatus, StatusChange};
pub use template::{
    Placeholder, StatusTemplate, Template, TemplateError, TemplateValues, short_ref,
};
pub use webhook::{
    Audience, CustomerMessage, DeliveryState, DueWebhook, EndpointUrl, EventType,
    NotificationMessage, OrderMessage, Subscription, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint, WebhookEvent, is_public, message_id, next_webhook_attempt,
};
