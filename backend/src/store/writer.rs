//! Group commit: on SQLite, every request that writes hands its work to one writer
//! thread, which runs whatever has gathered in one transaction, each piece of work inside
//! its own savepoint, and commits them together. A durable commit (an fsync with
//! `synchronous=FULL`) costs the same for one change as for a hundred, so under load
//! the cost is shared; with one request at a time a batch is that one request.
//!
//! Each piece of work still succeeds or fails on its own: one that returns an error is
//! rolled back to its savepoint and leaves the others be. A caller hears back only once
//! the batch is committed, so an answer never reports a write that could still be lost;
//! if the commit fails, every piece of work in it fails with it (none of it happened).
//!
//! On SQLite the batch runs on a thread of its own, on a connection of the SQLite
//! engine (`store::sqlite`): every statement of every piece of work is a call into
//! SQLite on that thread, with no hand-off to another thread and back.
//!
//! PostgreSQL takes many writers at once and shares the cost of its commits by itself,
//! so there the work runs on the caller's own transaction from the pool.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use tokio::sync::{mpsc, oneshot};

use super::fault::FaultKind;
use super::port::{StorageError, Writes};
use super::sqlite::{Durability, InBatch, WriteConnection};
use crate::config::PoolSettings;
use crate::metrics::Metrics;

/// How many pieces of work one transaction takes at most: enough to share an fsync
/// widely, few enough that the first in a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

/// What a piece of work may fail with: anything a storage error becomes, able to say
/// whether the storage failed underneath it (a full disk, an I/O error), in which case
/// the writer gives up the whole transaction and its connection, not just that work.
pub trait WriteError: From<StorageError> + Send + 'static {
    /// The storage error underneath, when it is a storage fault.
    fn storage_fault(&self) -> Option<&StorageError>;
}

impl WriteError for StorageError {
    fn storage_fault(&self) -> Option<&StorageError> {
        self.fault().map(|_| self)
    }
}

/// Runs writing transactions; see the module documentation.
#[derive(Clone)]
pub struct Writer {
    mode: Mode,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
enum Mode {
    /// Each piece of work in its own transaction (PostgreSQL).
    Direct(DatabaseConnection),
    /// Handed to the writer's thread (SQLite).
    Batched(mpsc::UnboundedSender<Box<dyn Job>>),
}

/// What a caller's work produced, waiting for the batch's commit.
struct Done {
    /// Whether the work succeeded and its writes are to be kept.
    keep: bool,
    /// The storage fault the work met, which sinks the whole batch.
    fault: Option<StorageError>,
    /// Answers the caller, given how the commit went.
    answer: Box<dyn FnOnce(Result<(), StorageError>) + Send>,
}

/// A caller's work with the way back to the caller, types erased.
trait Job: Send {
    fn run<'t>(self: Box<Self>, batch: &'t InBatch) -> BoxFuture<'t, Done>;
    /// Answers the caller without running the work, or without keeping it.
    fn refuse(self: Box<Self>, error: StorageError);
}

struct Pending<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Pending<F, T, E>
where
    F: for<'t> FnOnce(&'t InBatch) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: WriteError,
{
    fn run<'t>(self: Box<Self>, batch: &'t InBatch) -> BoxFuture<'t, Done> {
        let Pending { work, reply } = *self;
        Box::pin(async move {
            let result = work(batch).await;
            let fault = result
                .as_ref()
                .err()
                .and_then(|e| e.storage_fault().cloned());
            Done {
                keep: result.is_ok(),
                fault,
                answer: Box::new(move |committed: Result<(), StorageError>| {
                    let answer = match (result, committed) {
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(e)) => Err(E::from(e)),
                        // Its own error says more than the batch's.
                        (Err(e), _) => Err(e),
                    };
                    // A caller that went away (its client hung up) needs no answer.
                    let _ = reply.send(answer);
                }),
            }
        })
    }

    fn refuse(self: Box<Self>, error: StorageError) {
        let _ = self.reply.send(Err(E::from(error)));
    }
}

