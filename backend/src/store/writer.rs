//! Group commit: on SQLite, every request that writes hands its work to one writer
//! task, which runs whatever has gathered in one transaction, each piece of work inside
//! its own savepoint, and commits them together. A durable commit (an fsync with
//! `synchronous=FULL`) costs the same for one change as for a hundred, so under load
//! the cost is shared; with one request at a time a batch is that one request.
//!
//! Each piece of work still succeeds or fails on its own: one that returns an error is
//! rolled back to its savepoint and leaves the others be. A caller hears back only once
//! the batch is committed, so an answer never reports a write that could still be lost;
//! if the commit fails, every piece of work in it fails with it (none of it happened).
//!
//! PostgreSQL takes many writers at once and shares the cost of its commits by itself,
//! so there the work runs on the caller's own transaction from the pool.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// How many pieces of work one transaction takes at most: enough to share an fsync
/// widely, few enough that the first in a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

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
    /// Handed to the writer task (SQLite).
    Batched(mpsc::UnboundedSender<Box<dyn Job>>),
}

/// What a caller's work produced, waiting for the batch's commit.
struct Done {
    /// Whether the work succeeded and its writes are to be kept.
    keep: bool,
    /// Answers the caller, given how the commit went.
    answer: Box<dyn FnOnce(Result<(), DbErr>) + Send>,
}

/// A caller's work with the way back to the caller, types erased.
trait Job: Send {
    fn run<'t>(self: Box<Self>, txn: &'t DatabaseTransaction) -> BoxFuture<'t, Done>;
    /// Answers the caller without running the work (the transaction could not start).
    fn refuse(self: Box<Self>, error: DbErr);
}

struct Pending<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Pending<F, T, E>
where
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<DbErr> + Send + 'static,
{
    fn run<'t>(self: Box<Self>, txn: &'t DatabaseTransaction) -> BoxFuture<'t, Done> {
        let Pending { work, reply } = *self;
        Box::pin(async move {
            let result = work(txn).await;
            Done {
                keep: result.is_ok(),
                answer: Box::new(move |committed: Result<(), DbErr>| {
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

    fn refuse(self: Box<Self>, error: DbErr) {
        let _ = self.reply.send(Err(E::from(error)));
    }
}

impl Writer {
    /// A writer for `db`. On SQLite it starts the writer task (so it must be called
    /// inside the Tokio runtime); the task ends when the last clone of the writer is
    /// dropped, after finishing the work it was given.
    /// Committed batches are counted in `metrics`.
    pub fn new(db: DatabaseConnection, metrics: Arc<Metrics>) -> Writer {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Writer {
                mode: Mode::Direct(db),
                metrics,
            };
        }
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, queue, metrics.clone()));
        Writer {
            mode: Mode::Batched(jobs),
            metrics,
        }
    }

    /// Runs `work` in a writing transaction and answers what it returned once its
    /// writes are committed; if it returns an error, nothing it wrote is kept.
    ///
    /// On SQLite the work runs in the writer task, even if the caller stops waiting, so
    /// it owns what it uses (`'static`).
    pub async fn run<F, T, E>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
    {
        match &self.mode {
            Mode::Direct(db) => {
                let txn = super::begin_write(db).await?;
                match work(&txn).await {
                    Ok(value) => {
                        txn.commit().await?;
                        self.metrics.record_write_batch(1);
                        Ok(value)
                    }
                    Err(e) => {
                        // Its own error says more than a failed rollback's (the
                        // transaction ends either way).
                        let _ = txn.rollback().await;
                        Err(e)
                    }
                }
            }
            Mode::Batched(jobs) => {
                let (reply, answer) = oneshot::channel();
                jobs.send(Box::new(Pending { work, reply }))
                    .map_err(|_| DbErr::Custom("the database writer has stopped".to_owned()))?;
                answer.await.map_err(|_| {
                    // The work panicked (the writer logged it) or the writer was stopped.
                    E::from(DbErr::Custom(
                        "the write was abandoned; nothing of it was kept".to_owned(),
                    ))
                })?
            }
        }
    }
}

async fn write_batches(
    db: DatabaseConnection,
    mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Some(writes) = commit_batch(&db, std::mem::take(&mut batch)).await {
            metrics.record_write_batch(writes);
        }
    }
}

