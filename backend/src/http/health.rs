//! Liveness and readiness, for load balancers and orchestrators. No key needed.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::ApiError;
use crate::app::AppState;
use crate::store;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "Alive", body = Health),
        (status = 429, response = super::problem::TooManyRequests),
    ))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
    })
}

/// The database answers, so requests can be served.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    store::ping(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database does not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".to_owned(),
    }))
}