impl Writer {
    /// A writer for `db`, opened from `url`. On a SQLite file it starts the writer's thread, which owns a
    /// connection of the SQLite engine (`store::sqlite`) to that file, kept as `pool`
    /// says (`synchronous`); the thread ends when the last clone of the writer is
    /// dropped, after finishing the work it was given. An in-memory SQLite database is
    /// refused (it lives inside sqlx's one connection).
    /// Committed batches, storage faults and reconnections are counted in `metrics`.
    pub fn new(
        db: DatabaseConnection,
        url: &str,
        pool: &PoolSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Writer, StorageError> {
        let Some(path) = super::sqlite_path(url)? else {
            return Ok(Writer {
                mode: Mode::Direct(db),
                metrics,
            });
        };
        let durability = if pool.sqlite_full_sync {
            Durability::Full
        } else {
            Durability::Normal
        };
        let connection = WriteConnection::new(path, durability);
        let (jobs, queue) = mpsc::unbounded_channel();
        let counted = metrics.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                // The work's futures wait on nothing but this thread's connection; a
                // runtime of its own lets them use Tokio's types all the same.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime starts");
                runtime.block_on(write_batches(connection, queue, counted));
            })
            .map_err(|e| StorageError::other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Writer {
            mode: Mode::Batched(jobs),
            metrics,
        })
    }

    /// Runs `work` in a writing transaction and answers what it returned once its
    /// writes are committed; if it returns an error, nothing it wrote is kept. If the
    /// transaction cannot be begun or committed, or the storage fails under any work in
    /// it, the answer is that error (a storage fault: `store::fault`) and nothing of
    /// the transaction is kept.
    ///
    /// On SQLite the work runs on the writer's thread, even if the caller stops
    /// waiting, so it owns what it uses (`'static`).
    pub async fn run<F, T, E>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t dyn Writes) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: WriteError,
    {
        match &self.mode {
            Mode::Direct(db) => self.run_direct(db, work).await,
            Mode::Batched(_) => self.run_in_batch(move |batch: &InBatch| work(batch)).await,
        }
    }

    /// One transaction of its own, from the pool (PostgreSQL).
    async fn run_direct<F, T, E>(&self, db: &DatabaseConnection, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t dyn Writes) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: WriteError,
    {
        // A connection that fails here is not reused: sqlx pings each one as it goes
        // back to the pool and closes those that do not answer.
        let txn: DatabaseTransaction = super::begin_write(db)
            .await
            .map_err(StorageError::from)
            .inspect_err(|e| self.note_fault(e))?;
        match work(&txn).await {
            Ok(value) => {
                txn.commit()
                    .await
                    .map_err(StorageError::from)
                    .inspect_err(|e| self.note_fault(e))?;
                self.metrics.record_write_batch(1);
                Ok(value)
            }
            Err(e) => {
                if let Some(fault) = e.storage_fault() {
                    self.note_fault(fault);
                }
                // Its own error says more than a failed rollback's (the transaction
                // ends either way).
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Hands `work` to the writer's thread for its next batch (SQLite); with the
    /// batch's connection itself, for the writer's tests.
    pub(super) async fn run_in_batch<F, T, E>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t InBatch) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: WriteError,
    {
        let Mode::Batched(jobs) = &self.mode else {
            return Err(E::from(StorageError::other(
                "only a SQLite writer batches its work",
            )));
        };
        let (reply, answer) = oneshot::channel();
        jobs.send(Box::new(Pending { work, reply }))
            .map_err(|_| StorageError::other("the database writer has stopped"))?;
        answer.await.map_err(|_| {
            // The work panicked (the writer logged it) or the writer was stopped.
            E::from(StorageError::other(
                "the write was abandoned; nothing of it was kept",
            ))
        })?
    }

    fn note_fault(&self, error: &StorageError) {
        if let Some(kind) = error.fault() {
            self.metrics.record_storage_error(kind);
        }
    }
}

/// How one batch ended.
struct Ended {
    /// Pieces of work committed (0 if the transaction was not).
    committed: usize,
    /// Why the connection cannot be trusted any more, if it cannot.
    broken: Option<StorageError>,
}

async fn write_batches(
    connection: Arc<WriteConnection>,
    mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>,
    metrics: Arc<Metrics>,
) {
    let batch_connection = InBatch(connection.clone());
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut log = FaultLog::default();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ended = commit_batch(&batch_connection, std::mem::take(&mut batch), &metrics).await;
        if ended.committed > 0 {
            log.recovered();
        }
        if let Some(error) = ended.broken {
            let kind = error.fault();
            if let Some(kind) = kind {
                metrics.record_storage_error(kind);
            }
            log.failed(kind, &error);
            connection.reopen();
            metrics.record_writer_reconnect();
        }
    }
}

