//! Twilio's callbacks: status callbacks (`POST /webhooks/twilio/status`) and inbound
//! texts (`POST /webhooks/twilio/inbound`, STOP and START). Each must carry a valid
//! `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the called URL
//! followed by every form field, sorted by name, as name then value. Without an auth
//! token configured they answer 404.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use utoipa::ToSchema;

use super::{called_url, parameters, reply};
use crate::domain::DeliveryReport;
use crate::http::AppState;
use crate::http::body::RawBody;
use crate::http::problem::ApiError;
use crate::service::Report;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

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

/// The signature Twilio computes for a call to `url` with these form fields.
pub fn signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn authenticate(state: &AppState, req: &HttpRequest, body: &RawBody) -> Result<(), ApiError> {
    // Without an auth token nothing can be verified, and no Twilio account would be
    // calling: refuse rather than let anyone opt numbers out.
    let Some(token) = &state.settings.twilio.auth_token else {
        return Err(ApiError::NotFound(
            "Twilio is not configured here (ORDER_NOTIFY_TWILIO_AUTH_TOKEN is not set).".to_owned(),
        ));
    };
    let refuse = |why: &str| {
        log::warn!("refused a Twilio callback to {}: {why}", req.path());
        ApiError::Unauthorized("The Twilio signature is missing or invalid.")
    };
    let given = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("no signature"))?;
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body.bytes()).map_err(|_| refuse("not a form"))?;
    let url = called_url(req, state.settings.public_url.as_deref());
    let expected = signature(token.expose(), &url, &fields);
    if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into() {
        Ok(())
    } else {
        Err(refuse("signature mismatch"))
    }
}

/// A status callback: `delivered` → delivered; `undelivered` and `failed` → failed with
/// Twilio's error code; other statuses change nothing.
#[utoipa::path(
    post, path = "/webhooks/twilio/status", tag = "webhooks", operation_id = "twilio_status_callback",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the call")),
    request_body(content = StatusCallbackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Received (also for texts we do not know)"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
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
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(status) = get("MessageStatus") else {
        return Err(ApiError::BadRequest(
            "A status callback needs MessageStatus.".to_owned(),
        ));
    };
    let report = match status {
        "delivered" => DeliveryReport::Delivered {
            at: state.services.now(),
        },
        "undelivered" | "failed" => {
            let mut reason = format!("Twilio reported {status}");
            if let Some(code) = get("ErrorCode") {
                reason.push_str(&format!(" (error {code})"));
            }
            DeliveryReport::Failed { reason }
        }
        _ => return Ok(HttpResponse::Ok().finish()),
    };
    let report = Report {
        reference: None,
        provider_message_id: get("MessageSid").map(str::to_owned),
        says: report,
    };
    if !state.services.apply_delivery_report(report).await? {
        log::warn!(
            "Twilio reported {status} for an unknown text {:?}",
            get("MessageSid")
        );
    }
    Ok(HttpResponse::Ok().finish())
}

/// An inbound text: STOP opts the sender out, START back in. Answers empty TwiML, so
/// Twilio sends no reply of its own making.
#[utoipa::path(
    post, path = "/webhooks/twilio/inbound", tag = "webhooks", operation_id = "twilio_inbound",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the call")),
    request_body(content = InboundForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Received; an empty TwiML response"),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
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
    let reply = reply(&params, "From", &["Body"], "twilio")?;
    state.services.apply_reply(reply).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/xml")
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_url_and_the_sorted_fields() {
        let fields = vec![
            ("MessageStatus".to_owned(), "delivered".to_owned()),
            ("MessageSid".to_owned(), "SM1".to_owned()),
        ];
        let reordered = vec![fields[1].clone(), fields[0].clone()];
        let url = "https://orders.example.com/webhooks/twilio/status";
        let a = signature("token", url, &fields);
        assert_eq!(a, signature("token", url, &reordered));
        assert_ne!(a, signature("other", url, &fields));
        assert_ne!(a, signature("token", "https://evil.example/x", &fields));
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 20, "HMAC-SHA1");
    }
}
