//! The one error type at the HTTP edge, and its RFC 9457 `application/problem+json`
//! form. Modules return their own errors; they become an `ApiError` here, once.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use crate::domain::{OrderStatus, ValidationError, version_tag};
use crate::service::{
    ChangeStatusError, CreateEndpointError, CreateOrderError, EditOrderError, EndpointError,
    LiftOptOutError, NotifyError, ReadError, RepeatRefused, RetryError, RevokeKeyError,
    SaveTemplateError, StorageError,
};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/invalid-transition",
    "title": "Status change not allowed",
    "status": 409,
    "detail": "An order that is delivered cannot become confirmed; it is final.",
    "allowed": []
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For 422: each field that failed validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ValidationError>>,
    /// For a refused status change: the statuses the order may move to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<OrderStatus>>,
    /// The request's `X-Request-Id`: quote it when reporting a problem, it is on the
    /// server's log lines for that request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: &'static str },
    #[error("{detail}")]
    Conflict { title: &'static str, detail: String },
    #[error("cannot change status from {from} to {to}")]
    InvalidTransition {
        from: OrderStatus,
        to: OrderStatus,
        allowed: &'static [OrderStatus],
    },
    #[error("the order was changed by another request at the same moment")]
    ConcurrentChange,
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("The request body did not arrive within {secs} s.")]
    RequestTimeout { secs: u64 },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request has invalid fields")]
    Validation(Vec<ValidationError>),
    #[error("{detail}")]
    Unprocessable { title: &'static str, detail: String },
    #[error("Too many requests; try again in {retry_after_secs} s.")]
    TooManyRequests { retry_after_secs: u64 },
    /// A limit of its own stopped the request (a sending limit, the open streams of a
    /// key): `/problems/<slug>`, with `Retry-After`.
    #[error("{detail}")]
    Limit {
        slug: &'static str,
        title: &'static str,
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// The storage failed under a write (`StorageError::fault`): nothing of it was kept.
    #[error("storage fault: {0}")]
    StorageUnavailable(StorageError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![ValidationError::new(field, message)])
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Missing or unknown API key"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed for this key's role"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict { title, .. } => ("conflict", title),
            ApiError::InvalidTransition { .. } => {
                ("invalid-transition", "Status change not allowed")
            }
            ApiError::ConcurrentChange => ("concurrent-change", "Concurrent change"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "The order has changed"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::RequestTimeout { .. } => ("request-timeout", "Request body too slow"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Validation(_) => ("validation", "Invalid request"),
            ApiError::Unprocessable { title, .. } => ("unprocessable", title),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Limit { slug, title, .. } => (slug, title),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::StorageUnavailable(_) => ("storage-unavailable", "Cannot save changes now"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::InvalidTransition { from, to, allowed } => {
                if allowed.is_empty() {
                    format!("An order that is {from} cannot become {to}; {from} is final.")
                } else {
                    let names: Vec<_> = allowed.iter().map(|s| s.as_str()).collect();
                    format!(
                        "An order that is {from} cannot become {to}; it can become: {}.",
                        names.join(", ")
                    )
                }
            }
            ApiError::Validation(errors) => {
                let parts: Vec<_> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                parts.join("; ")
            }
            ApiError::StorageUnavailable(cause) => {
                let what = cause
                    .fault()
                    .map_or("the database failed", |kind| kind.explain());
                format!(
                    "Nothing of this request was saved: {what}. Try again in a few seconds; \
                     if this goes on, tell whoever runs this service."
                )
            }
            // The cause is logged; the client learns only that it was not its fault.
            ApiError::Internal(_) => {
                "Something went wrong on our side. It has been logged; please try again.".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            allowed: match self {
                ApiError::InvalidTransition { allowed, .. } => Some(allowed.to_vec()),
                _ => None,
            },
            request_id: super::request_id::current(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. }
            | ApiError::InvalidTransition { .. }
            | ApiError::ConcurrentChange => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::TooManyRequests { .. } | ApiError::Limit { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) | ApiError::Unavailable(cause) = self {
            log::error!("{cause}");
        }
        if let ApiError::StorageUnavailable(cause) = self {
            // The writer logs the fault once per failed transaction; this is per request.
            log::debug!("answered 503 for a storage fault: {cause}");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        if let ApiError::TooManyRequests { retry_after_secs }
        | ApiError::Limit {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let ApiError::StorageUnavailable(_) = self {
            response.insert_header((header::RETRY_AFTER, STORAGE_RETRY_AFTER_SECS.to_string()));
        }
        if let ApiError::RequestTimeout { .. } = self {
            // The rest of the body may still trickle in: do not wait for it.
            response.force_close();
        }
        response.body(serde_json::to_string(&self.to_problem()).unwrap_or_default())
    }
}

/// What a client is told to wait after a storage fault: long enough for an operator's
/// fix or a replaced connection, short enough that a kitchen tablet retries soon.
pub const STORAGE_RETRY_AFTER_SECS: u64 = 5;

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match crate::service::storage_fault_seen(&e) {
            Some(_) => ApiError::StorageUnavailable(e),
            None => ApiError::Internal(format!("database error: {e}")),
        }
    }
}

// Each use case's errors, as the API answers them: the one place they are mapped.

impl ApiError {
    /// The refusal of a text to a number that texted STOP.
    pub fn opted_out(phone: &str) -> ApiError {
        ApiError::Conflict {
            title: "Customer opted out",
            detail: format!("{phone} texted STOP; no text is sent until they text START."),
        }
    }
}

impl From<RepeatRefused> for ApiError {
    fn from(e: RepeatRefused) -> Self {
        match e {
            RepeatRefused::InFlight => ApiError::Conflict {
                title: "Request still in progress",
                detail: e.to_string(),
            },
            RepeatRefused::Mismatch => ApiError::Unprocessable {
                title: "Idempotency-Key reused",
                detail: e.to_string(),
            },
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(e) => ApiError::NotFound(e.to_string()),
            ReadError::Storage(e) => e.into(),
        }
    }
}

impl From<CreateOrderError> for ApiError {
    fn from(e: CreateOrderError) -> Self {
        match e {
            CreateOrderError::DuplicateExternalRef(_) => ApiError::Conflict {
                title: "Duplicate external_ref",
                detail: e.to_string(),
            },
            CreateOrderError::Repeat(e) => e.into(),
            CreateOrderError::Storage(e) => e.into(),
        }
    }
}

impl From<ChangeStatusError> for ApiError {
    fn from(e: ChangeStatusError) -> Self {
        match e {
            ChangeStatusError::NotFound(e) => ApiError::NotFound(e.to_string()),
            ChangeStatusError::StaleVersion { current } => ApiError::PreconditionFailed(format!(
                "The order is at version {current} (ETag {}) now; read it again before changing it.",
                version_tag(current)
            )),
            ChangeStatusError::Forbidden { from, to, allowed } => {
                ApiError::InvalidTransition { from, to, allowed }
            }
            ChangeStatusError::ConcurrentChange => ApiError::ConcurrentChange,
            ChangeStatusError::Repeat(e) => e.into(),
            ChangeStatusError::Storage(e) => e.into(),
        }
    }
}

impl From<EditOrderError> for ApiError {
    fn from(e: EditOrderError) -> Self {
        match e {
            EditOrderError::NotFound(e) => ApiError::NotFound(e.to_string()),
            EditOrderError::StaleVersion { current } => ApiError::PreconditionFailed(format!(
                "The order is at version {current} (ETag {}) now; read it again before changing it.",
                version_tag(current)
            )),
            EditOrderError::ConcurrentChange => ApiError::ConcurrentChange,
            EditOrderError::Repeat(e) => e.into(),
            EditOrderError::Storage(e) => e.into(),
        }
    }
}

impl From<SaveTemplateError> for ApiError {
    fn from(e: SaveTemplateError) -> Self {
        match e {
            SaveTemplateError::TooLong(reason) => ApiError::field("body", reason),
            SaveTemplateError::Storage(e) => e.into(),
        }
    }
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::NotFound(e) => ApiError::NotFound(e.to_string()),
            NotifyError::TooLong(reason) => ApiError::field("body", reason),
            NotifyError::Limit {
                kind,
                reason,
                retry_after,
            } => ApiError::Limit {
                slug: if kind == "key" {
                    "key-limit"
                } else {
                    "recipient-limit"
                },
                title: if kind == "key" {
                    "Too many texts for this key today"
                } else {
                    "Too many texts to this number"
                },
                detail: reason,
                retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
            NotifyError::OwnWordsNotAllowed(role) => ApiError::Forbidden(format!(
                "A {role} key may send the order's status text only (send {{}}); a text in your own words needs a staff or admin key."
            )),
            NotifyError::Repeat(e) => e.into(),
            NotifyError::Storage(e) => e.into(),
        }
    }
}

impl From<RetryError> for ApiError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RetryError::NotFailed(_) => ApiError::Conflict {
                title: "Not a failed text",
                detail: e.to_string(),
            },
            RetryError::OptedOut(phone) => ApiError::opted_out(&phone),
            RetryError::Storage(e) => e.into(),
        }
    }
}

