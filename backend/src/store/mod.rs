//! The outside world on disk. The use cases see it through its port (`port`: `Reads`,
//! `Writes`, `StorageError`) and the writer (`writer`); underneath, `sea` implements
//! that port over sea-orm with the queries grouped by aggregate (orders, texts, keys,
//! …), for SQLite and PostgreSQL. Connecting, migrations and fault recognition are here
//! too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::config::PoolSettings;

pub mod audit;
pub mod changes;
pub mod entities;
pub mod fault;
pub mod idempotency;
pub mod keys;
pub mod migration;
pub mod notifications;
pub mod opt_outs;
pub mod orders;
pub mod outbox;
pub mod port;
pub mod provider_calls;
pub mod sandbox;
mod sea;
pub mod sqlite;
pub mod templates;
pub mod webhooks;
pub mod write_check;
pub mod writer;

pub use migration::Migrator;
pub use port::{Reads, StorageError, Writes};

/// A connection the store's queries run on: sea-orm's own (PostgreSQL, and SQLite for
/// migrations and the command line), or one of the SQLite engine's, which also runs
/// the store's hot statements as plain SQL (`sqlite::direct`).
pub trait Conn: ConnectionTrait + Send + Sync {
    /// The SQLite engine's connection under this one, if it is one of the engine's.
    fn sqlite(&self) -> Option<sqlite::Direct<'_>> {
        None
    }
}

impl Conn for DatabaseConnection {}

impl Conn for DatabaseTransaction {}

impl Conn for sqlite::ReadConnections {
    fn sqlite(&self) -> Option<sqlite::Direct<'_>> {
        Some(sqlite::Direct::Reader(self))
    }
}

impl Conn for sqlite::InBatch {
    fn sqlite(&self) -> Option<sqlite::Direct<'_>> {
        Some(sqlite::Direct::from(self))
    }
}

/// A connection inside a writing transaction: sea-orm's own on PostgreSQL, a batch of
/// the SQLite engine's writer on SQLite. The store's writes take one, so none of them
/// can run outside a transaction.
pub trait InTransaction: Conn {}

impl InTransaction for DatabaseTransaction {}

impl InTransaction for sqlite::InBatch {}

/// Opens the database named by the URL with the default pool settings.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, &PoolSettings::default()).await
}

/// Opens the database named by the URL. SQLite gets WAL with full fsync unless
/// `pool` says otherwise (a committed status change survives a power cut) and a busy
/// timeout; one connection serialises
/// the writes, so concurrent requests never race for SQLite's single write lock (reads
/// get connections of their own: `read_pool`).
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

/// Connections that only read, beside the one that writes. On a SQLite file they are
/// the SQLite engine's read connections (`store::sqlite`): WAL lets readers run at the
/// same time as each other and as the writer, so a page of orders never waits behind a
/// queue of status changes; each read runs on the thread that asks. On PostgreSQL (a
/// pool already) it is `db` itself.
pub fn read_pool(db: &DatabaseConnection, url: &str) -> Result<Arc<dyn Reads>, DbErr> {
    Ok(match sqlite_path(url)? {
        Some(path) => sqlite::ReadConnections::new(path),
        None => Arc::new(db.clone()),
    })
}

/// The file a SQLite URL names; `None` for PostgreSQL. An in-memory database lives
/// inside sqlx's one connection, out of the SQLite engine's reach, so it is refused.
pub fn sqlite_path(url: &str) -> Result<Option<PathBuf>, DbErr> {
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;

    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("cannot read the SQLite URL: {e}")))?;
    let file = options.get_filename().to_path_buf();
    let name = file.to_string_lossy();
    if name == ":memory:" || name.contains("sqlx-in-memory") || url.contains("mode=memory") {
        return Err(DbErr::Custom(
            "an in-memory SQLite database cannot be used: order-notify keeps its orders in a file (sqlite://order-notify.db?mode=rwc)".to_owned(),
        ));
    }
    Ok(Some(file))
}

/// Starts a transaction that is going to write. On SQLite it is `BEGIN IMMEDIATE`: the
/// write lock is taken up front, waiting up to the busy timeout while another process
/// (a `worker`, the command line) writes. A plain `BEGIN` would read first and then fail
/// at once with "database is locked" when its first write finds the lock taken. On
/// PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Which way a list pages through its rows' sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// Newest first; a page continues before the position given.
    NewestFirst,
    /// Oldest first; a page continues after the position given.
    OldestFirst,
}

/// One page of `query`'s rows, keyset-paged on the sequence column `seq` (so pages stay
/// stable while rows are added): at most `limit` rows, continuing from `from`, and
/// whether more follow (one row more than a page is read to know).
pub async fn page_by_seq<E: EntityTrait>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    seq: E::Column,
    paging: Paging,
    limit: u64,
    from: Option<i64>,
) -> Result<(Vec<E::Model>, bool), DbErr> {
    let query = match (paging, from) {
        (Paging::NewestFirst, Some(from)) => query.filter(seq.lt(from)).order_by_desc(seq),
        (Paging::NewestFirst, None) => query.order_by_desc(seq),
        (Paging::OldestFirst, Some(from)) => query.filter(seq.gt(from)).order_by_asc(seq),
        (Paging::OldestFirst, None) => query.order_by_asc(seq),
    };
    let mut rows = query.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Applies every migration that has not run yet.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The current time at the precision both databases store (microseconds), so a value
/// read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
