//! What a provider tells us, in its own words turned into ours: a status report about a
//! text we sent, and a text a customer sent us. Every provider's callbacks are read
//! into these; the rules that apply them are the same for all (`service::inbound`).

use uuid::Uuid;

use super::DeliveryReport;

/// A provider's status report, as the provider named the text: by the reference we
/// gave it (our id) and/or its own message id.
#[derive(Clone, Debug)]
pub struct Report {
    pub reference: Option<Uuid>,
    pub provider_message_id: Option<String>,
    pub says: DeliveryReport,
}

/// A text a customer sent us.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The sender's number as the provider wrote it (MessageBird leaves out the `+`).
    pub sender: String,
    pub text: String,
    /// The provider it came through, as the opt-out's `source`.
    pub via: &'static str,
}

/// The id a provider gives one of its calls and keeps on every retry of it (Standard
/// Webhooks' `webhook-id`), so that what the call says is applied once however often
/// it comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackId {
    pub provider: &'static str,
    pub id: String,
}
