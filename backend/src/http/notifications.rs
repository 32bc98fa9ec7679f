//! The JSON shape of a notification (a text to a customer), as the contract defines it.
//! Orders carry their latest one as `last_notification`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::OrderStatus;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The order's status the text was about.
    pub order_status: OrderStatus,
    /// E.164.
    pub recipient: String,
    pub body: String,
    /// `GSM-7` or `UCS-2`.
    #[schema(example = "GSM-7")]
    pub encoding: String,
    pub segments: u32,
    /// `queued`, `sending`, `sent`, `delivered`, `failed` or `cancelled`.
    #[schema(example = "queued")]
    pub state: String,
    pub attempts: u32,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}
