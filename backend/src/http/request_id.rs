//! Request ids: every request gets one (the caller's `X-Request-Id` when it is sane, a
//! new one otherwise). It is echoed in the response, written on every log line emitted
//! while the request is handled, and put in problem+json bodies, so a user's error
//! report leads straight to the server's log lines.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use uuid::Uuid;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A caller's id is kept when it could not upset a log or a header: up to 128
/// characters of letters, digits and `-_.:`.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn assign(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().simple().to_string());
    let value = HeaderValue::from_str(&id).expect("an acceptable id is a valid header value");
    // The access log reads the id from the request's headers.
    req.headers_mut().insert(HEADER, value.clone());
    let tagged = value.clone();
    let mut response = CURRENT
        .scope(id, async move {
            next.call(req).await.map_err(|error| {
                // An error from a middleware (a refused key, a rate limit) is rendered
                // here, while the id is current, so that its body names the request.
                let mut rendered = error.error_response();
                rendered.headers_mut().insert(HEADER, tagged);
                actix_web::Error::from(InternalError::from_response(error, rendered))
            })
        })
        .await?;
    response.headers_mut().insert(HEADER, value);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn sane_ids_are_kept_and_odd_ones_replaced() {
        assert!(acceptable("req-42"));
        assert!(acceptable("0190f3b2-6c1e-7a3c-9d1e-2f6b8a4c5d7e"));
        assert!(acceptable("trace.span:1_2"));
        assert!(!acceptable(""));
        assert!(!acceptable("two words"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable("ünïcode"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
