//! `/templates`: the text sent for each status (list, replace) and a live preview of
//! what a text will look like on the handset and cost.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::body::RawBody;
use super::problem::ApiError;
use crate::domain::{Encoding, OrderStatus, StatusTemplate, Template, TemplateValues};
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename = "Template")]
#[schema(as = Template)]
pub struct TemplateView {
    pub status: OrderStatus,
    pub body: String,
    /// `false`: no automatic text for this status ("Notify customer" still sends it).
    pub enabled: bool,
    /// The encoding of the text for a sample order.
    pub encoding: Encoding,
    /// How many SMS the text for a sample order takes.
    pub segments: usize,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveTemplate {
    /// The text, with `{customer_name}`, `{first_name}`, `{order_ref}`, `{items}` or `{status}`.
    #[schema(
        example = "Hi {first_name}, order {order_ref} is confirmed!",
        min_length = 1,
        max_length = 1000,
        pattern = "\\S"
    )]
    pub body: String,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The template text to try, as for `PUT /templates/{status}`.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub body: String,
    /// Render for this order; without it, for a sample order.
    #[serde(default)]
    pub order_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct Preview {
    /// The text as the customer would receive it.
    pub text: String,
    pub encoding: Encoding,
    pub segments: usize,
    /// Characters as the handset counts them (an emoji counts two in UCS-2).
    pub characters: usize,
    /// The characters that force UCS-2, each once.
    pub non_gsm_characters: Vec<String>,
}

fn view(stored: StatusTemplate) -> TemplateView {
    let text = stored
        .template
        .render(&TemplateValues::sample(stored.status));
    TemplateView {
        status: stored.status,
        body: stored.template.body().to_owned(),
        enabled: stored.enabled,
        encoding: text.encoding(),
        segments: text.segments(),
    }
}

fn parse_template(body: &str) -> Result<Template, ApiError> {
    Template::parse(body).map_err(|e| ApiError::field("body", e.to_string()))
}

fn status_from_path(raw: &str) -> Result<OrderStatus, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("There is no template for {raw:?}; statuses are pending, confirmed, delayed, delivered and cancelled.")))
}

/// The text for each status.
#[utoipa::path(
    get, path = "/templates", tag = "templates",
    responses(
        (status = 200, description = "One template per status, in workflow order", body = TemplateList),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
    ),
    security(("bearer" = []))
)]
pub async fn list_templates(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let templates = state.services.templates().await?;
    Ok(HttpResponse::Ok().json(TemplateList {
        items: templates.into_iter().map(view).collect(),
    }))
}

/// Replace the text for a status. A text may take at most 10 SMS: a template whose own
/// words alone take more is refused (422); a text it renders longer for some order is
/// recorded `cancelled` with the reason.
#[utoipa::path(
    put, path = "/templates/{status}", tag = "templates",
    request_body = SaveTemplate,
    params(("status" = OrderStatus, Path, description = "The status whose text this is")),
    responses(
        (status = 200, description = "The template as saved", body = TemplateView),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn save_template(
    state: web::Data<AppState>,
    caller: Caller,
    status: web::Path<String>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let status = status_from_path(&status)?;
    let request = body.parse::<SaveTemplate>()?.value;
    let template = parse_template(&request.body)?;
    let enabled = request.enabled.unwrap_or(true);
    let saved = state
        .services
        .save_template(&caller.actor(), status, template, enabled)
        .await?;
    Ok(HttpResponse::Ok().json(view(saved)))
}

/// Render a text for an order (or a sample one) without sending it.
#[utoipa::path(
    post, path = "/templates/preview", tag = "templates",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The rendered text and what it costs", body = Preview),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let request = body.parse::<PreviewRequest>()?.value;
    let template = parse_template(&request.body)?;
    let text = state
        .services
        .preview(caller.scope(), &template, request.order_id)
        .await?;
    Ok(HttpResponse::Ok().json(Preview {
        encoding: text.encoding(),
        segments: text.segments(),
        characters: text.characters(),
        non_gsm_characters: text
            .non_gsm_characters()
            .into_iter()
            .map(String::from)
            .collect(),
        text: text.into_body(),
    }))
}
