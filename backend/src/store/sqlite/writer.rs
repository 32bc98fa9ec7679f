//! SQLite's group commit without a hand-off per statement: one thread owns a rusqlite
//! connection and runs every write that arrived while it was busy in one transaction,
//! each in its own savepoint, then commits once; each caller hears back over a oneshot.
//!
//! The rules are `store::writer`'s, on a synchronous connection: a write that fails or
//! panics is rolled back to its savepoint and fails alone; a failed COMMIT fails every
//! write of the batch (none of them is kept), and the next batch starts on a clean
//! connection (reopened when the failed one cannot even roll back).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::store::StorageError;
use crate::store::fault::sqlite_fault;

/// The most writes one transaction carries.
const MOST_PER_BATCH: usize = 512;

/// A write's work, run on the writer's thread inside its savepoint.
type Work = Box<dyn FnOnce(&Connection) -> Result<Box<dyn Any + Send>, StorageError> + Send>;

/// Where a write's caller waits for its answer.
type Answer = oneshot::Sender<Result<Box<dyn Any + Send>, StorageError>>;

struct Job {
    work: Work,
    done: Answer,
}

/// How SQLite must keep what it commits (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit on disk before it is answered (survives a power cut).
    Full,
    /// Survives a crash of the process, not of the machine.
    Normal,
}

/// Turns rusqlite's error into the store's, with the storage fault under it classified
/// as the sqlx engine's are.
pub fn storage_error(error: &rusqlite::Error) -> StorageError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match sqlite_fault(failure.extended_code) {
            Some(kind) => StorageError::fault_of(kind, error.to_string()),
            None => StorageError::other(error.to_string()),
        },
        _ => StorageError::other(error.to_string()),
    }
}

/// The handle the rest of the service holds: cheap to clone, all clones feed one thread.
#[derive(Clone)]
pub struct DirectWriter {
    jobs: mpsc::Sender<Job>,
    commits: Arc<AtomicU64>,
}

impl DirectWriter {
    /// Opens the database file at `path` (WAL, the given durability, a busy timeout)
    /// and starts the thread that owns it.
    pub fn open(path: impl Into<PathBuf>, durability: Durability) -> Result<Self, StorageError> {
        let path = path.into();
        let conn = connect(&path, durability).map_err(|e| storage_error(&e))?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_batches(conn, path, durability, queue, counted))
            .map_err(|e| StorageError::other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(DirectWriter { jobs, commits })
    }

    /// Runs `work` in the next transaction, in a savepoint of its own; its result once
    /// that transaction committed. `work` runs on the writer's thread and must not wait
    /// on anything but the connection it is given.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let work: Work =
            Box::new(move |conn| work(conn).map(|v| Box::new(v) as Box<dyn Any + Send>));
        self.jobs
            .send(Job { work, done })
            .map_err(|_| StorageError::other("the SQLite writer has stopped"))?;
        let value = answer
            .await
            .map_err(|_| StorageError::other("the SQLite writer stopped before answering"))??;
        Ok(*value
            .downcast::<T>()
            .expect("a write's answer has the type its work returned"))
    }

    /// Transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

fn connect(path: &PathBuf, durability: Durability) -> rusqlite::Result<Connection> {
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
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The writer's thread: a batch at a time until every handle is gone.
fn write_batches(
    mut conn: Connection,
    path: PathBuf,
    durability: Durability,
    queue: mpsc::Receiver<Job>,
    commits: Arc<AtomicU64>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_PER_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if run_batch(&conn, batch, &commits).is_err() {
            // The connection could not even roll back: start the next batch on a new
            // one. If the file cannot be opened now, keep the old one; its next write
            // fails and says why.
            match connect(&path, durability) {
                Ok(fresh) => conn = fresh,
                Err(e) => log::error!("the SQLite writer cannot reopen the database: {e}"),
            }
        }
    }
}

/// Runs one batch: BEGIN IMMEDIATE, each job in its savepoint, COMMIT, then the answers.
/// `Err` when the connection is left in a state the next batch must not inherit.
fn run_batch(conn: &Connection, batch: Vec<Job>, commits: &AtomicU64) -> Result<(), ()> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = storage_error(&e);
        for job in batch {
            let _ = job.done.send(Err(error.clone()));
        }
        return Ok(());
    }
    let mut kept = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let _ = job.done.send(Err(storage_error(&e)));
            continue;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| (job.work)(conn))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            log::error!("a write panicked and was rolled back alone: {what}");
            Err(StorageError::other(format!("the write panicked: {what}")))
        });
        match outcome {
            Ok(value) => match conn.execute_batch("RELEASE job") {
                Ok(()) => kept.push((value, job.done)),
                Err(e) => {
                    let _ = job.done.send(Err(storage_error(&e)));
                    return roll_back_all(conn, kept, storage_error(&e));
                }
            },
            Err(error) => {
                if let Err(e) = conn.execute_batch("ROLLBACK TO job; RELEASE job") {
                    let _ = job.done.send(Err(error));
                    return roll_back_all(conn, kept, storage_error(&e));
                }
                let _ = job.done.send(Err(error));
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for (value, done) in kept {
                let _ = done.send(Ok(value));
            }
            Ok(())
        }
        Err(e) => roll_back_all(conn, kept, storage_error(&e)),
    }
}

