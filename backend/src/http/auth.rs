//! Bearer keys to callers. A middleware authenticates every API path before any
//! extractor or handler runs, so an unauthenticated request gets 401 whatever else is
//! wrong with it; handlers then state the roles they admit with `Caller::require`.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use std::future::{Ready, ready};
use uuid::Uuid;

use super::access::AccessRules;
use super::connections::client_address;
use super::problem::ApiError;
use super::rate_limit::Client;
use crate::domain::ApiKey;
use crate::domain::Role;
use crate::domain::{Actor, Scope};
use crate::http::AppState;

/// The authenticated key behind a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key_id: Uuid,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Admits only the given roles.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "This needs a key with the role {}; this key is {}.",
                names.join(" or "),
                self.role
            )))
        }
    }

    /// Which orders this caller may see: integration keys see only their own.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Integration => Scope::CreatedBy(self.key_id),
            Role::Admin | Role::Staff => Scope::All,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            key_id: Some(self.key_id),
            name: self.name.clone(),
            role: self.role,
        }
    }
}

impl From<ApiKey> for Caller {
    fn from(key: ApiKey) -> Self {
        Caller {
            key_id: key.id,
            name: key.name,
            role: key.role,
        }
    }
}

/// The access rules the server was built with (`routes::access_rules`); without them
/// nothing is let through.
fn rules(req: &HttpRequest) -> Result<&AccessRules, ApiError> {
    req.app_data::<web::Data<AccessRules>>()
        .map(|rules| rules.get_ref())
        .ok_or_else(|| ApiError::Internal("the access rules are missing".to_owned()))
}

fn bearer_token(req: &ServiceRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `?token=` on `GET /events`: the only place a stream token is accepted. An empty one
/// still counts as a (wrong) credential.
fn stream_token(req: &ServiceRequest) -> Option<String> {
    if req.path() != "/events" || req.method() != actix_web::http::Method::GET {
        return None;
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find_map(|(name, value)| (name == "token").then_some(value))
}

/// The request line for the access log, with a stream token's value left out however
/// its name is spelt (`?%74oken=` is read as `token` too).
pub fn loggable_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let query = if query.is_empty() {
        String::new()
    } else {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                let decoded: String = url::form_urlencoded::parse(name.as_bytes())
                    .map(|(name, _)| name.into_owned())
                    .collect();
                if decoded == "token" {
                    format!("{name}=[redacted]")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        format!("?{}", redacted.join("&"))
    };
    format!("{} {}{query} {:?}", req.method(), req.path(), req.version())
}

/// The client's address for the access log (see `connections::client_address`).
pub fn loggable_client(req: &ServiceRequest) -> String {
    let address = match req.app_data::<web::Data<AppState>>() {
        Some(state) => client_address(req.request(), &state.settings.trusted_proxies),
        None => req.peer_addr().map(|a| a.ip()),
    };
    address.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
}

/// Takes a token from the client's bucket, or answers 429.
fn admit(state: &AppState, client: Client) -> Result<(), ApiError> {
    state.limiter.admit(client).map_err(too_many)
}

/// Answers 429 if the client's bucket is empty, taking nothing from it.
fn check(state: &AppState, client: Client) -> Result<(), ApiError> {
    state.limiter.check(client).map_err(too_many)
}

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Authenticates API paths (401 without a valid key) and applies the rate limit: per
/// key once the key is known, per client address for everything else. An address
/// whose bucket wrong keys have emptied is refused before its next key is looked up.
/// Health, readiness and the figures are never limited: a load balancer or scraper
/// must not be told 429 because someone else is guessing keys.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".to_owned()))?;
    let address = client_address(req.request(), &state.settings.trusted_proxies);
    if rules(req.request())?.needs_key(req.path()) {
        let stream_token = stream_token(&req);
        if req.headers().contains_key(header::AUTHORIZATION) && stream_token.is_some() {
            // One credential per request (RFC 6750 §2): with two, which one failed or
            // succeeded would be ambiguous (an empty or malformed header counts too).
            if let Some(address) = address {
                admit(&state, Client::Address(address))?;
            }
            return Err(ApiError::Unauthorized(
                "Send either an API key (Authorization: Bearer) or a stream token (?token=), not both.",
            )
            .into());
        }
        if let Some(address) = address {
            check(&state, Client::Address(address))?;
        }
        let key = match (bearer_token(&req), &stream_token) {
            (Some(token), _) => state.services.key_for_secret(token).await,
            (None, Some(token)) => state.services.key_for_stream_token(token).await,
            (None, None) => Ok(None),
        }
        .map_err(ApiError::from)?;
        let Some(key) = key else {
            if let Some(address) = address {
                admit(&state, Client::Address(address))?;
            }
            let detail = if bearer_token(&req).is_some() {
                "This API key is unknown or has been revoked."
            } else if stream_token.is_some() {
                "This stream token is unknown or has expired; get a new one from POST /events/token."
            } else {
                "Send an API key as Authorization: Bearer <key>."
            };
            return Err(ApiError::Unauthorized(detail).into());
        };
        admit(&state, Client::Key(key.key.id))?;
        state.services.record_key_use(&key).await;
        req.extensions_mut().insert(Caller::from(key.key));
    } else if let Some(address) = address
        && !rules(req.request())?.is_open(req.path())
    {
        // Providers' callbacks too: a forger (or a provider gone wild) sending
        // thousands of STOPs is held to the same pace as any client without a key.
        admit(&state, Client::Address(address))?;
    }
    next.call(req).await
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// The key the middleware authenticated, if its role may use the route the request
    /// matched (`routes::table`): a key without the role is refused before anything
    /// of its request is read.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized(
                "Send an API key as Authorization: Bearer <key>.",
            ));
        ready(caller.and_then(|caller| {
            caller.require(rules(req)?.roles_for(req))?;
            Ok(caller)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_request_line;

    #[test]
    fn the_access_log_never_shows_a_stream_token() {
        let req = actix_web::test::TestRequest::get()
            .uri("/events?last_event_id=0-4&token=ons_secret&token=ons_again")
            .to_srv_request();
        let line = loggable_request_line(&req);
        assert_eq!(
            line,
            "GET /events?last_event_id=0-4&token=[redacted]&token=[redacted] HTTP/1.1"
        );
        let spelt = actix_web::test::TestRequest::get()
            .uri("/events?%74oken=ons_secret&t%6Fken=ons_two&tok%65n&tokens=kept")
            .to_srv_request();
        assert_eq!(
            loggable_request_line(&spelt),
            "GET /events?%74oken=[redacted]&t%6Fken=[redacted]&tok%65n=[redacted]&tokens=kept HTTP/1.1"
        );
        let plain = actix_web::test::TestRequest::get()
            .uri("/orders")
            .to_srv_request();
        assert_eq!(loggable_request_line(&plain), "GET /orders HTTP/1.1");
    }
}
