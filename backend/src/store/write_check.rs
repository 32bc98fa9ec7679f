//! Whether a write can be committed right now, for `/readyz`: a database that still
//! answers reads but cannot save (a full disk, read-only files, a standby server) is
//! not ready. Proven by a tiny real write through the writer, at most once a second.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbErr};
use tokio::sync::Mutex;

use super::fault::FaultKind;
use super::writer::Writer;
use crate::metrics::Metrics;

/// How long a result stands before the next `/readyz` writes again.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// A storage fault met by any write this recently keeps the database reported as not
/// taking writes, even if the probe's own one-row write got through: on a full disk a
/// write that fits in space SQLite already holds can commit while orders cannot.
const FAULTS_COUNT_FOR: Duration = Duration::from_secs(3);
/// A write that takes longer than this (a wedged disk, a lock held elsewhere) counts
/// as one that cannot be committed.
const PATIENCE: Duration = Duration::from_secs(5);

/// The database as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteHealth {
    /// A write was committed.
    Ok,
    /// Reads work but a write could not be committed (full disk, read-only files).
    ReadOnly,
    /// The database failed a write for another reason, or took too long.
    Unavailable,
}

impl WriteHealth {
    /// What a write that met `kind` says about the database.
    fn after(kind: FaultKind) -> WriteHealth {
        if kind.reads_still_work() {
            WriteHealth::ReadOnly
        } else {
            WriteHealth::Unavailable
        }
    }

    /// The `database` field of `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteHealth::Ok => "ok",
            WriteHealth::ReadOnly => "read-only",
            WriteHealth::Unavailable => "unavailable",
        }
    }
}

/// The last probe, shared by every `/readyz` of this process.
#[derive(Default)]
pub struct WriteCheck {
    last: Mutex<Option<(Instant, WriteHealth)>>,
}

impl WriteCheck {
    /// Writes the heartbeat row through `writer` unless that was done less than a
    /// second ago; callers at the same moment share one probe. A storage fault that any
    /// write of this process met in the last few seconds (`metrics`) counts too.
    pub async fn check(&self, writer: &Writer, metrics: &Metrics) -> WriteHealth {
        let mut last = self.last.lock().await;
        if let Some((at, health)) = *last
            && at.elapsed() < FRESH_FOR
        {
            return health;
        }
        let probe = writer.run(|store| Box::pin(async move { store.heartbeat().await }));
        let health = match tokio::time::timeout(PATIENCE, probe).await {
            Ok(Ok(())) => WriteHealth::Ok,
            Ok(Err(e)) => match e.fault() {
                Some(kind) => WriteHealth::after(kind),
                None => {
                    log::warn!("readiness: the database did not take a write: {e}");
                    WriteHealth::Unavailable
                }
            },
            Err(_) => {
                log::warn!(
                    "readiness: a write was not committed within {} s",
                    PATIENCE.as_secs()
                );
                WriteHealth::Unavailable
            }
        };
        let health = match metrics.last_storage_error() {
            Some((at, kind)) if health == WriteHealth::Ok && at.elapsed() < FAULTS_COUNT_FOR => {
                WriteHealth::after(kind)
            }
            _ => health,
        };
        *last = Some((Instant::now(), health));
        health
    }
}

/// The tiny write: one row, rewritten in place.
pub(super) async fn beat(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    txn.execute_unprepared("UPDATE heartbeat SET beats = beats + 1 WHERE id = 1")
        .await
        .map(|_| ())
}
