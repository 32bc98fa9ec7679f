//! API keys as the service sees them: never with their secret.

use chrono::{DateTime, Utc};
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
