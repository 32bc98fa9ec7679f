//! Texts about an order: the JSON shape of a notification, the order's text history,
//! and "Notify customer" (queue the current status's text, or a custom one, now).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::body::{RawBody, fingerprint};
use super::idempotency::{self, answer};
use super::problem::ApiError;
use super::query::{PageParams, QueryParser, next_cursor};
use crate::domain::{Attempt, Notification, NotificationState, Template};
use crate::http::AppState;
use crate::service::{Answer, Notified};

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<Notification>,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyCustomer {
    /// A text of your own (placeholders allowed); without it, the current status's text.
    /// Staff and admin keys only: an integration key gets 403.
    #[serde(default)]
    #[schema(min_length = 1, pattern = "\\S")]
    pub body: Option<String>,
}

/// The answer to "Notify customer": 202 with the queued text, or 409 for a number
/// that texted STOP or a text a limit held back (its `cancelled` record is kept, so a
/// repeat answers 409 too).
fn notified(notified: &Notified) -> Answer {
    match notified {
        Notified::Queued(text) => answer(StatusCode::ACCEPTED, text),
        Notified::OptedOut(text) => answer(
            StatusCode::CONFLICT,
            &ApiError::opted_out(&text.recipient).to_problem(),
        ),
        Notified::Held(text) => answer(
            StatusCode::CONFLICT,
            &ApiError::Conflict {
                title: "Text held back",
                detail: format!(
                    "{} It is recorded as cancelled; shorten the status's template to send it.",
                    text.last_error
                        .as_deref()
                        .unwrap_or("A sending limit stopped it.")
                ),
            }
            .to_problem(),
        ),
    }
}

/// The texts about an order, newest first, a page at a time.
#[utoipa::path(
    get, path = "/orders/{id}/notifications", tag = "notifications",
    params(("id" = Uuid, Path, description = "The order's id"), PageParams),
    responses(
        (status = 200, description = "Texts about the order, newest first", body = NotificationPage),
        (status = 422, response = super::problem::UnprocessableEntity),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
    ),
    security(("bearer" = []))
)]
pub async fn list_for_order(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.into_inner().page()?;
    let (items, next) = state
        .services
        .texts_for_order(caller.scope(), id.into_inner(), page)
        .await?;
    Ok(HttpResponse::Ok().json(NotificationPage {
        items,
        next_cursor: next_cursor(next),
    }))
}

/// "Notify customer": queue the current status's text (even when its template is
/// disabled), or a custom one. Answers at once; a worker sends it. A text may take at
/// most 10 SMS: a custom one that would take more is 422 on `body`; the status's text
/// is recorded `cancelled` with the reason, and answered 409.
#[utoipa::path(
    post, path = "/orders/{id}/notifications", tag = "notifications",
    request_body(content = NotifyCustomer, description = "`{}` (or no body) for the current status's text"),
    params(
        ("id" = Uuid, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe for 24 hours", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "Queued", body = Notification),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn notify_customer(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let key = idempotency::key(&req)?;
    let (request, canonical) = if body.is_empty() {
        (NotifyCustomer::default(), "{}".to_owned())
    } else {
        let parsed = body.parse::<NotifyCustomer>()?;
        (parsed.value, parsed.canonical)
    };
    let own_words = match request.body.as_deref() {
        Some(text) => {
            Some(Template::parse(text).map_err(|e| ApiError::field("body", e.to_string()))?)
        }
        None => None,
    };
    let fingerprint = fingerprint("POST", &format!("/orders/{id}/notifications"), &canonical);
    let once = idempotency::once(key, &caller, fingerprint, notified);
    let ran = state
        .services
        .notify_customer(&caller.actor(), caller.scope(), id, own_words, once)
        .await?;
    Ok(idempotency::respond(ran, notified))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNotificationsParams {
    /// Only these states, comma-separated (`failed,queued`).
    #[param(
        pattern = "^ *((queued|sending|sent|delivered|failed|cancelled) *)?(, *((queued|sending|sent|delivered|failed|cancelled) *)?)*$"
    )]
    pub state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// Texts across all orders, newest first: the place to find the failed ones.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications",
    params(ListNotificationsParams),
    responses(
        (status = 200, description = "Newest first", body = NotificationPage),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn list_notifications(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
    params: web::Query<ListNotificationsParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let mut query = QueryParser::default();
    let states: Vec<NotificationState> = query.list("state", params.state.as_deref());
    let page = query.page(params.limit.as_deref(), params.cursor.as_deref());
    query.finish()?;
    let (items, next) = state.services.list_texts(&states, page).await?;
    Ok(HttpResponse::Ok().json(NotificationPage {
        items,
        next_cursor: next_cursor(next),
    }))
}

/// A text with every attempt at it: which provider was asked, when, what it answered.
#[derive(Serialize, ToSchema)]
pub struct NotificationWithAttempts {
    #[serde(flatten)]
    pub notification: Notification,
    /// Every attempt, oldest first; `provider` above is the one that took the text (or
    /// was tried last).
    pub attempts_log: Vec<Attempt>,
}

/// One text and its attempts. An integration key sees only texts about orders it
/// created (another's is 404).
#[utoipa::path(
    get, path = "/notifications/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "The text and every attempt at it", body = NotificationWithAttempts),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 404, response = super::problem::NotFound),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn get_notification(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (notification, attempts_log) = state
        .services
        .text_with_attempts(caller.scope(), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(NotificationWithAttempts {
        notification,
        attempts_log,
    }))
}

/// Queue a failed text again, with a fresh set of attempts.
#[utoipa::path(
    post, path = "/notifications/{id}/retry", tag = "notifications",
    params(("id" = Uuid, Path, description = "The notification's id")),
    responses(
        (status = 202, description = "Queued again", body = Notification),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let text = state
        .services
        .retry_text(&caller.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(text))
}
