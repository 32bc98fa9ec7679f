//! `GET /metrics` (Prometheus text format, no key) and the middleware that times every
//! request for it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::problem::ApiError;
use crate::http::AppState;
use crate::service::Services;

/// Times the request and counts it under its route pattern (`/orders/{id}`); the
/// dashboard's files share `static`, and requests no route matched share `unmatched`,
/// so made-up paths cannot grow the figures. Made-up methods share `other` for the same
/// reason: no label value is copied from the request.
pub async fn measure(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let result = next.call(req).await;
    if let Some(state) = state {
        let (route, status) = match &result {
            Ok(response) => (
                response.request().match_pattern(),
                response.status().as_u16(),
            ),
            Err(error) => (None, error.as_response_error().status_code().as_u16()),
        };
        let route = match route.as_deref() {
            // The static files are served by one catch-all scope with an empty pattern.
            Some("") => "static".to_owned(),
            Some(pattern) => pattern.to_owned(),
            None => "unmatched".to_owned(),
        };
        state
            .metrics
            .record_request(method, &route, status, started.elapsed());
    }
    result
}

/// The method as a label: one of HTTP's own, or `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", |known| known.as_str())
}

/// Request, queue and sending figures for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 503, response = super::problem::ServiceUnavailable),
    ))]
pub async fn metrics(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let text = services
        .metrics_text()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database does not answer: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
