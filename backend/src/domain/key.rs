//! API keys as the service sees them: never with their secret.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Role, ValidationError};

/// A stored key as the rest of the service sees it: never with its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// When a use of the key at `now` is to be recorded: at most once a minute per
    /// key, so most requests write nothing.
    pub fn use_to_record(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let recent = self
            .last_used_at
            .is_some_and(|last| now - last < chrono::Duration::seconds(60));
        (!recent).then_some(now)
    }
}

/// What a secret (a key's or a stream token's) is kept and looked up as: its SHA-256,
/// in hex. The secret itself is never stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A key's name: one line of 1 to 100 characters, trimmed.
pub fn parse_key_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        Err(ValidationError::new(
            "name",
            "must be 1 to 100 characters on one line",
        ))
    } else {
        Ok(name.to_owned())
    }
}
