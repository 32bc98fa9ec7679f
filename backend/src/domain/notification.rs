//! The life of a text: queued → sending → sent → delivered, or failed, or cancelled
//! (never sent, for example because the customer opted out).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Encoding, OrderStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    /// Waiting for a worker (first attempt, or a retry after its backoff).
    Queued,
    /// Claimed by a worker, which is talking to the provider.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The provider's status report says the handset got it.
    Delivered,
    /// Refused for good, or every attempt failed.
    Failed,
    /// Not sent, and never will be (the customer opted out).
    Cancelled,
}

impl NotificationState {
    pub const ALL: [NotificationState; 6] = [
        NotificationState::Queued,
        NotificationState::Sending,
        NotificationState::Sent,
        NotificationState::Delivered,
        NotificationState::Failed,
        NotificationState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Queued => "queued",
            NotificationState::Sending => "sending",
            NotificationState::Sent => "sent",
            NotificationState::Delivered => "delivered",
            NotificationState::Failed => "failed",
            NotificationState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for NotificationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown notification state {0:?}: expected queued, sending, sent, delivered, failed or cancelled"
)]
pub struct UnknownState(pub String);

impl FromStr for NotificationState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// What a provider's status report says became of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryReport {
    Delivered { at: DateTime<Utc> },
    Failed { reason: String },
}

// A text about an order, from the moment it is queued; the API shows it as it is, but
// for its place in the table. (Not a doc comment: it would become the schema's
// description in openapi.yaml.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notification {
    /// Its position in the table, for paging; not shown.
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub order_id: Uuid,
    /// The order's status the text was about.
    pub order_status: OrderStatus,
    /// E.164.
    pub recipient: String,
    pub body: String,
    pub encoding: Encoding,
    pub segments: u32,
    pub state: NotificationState,
    /// Send attempts so far.
    pub attempts: u32,
    /// `sandbox`, `messagebird`, `twilio` or `bird`.
    pub provider: String,
    pub provider_message_id: Option<String>,
    /// The provider's (or our) reason for the last failure.
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::domain::rfc3339::time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::domain::rfc3339::optional")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::domain::rfc3339::optional")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What one attempt at a text came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    /// The provider took the text.
    Accepted,
    /// It failed in a way worth trying again (a timeout, 5xx, 429).
    Retry,
    /// The provider refused it for good.
    Refused,
}

impl AttemptResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Accepted => "accepted",
            AttemptResult::Retry => "retry",
            AttemptResult::Refused => "refused",
        }
    }

    pub fn parse(raw: &str) -> Option<AttemptResult> {
        [
            AttemptResult::Accepted,
            AttemptResult::Retry,
            AttemptResult::Refused,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// One attempt at a text: which provider was asked, when, how long it took to answer
/// and what it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    /// `sandbox`, `messagebird`, `twilio` or `bird`.
    pub provider: String,
    /// When the provider was asked.
    pub at: DateTime<Utc>,
    pub outcome: AttemptResult,
    /// The provider's (or our) words for a failure; null when it took the text.
    pub error: Option<String>,
    /// How long the provider took to answer, in milliseconds.
    pub took_ms: u32,
}

/// A number that texted STOP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptOut {
    pub phone: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
}
// A text the sandbox provider "sent": kept so a new user (and the tests) can read the
// texts without a real provider. (Not a doc comment: it would become the schema's
// description in openapi.yaml.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SandboxMessage {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub recipient: String,
    pub originator: String,
    pub body: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    pub segments: i32,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in NotificationState::ALL {
            assert_eq!(state.as_str().parse::<NotificationState>().unwrap(), state);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert!("Queued".parse::<NotificationState>().is_err());
    }
}
