//! `/sandbox/messages`: what the sandbox provider "sent", newest first. It is how a new
//! user sees the product work without an SMS account.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::problem::ApiError;
use crate::domain::SandboxMessage;
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
pub struct SandboxMessageList {
    pub items: Vec<SandboxMessage>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SandboxParams {
    /// How many, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// The texts the sandbox provider received, newest first.
#[utoipa::path(
    get, path = "/sandbox/messages", tag = "sandbox",
    params(SandboxParams),
    responses(
        (status = 200, description = "Newest first", body = SandboxMessageList),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn list_messages(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
    params: web::Query<SandboxParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = match params.limit.as_deref() {
        None => 50,
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    "must be a whole number from 1 to 200",
                ));
            }
        },
    };
    let items = state.services.sandbox_outbox(limit).await?;
    Ok(HttpResponse::Ok().json(SandboxMessageList { items }))
}
