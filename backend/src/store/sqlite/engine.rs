//! SQLite through rusqlite, on the thread that asks: the statements sea-orm builds (the
//! same queries the store runs on PostgreSQL) are executed here, synchronously, instead
//! of being handed to sqlx's connection thread and back (one channel crossing per
//! statement, several per request). The connections here are sea-orm connections of
//! their own (`ConnectionTrait`), so every query of the store runs on them unchanged.
//!
//! sea-orm makes its result types only inside its own connections; the rows read here
//! are handed over through the public constructors of its row-holding test connection
//! (`MockDatabase`), which turns a list of column values into its `QueryResult`s
//! without looking at them.
//!
//! Values cross in the forms sqlx gave them on this file, so a database written by
//! either reads the same: UUIDs as 16-byte blobs, times as RFC 3339 text, booleans as
//! 0/1, JSON as text. Read back, a value takes the type of the column it came from:
//! SQLite reports the table and column of every result column, and the entities say
//! each column's type; an expression's alias is looked up by name (`created_at` for a
//! `MIN(created_at)`), and anything else takes SQLite's own storage class.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sea_orm::sea_query::{ColumnType, OptionEnum, Value};
use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, ExecResult, Iterable,
    MockDatabase, MockDatabaseTrait, MockExecResult, QueryResult, RuntimeErr, Statement,
};

use crate::store::entities;
use crate::store::fault::{self, FaultKind};

/// How SQLite must keep what it commits (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit on disk before it is answered (survives a power cut).
    Full,
    /// Survives a crash of the process, not of the machine.
    Normal,
}

/// Settles, before SQLite is first used in this process, what can only be set then:
/// SQLite keeps no count of the memory it holds (`SQLITE_CONFIG_MEMSTATUS`), which
/// nobody here reads, and which takes one mutex shared by every connection of the
/// process around each of SQLite's allocations and frees: the writer's thread and the
/// readers' would otherwise take turns on it. Returns false when SQLite was already in
/// use (then nothing changed; everything works as before, a little slower).
pub fn prepare_process() -> bool {
    // SAFETY: `sqlite3_config` is called with an option that takes one int; SQLite
    // refuses it (SQLITE_MISUSE) once initialised instead of changing anything.
    let code = unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int)
    };
    code == rusqlite::ffi::SQLITE_OK
}

/// Prepared statements kept per connection: every query the store builds, with room.
const STATEMENT_CACHE: usize = 256;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's connection: the one that writes, owned by the writer's thread, which
/// runs every batch's statements (and its BEGIN, savepoints and COMMIT) through it.
pub struct WriteConnection {
    path: PathBuf,
    durability: Durability,
    conn: Mutex<Option<Connection>>,
}

impl fmt::Debug for WriteConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQLite writer on {}", self.path.display())
    }
}

impl WriteConnection {
    /// The writer's connection to the file at `path`, opened when first used (and
    /// again after [`WriteConnection::reopen`]), so a file that cannot be opened yet
    /// fails the writes that need it instead of the start.
    pub fn new(path: PathBuf, durability: Durability) -> Arc<WriteConnection> {
        Arc::new(WriteConnection {
            path,
            durability,
            conn: Mutex::new(None),
        })
    }

    /// Drops the connection; the next statement opens a new one. After a failed
    /// COMMIT SQLite may or may not have rolled back by itself: only a new connection
    /// is sure to start clean.
    pub fn reopen(&self) {
        *lock(&self.conn) = None;
    }

    pub(super) fn with<T>(
        &self,
        run: impl FnOnce(&Connection) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let mut slot = lock(&self.conn);
        if slot.is_none() {
            *slot = Some(open_writer(&self.path, self.durability).map_err(|e| conn_error(&e))?);
        }
        run(slot.as_ref().expect("opened above"))
    }
}

