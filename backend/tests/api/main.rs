//! API tests: each starts the real application on a random port with a fresh database
//! (a SQLite file, and a PostgreSQL database of its own) and talks HTTP to it.
//! One binary with modules keeps link time low.

mod helpers;

mod audit;
mod bird;
mod cli;
mod connections;
mod crash_drill;
mod dashboard;
mod delivery;
mod errors;
mod events;
mod failover;
mod fault_drill;
mod health;
mod idempotency;
mod keys;
mod kitchen;
mod messagebird;
mod metrics;
mod migrations;
mod notifications;
mod openapi;
mod orders;
mod pagination;
mod properties;
mod request_ids;
mod roles;
mod scale_out;
mod shutdown;
mod sse;
mod storage;
mod storage_drill;
mod templates;
mod twilio;
mod webhook_endpoints;
mod webhooks;
