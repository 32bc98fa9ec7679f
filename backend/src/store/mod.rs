//! The outside world on disk: connecting to SQLite or PostgreSQL, migrations, and the
//! queries grouped by aggregate (orders, keys, idempotency records).

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::config::PoolSettings;

pub mod changes;
pub mod entities;
pub mod idempotency;
pub mod keys;
pub mod migration;
pub mod notifications;
pub mod orders;
pub mod templates;

pub use migration::Migrator;

/// Opens the database named by the URL with the default pool settings.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, &PoolSettings::default()).await
}

/// Opens the database named by the URL. SQLite gets WAL with full fsync unless
/// `pool` says otherwise (a committed status change survives a power cut) and a busy
/// timeout; one connection serialises
/// all access, so concurrent requests never race for SQLite's single write lock.
/// PostgreSQL gets a pool sized and timed by `pool`.
pub async fn connect_with(url: &str, pool: &PoolSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(pool.connect_timeout)
        .acquire_timeout(pool.acquire_timeout);
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        options.max_connections(1).min_connections(1);
        let full_sync = pool.sqlite_full_sync;
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(if full_sync {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        options
            .max_connections(pool.max_connections)
            .min_connections(1);
    }
    Database::connect(options).await
}

/// Applies every migration that has not run yet.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Checks that the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// The current time at the precision both databases store (microseconds), so a value
/// read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