/// Connections that only read, beside the writer's: WAL lets them read at the same
/// time as each other and as the writer. A read runs on the thread that asks (a
/// request's), on an idle connection or a new one; a connection that met a storage
/// fault is closed with every idle one, so none keeps a stale view of a broken file.
pub struct ReadConnections {
    path: PathBuf,
    /// Idle connections, each with the generation it was opened in: one opened before
    /// the last storage fault that said the file is broken (`fault::note_read_fault`)
    /// is closed when it comes back.
    idle: Mutex<Vec<(u64, Connection)>>,
}

impl fmt::Debug for ReadConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQLite readers on {}", self.path.display())
    }
}

impl ReadConnections {
    pub fn new(path: PathBuf) -> Arc<ReadConnections> {
        Arc::new(ReadConnections {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn with<T>(
        &self,
        run: impl FnOnce(&Connection) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let idle = lock(&self.idle).pop();
        let (generation, conn) = match idle {
            Some(idle) => idle,
            None => (
                fault::read_generation(),
                open_reader(&self.path).map_err(|e| conn_error(&e))?,
            ),
        };
        let result = run(&conn);
        match result.as_ref().err().and_then(fault::classify) {
            // A broken file: this connection and every one opened before now go.
            Some(kind @ (FaultKind::Io | FaultKind::Corrupt | FaultKind::CannotOpen)) => {
                fault::note_read_fault(kind);
                lock(&self.idle).clear();
            }
            // Busy, full, read-only or no fault: the connection is not to blame, and is
            // kept unless it predates a broken file seen elsewhere.
            _ if generation == fault::read_generation() => {
                lock(&self.idle).push((generation, conn));
            }
            _ => {}
        }
        result
    }
}

#[async_trait]
impl ConnectionTrait for ReadConnections {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        Err(DbErr::Exec(RuntimeErr::Internal(format!(
            "a read connection was asked to write: {}",
            stmt.sql
        ))))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.with(|conn| query(conn, &stmt))?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.with(|conn| query(conn, &stmt))
    }
}

/// A lock whose holder panicked is still sound here: a connection has no invariant of
/// ours that a panic between statements could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_writer(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each write of a batch runs in a savepoint, and SQLite keeps what a savepoint
    // would undo in a statement journal: in memory, not in a temporary file written
    // (and then thrown away) for every batch. It holds only the pages the batch
    // changed; what is committed goes to the WAL as before.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    keep_plans(&conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Keeps each cached statement's plan whatever values are bound to it. Without the
/// query planner stability guarantee SQLite plans around a bound `LIMIT ?` (which
/// sea-orm's `one()` and every page use) and throws the plan away when the next value
/// is bound: each execution of a cached statement was compiled again, a quarter of a
/// read's time. Our plans never depend on the values (no statistics are gathered).
fn keep_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(|_| ())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    keep_plans(&conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs a statement that returns rows.
fn query(conn: &Connection, statement: &Statement) -> Result<Vec<QueryResult>, DbErr> {
    let query_error = |e: &rusqlite::Error| db_error(e, DbErr::Query);
    let mut prepared = conn
        .prepare_cached(&statement.sql)
        .map_err(|e| query_error(&e))?;
    bind(&mut prepared, statement)?;
    let columns = result_columns(&statement.sql, &prepared);
    let mut rows = prepared.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next().map_err(|e| query_error(&e))? {
        let mut values = BTreeMap::new();
        for (i, (name, kind)) in columns.iter().enumerate() {
            let raw = row.get_ref(i).map_err(|e| query_error(&e))?;
            let value = to_value(raw, *kind).map_err(|what| {
                DbErr::Query(RuntimeErr::Internal(format!("column {name}: {what}")))
            })?;
            values.insert(name.clone(), value);
        }
        read.push(values);
    }
    Ok(results(read))
}

/// A statement's result columns: each one's name and the kind its values read as.
type Columns = Arc<[(String, Option<Kind>)]>;

/// The result columns of every statement seen, by its SQL. Every connection opens the
/// same schema, so a statement's columns are the same on all of them; working them out
/// (SQLite's column metadata, looked up in [`SCHEMA`]) on each execution was a read's
/// most expensive step of ours. Bounded: statements past the bound are worked out each
/// time, as before (the store builds a few hundred different ones at most).
static COLUMNS: LazyLock<RwLock<HashMap<String, Columns>>> = LazyLock::new(Default::default);
const COLUMNS_KEPT: usize = 2048;

fn result_columns(sql: &str, prepared: &rusqlite::Statement<'_>) -> Columns {
    if let Some(known) = COLUMNS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(sql)
    {
        return known.clone();
    }
    let columns: Columns = prepared
        .columns_with_metadata()
        .iter()
        .map(|c| {
            let kind = match (c.table_name(), c.origin_name()) {
                (Some(table), Some(column)) => SCHEMA.column(table, column),
                _ => None,
            }
            .or_else(|| SCHEMA.by_name(c.name()));
            (c.name().to_owned(), kind)
        })
        .collect();
    let mut known = COLUMNS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if known.len() < COLUMNS_KEPT {
        known.insert(sql.to_owned(), columns.clone());
    }
    columns
}

/// sea-orm's results holding `rows`: a row-holding connection of sea-orm's own is
/// loaded with them and asked once.
fn results(rows: Vec<BTreeMap<String, Value>>) -> Vec<QueryResult> {
    let mut holder = MockDatabase::new(DbBackend::Sqlite).append_query_results([rows]);
    holder
        .query(0, Statement::from_string(DbBackend::Sqlite, ""))
        .expect("a loaded result is there to take")
}

/// Runs a statement for its effect. A statement without values may be several
/// (`RELEASE job; SAVEPOINT job`); one with values is prepared once and cached.
fn execute(conn: &Connection, statement: &Statement) -> Result<ExecResult, DbErr> {
    let exec_error = |e: &rusqlite::Error| db_error(e, DbErr::Exec);
    let changed = match &statement.values {
        None => {
            conn.execute_batch(&statement.sql)
                .map_err(|e| exec_error(&e))?;
            conn.changes()
        }
        Some(_) => {
            let mut prepared = conn
                .prepare_cached(&statement.sql)
                .map_err(|e| exec_error(&e))?;
            bind(&mut prepared, statement)?;
            // Stepped to the end, so a statement that also returns rows runs whole.
            let mut rows = prepared.raw_query();
            while rows.next().map_err(|e| exec_error(&e))?.is_some() {}
            conn.changes()
        }
    };
    let mut holder = MockDatabase::new(DbBackend::Sqlite).append_exec_results([MockExecResult {
        last_insert_id: u64::try_from(conn.last_insert_rowid()).unwrap_or(0),
        rows_affected: changed,
    }]);
    Ok(holder
        .execute(0, Statement::from_string(DbBackend::Sqlite, ""))
        .expect("a loaded result is there to take"))
}

fn bind(prepared: &mut rusqlite::CachedStatement<'_>, statement: &Statement) -> Result<(), DbErr> {
    let Some(values) = &statement.values else {
        return Ok(());
    };
    for (i, value) in values.0.iter().enumerate() {
        let sql = to_sql(value).map_err(|what| {
            DbErr::Query(RuntimeErr::Internal(format!("parameter {}: {what}", i + 1)))
        })?;
        prepared
            .raw_bind_parameter(i + 1, sql)
            .map_err(|e| db_error(&e, DbErr::Query))?;
    }
    Ok(())
}

/// A value as sqlx's SQLite driver stores it (`sea-query-sqlx`'s binder, then sqlx's
/// encoders), so rows written by either engine compare and sort alike.
fn to_sql(value: &Value) -> Result<Sql, String> {
    fn or_null<T>(value: &Option<T>, to: impl FnOnce(&T) -> Sql) -> Sql {
        value.as_ref().map_or(Sql::Null, to)
    }
    Ok(match value {
        Value::Bool(v) => or_null(v, |b| Sql::Integer(i64::from(*b))),
        Value::TinyInt(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::SmallInt(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::Int(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::BigInt(v) => or_null(v, |i| Sql::Integer(*i)),
        Value::TinyUnsigned(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::SmallUnsigned(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::Unsigned(v) => or_null(v, |i| Sql::Integer(i64::from(*i))),
        Value::BigUnsigned(Some(i)) => {
            Sql::Integer(i64::try_from(*i).map_err(|_| format!("{i} is too large for SQLite"))?)
        }
        Value::BigUnsigned(None) => Sql::Null,
        Value::Float(v) => or_null(v, |f| Sql::Real(f64::from(*f))),
        Value::Double(v) => or_null(v, |f| Sql::Real(*f)),
        Value::String(v) => or_null(v, |s| Sql::Text(s.clone())),
        Value::Char(v) => or_null(v, |c| Sql::Text(c.to_string())),
        Value::Enum(OptionEnum::Some(v)) => Sql::Text(v.value.to_string()),
        Value::Enum(OptionEnum::None(_)) => Sql::Null,
        Value::Bytes(v) => or_null(v, |b| Sql::Blob(b.clone())),
        Value::Json(v) => or_null(v, |j| Sql::Text(j.to_string())),
        Value::ChronoDate(v) => or_null(v, |d| Sql::Text(d.format("%F").to_string())),
        Value::ChronoTime(v) => or_null(v, |t| Sql::Text(t.format("%T%.f").to_string())),
        Value::ChronoDateTime(v) => or_null(v, |t| Sql::Text(t.format("%F %T%.f").to_string())),
        Value::ChronoDateTimeUtc(v) => or_null(v, |t| Sql::Text(rfc3339(t))),
        Value::ChronoDateTimeLocal(v) => or_null(v, |t| Sql::Text(rfc3339(t))),
        Value::ChronoDateTimeWithTimeZone(v) => or_null(v, |t| Sql::Text(rfc3339(t))),
        Value::Uuid(v) => or_null(v, |u| Sql::Blob(u.as_bytes().to_vec())),
        other => return Err(format!("SQLite cannot store {other:?}")),
    })
}

pub(super) fn rfc3339<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// What a column holds, as far as reading it back goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    BigInt,
    Bool,
    Uuid,
    Time,
    Json,
    Text,
    Real,
    Bytes,
}

impl Kind {
    fn of(column: &ColumnType) -> Kind {
        match column {
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned => Kind::Int,
            ColumnType::BigInteger | ColumnType::Unsigned | ColumnType::BigUnsigned => Kind::BigInt,
            ColumnType::Boolean => Kind::Bool,
            ColumnType::Uuid => Kind::Uuid,
            ColumnType::Timestamp | ColumnType::TimestampWithTimeZone | ColumnType::DateTime => {
                Kind::Time
            }
            ColumnType::Json | ColumnType::JsonBinary => Kind::Json,
            ColumnType::Float | ColumnType::Double | ColumnType::Decimal(_) => Kind::Real,
            ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => Kind::Bytes,
            _ => Kind::Text,
        }
    }
}

/// Every stored column's kind, from the entities: by table and column, and by name
/// alone where the name means one kind everywhere (for aliases and RETURNING).
struct Schema {
    tables: HashMap<&'static str, HashMap<String, Kind>>,
    names: HashMap<String, Option<Kind>>,
}

impl Schema {
    fn column(&self, table: &str, column: &str) -> Option<Kind> {
        self.tables.get(table)?.get(column).copied()
    }

    fn by_name(&self, name: &str) -> Option<Kind> {
        self.names.get(name).copied().flatten()
    }

    fn add<E: EntityTrait + Default>(&mut self) {
        let table: &'static str = E::default().table_name();
        for column in E::Column::iter() {
            let kind = Kind::of(column.def().get_column_type());
            let name = sea_orm::IdenStatic::as_str(&column).to_owned();
            self.tables
                .entry(table)
                .or_default()
                .insert(name.clone(), kind);
            self.names
                .entry(name)
                .and_modify(|known| {
                    if *known != Some(kind) {
                        *known = None;
                    }
                })
                .or_insert(Some(kind));
        }
    }
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    use entities::*;
    let mut schema = Schema {
        tables: HashMap::new(),
        names: HashMap::new(),
    };
    schema.add::<api_keys::Entity>();
    schema.add::<audit_events::Entity>();
    schema.add::<changes::Entity>();
    schema.add::<idempotency_records::Entity>();
    schema.add::<notification_attempts::Entity>();
    schema.add::<notifications::Entity>();
    schema.add::<opt_outs::Entity>();
    schema.add::<order_events::Entity>();
    schema.add::<orders::Entity>();
    schema.add::<provider_calls::Entity>();
    schema.add::<sandbox_messages::Entity>();
    schema.add::<stream_tokens::Entity>();
    schema.add::<templates::Entity>();
    schema.add::<webhook_deliveries::Entity>();
    schema.add::<webhook_endpoints::Entity>();
    schema
});

/// A stored value as the type its column has in the entities. A value stored in
/// another form than its column's is read as SQLite holds it, and the entity that
/// reads it says so.
fn to_value(raw: ValueRef<'_>, kind: Option<Kind>) -> Result<Value, String> {
    use ValueRef as R;
    Ok(match (kind, raw) {
        (Some(Kind::Int), R::Null) => Value::Int(None),
        (Some(Kind::Int), R::Integer(i)) => Value::Int(Some(
            i32::try_from(i).map_err(|_| format!("{i} is no 32-bit integer"))?,
        )),
        (Some(Kind::BigInt), R::Null) => Value::BigInt(None),
        (Some(Kind::Bool), R::Null) => Value::Bool(None),
        (Some(Kind::Bool), R::Integer(i)) => Value::Bool(Some(i != 0)),
        (Some(Kind::Uuid), R::Null) => Value::Uuid(None),
        (Some(Kind::Uuid), R::Blob(_) | R::Text(_)) => Value::Uuid(Some(stored_uuid(raw)?)),
        (Some(Kind::Time), R::Null) => Value::ChronoDateTimeUtc(None),
        (Some(Kind::Time), R::Text(_) | R::Integer(_)) => {
            Value::ChronoDateTimeUtc(Some(stored_time(raw)?))
        }
        (Some(Kind::Json), R::Null) => Value::Json(None),
        (Some(Kind::Json), R::Text(text)) => Value::Json(Some(Box::new(
            serde_json::from_slice(text).map_err(|e| e.to_string())?,
        ))),
        (Some(Kind::Text), R::Null) => Value::String(None),
        (Some(Kind::Real), R::Null) => Value::Double(None),
        (Some(Kind::Bytes), R::Null) => Value::Bytes(None),
        (_, R::Null) => Value::BigInt(None),
        (_, R::Integer(i)) => Value::BigInt(Some(i)),
        (_, R::Real(f)) => Value::Double(Some(f)),
        (_, R::Text(text)) => Value::String(Some(
            String::from_utf8(text.to_vec()).map_err(|e| e.to_string())?,
        )),
        (_, R::Blob(bytes)) => Value::Bytes(Some(bytes.to_vec())),
    })
}

/// A UUID as the engine stores one (16 bytes), or as text.
pub(super) fn stored_uuid(raw: ValueRef<'_>) -> Result<uuid::Uuid, String> {
    match raw {
        ValueRef::Blob(bytes) => uuid::Uuid::from_slice(bytes).map_err(|e| e.to_string()),
        ValueRef::Text(text) => uuid::Uuid::try_parse_ascii(text).map_err(|e| e.to_string()),
        other => Err(format!("{:?} is no UUID", other.data_type())),
    }
}

/// A time as the engine stores one (RFC 3339 text, or SQLite's own forms), or as
/// seconds since 1970.
pub(super) fn stored_time(raw: ValueRef<'_>) -> Result<DateTime<Utc>, String> {
    match raw {
        ValueRef::Text(text) => {
            let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
            parse_time(text).ok_or_else(|| format!("{text:?} is no time"))
        }
        ValueRef::Integer(seconds) => Utc
            .timestamp_opt(seconds, 0)
            .single()
            .ok_or_else(|| format!("{seconds} is no time")),
        other => Err(format!("{:?} is no time", other.data_type())),
    }
}

/// A time as sqlx's SQLite driver reads one: RFC 3339 first, then SQLite's own forms.
pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS.iter().find_map(|format| {
        DateTime::<FixedOffset>::parse_from_str(text, format)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, format)
                    .ok()
                    .map(|t| Utc.from_utc_datetime(&t))
            })
    })
}

/// SQLite's own error, in the shape the rest of the store already reads from sqlx's:
/// its extended result code classifies storage faults (`store::fault`) and names a
/// unique or foreign key violation.
#[derive(Debug)]
pub struct SqliteError {
    code: Option<i32>,
    message: String,
}

impl SqliteError {
    /// SQLite's extended result code, when SQLite gave one.
    pub fn code(&self) -> Option<i32> {
        self.code
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            Some(1555 | 2067) => ErrorKind::UniqueViolation,
            Some(787) => ErrorKind::ForeignKeyViolation,
            Some(1299) => ErrorKind::NotNullViolation,
            Some(275) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// rusqlite's error as sea-orm's, wrapped as `wrap` says (a query's or an execution's).
pub(super) fn db_error(error: &rusqlite::Error, wrap: fn(RuntimeErr) -> DbErr) -> DbErr {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let database = SqliteError {
                code: Some(failure.extended_code),
                message: message.clone().unwrap_or_else(|| failure.to_string()),
            };
            wrap(RuntimeErr::SqlxError(Arc::new(
                sea_orm::sqlx::Error::Database(Box::new(database)),
            )))
        }
        other => wrap(RuntimeErr::Internal(other.to_string())),
    }
}

/// A connection that cannot be opened: a storage fault by its code when SQLite gave
/// one (a read-only or missing folder), a connection fault otherwise.
fn conn_error(error: &rusqlite::Error) -> DbErr {
    db_error(error, DbErr::Conn)
}

/// Whether `error` is a refused duplicate (a unique index said no), on either engine.
pub fn is_unique_violation(error: &DbErr) -> bool {
    if matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        return true;
    }
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(&**e, sea_orm::sqlx::Error::Database(d) if d.is_unique_violation())
        }
        _ => false,
    }
}

