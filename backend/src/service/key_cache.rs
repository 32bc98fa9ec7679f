//! Known API keys, remembered for a moment after the database confirmed them, so a busy
//! client costs one hash and a map lookup per request instead of a query.
//!
//! Entries are found by the secret's SHA-256 (as the database finds them) and trusted for
//! [`TRUST`]: a key revoked through this process is forgotten at once; one revoked
//! elsewhere (another instance, the command line) stops working here within that time.
//! Unknown secrets are never remembered, so guessing cannot fill the map.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::ApiKey;

/// How long a confirmed key is trusted without asking the database again.
pub const TRUST: Duration = Duration::from_secs(2);
/// More keys than any deployment has; past it the map is cleared rather than grown.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    /// The key with this secret hash, if it was confirmed less than [`TRUST`] ago.
    pub fn get(&self, hash: &str) -> Option<ApiKey> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, confirmed)| confirmed.elapsed() < TRUST)
            .map(|(key, _)| key.clone())
    }

    /// Remembers a key the database just confirmed.
    pub fn put(&self, hash: String, key: ApiKey) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, confirmed)| confirmed.elapsed() < TRUST);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hash, (key, Instant::now()));
    }

    /// Notes that the key's use was recorded, so it is not recorded again for a minute.
    pub fn touched(&self, hash: &str, at: DateTime<Utc>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if let Some((key, _)) = entries.get_mut(hash) {
            key.last_used_at = Some(at);
        }
    }

    /// Forgets a key at once (it was revoked through this process).
    pub fn forget(&self, id: Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (key, _)| key.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn key(id: Uuid) -> ApiKey {
        ApiKey {
            id,
            name: "till".to_owned(),
            role: Role::Staff,
            prefix: "onk_abcd".to_owned(),
            source: "api".to_owned(),
            created_at: Utc::now(),
            last_used_at: None,
        }
    }

    #[test]
    fn a_confirmed_key_is_found_until_it_is_forgotten() {
        let cache = KeyCache::default();
        let id = Uuid::new_v4();
        assert_eq!(cache.get("h1"), None);
        cache.put("h1".to_owned(), key(id));
        assert_eq!(cache.get("h1").map(|k| k.id), Some(id));
        let at = Utc::now();
        cache.touched("h1", at);
        assert_eq!(cache.get("h1").and_then(|k| k.last_used_at), Some(at));
        cache.forget(id);
        assert_eq!(cache.get("h1"), None);
    }

    #[test]
    fn entries_older_than_the_trust_period_are_not_used() {
        let cache = KeyCache::default();
        cache.put("h1".to_owned(), key(Uuid::new_v4()));
        if let Some((_, confirmed)) = cache.entries.write().unwrap().get_mut("h1") {
            *confirmed -= TRUST;
        }
        assert_eq!(cache.get("h1"), None);
    }
}
