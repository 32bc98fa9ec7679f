//! Live changes for `GET /events`. One pump per process follows the change log (see
//! `store::changes`) in commit order and fans each change out to the open streams of
//! this process. On PostgreSQL the pump is woken by `LISTEN`, so a change made through
//! any instance or worker reaches every instance's streams at once; on SQLite, and as a
//! safety net on PostgreSQL, it also looks every [`poll_interval`].
//!
//! While no stream is open the pump only keeps its position at the log's end, so an
//! idle process reads one row per look, not every change.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Notify, broadcast, watch};

use crate::store::port::{Change, Cursor, Pages};
use crate::store::{Reads, StorageError};

/// How many changes a slow stream may fall behind before it is ended (its client
/// resumes from its last event id, read from the log).
const BACKLOG: usize = 4096;

/// How often the pump looks at the log without being woken.
pub fn poll_interval(backend: DbBackend) -> Duration {
    match backend {
        // Only a safety net: NOTIFY wakes the pump, but a row may be held back while
        // an older transaction is still open, and notifications sent while the
        // listening connection was lost are gone.
        DbBackend::Postgres => Duration::from_millis(250),
        _ => Duration::from_millis(100),
    }
}

/// The fan-out point streams subscribe to.
pub struct LiveHub {
    sender: broadcast::Sender<Arc<Change>>,
    /// True once the pump knows where the log ends; streams wait for it.
    ready: watch::Receiver<bool>,
    closing: watch::Sender<bool>,
}

impl LiveHub {
    /// Starts the pump, reading the change log through `reads`, and on PostgreSQL the
    /// listener on `db`.
    pub fn start(db: &DatabaseConnection, reads: Arc<dyn Reads>) -> Arc<LiveHub> {
        let (sender, _) = broadcast::channel(BACKLOG);
        let (ready_tx, ready) = watch::channel(false);
        let (closing, _) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        if db.get_database_backend() == DbBackend::Postgres {
            tokio::spawn(listen(db.clone(), wake.clone(), closing.subscribe()));
        }
        tokio::spawn(pump(
            reads,
            db.get_database_backend(),
            sender.clone(),
            wake,
            ready_tx,
            closing.subscribe(),
        ));
        Arc::new(LiveHub {
            sender,
            ready,
            closing,
        })
    }

    /// A hub with no pump, for a process that serves no streams (a `worker`'s
    /// operations port): subscribing never succeeds.
    pub fn idle() -> Arc<LiveHub> {
        let (sender, _) = broadcast::channel(1);
        let (_, ready) = watch::channel(false);
        let (closing, _) = watch::channel(true);
        Arc::new(LiveHub {
            sender,
            ready,
            closing,
        })
    }

    /// A receiver of every change from now on, once the pump is running (it waits for
    /// the database at most `wait`).
    pub async fn subscribe(&self, wait: Duration) -> Option<broadcast::Receiver<Arc<Change>>> {
        let mut ready = self.ready.clone();
        match tokio::time::timeout(wait, ready.wait_for(|ready| *ready)).await {
            Ok(Ok(_)) => Some(self.sender.subscribe()),
            _ => None,
        }
    }

    /// Changes to true when the process is shutting down: streams end then.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every stream and the pump.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

async fn pump(
    db: Arc<dyn Reads>,
    backend: DbBackend,
    sender: broadcast::Sender<Arc<Change>>,
    wake: Arc<Notify>,
    ready: watch::Sender<bool>,
    mut closing: watch::Receiver<bool>,
) {
    let poll = poll_interval(backend);
    let mut cursor = loop {
        match db.latest_change().await {
            Ok(cursor) => break cursor,
            Err(e) => {
                log::warn!("live events wait for the database: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = closing.changed() => return,
                }
            }
        }
    };
    ready.send_replace(true);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = closing.changed() => return,
        }
        match pump_once(db.as_ref(), &sender, &mut cursor).await {
            Ok(()) if failing => {
                log::info!("live events read the change log again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                log::warn!("live events cannot read the change log: {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Sends every change after `cursor` to the streams, or, with no stream open, only
/// moves `cursor` to the log's end.
///
/// The order of the idle case matters: the end is read *before* checking that nobody
/// subscribed. A stream that subscribes after that check reads the log itself from a
/// later point, so it has everything up to where the pump continues; one that
/// subscribed before it keeps the pump reading.
async fn pump_once(
    db: &dyn Reads,
    sender: &broadcast::Sender<Arc<Change>>,
    cursor: &mut Cursor,
) -> Result<(), StorageError> {
    if sender.receiver_count() == 0 {
        let end = db.latest_change().await?;
        if sender.receiver_count() == 0 {
            *cursor = end.max(*cursor);
            return Ok(());
        }
    }
    let mut pages = Pages::after(*cursor);
    while let Some(page) = pages.next(db).await? {
        for change in page {
            *cursor = change.cursor;
            // No receiver left is fine: the next look only moves the cursor.
            let _ = sender.send(Arc::new(change));
        }
    }
    Ok(())
}

/// Holds one connection of the pool on `LISTEN` and wakes the pump on every NOTIFY
/// (and after the connection was lost, since notifications sent meanwhile are gone).
async fn listen(db: DatabaseConnection, wake: Arc<Notify>, mut closing: watch::Receiver<bool>) {
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        tokio::select! {
            Err(e) = listen_until_error(&pool, &wake) => {
                log::warn!("live events cannot listen for changes (polling meanwhile): {e}");
            }
            _ = closing.changed() => return,
        }
        wake.notify_one();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = closing.changed() => return,
        }
    }
}

async fn listen_until_error(
    pool: &sea_orm::sqlx::PgPool,
    wake: &Notify,
) -> Result<Infallible, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen(crate::store::migration::CHANGES_CHANNEL)
        .await?;
    wake.notify_one();
    loop {
        // `None`: the connection was lost and made again.
        listener.try_recv().await?;
        wake.notify_one();
    }
}
