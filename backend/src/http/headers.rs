//! Headers every answer carries, unless its handler set its own: API answers are not
//! to be stored by browsers or proxies (a new key's secret above all), not to be
//! sniffed as another type, and not to be framed by another site. The dashboard's
//! files set their own caching and content policy (`app::dashboard_headers`), and the
//! event stream its own caching, and those are kept.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// An API answer may load nothing and be framed by no one. Swagger UI's page needs its
/// own scripts and styles, so it gets only the framing rule.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
const PAGE_POLICY: &str = "frame-ancestors 'none'";

pub async fn protect(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = if req.path().starts_with("/swagger-ui") {
        PAGE_POLICY
    } else {
        API_POLICY
    };
    let mut response = next.call(req).await.map_err(|error| {
        // An error from a middleware (a refused key, a rate limit) is rendered here, so
        // that its answer carries the headers too.
        let mut rendered = error.error_response();
        add_defaults(rendered.headers_mut(), policy);
        actix_web::Error::from(InternalError::from_response(error, rendered))
    })?;
    add_defaults(response.headers_mut(), policy);
    Ok(response)
}

fn add_defaults(headers: &mut HeaderMap, policy: &'static str) {
    let defaults: [(HeaderName, &'static str); 4] = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, policy),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}