/// How often a lasting fault is logged again: on a full disk under a dinner rush every
/// batch fails, and one line a batch would bury everything else in the log.
const FAULT_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The writer's log of failed transactions: the first at once, then at most one line
/// per [`FAULT_LOG_EVERY`] saying how many failed meanwhile, and a line when writes
/// commit again.
#[derive(Default)]
struct FaultLog {
    last_line: Option<std::time::Instant>,
    unlogged: u64,
    failing: bool,
}

impl FaultLog {
    fn failed(&mut self, kind: Option<FaultKind>, error: &StorageError) {
        self.failing = true;
        if self
            .last_line
            .is_some_and(|at| at.elapsed() < FAULT_LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        let also = self.take_unlogged();
        log::warn!(
            "a database write failed ({}: {error}); its transaction was given up and the connection is replaced{also}",
            kind.map_or("error", FaultKind::as_str)
        );
        self.last_line = Some(std::time::Instant::now());
    }

    /// How many failures went unlogged since the last line, as words for the next one.
    fn take_unlogged(&mut self) -> String {
        match std::mem::take(&mut self.unlogged) {
            0 => String::new(),
            n => format!(" ({n} more failed since the last line)"),
        }
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            let also = self.take_unlogged();
            log::warn!("database writes are committed again{also}");
            self.last_line = None;
        }
    }
}

/// Runs one batch in one transaction and answers every caller in it.
///
/// Any error from BEGIN, a savepoint, COMMIT or ROLLBACK, or a storage fault met by
/// any work in it, fails every piece of work in the batch (none of it is kept) and
/// marks the connection broken: after such an error SQLite may or may not have rolled
/// the transaction back by itself, so what the connection believes and what the file
/// holds can disagree, and only a new connection is sure to start clean.
/// A committed batch is counted in `metrics` before anyone hears of it, so a client
/// that reads `/metrics` after its answer finds its write counted.
async fn commit_batch(conn: &InBatch, batch: Vec<Box<dyn Job>>, metrics: &Metrics) -> Ended {
    // The write lock is taken up front, waiting up to the busy timeout while another
    // process (a `worker`, the command line) writes; a plain BEGIN would read first
    // and then fail at once when its first write finds the lock taken.
    if let Err(e) = conn.execute_unprepared("BEGIN IMMEDIATE").await {
        let e = StorageError::from(e);
        for job in batch {
            job.refuse(e.clone());
        }
        return Ended {
            committed: 0,
            broken: Some(e),
        };
    }
    // One savepoint marks where the current piece of work began: kept work is
    // released and the mark set again after it, failed work is rolled back to it.
    // COMMIT releases the last mark. Work on its own needs no mark.
    let alone = batch.len() == 1;
    let mut finished: Vec<Done> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut broken = if alone {
        None
    } else {
        conn.execute_unprepared("SAVEPOINT job")
            .await
            .err()
            .map(StorageError::from)
    };
    if broken.is_none() {
        for job in jobs.by_ref() {
            let done = run_guarded(job, conn).await;
            let keep = done.as_ref().is_some_and(|d| d.keep);
            let fault = done.as_ref().and_then(|d| d.fault.clone());
            if let Some(done) = done {
                finished.push(done);
            }
            if fault.is_some() {
                broken = fault;
                break;
            }
            if alone {
                break;
            }
            let reset = if keep {
                "RELEASE job; SAVEPOINT job"
            } else {
                "ROLLBACK TO job"
            };
            if let Err(e) = conn.execute_unprepared(reset).await {
                broken = Some(e.into());
                break;
            }
        }
    }
    let kept = finished.iter().filter(|done| done.keep).count();
    let ended = match broken {
        Some(e) => {
            // The connection is replaced whatever the rollback says.
            let _ = conn.execute_unprepared("ROLLBACK").await;
            Err(e)
        }
        None if kept == 0 => conn
            .execute_unprepared("ROLLBACK")
            .await
            .map(drop)
            .map_err(StorageError::from),
        None => match conn.execute_unprepared("COMMIT").await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = conn.execute_unprepared("ROLLBACK").await;
                Err(StorageError::from(e))
            }
        },
    };
    match &ended {
        Ok(()) if kept > 0 => metrics.record_write_batch(kept),
        Ok(()) => {}
        Err(e) => {
            for job in jobs {
                job.refuse(e.clone());
            }
        }
    }
    for done in finished {
        (done.answer)(ended.clone());
    }
    match ended {
        Ok(()) => Ended {
            committed: kept,
            broken: None,
        },
        Err(e) => Ended {
            committed: 0,
            broken: Some(e),
        },
    }
}