/// The handle a batch's writes get: the writer's connection inside the batch's
/// transaction. Only the writer makes one, so holding one means being inside it.
pub struct InBatch(pub(in crate::store) Arc<WriteConnection>);

#[async_trait]
impl ConnectionTrait for InBatch {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.with(|conn| execute(conn, &stmt))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let stmt = Statement::from_string(DbBackend::Sqlite, sql);
        self.0.with(|conn| execute(conn, &stmt))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.0.with(|conn| query(conn, &stmt))?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.with(|conn| query(conn, &stmt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_name_and_table_has_one_kind() {
        assert_eq!(SCHEMA.column("orders", "version"), Some(Kind::Int));
        assert_eq!(SCHEMA.column("orders", "seq"), Some(Kind::BigInt));
        assert_eq!(SCHEMA.column("orders", "id"), Some(Kind::Uuid));
        assert_eq!(SCHEMA.column("orders", "items"), Some(Kind::Json));
        assert_eq!(SCHEMA.column("orders", "created_at"), Some(Kind::Time));
        assert_eq!(SCHEMA.by_name("created_at"), Some(Kind::Time));
        assert_eq!(SCHEMA.by_name("no_such_column"), None);
    }

    #[test]
    fn a_cached_statement_is_compiled_once_whatever_limit_is_bound() {
        use rusqlite::StatementStatus;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.db");
        let writer = open_writer(&path, Durability::Full).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t (name) VALUES ('a'), ('b'), ('c');")
            .unwrap();
        let sql = "SELECT \"t\".\"name\" FROM \"t\" WHERE \"t\".\"id\" > ? LIMIT ?";
        for conn in [&writer, &open_reader(&path).unwrap()] {
            for limit in 1..=4_i64 {
                let statement = Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    [0_i64.into(), limit.into()],
                );
                let rows = query(conn, &statement).unwrap();
                assert_eq!(rows.len() as i64, limit.min(3));
            }
            let cached = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                cached.get_status(StatementStatus::RePrepare),
                0,
                "compiled again for a new LIMIT"
            );
        }
    }