/// Runs one batch in one transaction and answers every caller in it. Returns how many
/// pieces of work were committed, if the transaction was.
async fn commit_batch(db: &DatabaseConnection, batch: Vec<Box<dyn Job>>) -> Option<usize> {
    let txn = match super::begin_write(db).await {
        Ok(txn) => txn,
        Err(e) => {
            let message = e.to_string();
            for job in batch {
                job.refuse(DbErr::Custom(message.clone()));
            }
            return None;
        }
    };
    if batch.len() == 1 {
        // Nothing to keep apart: no savepoint.
        let job = batch.into_iter().next().expect("one job");
        let Some(done) = run_guarded(job, &txn).await else {
            let _ = txn.rollback().await;
            return None;
        };
        let kept = done.keep;
        let ended = if kept {
            txn.commit().await
        } else {
            txn.rollback().await
        };
        let committed = kept && ended.is_ok();
        (done.answer)(ended);
        return committed.then_some(1);
    }
    // One savepoint marks where the current piece of work began: kept work is
    // released and the mark set again after it, failed work is rolled back to it. The
    // statements go in one round trip each, and COMMIT releases the last mark.
    let mut finished: Vec<Done> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut broken = txn.execute_unprepared("SAVEPOINT job").await.err();
    if broken.is_none() {
        for job in jobs.by_ref() {
            let done = run_guarded(job, &txn).await;
            let keep = done.as_ref().is_some_and(|d| d.keep);
            let reset = if keep {
                "RELEASE job; SAVEPOINT job"
            } else {
                "ROLLBACK TO job"
            };
            if let Some(done) = done {
                finished.push(done);
            }
            if let Err(e) = txn.execute_unprepared(reset).await {
                // The transaction's state is unknown: give all of it up.
                broken = Some(e);
                break;
            }
        }
    }
    let committed = match broken {
        None => txn.commit().await,
        Some(e) => {
            let _ = txn.rollback().await;
            for job in jobs {
                job.refuse(DbErr::Custom(e.to_string()));
            }
            Err(e)
        }
    };
    let failure = committed.err().map(|e| e.to_string());
    let kept = finished.iter().filter(|done| done.keep).count();
    for done in finished {
        (done.answer)(match &failure {
            None => Ok(()),
            Some(message) => Err(DbErr::Custom(format!(
                "the batch this write was in could not be committed: {message}"
            ))),
        });
    }
    failure.is_none().then_some(kept)
}

