//! Sending queued texts: the worker claims due notifications with a lease, hands each to
//! the provider, and records the outcome with the retry policy.

pub mod pace;
pub mod retry;
pub mod worker;

pub use worker::Worker;
