//! Checkpoints off the writer's thread.
//!
//! In WAL mode every commit appends pages to the log, and a checkpoint copies them back
//! into the database file (then fsyncs it) so the log can start again from its
//! beginning. SQLite does that by itself inside the COMMIT that takes the log past
//! 1,000 pages, on the connection that commits: here the writer's, while every write
//! gathered for its next batch waits. Under a steady stream of status changes that is
//! several times a second, each copying a thousand pages.
//!
//! So the writer's connection does not checkpoint when it commits. A hook on it notes
//! how long the log is after each commit and wakes a thread of its own
//! (`sqlite-checkpoint`), which copies the log on a connection of its own, beside the
//! writer (a passive checkpoint takes no lock a writer needs). What it cannot do is
//! finish: the writer keeps appending while it copies, and the log starts again only
//! when a write finds every page of it copied. So once the checkpointer has copied all
//! but the last few hundred pages, the writer copies those itself between two batches
//! (after answering the first), and its next write starts the log again. Should the
//! checkpointer fall behind or be held back (a reader on an old snapshot, a full disk),
//! the writer checkpoints by itself once the log passes [`WRITER_ALONE_AT`] pages, as
//! SQLite would have, so the log stays bounded whatever happens.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, ffi};

use super::engine::Durability;

/// Log pages after which the checkpointer starts copying (SQLite's own default for
/// its automatic checkpoint).
pub const START_AT: u32 = 1_000;

/// Pages left to copy at which the writer finishes a checkpoint itself.
pub const WRITER_FINISHES_AT: u32 = 256;

/// Log pages after which the writer checkpoints whatever the checkpointer has done
/// (≈ 64 MiB of 4 KiB pages), and again after each further [`START_AT`] pages.
pub const WRITER_ALONE_AT: u32 = 16_000;

/// How long the checkpointer waits after a checkpoint that could copy nothing (a
/// reader still on an older snapshot, another process checkpointing) or that failed.
const HELD_BACK: Duration = Duration::from_millis(5);
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What the writer's connection and the checkpointer know of the log.
#[derive(Debug, Default)]
pub struct WalWatch {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Pages in the log after the writer's last commit.
    pages: u32,
    /// Pages of the log a checkpoint has copied into the database (this log's).
    copied: u32,
    /// The log's length when the writer last checkpointed, in this log (0: not yet).
    writer_tried_at: u32,
    /// The writer's connection is gone: the checkpointer ends.
    stopping: bool,
}

impl State {
    fn left(&self) -> u32 {
        self.pages.saturating_sub(self.copied)
    }

    /// Whether the checkpointer has copying to do: a checkpoint's worth of new pages,
    /// or, once this log's copying has begun, more than the writer finishes with.
    fn copying_due(&self) -> bool {
        let left = self.left();
        left >= START_AT || (self.copied > 0 && left > WRITER_FINISHES_AT)
    }
}