/// Runs a job; a panic in it is logged and its caller gets an error (its reply channel
/// is dropped), instead of ending the writer task for everyone.
async fn run_guarded(job: Box<dyn Job>, txn: &DatabaseTransaction) -> Option<Done> {
    match AssertUnwindSafe(job.run(txn)).catch_unwind().await {
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
    use sea_orm::{ConnectionTrait, Statement};

    async fn database(schema: &str) -> DatabaseConnection {
        let db = crate::store::connect("sqlite::memory:").await.unwrap();
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            db.execute_unprepared(statement).await.unwrap();
        }
        db
    }

    async fn numbers(db: &DatabaseConnection, table: &str) -> Vec<i64> {
        let sql = format!("SELECT n FROM {table} ORDER BY n");
        db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<i64>("", "n").unwrap())
            .collect()
    }

    /// (transactions committed, writes they carried), as `/metrics` shows them.
    fn batches(metrics: &Metrics) -> (u64, u64) {
        let text = metrics.render(&QueueFigures::default(), crate::store::now());
        let figure = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name} ")))
                .unwrap()
                .parse()
                .unwrap()
        };
        (
            figure("order_notify_write_batches_total"),
            figure("order_notify_batched_writes_total"),
        )
    }

    fn insert(
        n: i64,
        then_fail: bool,
    ) -> impl for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<i64, DbErr>> + Send + 'static
    {
        move |txn| {
            Box::pin(async move {
                txn.execute_unprepared(&format!("INSERT INTO t (n) VALUES ({n})"))
                    .await?;
                if then_fail {
                    return Err(DbErr::Custom(format!("{n} changed its mind")));
                }
                Ok(n)
            })
        }
    }

    #[tokio::test]
    async fn writes_sent_together_share_one_commit_and_fail_one_by_one() {
        let db = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let metrics = Arc::new(Metrics::default());
        let writer = Writer::new(db.clone(), metrics.clone());
        // All are handed over before the writer task first runs (one thread), so they
        // form one batch: 1..=20, where every fifth fails after writing, and a 21st
        // that breaks the primary key.
        let mut calls: Vec<_> = (1..=20)
            .map(|n| writer.run(insert(n, n % 5 == 0)))
            .collect();
        calls.push(writer.run(insert(3, false)));
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
        assert_eq!(numbers(&db, "t").await, kept);
        assert_eq!(batches(&metrics), (1, kept.len() as u64));
    }

    #[tokio::test]
    async fn a_write_on_its_own_that_fails_leaves_nothing() {
        let db = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let metrics = Arc::new(Metrics::default());
        let writer = Writer::new(db.clone(), metrics.clone());
        assert!(writer.run(insert(7, true)).await.is_err());
        assert_eq!(writer.run(insert(8, false)).await.unwrap(), 8);
        assert_eq!(numbers(&db, "t").await, [8]);
        assert_eq!(batches(&metrics), (1, 1));
    }

    #[tokio::test]
    async fn when_the_commit_fails_every_write_in_the_batch_fails() {
        // A deferred foreign key is checked only at COMMIT: the second write passes
        // its own savepoint and then sinks the whole transaction.
        let db = database(
            "CREATE TABLE parent (n INTEGER PRIMARY KEY); \
             CREATE TABLE t (n INTEGER PRIMARY KEY, parent INTEGER \
                 REFERENCES parent (n) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await;
        let metrics = Arc::new(Metrics::default());
        let writer = Writer::new(db.clone(), metrics.clone());
        let write = |sql: &'static str| {
            writer.run(
                move |txn: &DatabaseTransaction| -> BoxFuture<'_, Result<(), DbErr>> {
                    Box::pin(async move {
                        txn.execute_unprepared(sql).await?;
                        Ok(())
                    })
                },
            )
        };
        let (good, bad) = tokio::join!(
            write("INSERT INTO parent (n) VALUES (1); INSERT INTO t (n, parent) VALUES (1, 1)"),
            write("INSERT INTO t (n, parent) VALUES (2, 99)"),
        );
        let error = good.unwrap_err().to_string();
        assert!(error.contains("could not be committed"), "{error}");
        assert!(bad.is_err());
        assert!(numbers(&db, "parent").await.is_empty());
        assert!(numbers(&db, "t").await.is_empty());
        assert_eq!(batches(&metrics), (0, 0));
        // The writer goes on.
        write("INSERT INTO parent (n) VALUES (5)").await.unwrap();
        assert_eq!(numbers(&db, "parent").await, [5]);
    }

    #[tokio::test]
    async fn a_write_that_panics_is_undone_and_the_writer_goes_on() {
        let db = database("CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let writer = Writer::new(db.clone(), Arc::new(Metrics::default()));
        let panicking = writer.run(
            |txn: &DatabaseTransaction| -> BoxFuture<'_, Result<(), DbErr>> {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO t (n) VALUES (1)")
                        .await?;
                    panic!("a bug in a handler");
                })
            },
        );
        let (panicked, fine) = tokio::join!(panicking, writer.run(insert(2, false)));
        assert!(panicked.unwrap_err().to_string().contains("abandoned"));
        assert_eq!(fine.unwrap(), 2);
        assert_eq!(numbers(&db, "t").await, [2]);
    }
}