/// Runs a job; a panic in it is logged and its caller gets an error (its reply channel
/// is dropped), instead of ending the writer's thread for everyone.
async fn run_guarded(job: Box<dyn Job>, batch: &InBatch) -> Option<Done> {
    match AssertUnwindSafe(job.run(batch)).catch_unwind().await {
        Ok(done) => Some(done),
        Err(_) => {
            log::error!("a database write panicked; it was rolled back");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::QueueFigures;
    use sea_orm::{DbBackend, Statement};

    /// A SQLite file with `schema`, and the connection a writer would be given.
    struct TestFile {
        _dir: tempfile::TempDir,
        url: String,
        db: DatabaseConnection,
    }

    async fn database(schema: &str) -> TestFile {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let db = crate::store::connect(&url).await.unwrap();
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            db.execute_unprepared(statement).await.unwrap();
        }
        TestFile { _dir: dir, url, db }
    }

    impl TestFile {
        /// A writer on this file, counting into `metrics`.
        fn writer(&self, metrics: Arc<Metrics>) -> Writer {
            Writer::new(
                self.db.clone(),
                &self.url,
                &PoolSettings::default(),
                metrics,
            )
            .unwrap()
        }

        /// What is committed in `table`, as another connection sees it.
        async fn numbers(&self, table: &str) -> Vec<i64> {
            let other = crate::store::connect(&self.url).await.unwrap();
            let sql = format!("SELECT n FROM {table} ORDER BY n");
            let numbers = other
                .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<i64>("", "n").unwrap())
                .collect();
            other.close().await.unwrap();
            numbers
        }
    }

    /// One series of `/metrics`, by its name and labels.
    fn figure(metrics: &Metrics, series: &str) -> u64 {
        let text = metrics.render(&QueueFigures::default(), crate::store::now());
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .parse()
            .unwrap()
    }

    /// (transactions committed, writes they carried), as `/metrics` shows them.
    fn batches(metrics: &Metrics) -> (u64, u64) {
        (
            figure(metrics, "order_notify_write_batches_total"),
            figure(metrics, "order_notify_batched_writes_total"),
        )
    }

    fn insert(
        n: i64,
        then_fail: bool,
    ) -> impl for<'t> FnOnce(&'t InBatch) -> BoxFuture<'t, Result<i64, StorageError>> + Send + 'static
    {
        move |txn| {
            Box::pin(async move {
                txn.execute_unprepared(&format!("INSERT INTO t (n) VALUES ({n})"))
                    .await?;
                if then_fail {
                    return Err(StorageError::other(format!("{n} changed its mind")));
                }
                Ok(n)
            })
        }
    }

    /// Holds the writer's thread in a write of its own until `gate` opens (and a
    /// moment more), so that the writes sent meanwhile share the next batch.
    fn hold(writer: &Writer, gate: Arc<std::sync::Barrier>) -> tokio::task::JoinHandle<()> {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .run_in_batch(
                    move |_: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                        gate.wait();
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        Box::pin(async { Ok(()) })
                    },
                )
                .await
                .unwrap();
        })
    }

    #[tokio::test]
    async fn writes_sent_together_share_one_commit_and_fail_one_by_one() {
        let file = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let metrics = Arc::new(Metrics::default());
        let writer = file.writer(metrics.clone());
        // The writer's thread is held in a write of its own while the others are
        // handed over, so they form one batch: 1..=20, where every fifth fails after
        // writing, and a 21st that breaks the primary key.
        let gate = Arc::new(std::sync::Barrier::new(2));
        let holding = hold(&writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let mut calls: Vec<_> = (1..=20)
            .map(|n| writer.run_in_batch(insert(n, n % 5 == 0)))
            .collect();
        calls.push(writer.run_in_batch(insert(3, false)));
        let results = futures_util::future::join_all(calls).await;

        let kept: Vec<i64> = (1..=20).filter(|n| n % 5 != 0).collect();
        for (n, result) in (1..=20).zip(&results) {
            assert_eq!(result.is_ok(), n % 5 != 0, "write {n}: {result:?}");
        }
        assert!(
            results[20]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("UNIQUE")
        );
        holding.await.unwrap();
        assert_eq!(file.numbers("t").await, kept);
        // The holding write's batch, then one for all the others.
        assert_eq!(batches(&metrics), (2, kept.len() as u64 + 1));
    }

    #[tokio::test]
    async fn a_write_on_its_own_that_fails_leaves_nothing() {
        let file = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let metrics = Arc::new(Metrics::default());
        let writer = file.writer(metrics.clone());
        assert!(writer.run_in_batch(insert(7, true)).await.is_err());
        assert_eq!(writer.run_in_batch(insert(8, false)).await.unwrap(), 8);
        assert_eq!(file.numbers("t").await, [8]);
        assert_eq!(batches(&metrics), (1, 1));
    }

    #[tokio::test]
    async fn when_the_commit_fails_every_write_in_the_batch_fails() {
        // A deferred foreign key is checked only at COMMIT: the second write passes
        // its own savepoint and then sinks the whole transaction.
        let file = database(
            "CREATE TABLE parent (n INTEGER PRIMARY KEY); \
             CREATE TABLE t (n INTEGER PRIMARY KEY, parent INTEGER \
                 REFERENCES parent (n) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await;
        let metrics = Arc::new(Metrics::default());
        let writer = file.writer(metrics.clone());
        let write = |sql: &'static str| {
            writer.run_in_batch(
                move |txn: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                    Box::pin(async move {
                        txn.execute_unprepared(sql).await?;
                        Ok(())
                    })
                },
            )
        };
        let gate = Arc::new(std::sync::Barrier::new(2));
        let holding = hold(&writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let (good, bad) = tokio::join!(
            write("INSERT INTO parent (n) VALUES (1); INSERT INTO t (n, parent) VALUES (1, 1)"),
            write("INSERT INTO t (n, parent) VALUES (2, 99)"),
        );
        holding.await.unwrap();
        let error = good.unwrap_err().to_string();
        assert!(error.contains("FOREIGN KEY"), "{error}");
        assert!(bad.is_err());
        assert!(file.numbers("parent").await.is_empty());
        assert!(file.numbers("t").await.is_empty());
        assert_eq!(
            batches(&metrics),
            (1, 1),
            "only the holding write committed"
        );
        // The writer goes on, on a new connection, and what it commits is committed.
        // (It answers a failed batch before replacing the connection, and replaces it
        // before it takes the next batch: after the next write, the count is certain.)
        write("INSERT INTO parent (n) VALUES (5)").await.unwrap();
        assert_eq!(figure(&metrics, "order_notify_writer_reconnects_total"), 1);
        assert_eq!(file.numbers("parent").await, [5]);
    }

    #[tokio::test]
    async fn a_storage_fault_in_one_write_fails_its_whole_batch_and_replaces_the_connection() {
        let file = database("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)").await;
        let metrics = Arc::new(Metrics::default());
        let writer = file.writer(metrics.clone());
        // The writer's connection may not grow the file: the large write below meets
        // SQLITE_FULL, a real storage fault, after two small ones that fit.
        writer
            .run_in_batch(
                |batch: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                    Box::pin(async move {
                        batch
                            .execute_unprepared("PRAGMA max_page_count = 3")
                            .await?;
                        Ok(())
                    })
                },
            )
            .await
            .unwrap();
        let write = |n: i64, bytes: usize| {
            writer.run_in_batch(
                move |txn: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                    Box::pin(async move {
                        let sql = format!("INSERT INTO t (n, pad) VALUES ({n}, zeroblob({bytes}))");
                        txn.execute_unprepared(&sql).await?;
                        Ok(())
                    })
                },
            )
        };
        let gate = Arc::new(std::sync::Barrier::new(2));
        let holding = hold(&writer, gate.clone());
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        let results = futures_util::future::join_all([
            write(1, 10),
            write(2, 10),
            write(3, 65536),
            write(4, 10),
        ])
        .await;
        holding.await.unwrap();
        for (n, result) in (1..).zip(&results) {
            let error = result.as_ref().expect_err(&format!("write {n} must fail"));
            assert_eq!(error.fault(), Some(FaultKind::Full), "write {n}: {error}");
        }
        assert!(file.numbers("t").await.is_empty());
        // Committed: the page limit's batch and the holding write's, nothing else.
        assert_eq!(batches(&metrics), (2, 2));
        // The new connection has the default page limit: the large write now fits.
        write(5, 65536).await.unwrap();
        assert_eq!(file.numbers("t").await, [5]);
        // Counted once the writer is done with the failed batch, before the next one.
        assert_eq!(figure(&metrics, "order_notify_writer_reconnects_total"), 1);
        assert_eq!(
            figure(
                &metrics,
                "order_notify_storage_errors_total{kind=\"disk_full\"}"
            ),
            1
        );
    }

    #[tokio::test]
    async fn a_commit_on_a_full_disk_is_never_reported_and_the_next_batch_starts_clean() {
        let Some(disk) = SmallDisk::mount() else {
            return;
        };
        let url = format!("sqlite://{}?mode=rwc", disk.path.join("w.db").display());
        let db = crate::store::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)")
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let writer =
            Writer::new(db.clone(), &url, &PoolSettings::default(), metrics.clone()).unwrap();
        let write = |n: i64| {
            writer.run_in_batch(
                move |txn: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                    Box::pin(async move {
                        let sql = format!("INSERT INTO t (n, pad) VALUES ({n}, zeroblob(20000))");
                        txn.execute_unprepared(&sql).await?;
                        Ok(())
                    })
                },
            )
        };
        write(1).await.unwrap();
        let filler = disk.fill();
        let mut refused = 0;
        for n in 2..40 {
            match write(n).await {
                Ok(()) => {}
                Err(e) => {
                    assert!(e.fault().is_some(), "write {n}: {e}");
                    refused += 1;
                }
            }
        }
        assert!(refused > 0, "the full disk never refused a write");
        std::fs::remove_file(filler).unwrap();
        write(100).await.unwrap();
        write(101).await.unwrap();
        // Another connection sees exactly what was answered Ok: before the writer
        // replaced its connection, everything after the failed commit went into a
        // transaction that was never committed.
        let other = crate::store::connect(&url).await.unwrap();
        let kept: Vec<i64> = other
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT n FROM t ORDER BY n".to_owned(),
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<i64>("", "n").unwrap())
            .collect();
        assert!(
            kept.starts_with(&[1]) && kept.ends_with(&[100, 101]),
            "{kept:?}"
        );
        assert_eq!(kept.len(), 1 + (38 - refused) + 2, "{kept:?}");
        assert!(figure(&metrics, "order_notify_writer_reconnects_total") >= 1);
        other.close().await.unwrap();
        drop(writer);
        db.close().await.unwrap();
    }

    /// A 1 MiB tmpfs of its own (root only), unmounted when dropped. Without the
    /// right to mount, the test says so and passes, unless `REQUIRE_FAULT_DRILLS=1`.
    struct SmallDisk {
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    impl SmallDisk {
        fn mount() -> Option<SmallDisk> {
            let dir = tempfile::tempdir().unwrap();
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(dir.path())
                .output();
            match mounted {
                Ok(out) if out.status.success() => Some(SmallDisk {
                    path: dir.path().to_owned(),
                    _dir: dir,
                }),
                other => {
                    let why = format!("cannot mount a tmpfs: {other:?}");
                    assert!(
                        std::env::var("REQUIRE_FAULT_DRILLS").as_deref() != Ok("1"),
                        "REQUIRE_FAULT_DRILLS=1 but {why}"
                    );
                    println!("skipped: {why}");
                    None
                }
            }
        }

        /// Takes every free byte with one file, and returns its path.
        fn fill(&self) -> std::path::PathBuf {
            use std::io::Write;
            let path = self.path.join("filler");
            let mut file = std::fs::File::create(&path).unwrap();
            let block = vec![0u8; 4096];
            while file.write_all(&block).is_ok() {}
            let _ = file.flush();
            path
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status();
        }
    }

    #[tokio::test]
    async fn a_write_that_panics_is_undone_and_the_writer_goes_on() {
        let file = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let writer = file.writer(Arc::new(Metrics::default()));
        let panicking =
            writer.run_in_batch(|txn: &InBatch| -> BoxFuture<'_, Result<(), StorageError>> {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO t (n) VALUES (1)")
                        .await?;
                    panic!("a bug in a handler");
                })
            });
        let (panicked, fine) = tokio::join!(panicking, writer.run_in_batch(insert(2, false)));
        assert!(panicked.unwrap_err().to_string().contains("abandoned"));
        assert_eq!(fine.unwrap(), 2);
        assert_eq!(file.numbers("t").await, [2]);
    }
}
