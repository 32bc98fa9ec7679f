//! `Idempotency-Key` at the edge: the header read and checked, the answers a write
//! gives as the service keeps them for repeats (`service::Once`), and a kept answer
//! given again, marked `Idempotent-Replayed: true`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::auth::Caller;
use super::problem::{ApiError, PROBLEM_JSON};
use crate::service::{Answer, Once, Ran};

pub const HEADER: &str = "Idempotency-Key";
/// Marks a response that was stored earlier and is being answered again.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// The request's `Idempotency-Key`, if it has one: 1 to 255 visible ASCII characters.
pub fn key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("");
    let valid = !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(Some(text.to_owned()))
    } else {
        Err(ApiError::field(
            HEADER,
            "must be 1 to 255 visible ASCII characters",
        ))
    }
}

/// A write with `key` as the service's `Once`: what the request is known by, and how
/// its outcome becomes the answer kept for repeats.
pub fn once<T>(
    key: Option<String>,
    caller: &Caller,
    fingerprint: String,
    answer: fn(&T) -> Answer,
) -> Option<Once<T>> {
    key.map(|key| Once {
        key_id: caller.key_id,
        key,
        fingerprint,
        answer,
    })
}

/// A JSON answer with this status.
pub fn answer(status: StatusCode, value: &impl Serialize) -> Answer {
    match serde_json::to_string(value) {
        Ok(body) => Answer {
            status: status.as_u16(),
            body,
            location: None,
        },
        Err(e) => {
            let problem = ApiError::Internal(format!("encoding a response: {e}")).to_problem();
            Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
                body: serde_json::to_string(&problem).unwrap_or_default(),
                location: None,
            }
        }
    }
}

/// The response to a write that may have been a repeat: the answer kept for it, or made
/// now from its outcome.
pub fn respond<T>(ran: Ran<T>, answer: fn(&T) -> Answer) -> HttpResponse {
    match ran {
        Ran::Done {
            outcome,
            answer: kept,
        } => into_response(kept.unwrap_or_else(|| answer(&outcome))),
        Ran::Replayed(kept) => {
            let mut response = into_response(kept);
            response.headers_mut().insert(
                header::HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            response
        }
    }
}

fn into_response(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    // A kept refusal (such as an opted-out customer) is a problem document.
    response.content_type(if status.is_client_error() || status.is_server_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    });
    if let Some(location) = answer.location {
        response.insert_header((header::LOCATION, location));
    }
    response.body(answer.body)
}
