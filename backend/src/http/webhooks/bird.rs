//! Bird's events at the edge (`POST /webhooks/bird`): deliveries and failures of the
//! texts Bird sent, and customers' replies (STOP and START). Each must be signed by
//! Standard Webhooks with ORDER_NOTIFY_BIRD_WEBHOOK_SECRET; unless Bird sends texts
//! and the secret is set, the route answers 404. An event Bird repeats (same
//! `webhook-id`) is acknowledged and changes nothing. How a call is verified and read
//! is the provider's (`sms::bird::webhook`); this gathers the call and answers it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::CallbackId;
use crate::http::AppState;
use crate::http::body::RawBody;
use crate::http::problem::ApiError;
use crate::sms::bird::Settings as BirdSettings;
use crate::sms::bird::webhook::{self, EVENT_ID, Event, SIGNATURE, Signed, TIMESTAMP};

/// One of Bird's events, as Bird posts it (the fields read here; Bird sends more, all
/// of them signed).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BirdEvent {
    /// `sms.delivered`, `sms.undelivered`, `sms.failed`, `sms.rejected`, `sms.expired`,
    /// `sms.received`; others (`sms.accepted`, `sms.sent`, types Bird adds later) are
    /// acknowledged and change nothing.
    #[serde(rename = "type")]
    #[schema(min_length = 1, example = "sms.delivered")]
    pub kind: String,
    /// When it happened (RFC 3339).
    #[schema(example = "2026-05-21T12:00:00Z")]
    pub timestamp: Option<String>,
    pub data: Option<BirdSmsData>,
}

/// The SMS an event is about.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BirdSmsData {
    /// Bird's id of the text (what it answered the send with).
    #[schema(example = "sms_01krdgeqcxet5s7t44vh8rt9mg")]
    pub sms_id: Option<String>,
    /// On `sms.received`, our number that received it.
    pub to: Option<String>,
    /// On `sms.received`, the customer's number. Required there.
    #[schema(example = "+31612345678")]
    pub from: Option<String>,
    /// On `sms.received`, what the customer wrote.
    #[schema(example = "STOP")]
    pub text: Option<String>,
    /// What we sent with the text, echoed: `{"notification_id": "<our id>"}`.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub error: Option<BirdSmsError>,
}

/// Why a text failed, in Bird's words.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BirdSmsError {
    #[schema(example = "unreachable")]
    pub code: Option<String>,
    #[schema(example = "Handset is off")]
    pub description: Option<String>,
    pub carrier_error_code: Option<String>,
}

/// Verifies the call's signature: 404 unless Bird sends texts and its webhook secret is
/// set, 401 for a missing, wrong or stale signature. The event's id, for deduplication.
fn authenticate(state: &AppState, req: &HttpRequest, body: &RawBody) -> Result<String, ApiError> {
    let secret = state
        .settings
        .sms
        .answering::<BirdSettings>()
        .and_then(|s| s.webhook_secret.as_ref())
        .ok_or_else(|| {
            ApiError::NotFound(
                "Bird's events are not answered here: Bird is not the SMS provider, or ORDER_NOTIFY_BIRD_WEBHOOK_SECRET is not set.".to_owned(),
            )
        })?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let call = Signed {
        id: header(EVENT_ID),
        timestamp: header(TIMESTAMP),
        signature: header(SIGNATURE),
    };
    match (webhook::verify(secret, &call, body.bytes()), call.id) {
        (Ok(()), Some(id)) => Ok(id.to_owned()),
        (outcome, _) => {
            let why = outcome.err().unwrap_or_else(|| "no event id".to_owned());
            log::warn!("refused a Bird event: {why}");
            Err(ApiError::Unauthorized(
                "The Bird signature is missing, invalid or too old.",
            ))
        }
    }
}

/// One of Bird's events: `sms.delivered` → delivered; `sms.undelivered`, `sms.failed`,
/// `sms.rejected`, `sms.expired` → failed with Bird's reason; `sms.received` → STOP or
/// START; any other type is acknowledged and logged.
#[utoipa::path(
    post, path = "/webhooks/bird", tag = "webhooks", operation_id = "bird_event",
    params(
        ("webhook-id" = String, Header, description = "The event's id, the same on every retry of it"),
        ("webhook-timestamp" = String, Header, description = "When Bird signed the call (Unix seconds); accepted within 5 minutes of our clock"),
        ("webhook-signature" = String, Header, description = "`v1,<base64>` entries: HMAC-SHA256 with the secret's bytes over `id.timestamp.body` (Standard Webhooks)"),
    ),
    request_body(content = BirdEvent, content_type = "application/json"),
    responses(
        (status = 204, description = "Received (also for a repeat, an event that changes nothing, or a text we do not know)"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 408, response = crate::http::problem::RequestTimeout),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 503, response = crate::http::problem::ServiceUnavailable),
    )
)]
pub async fn event(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = authenticate(&state, &req, &body)?;
    let once = Some(CallbackId {
        provider: crate::sms::bird::PLUGIN.name,
        id: id.clone(),
    });
    let services = &state.services;
    match webhook::read(body.bytes(), services.now()).map_err(ApiError::BadRequest)? {
        Event::Report(report) => {
            let (reference, sms_id) = (report.reference, report.provider_message_id.clone());
            match services.apply_report_once(report, once).await? {
                None => log::info!("Bird repeated event {id}; already applied"),
                Some(false) => log::warn!(
                    "Bird reported on a text we do not know (reference {reference:?}, id {sms_id:?})"
                ),
                Some(true) => {}
            }
        }
        Event::Reply(reply) => {
            if services.apply_reply_once(reply, once).await?.is_none() {
                log::info!("Bird repeated event {id}; already applied");
            }
        }
        Event::Passed(kind) => log::info!("Bird event {id} ({kind}) changes nothing here"),
    }
    Ok(HttpResponse::NoContent().finish())
}
