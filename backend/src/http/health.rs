//! Liveness and readiness, for load balancers and orchestrators. No key needed.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::WorkerHealth;
use crate::service::Services;

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
    /// `ready`, or `not ready` (with 503).
    #[schema(example = "ready")]
    pub status: String,
    /// `ok` when a write was just committed; `read-only` when reads work but a write
    /// cannot be committed (a full disk, read-only files); `unavailable` when the
    /// database fails or does not answer.
    #[schema(example = "ok")]
    pub database: String,
    /// `running`, `off` in a process started with `serve --no-worker`, or `stalled`
    /// when the worker has not gone round its loop for longer than a lease.
    #[schema(example = "running")]
    pub worker: String,
}

/// A write can be committed and this process's worker (if it has one) is going round
/// its loop, so requests can be served and queued texts are being sent. The database
/// is proven by a tiny real write (at most once a second), so a database that answers
/// but cannot save, such as one on a full disk, is not ready; it becomes ready again on
/// its own once it can save.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, description = "Not ready: `database` or `worker` says why", body = Readiness),
    ))]
pub async fn readyz(services: web::Data<Services>) -> HttpResponse {
    let readiness = services.readiness().await;
    let ready = readiness.ready();
    let worker = match readiness.worker {
        WorkerHealth::Absent => "off",
        WorkerHealth::Running => "running",
        WorkerHealth::Stalled => "stalled",
    };
    let database = readiness.database;
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.json(Readiness {
        status: if ready { "ready" } else { "not ready" }.to_owned(),
        database: database.as_str().to_owned(),
        worker: worker.to_owned(),
    })
}
