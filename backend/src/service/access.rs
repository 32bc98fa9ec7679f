//! Who is asking: an API key found by its secret (remembered a moment, see
//! `key_cache`), a stream token for the browser's event stream, and the key's time of
//! last use.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Services, StorageError};
use crate::domain::{ApiKey, hash_secret};
use crate::store;

/// How long a stream token opens streams (EventSource's own reconnects within this
/// time reuse it; later ones need a new token).
pub const STREAM_TOKEN_TTL: Duration = Duration::from_secs(60);

/// A key found by its secret, and the secret's hash it is remembered by.
pub struct Known {
    pub key: ApiKey,
    hash: Option<String>,
}

impl Services {
    /// The active key with this secret, if there is one.
    pub async fn key_for_secret(&self, secret: &str) -> Result<Option<Known>, StorageError> {
        let hash = hash_secret(secret);
        if let Some(key) = self.keys.get(&hash) {
            return Ok(Some(Known {
                key,
                hash: Some(hash),
            }));
        }
        let found = self.reads.active_key_by_hash(&hash).await?;
        Ok(found.map(|key| {
            self.keys.put(hash.clone(), key.clone());
            Known {
                key,
                hash: Some(hash),
            }
        }))
    }

    /// The key behind a stream token that has not expired, if there is one.
    pub async fn key_for_stream_token(&self, token: &str) -> Result<Option<Known>, StorageError> {
        let found = self.reads.key_for_stream_token(token).await?;
        Ok(found.map(|key| Known { key, hash: None }))
    }

    /// Records that the key was used, at most once a minute per key. A failure is
    /// logged and not passed on: the time of last use is a statistic, not worth a
    /// failing request (on a full disk, say); it is tried again in a minute.
    pub async fn record_key_use(&self, known: &Known) {
        let Some(at) = known.key.use_to_record(store::now()) else {
            return;
        };
        let id = known.key.id;
        let touched = self
            .writer
            .run(move |txn| Box::pin(async move { txn.touch_key(id, at).await }))
            .await;
        if let Err(e) = touched {
            log::warn!("could not record use of key {id}: {e}");
        }
        if let Some(hash) = &known.hash {
            self.keys.touched(hash, at);
        }
    }

    /// A short-lived token that opens an event stream as this key (an `EventSource`
    /// cannot send headers), and when it expires.
    pub async fn create_stream_token(
        &self,
        key_id: Uuid,
    ) -> Result<(String, DateTime<Utc>), StorageError> {
        self.writer
            .run(move |txn| {
                Box::pin(async move { txn.create_stream_token(key_id, STREAM_TOKEN_TTL).await })
            })
            .await
    }

    /// Whether the key is still active (not revoked on any instance).
    pub async fn key_is_active(&self, id: Uuid) -> Result<bool, StorageError> {
        self.reads.key_is_active(id).await
    }
}
