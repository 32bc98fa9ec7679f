//! `/opt-outs` (admin): the customers who texted STOP, and lifting one by hand.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::ApiError;
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
pub struct OptOut {
    /// E.164.
    pub phone: String,
    /// Where the STOP came from (`messagebird`, `twilio`).
    pub source: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct OptOutList {
    pub items: Vec<OptOut>,
}

/// Numbers that receive no texts, newest first.
#[utoipa::path(
    get, path = "/opt-outs", tag = "opt-outs",
    responses(
        (status = 200, description = "Newest first", body = OptOutList),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
    ),
    security(("bearer" = []))
)]
pub async fn list_opt_outs(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let items = state.services.opt_outs().await?;
    Ok(HttpResponse::Ok().json(OptOutList {
        items: items
            .into_iter()
            .map(|o| OptOut {
                phone: o.phone,
                source: o.source,
                created_at: o.created_at,
            })
            .collect(),
    }))
}

/// Let a number receive texts again (as if it had texted START).
#[utoipa::path(
    delete, path = "/opt-outs/{phone}", tag = "opt-outs",
    params(("phone" = String, Path, description = "The number, URL-encoded (`%2B31612345678`)")),
    responses(
        (status = 204, description = "Texts go to this number again"),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
    ),
    security(("bearer" = []))
)]
pub async fn remove_opt_out(
    state: web::Data<AppState>,
    caller: Caller,
    phone: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .lift_opt_out(&caller.actor(), &phone.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
