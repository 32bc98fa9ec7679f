//! `/webhook-endpoints`: where an order system hears of changes (admins and
//! integration keys; an integration key manages and hears of only its own). The
//! `whsec_` secret its messages are signed with is shown once, when it is created.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::body::RawBody;
use super::problem::ApiError;
use super::query::{PageParams, next_cursor};
use crate::domain::{EventType, WebhookDelivery, WebhookEndpoint as Endpoint};
use crate::http::AppState;
use crate::service::NewEndpoint;

/// An endpoint without its secret.
#[derive(Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    #[schema(example = "https://shop.example/hooks/order-notify")]
    pub url: String,
    /// The events it receives; `null`: every event.
    pub events: Option<Vec<EventType>>,
    /// `true`: an admin's endpoint, hearing of every order; `false`: an integration
    /// key's, hearing only of the orders that key created.
    pub all_orders: bool,
    /// The name of the key that created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(endpoint: Endpoint) -> Self {
        WebhookEndpoint {
            id: endpoint.id,
            url: endpoint.url,
            events: endpoint.subscription.listed(),
            all_orders: endpoint.owner.is_none(),
            created_by: endpoint.created_by,
            created_at: endpoint.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpoint>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// `https://` (or `http://`) on the public internet; private, loopback and
    /// link-local addresses are refused, as are names that resolve to them.
    #[schema(
        example = "https://shop.example/hooks/order-notify",
        max_length = 2048,
        format = "webhook-url"
    )]
    pub url: String,
    /// The events to receive (at least one); leave it out for every event.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
}

/// A new endpoint with its signing secret: the only response that ever contains it.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// Verifies `webhook-signature` (Standard Webhooks: HMAC-SHA256 with the base64
    /// after `whsec_`, over `webhook-id.webhook-timestamp.body`). It cannot be shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The endpoints this key manages (an admin: every one).
#[utoipa::path(
    get, path = "/webhook-endpoints", tag = "webhook-endpoints",
    responses(
        (status = 200, description = "Endpoints, oldest first, without secrets", body = WebhookEndpointList),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn list_endpoints(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let endpoints = state.services.webhook_endpoints(&caller.actor()).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointList {
        items: endpoints.into_iter().map(WebhookEndpoint::from).collect(),
    }))
}

/// Register an endpoint. Its events are signed with the secret in the response,
/// shown once; they come in the `webhooks` of this document.
#[utoipa::path(
    post, path = "/webhook-endpoints", tag = "webhook-endpoints",
    request_body = CreateWebhookEndpoint,
    responses(
        (status = 201, description = "Created; `secret` signs its messages", body = CreatedWebhookEndpoint,
            headers(("Location" = String, description = "The endpoint's deliveries"))),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let request = body.parse::<CreateWebhookEndpoint>()?.value;
    let (endpoint, secret) = state
        .services
        .create_webhook_endpoint(
            &caller.actor(),
            NewEndpoint {
                url: request.url,
                events: request.events,
            },
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/webhook-endpoints/{}/deliveries", endpoint.id),
        ))
        .json(CreatedWebhookEndpoint {
            endpoint: endpoint.into(),
            secret,
        }))
}

/// Delete an endpoint: nothing more is sent to it, including what it had yet to get.
#[utoipa::path(
    delete, path = "/webhook-endpoints/{id}", tag = "webhook-endpoints",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .delete_webhook_endpoint(&caller.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The endpoint's recent deliveries, newest first: each event with its attempts, the
/// last answer's status and error, and when the next attempt is due.
#[utoipa::path(
    get, path = "/webhook-endpoints/{id}/deliveries", tag = "webhook-endpoints",
    params(("id" = Uuid, Path, description = "The endpoint's id"), PageParams),
    responses(
        (status = 200, description = "Deliveries, newest first", body = WebhookDeliveryPage),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::UnprocessableEntity),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.into_inner().page()?;
    let (items, next) = state
        .services
        .webhook_deliveries(&caller.actor(), id.into_inner(), page)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookDeliveryPage {
        items,
        next_cursor: next_cursor(next),
    }))
}