impl From<CreateEndpointError> for ApiError {
    fn from(e: CreateEndpointError) -> Self {
        match e {
            CreateEndpointError::Invalid { field, message } => ApiError::field(field, message),
            CreateEndpointError::Storage(e) => e.into(),
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::NotFound(e) => ApiError::NotFound(e.to_string()),
            EndpointError::Storage(e) => e.into(),
        }
    }
}

impl From<RevokeKeyError> for ApiError {
    fn from(e: RevokeKeyError) -> Self {
        match e {
            RevokeKeyError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RevokeKeyError::LastAdmin => ApiError::Conflict {
                title: "Last admin key",
                detail: e.to_string(),
            },
            RevokeKeyError::FromConfiguration => ApiError::Conflict {
                title: "Key from the configuration",
                detail: e.to_string(),
            },
            RevokeKeyError::Storage(e) => e.into(),
        }
    }
}

impl From<LiftOptOutError> for ApiError {
    fn from(e: LiftOptOutError) -> Self {
        match e {
            LiftOptOutError::NotOptedOut(_) => ApiError::NotFound(e.to_string()),
            LiftOptOutError::Storage(e) => e.into(),
        }
    }
}

// Reusable OpenAPI responses, one per error status, so every route documents its
// failures the same way. They exist only for the description, hence never built.

