//! Sending queued texts: the worker claims due notifications with a lease, hands each to
//! the provider, and records the outcome with the retry policy. Beside it, the
//! dispatcher does the same for webhook deliveries to order systems.

pub mod pace;
pub mod retry;
pub mod webhooks;
pub mod worker;

pub use worker::Worker;
