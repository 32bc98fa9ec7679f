//! The SQLite engine without a per-statement hand-off (issue 19), being built beside
//! the sea-orm one: sqlx runs each SQLite connection on a thread of its own and every
//! statement crosses a channel to it and back, several times per request; here the
//! thread that owns the connection runs a whole batch of writes synchronously.
//! `writer` is its group commit; the reads and the storage port follow.

pub mod writer;

pub use writer::{DirectWriter, Durability, storage_error};
