//! Twilio's callbacks at the edge: status callbacks (`POST /webhooks/twilio/status`)
//! and inbound texts (`POST /webhooks/twilio/inbound`, STOP and START). Each must carry
//! a valid `X-Twilio-Signature`; unless Twilio sends the texts they answer 404. How
//! a call is verified and read is the provider's (`sms::twilio::webhook`); this gathers
//! the call and answers it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{apply_report, called_url, field, parameters, reply, signed_by};
use crate::http::AppState;
use crate::http::body::RawBody;
use crate::http::problem::ApiError;
use crate::sms::twilio::Settings as TwilioSettings;
use crate::sms::twilio::webhook::{
    self, Algorithm, INBOUND_SENDER, INBOUND_TEXT, SETTINGS_HEADER, SIGNATURE_HEADER, Scheme,
};

/// The fields of a status callback that matter here (Twilio sends more; all of them
/// are signed).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StatusCallbackForm {
    /// Twilio's message id, as it answered the send.
    #[serde(default)]
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    pub message_sid: String,
    /// delivered, undelivered, failed, sent, queued …
    #[schema(min_length = 1, example = "delivered")]
    pub message_status: String,
    /// Twilio's error code, for undelivered and failed.
    #[serde(default)]
    pub error_code: String,
}

/// The fields of an inbound text that matter here (Twilio sends more; all of them are
/// signed).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InboundForm {
    /// The sender's number. Format `phone`, as for orders.
    #[schema(format = "phone", example = "+31612345678")]
    pub from: String,
    /// What they wrote: STOP, START or anything else.
    #[serde(default)]
    #[schema(example = "STOP")]
    pub body: String,
}

/// Verifies the call's signature: 404 unless Twilio sends the texts (its auth token
/// is then set), 401 for a missing or wrong signature. A call that carries
/// `X-Twilio-Webhooks-Signature-Settings` is checked with the webhook shared key
/// (ORDER_NOTIFY_TWILIO_WEBHOOK_KEY) and the algorithm it names; any other with the
/// auth token and HMAC-SHA1.
fn authenticate(state: &AppState, req: &HttpRequest, body: &RawBody) -> Result<(), ApiError> {
    let section = state.settings.sms.answering::<TwilioSettings>();
    let (public_url, token) = signed_by(
        state.settings.public_url.as_deref(),
        section.and_then(|s| s.auth_token.as_ref()),
        "Twilio's callbacks are not answered here: Twilio is not the SMS provider.",
    )?;
    let refuse = |why: &str| {
        log::warn!("refused a Twilio callback to {}: {why}", req.path());
        ApiError::Unauthorized("The Twilio signature is missing or invalid.")
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let given = header(SIGNATURE_HEADER).ok_or_else(|| refuse("no signature"))?;
    let (key, algorithm) = match webhook::scheme_of(header(SETTINGS_HEADER)).map_err(refuse)? {
        Scheme::AuthToken => (token, Algorithm::HmacSha1),
        Scheme::SharedKey(algorithm) => {
            let key = section
                .and_then(|s| s.webhook_key.as_ref())
                .ok_or_else(|| {
                    refuse(
                        "signed with a webhook key, and ORDER_NOTIFY_TWILIO_WEBHOOK_KEY is not set",
                    )
                })?;
            (key, algorithm)
        }
    };
    let url = called_url(req, public_url);
    webhook::verify(key.expose(), given, &url, body.bytes(), algorithm).map_err(refuse)
}

/// A status callback: `delivered` → delivered; `undelivered` and `failed` → failed with
/// Twilio's error code; other statuses change nothing.
#[utoipa::path(
    post, path = "/webhooks/twilio/status", tag = "webhooks", operation_id = "twilio_status_callback",
    params(
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the call"),
        ("X-Twilio-Webhooks-Signature-Settings" = Option<String>, Header, description = "`key=…,algorithm=HMAC_SHA256` when Twilio signed with a webhook shared key"),
    ),
    request_body(content = StatusCallbackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Received (also for texts we do not know)"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 408, response = crate::http::problem::RequestTimeout),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 503, response = crate::http::problem::ServiceUnavailable),
        (status = 404, response = crate::http::problem::NotFound),
    )
)]
pub async fn status_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    authenticate(&state, &req, &body)?;
    let params = parameters(&req, &body)?;
    let read = webhook::status_report(|name| field(&params, name), state.services.now());
    apply_report(&state.services, "Twilio", read).await?;
    Ok(HttpResponse::Ok().finish())
}

/// An inbound text: STOP opts the sender out, START back in. Answers empty TwiML, so
/// Twilio sends no reply of its own making.
#[utoipa::path(
    post, path = "/webhooks/twilio/inbound", tag = "webhooks", operation_id = "twilio_inbound",
    params(
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the call"),
        ("X-Twilio-Webhooks-Signature-Settings" = Option<String>, Header, description = "`key=…,algorithm=HMAC_SHA256` when Twilio signed with a webhook shared key"),
    ),
    request_body(content = InboundForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Received; an empty TwiML response"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 408, response = crate::http::problem::RequestTimeout),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 503, response = crate::http::problem::ServiceUnavailable),
        (status = 404, response = crate::http::problem::NotFound),
    )
)]
pub async fn inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    authenticate(&state, &req, &body)?;
    let params = parameters(&req, &body)?;
    let reply = reply(&params, INBOUND_SENDER, INBOUND_TEXT, "twilio")?;
    state.services.apply_reply(reply).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/xml")
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"))
}