impl WalWatch {
    pub fn new() -> Arc<WalWatch> {
        Arc::new(WalWatch::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writer committed and the log now holds `pages` pages.
    fn committed(&self, pages: u32) {
        let mut state = self.state();
        if pages < state.pages {
            // The log started again from its beginning.
            state.copied = 0;
            state.writer_tried_at = 0;
        }
        state.pages = pages;
        if state.copying_due() {
            self.wake.notify_one();
        }
    }

    /// What a checkpoint did; whether it copied more of the current log than was
    /// known to be copied.
    pub fn checkpointed(&self, done: Checkpointed) -> bool {
        let mut state = self.state();
        // A log longer than the writer's last commit left is one the writer has
        // started again since: this count is not of the log there is now.
        let advanced = done.log <= state.pages && done.copied > state.copied;
        if advanced {
            state.copied = done.copied;
        }
        advanced
    }

    /// Whether the writer should checkpoint now, between two batches: the
    /// checkpointer has copied nearly everything, or the log has grown too long for
    /// waiting on it. After a checkpoint that could not copy everything (a reader on
    /// an older snapshot), the writer tries again once the log has grown by
    /// [`START_AT`] pages, as SQLite's own automatic checkpoint would.
    pub fn writer_should_checkpoint(&self) -> bool {
        let mut state = self.state();
        let due = state.pages >= START_AT
            && (state.left() <= WRITER_FINISHES_AT || state.pages >= WRITER_ALONE_AT)
            && state.pages >= state.writer_tried_at.saturating_add(START_AT);
        if due {
            state.writer_tried_at = state.pages;
        }
        due
    }

    /// The writer's connection is closing for good.
    pub fn stop(&self) {
        self.state().stopping = true;
        self.wake.notify_all();
    }

    /// Waits until there is copying to do; false when stopping.
    fn wait_for_work(&self) -> bool {
        let mut state = self.state();
        loop {
            if state.stopping {
                return false;
            }
            if state.copying_due() {
                return true;
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// Replaces SQLite's automatic checkpoint on `conn` (the writer's) by a note to
/// `watch` after each commit. `watch` must outlive `conn`: the writer's connection
/// holds it beside the connection and drops it after.
pub fn watch_commits(conn: &Connection, watch: &Arc<WalWatch>) {
    unsafe extern "C" fn committed(
        watch: *mut c_void,
        _db: *mut ffi::sqlite3,
        _name: *const c_char,
        pages: c_int,
    ) -> c_int {
        // SAFETY: `watch` is the `WalWatch` registered below, alive for as long as
        // the connection (see the function's contract); the hook only reads it.
        let watch = unsafe { &*(watch as *const WalWatch) };
        watch.committed(u32::try_from(pages).unwrap_or(0));
        ffi::SQLITE_OK
    }
    // SAFETY: the handle is the open connection's; the hook and its argument stay
    // valid while it is open (above), and replacing the default hook turns the
    // automatic checkpoint off, which is what is wanted.
    unsafe {
        ffi::sqlite3_wal_hook(
            conn.handle(),
            Some(committed),
            Arc::as_ptr(watch) as *mut c_void,
        );
    }
}

/// How a checkpoint goes about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Copies what no reader still needs, waiting for nobody (the checkpointer's).
    Passive,
    /// Copies everything, then waits (the connection's busy timeout) for the readers
    /// still on the log to finish and starts it again (the writer's last step).
    Restart,
}

/// What a checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpointed {
    /// Pages in the log.
    pub log: u32,
    /// Pages of it in the database now.
    pub copied: u32,
    /// Whether it did all it was asked (for [`Mode::Restart`], whether the log starts
    /// again); false when a reader or another process held it back.
    pub complete: bool,
}

/// A checkpoint on `conn` (which must not be in a transaction).
pub fn checkpoint(conn: &Connection, mode: Mode) -> rusqlite::Result<Checkpointed> {
    let (mut log, mut copied): (c_int, c_int) = (0, 0);
    let mode = match mode {
        Mode::Passive => ffi::SQLITE_CHECKPOINT_PASSIVE,
        Mode::Restart => ffi::SQLITE_CHECKPOINT_RESTART,
    };
    // SAFETY: the handle is the open connection's; a null schema name means every
    // attached database (only `main` here); the two out-pointers are live locals.
    let code = unsafe {
        ffi::sqlite3_wal_checkpoint_v2(conn.handle(), std::ptr::null(), mode, &mut log, &mut copied)
    };
    if code != ffi::SQLITE_OK && code != ffi::SQLITE_BUSY {
        return Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            Some("checkpoint".to_owned()),
        ));
    }
    let count = |n: c_int| u32::try_from(n).unwrap_or(0);
    Ok(Checkpointed {
        log: count(log),
        copied: count(copied),
        complete: code == ffi::SQLITE_OK,
    })
}

/// Starts the checkpointer for the database at `path`; it ends after `watch.stop()`.
pub fn start(path: PathBuf, durability: Durability, watch: Arc<WalWatch>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || run(&path, durability, &watch))
        .map(drop)
}

fn run(path: &Path, durability: Durability, watch: &WalWatch) {
    let mut conn: Option<Connection> = None;
    let mut last_warning: Option<Instant> = None;
    while watch.wait_for_work() {
        if conn.is_none() {
            match open(path, durability) {
                Ok(opened) => conn = Some(opened),
                Err(e) => {
                    warn_now_and_then(&mut last_warning, &e);
                    std::thread::sleep(AFTER_FAILURE);
                    continue;
                }
            }
        }
        let Some(open) = conn.as_ref() else { continue };
        match checkpoint(open, Mode::Passive) {
            Ok(done) => {
                if !watch.checkpointed(done) {
                    // Nothing more could be copied (a reader on an older snapshot,
                    // the writer's or another process's checkpoint): a moment later.
                    std::thread::sleep(HELD_BACK);
                }
            }
            Err(e) => {
                // A full disk, a broken file: a new connection, later.
                warn_now_and_then(&mut last_warning, &e);
                conn = None;
                std::thread::sleep(AFTER_FAILURE);
            }
        }
    }
}

/// A failed checkpoint is logged at most once a minute: on a full disk it fails every
/// second until there is room again, and the writer's own failures say more.
fn warn_now_and_then(last: &mut Option<Instant>, error: &rusqlite::Error) {
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        log::warn!("SQLite checkpoint failed ({error}); the log is copied when it can be");
        *last = Some(Instant::now());
    }
}

