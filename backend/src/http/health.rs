//! Liveness and readiness, for load balancers and orchestrators. No key needed.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::ApiError;
use crate::app::AppState;
use crate::metrics::WorkerHealth;
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

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    /// `ok` (an unreachable database answers 503 instead).
    #[schema(example = "ok")]
    pub database: String,
    /// `running`, or `off` in a process started with `serve --no-worker` (a stalled
    /// worker answers 503 instead).
    #[schema(example = "running")]
    pub worker: String,
}

/// The database answers and this process's worker (if it has one) is going round its
/// loop, so requests can be served and queued texts are being sent.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    store::ping(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database does not answer: {e}")))?;
    let worker = match state
        .metrics
        .worker_health(store::now(), state.settings.lease)
    {
        WorkerHealth::Absent => "off",
        WorkerHealth::Running => "running",
        WorkerHealth::Stalled => {
            return Err(ApiError::Unavailable(format!(
                "the worker has not looked for texts in over {} s",
                state.settings.lease.as_secs()
            )));
        }
    };
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready".to_owned(),
        database: "ok".to_owned(),
        worker: worker.to_owned(),
    }))
}
