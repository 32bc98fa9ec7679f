//! The HTTP edge: one module per resource, plus authentication, request bodies,
//! idempotency and problem+json errors.

pub mod access;
pub mod audit;
pub mod auth;
pub mod body;
pub mod connections;
pub mod events;
pub mod headers;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod opt_outs;
pub mod orders;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod sandbox;
pub mod settings;
mod state;
pub mod templates;
pub mod webhook_endpoints;
pub mod webhooks;

pub use state::AppState;
