//! SQLite's own engine (issue 19): rusqlite, called on the thread that needs it, under
//! the queries sea-orm builds. sqlx runs each SQLite connection on a thread of its own
//! and every statement crosses a channel to it and back, several times per request;
//! here the writer's thread runs a whole batch of writes on its connection, and a read
//! runs on the request's own thread. The store's hot statements skip sea-orm there
//! (`direct`). PostgreSQL stays on sqlx, and migrations run through sqlx on both.

pub mod direct;
pub mod engine;

pub use direct::Direct;

pub use engine::{
    Durability, InBatch, ReadConnections, WriteConnection, is_unique_violation, prepare_process,
};