/// The batch failed as a whole: nothing of it is kept and every write still waiting
/// hears why. `Err` when the connection cannot be trusted with the next batch.
fn roll_back_all(
    conn: &Connection,
    kept: Vec<(Box<dyn Any + Send>, Answer)>,
    error: StorageError,
) -> Result<(), ()> {
    log::warn!(
        "a write transaction of {} writes failed and was rolled back: {error}",
        kept.len()
    );
    for (_, done) in kept {
        let _ = done.send(Err(error.clone()));
    }
    if conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("ROLLBACK").map_err(|e| {
        log::error!("the SQLite writer cannot roll back ({e}); reopening its connection");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Barrier;

    /// A writer on a fresh file with a small schema; the file's folder lives as long as
    /// the value.
    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        writer: DirectWriter,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (id INTEGER PRIMARY KEY,
                     parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
            )
            .unwrap();
        drop(setup);
        let writer = DirectWriter::open(&path, Durability::Full).unwrap();
        Fixture {
            _dir: dir,
            path,
            writer,
        }
    }

    impl Fixture {
        fn notes(&self) -> Vec<i64> {
            let conn = Connection::open(&self.path).unwrap();
            let mut statement = conn.prepare("SELECT id FROM note ORDER BY id").unwrap();
            statement
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
    }

    fn insert(conn: &Connection, id: i64) -> Result<(), StorageError> {
        conn.prepare_cached("INSERT INTO note (id, body) VALUES (?1, 'x')")
            .and_then(|mut s| s.execute([id]))
            .map(drop)
            .map_err(|e| storage_error(&e))
    }

    /// Holds the writer's thread in a write of its own until `gate` opens, so that the
    /// writes sent meanwhile share the next batch.
    fn hold(writer: &DirectWriter, gate: Arc<Barrier>) -> tokio::task::JoinHandle<()> {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .run(move |_| {
                    gate.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    Ok(())
                })
                .await
                .unwrap();
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_sent_together_share_one_commit_and_a_failing_one_rolls_back_alone() {
        let f = fixture();
        let gate = Arc::new(Barrier::new(2));
        let holding = hold(&f.writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let before = f.writer.commits();
        let first = f.writer.run(|c| insert(c, 1));
        let failing = f.writer.run(|c| {
            insert(c, 2)?;
            insert(c, 1) // the same id again: refused, and its own first insert with it
        });
        let last = f.writer.run(|c| insert(c, 3));
        let (first, failing, last) = tokio::join!(first, failing, last);
        holding.await.unwrap();
        first.unwrap();
        last.unwrap();
        let refused = failing.unwrap_err();
        assert!(refused.to_string().contains("UNIQUE"), "{refused}");
        assert_eq!(refused.fault(), None, "a refused write is no storage fault");
        assert_eq!(f.notes(), [1, 3]);
        // One commit for the holding write, one for the three sent while it ran.
        assert_eq!(
            f.writer.commits() - before,
            2,
            "the three writes shared one commit"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_its_whole_batch_and_the_next_batch_starts_clean() {
        let f = fixture();
        let gate = Arc::new(Barrier::new(2));
        let holding = hold(&f.writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let innocent = f.writer.run(|c| insert(c, 1));
        // A child of no parent passes its statement and fails the deferred foreign key
        // check at COMMIT, as a full disk fails the commit of writes that all ran.
        let orphan = f.writer.run(|c| {
            c.execute("INSERT INTO child (id, parent) VALUES (1, 42)", [])
                .map(drop)
                .map_err(|e| storage_error(&e))
        });
        let (innocent, orphan) = tokio::join!(innocent, orphan);
        holding.await.unwrap();
        for failed in [innocent.unwrap_err(), orphan.unwrap_err()] {
            assert!(failed.to_string().contains("FOREIGN KEY"), "{failed}");
        }
        assert!(f.notes().is_empty(), "nothing of the failed batch is kept");
        f.writer.run(|c| insert(c, 2)).await.unwrap();
        assert_eq!(f.notes(), [2], "the next batch commits");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let f = fixture();
        let gate = Arc::new(Barrier::new(2));
        let holding = hold(&f.writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let before = f.writer.run(|c| insert(c, 1));
        let panicking = f.writer.run(|c| -> Result<(), StorageError> {
            insert(c, 2)?;
            panic!("a bug in a write")
        });
        let after = f.writer.run(|c| insert(c, 3));
        let (before, panicking, after) = tokio::join!(before, panicking, after);
        holding.await.unwrap();
        before.unwrap();
        after.unwrap();
        let failed = panicking.unwrap_err();
        assert!(failed.to_string().contains("a bug in a write"), "{failed}");
        assert_eq!(f.notes(), [1, 3]);
        f.writer.run(|c| insert(c, 4)).await.unwrap();
        assert_eq!(f.notes(), [1, 3, 4]);
    }

    #[test]
    fn a_full_disk_is_a_storage_fault() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".to_owned()),
        );
        assert_eq!(
            storage_error(&full).fault(),
            Some(crate::fault::FaultKind::Full)
        );
    }
}
