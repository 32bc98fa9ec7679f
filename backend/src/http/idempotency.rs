//! `Idempotency-Key` for the routes that create or change things: the work runs in one
//! transaction that also stores its response, so "did it happen?" and "what did it
//! answer?" can never disagree.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use uuid::Uuid;

use super::auth::Caller;
use super::problem::ApiError;
use crate::app::AppState;
use crate::store::fault;
use crate::store::idempotency::{self, Claim, StoredResponse};
use crate::store::writer::Writer;

pub const HEADER: &str = "Idempotency-Key";
/// Marks a response that was stored earlier and is being answered again.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// How often work that lost a race with a concurrent change is tried again.
const MAX_ATTEMPTS: usize = 5;

#[derive(Clone, Debug)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Reads the optional header: 1 to 255 visible ASCII characters.
    pub fn from_request(req: &HttpRequest) -> Result<Option<Self>, ApiError> {
        let Some(value) = req.headers().get(HEADER) else {
            return Ok(None);
        };
        let text = value.to_str().unwrap_or("");
        let valid =
            !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Some(IdempotencyKey(text.to_owned())))
        } else {
            Err(ApiError::field(
                HEADER,
                "must be 1 to 255 visible ASCII characters",
            ))
        }
    }
}

/// A JSON response that can be stored and answered again.
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_string(value)
            .map_err(|e| ApiError::Internal(format!("encoding a response: {e}")))?;
        Ok(Reply {
            status,
            body,
            location: None,
        })
    }

    pub fn with_location(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }

    fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status.as_u16(),
            body: self.body.clone(),
            location: self.location.clone(),
        }
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        // A stored refusal (such as an opted-out customer) is a problem document.
        response.content_type(if self.status.is_client_error() {
            super::problem::PROBLEM_JSON
        } else {
            "application/json"
        });
        if let Some(location) = self.location {
            response.insert_header((header::LOCATION, location));
        }
        response.body(self.body)
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = Reply {
        status,
        body: stored.body,
        location: stored.location,
    }
    .into_response();
    response.headers_mut().insert(
        header::HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    response
}

/// Runs `work` in a writing transaction (through the group-committing writer,
/// `store::writer`) and answers its reply, honouring the idempotency key if there is
/// one: a replay answers the stored response, a different request with the same key
/// gets 422, and one whose twin is still running gets 409. Work that fails changes
/// nothing and frees the key again. Besides the reply, the work returns what the
/// handler wants to know once it is committed (`None` for a replay).
///
/// The work runs in the writer's task, so it owns what it uses; it may run more than
/// once, after losing a race with a concurrent change (PostgreSQL).
pub async fn run<X, W>(
    state: &AppState,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    fingerprint: &str,
    work: W,
) -> Result<(HttpResponse, Option<X>), ApiError>
where
    X: Send + 'static,
    W: for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<(Reply, X), ApiError>>
        + Send
        + Sync
        + 'static,
{
    let key_id = caller.key_id;
    if let Some(IdempotencyKey(key)) = &key {
        let (key, fingerprint) = (key.clone(), fingerprint.to_owned());
        let claim = state
            .writer
            .run(move |txn| {
                Box::pin(async move { idempotency::claim(txn, key_id, &key, &fingerprint).await })
            })
            .await?;
        match claim {
            Claim::Proceed => {}
            Claim::Replay(stored) => return Ok((replay(stored), None)),
            Claim::InFlight => {
                return Err(ApiError::Conflict {
                    title: "Request still in progress",
                    detail: "A request with this Idempotency-Key is still being processed; retry once it has finished."
                        .to_owned(),
                });
            }
            Claim::Mismatch => {
                return Err(ApiError::Unprocessable {
                    title: "Idempotency-Key reused",
                    detail: "This Idempotency-Key was already used for a different request; use a new key for a new request."
                        .to_owned(),
                });
            }
        }
    }
    let key = key.map(|IdempotencyKey(k)| k);
    let work = Arc::new(work);
    let mut outcome = Err(ApiError::ConcurrentChange);
    for _ in 0..MAX_ATTEMPTS {
        let work = work.clone();
        let key = key.clone();
        outcome = state
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let (reply, extra) = work(txn).await?;
                    if let Some(key) = &key {
                        idempotency::complete(txn, key_id, key, &reply.stored()).await?;
                    }
                    Ok((reply, extra))
                })
            })
            .await;
        if !matches!(outcome, Err(ApiError::ConcurrentChange)) {
            break;
        }
    }
    if outcome.is_err()
        && let Some(key) = key
    {
        release(state.writer.clone(), key_id, key).await;
    }
    outcome.map(|(reply, extra)| (reply.into_response(), Some(extra)))
}

/// How long a key whose release the storage refused is tried again: as long as it would
/// otherwise stay claimed (`ABANDONED_AFTER`), after which anyone may take it over.
const RELEASE_RETRIES: u32 = 120;

/// Frees the key of a request that failed, so the client's retry with the same key runs
/// instead of answering 409. When the storage refuses that too (the request itself
/// probably failed for the same reason), it is tried again every second in the
/// background, so the key is free soon after the storage is back.
async fn release(writer: Writer, key_id: Uuid, key: String) {
    let attempt = move |writer: Writer, key: String| async move {
        writer
            .run(move |txn| Box::pin(async move { idempotency::release(txn, key_id, &key).await }))
            .await
    };
    match attempt(writer.clone(), key.clone()).await {
        Ok(_) => {}
        Err(e) if fault::classify(&e).is_some() => {
            tokio::spawn(async move {
                for _ in 0..RELEASE_RETRIES {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    match attempt(writer.clone(), key.clone()).await {
                        Err(e) if fault::classify(&e).is_some() => continue,
                        Err(e) => {
                            log::warn!("could not release an idempotency key of key {key_id}: {e}")
                        }
                        Ok(_) => {}
                    }
                    return;
                }
            });
        }
        Err(e) => log::warn!("could not release an idempotency key of key {key_id}: {e}"),
    }
}