/// Malformed JSON or a malformed path parameter.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(Problem);

/// No `Authorization: Bearer` key, or an unknown or revoked one.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(Problem);

/// The key's role may not use this route.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(Problem);

/// No such resource (or one that this integration key did not create).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(Problem);

/// The request conflicts with the current state: a forbidden status change (with the
/// allowed statuses in `allowed`), a duplicate `external_ref`, or an `Idempotency-Key`
/// whose first request is still running.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(Problem);

/// `If-Match` named a version the order no longer has.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionFailed(Problem);

/// The body is over 64 KiB.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(Problem);

/// The body did not arrive within 15 s (the connection is closed).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct RequestTimeout(Problem);

/// The body is not `application/json`.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(Problem);

/// A field failed validation (listed in `errors`), or an `Idempotency-Key` was reused
/// for a different request.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json")]
pub struct UnprocessableEntity(Problem);

/// Over the rate limit for this key (or client address); `Retry-After` says when to
/// try again.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait")))]
pub struct TooManyRequests(Problem);

/// The database cannot be reached, or cannot save changes right now (a full disk,
/// read-only files): nothing of the request was kept, and `Retry-After` says when to
/// try again.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before trying again (sent with `storage-unavailable`)")))]
pub struct ServiceUnavailable(Problem);
