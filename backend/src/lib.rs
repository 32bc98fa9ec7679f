//! order-notify: an order dashboard and JSON API that texts customers when their order
//! changes status. `main.rs` only calls `cli::run`; tests drive the same `app`.

pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod fault;
pub mod http;
pub mod live;
pub mod metrics;
pub mod net;
pub mod outbound;
pub mod service;
pub mod setting;
pub mod sms;
pub mod store;