/// The checkpointer's connection: it never commits, only copies the log, and syncs as
/// the writer's does.
fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::store::sqlite::engine::{WriteConnection, open_reader};

    const PAGE: u64 = 4096;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    fn write(writer: &WriteConnection, sql: &str) {
        writer
            .with(|conn| {
                conn.execute_batch(sql)
                    .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
            })
            .unwrap();
    }

    #[test]
    fn the_writers_commit_leaves_the_copying_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let writer = WriteConnection::new(path.clone(), Durability::Normal);
        write(
            &writer,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)",
        );
        let before = size(&path);
        // One commit of ~1,500 pages: SQLite's own checkpoint would copy them into the
        // database inside this COMMIT.
        write(
            &writer,
            "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
             INSERT INTO t (body) SELECT randomblob(4000) FROM n; COMMIT;",
        );
        assert!(
            size(&path) < before + 100 * PAGE,
            "the commit copied the log itself: {} bytes",
            size(&path)
        );
        let waited = Instant::now();
        while size(&path) < before + 1_400 * PAGE && waited.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            size(&path) >= before + 1_400 * PAGE,
            "nothing copied the log into the database: {} bytes",
            size(&path)
        );
    }

    #[test]
    fn under_a_steady_stream_of_commits_and_reads_the_log_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.db");
        let wal = dir.path().join("stream.db-wal");
        let writer = WriteConnection::new(path.clone(), Durability::Full);
        write(
            &writer,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO t (body) SELECT randomblob(4000) FROM n;",
        );
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || {
                let conn = open_reader(&path).unwrap();
                let mut reads = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let _: i64 = conn
                        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                        .unwrap();
                    reads += 1;
                }
                reads
            })
        };
        // Back to back, as under a rush: ten rows of a page each changed per commit,
        // until the log has been written three times past the writer's own limit.
        let mut longest = 0;
        let mut written = 0_u64;
        for k in (0..20).cycle() {
            if written >= 3 * u64::from(WRITER_ALONE_AT) * PAGE {
                break;
            }
            write(
                &writer,
                &format!("UPDATE t SET body = randomblob(4000) WHERE id % 20 = {k}"),
            );
            writer.checkpoint_if_due();
            written += 10 * PAGE;
            longest = longest.max(size(&wal));
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert!(
            longest <= 4 * u64::from(START_AT) * PAGE,
            "the log grew to {longest} bytes"
        );
    }
}
