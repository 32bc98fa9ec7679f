//! Storage faults: the database errors that say the disk or the database server failed
//! (full, read-only, I/O, corrupt, gone), as opposed to the request or the code. A write
//! that meets one is answered 503 with nothing of it kept, and the connection it ran on
//! is not trusted again.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

pub use crate::fault::FaultKind;

/// The storage fault behind `error`, if it is one.
pub fn classify(error: &DbErr) -> Option<FaultKind> {
    match error {
        DbErr::ConnectionAcquire(_) => Some(FaultKind::Connection),
        DbErr::Conn(runtime) => Some(classify_runtime(runtime).unwrap_or(FaultKind::Connection)),
        DbErr::Exec(runtime) | DbErr::Query(runtime) => classify_runtime(runtime),
        _ => None,
    }
}

fn classify_runtime(error: &RuntimeErr) -> Option<FaultKind> {
    match error {
        RuntimeErr::SqlxError(error) => classify_sqlx(error),
        _ => None,
    }
}

fn classify_sqlx(error: &sqlx::Error) -> Option<FaultKind> {
    match error {
        sqlx::Error::Database(database) => {
            if let Some(postgres) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return postgres_fault(postgres.code());
            }
            // SQLite's errors, from sqlx's driver or the SQLite engine's
            // (`store::sqlite::engine::SqliteError`), carry its extended result code.
            let code = database.code()?.parse::<i32>().ok()?;
            sqlite_fault(code)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(FaultKind::Connection),
        _ => None,
    }
}

/// SQLite's primary result codes (the low byte of an extended one).
pub(crate) fn sqlite_fault(extended: i32) -> Option<FaultKind> {
    match extended & 0xff {
        5 => Some(FaultKind::Busy),
        8 => Some(FaultKind::ReadOnly),
        10 => Some(FaultKind::Io),
        11 | 26 => Some(FaultKind::Corrupt),
        13 => Some(FaultKind::Full),
        14 => Some(FaultKind::CannotOpen),
        _ => None,
    }
}

/// PostgreSQL's SQLSTATEs for a server that cannot do the work, whatever the request.
fn postgres_fault(sqlstate: &str) -> Option<FaultKind> {
    match sqlstate {
        "53100" => Some(FaultKind::Full),
        "25006" => Some(FaultKind::ReadOnly),
        "58030" => Some(FaultKind::Io),
        "XX001" | "XX002" => Some(FaultKind::Corrupt),
        // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped
        "57P01" | "57P02" | "57P03" | "57P04" => Some(FaultKind::Connection),
        code if code.starts_with("08") || code.starts_with("53") => Some(FaultKind::Connection),
        _ => None,
    }
}

/// How many times read connections were retired: a read connection opened before the
/// last time is closed instead of reused (`store::sqlite::ReadConnections`), since a
/// SQLite handle that saw an I/O error may keep a stale view of the file.
static READ_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Notes a storage fault that says the file is broken: every read connection open now
/// is retired.
pub fn note_read_fault(kind: FaultKind) {
    log::warn!(
        "a read met a storage fault ({}); read connections are reopened",
        kind.as_str()
    );
    READ_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The current generation of read connections (see [`note_read_fault`]).
pub fn read_generation() -> u64 {
    READ_GENERATION.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_are_read_by_their_primary_byte() {
        // SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, SQLITE_CANTOPEN_ISDIR.
        assert_eq!(sqlite_fault(778), Some(FaultKind::Io));
        assert_eq!(sqlite_fault(1032), Some(FaultKind::ReadOnly));
        assert_eq!(sqlite_fault(13), Some(FaultKind::Full));
        assert_eq!(sqlite_fault(526), Some(FaultKind::CannotOpen));
        // SQLITE_CONSTRAINT_UNIQUE is the request's fault, not the disk's.
        assert_eq!(sqlite_fault(2067), None);
    }

    #[test]
    fn postgres_states_name_the_server_not_the_request() {
        assert_eq!(postgres_fault("53100"), Some(FaultKind::Full));
        assert_eq!(postgres_fault("57P01"), Some(FaultKind::Connection));
        assert_eq!(postgres_fault("08006"), Some(FaultKind::Connection));
        assert_eq!(postgres_fault("23505"), None);
        assert_eq!(postgres_fault("40001"), None);
    }
}
