//! MessageBird's callbacks at the edge: status reports (`GET|POST /webhooks/messagebird`)
//! and inbound texts (`POST /webhooks/messagebird/inbound`, STOP and START). Each call
//! must carry a valid `MessageBird-Signature-JWT`; unless MessageBird sends the texts
//! and ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY is set, they answer 404. How a call is verified and read is the provider's
//! (`sms::messagebird::webhook`); this gathers the call and answers it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::{apply_report, called_url, field, parameters, signed_by};
use crate::http::AppState;
use crate::http::body::RawBody;
use crate::http::problem::ApiError;
use crate::sms::messagebird::Settings as MessageBirdSettings;
use crate::sms::messagebird::webhook::{
    self, INBOUND_SENDER, INBOUND_TEXT, SIGNATURE_HEADER, SignatureError, verify_signature,
};

/// Verifies the call's signature: 404 unless MessageBird sends the texts and its
/// signing key is set, 401 for a missing or wrong signature.
fn authenticate(state: &AppState, req: &HttpRequest, body: &RawBody) -> Result<(), ApiError> {
    let section = state.settings.sms.answering::<MessageBirdSettings>();
    let (public_url, key) = signed_by(
        state.settings.public_url.as_deref(),
        section.and_then(|s| s.signing_key.as_ref()),
        "MessageBird's callbacks are not answered here: MessageBird is not the SMS provider, or ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY is not set.",
    )?;
    let token = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Missing);
    let url = called_url(req, public_url);
    token
        .and_then(|token| {
            verify_signature(
                token,
                key.expose(),
                &url,
                body.bytes(),
                Utc::now().timestamp(),
            )
        })
        .map_err(|e| {
            log::warn!("refused a MessageBird callback to {}: {e}", req.path());
            ApiError::Unauthorized("The MessageBird signature is missing or invalid.")
        })
}

fn acknowledged() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("OK")
}

/// The fields of a status report, as MessageBird sends them (each may come in a form or
/// JSON body instead of the query string).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusReportFields {
    /// MessageBird's message id
    pub id: Option<String>,
    /// Our notification id
    pub reference: Option<String>,
    /// delivered, delivery_failed, expired, sent, buffered …
    #[param(min_length = 1)]
    pub status: String,
    /// When the status was reached (RFC 3339)
    #[serde(rename = "statusDatetime")]
    pub status_datetime: Option<String>,
}

/// A status report: `delivered` → delivered; `delivery_failed` and `expired` → failed
/// with MessageBird's reason; other statuses (`sent`, `buffered`) change nothing.
// Also routed for GET, MessageBird's default; `openapi::StatusReportsByGet` documents it.
#[utoipa::path(
    post, path = "/webhooks/messagebird", tag = "webhooks", operation_id = "messagebird_status_report",
    params(
        StatusReportFields,
        ("MessageBird-Signature-JWT" = String, Header, description = "MessageBird's signature of the call (a JWT signed with the signing key)"),
    ),
    responses(
        (status = 200, description = "Received (also for texts we do not know)"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 408, response = crate::http::problem::RequestTimeout),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 503, response = crate::http::problem::ServiceUnavailable),
    )
)]
pub async fn status_report(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    authenticate(&state, &req, &body)?;
    let params = parameters(&req, &body)?;
    let read = webhook::status_report(|name| field(&params, name), state.services.now());
    apply_report(&state.services, "MessageBird", read).await?;
    Ok(acknowledged())
}

/// An inbound text: STOP (or a synonym) opts the sender out, START opts them back in.
#[utoipa::path(
    post, path = "/webhooks/messagebird/inbound", tag = "webhooks", operation_id = "messagebird_inbound",
    params(
        ("originator" = String, Query, format = "phone", description = "The sender's number (each field may come in a form or JSON body instead)"),
        ("body" = Option<String>, Query, description = "The text they sent"),
        ("MessageBird-Signature-JWT" = String, Header, description = "MessageBird's signature of the call (a JWT signed with the signing key)"),
    ),
    responses(
        (status = 200, description = "Received"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 408, response = crate::http::problem::RequestTimeout),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 503, response = crate::http::problem::ServiceUnavailable),
    )
)]
pub async fn inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    authenticate(&state, &req, &body)?;
    let params = parameters(&req, &body)?;
    let reply = super::reply(&params, INBOUND_SENDER, INBOUND_TEXT, "messagebird")?;
    state.services.apply_reply(reply).await?;
    Ok(acknowledged())
}