    /// Writes and reads on a new SQLite file; how much memory SQLite counts as held.
    fn memory_counted_after_some_work() -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("count.db");
        let writer = open_writer(&path, Durability::Full).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE t (n INTEGER PRIMARY KEY); INSERT INTO t (n) VALUES (1), (2);",
            )
            .unwrap();
        let reader = open_reader(&path).unwrap();
        let n: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // SAFETY: a plain read of SQLite's statistics.
        unsafe { rusqlite::ffi::sqlite3_memory_used() }
    }

    #[test]
    fn a_prepared_process_keeps_no_count_of_sqlites_memory() {
        // This process used SQLite without preparing itself first: it counts.
        assert!(memory_counted_after_some_work() > 0);
        // A process of its own, prepared before its first use, does not.
        let probe = "store::sqlite::engine::tests::prepared_process_probe";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                probe,
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run in a process of its own by a_prepared_process_keeps_no_count_of_sqlites_memory"]
    fn prepared_process_probe() {
        assert!(prepare_process(), "SQLite was in use before the probe");
        assert_eq!(memory_counted_after_some_work(), 0);
        // Too late once SQLite is in use: refused, nothing changed.
        assert!(!prepare_process());
    }

    #[test]
    fn values_are_stored_as_sqlx_stores_them_and_read_back_alike() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 19, 2, 3).unwrap()
            + chrono::Duration::microseconds(120_500);
        let Sql::Text(text) = to_sql(&Value::ChronoDateTimeUtc(Some(at))).unwrap() else {
            panic!("a time is text");
        };
        assert_eq!(text, "2026-11-30T19:02:03.120500+00:00");
        assert_eq!(
            to_value(ValueRef::Text(text.as_bytes()), Some(Kind::Time)).unwrap(),
            Value::ChronoDateTimeUtc(Some(at))
        );
        // SQLite's own form, as a trigger writes it.
        assert_eq!(
            parse_time("2026-11-30 19:02:03"),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 19, 2, 3).unwrap())
        );
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            to_sql(&Value::Uuid(Some(id))).unwrap(),
            Sql::Blob(id.as_bytes().to_vec())
        );
        assert_eq!(
            to_value(ValueRef::Blob(id.as_bytes()), Some(Kind::Uuid)).unwrap(),
            Value::Uuid(Some(id))
        );
        assert_eq!(to_sql(&Value::Bool(Some(true))).unwrap(), Sql::Integer(1));
        assert_eq!(
            to_value(ValueRef::Integer(7), Some(Kind::Int)).unwrap(),
            Value::Int(Some(7))
        );
        assert!(to_value(ValueRef::Integer(1 << 40), Some(Kind::Int)).is_err());
        assert_eq!(
            to_value(ValueRef::Integer(1 << 40), None).unwrap(),
            Value::BigInt(Some(1 << 40))
        );
    }
}
