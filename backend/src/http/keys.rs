//! `/keys` (admin only): create a key (its secret shown once), list keys, revoke one.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::body::RawBody;
use super::problem::ApiError;
use crate::domain::{ApiKey, Role, parse_key_name};
use crate::http::AppState;
use crate::service::KeySource;

/// A key without its secret.
#[derive(Serialize, ToSchema)]
pub struct Key {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, to tell keys apart.
    #[schema(example = "onk_3fQx")]
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for Key {
    fn from(key: ApiKey) -> Self {
        Key {
            id: key.id,
            name: key.name,
            role: key.role,
            prefix: key.prefix,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<Key>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// One line of text, 1 to 100 characters.
    #[schema(
        example = "Front counter tablet",
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    pub role: Role,
}

/// A new key with its secret: the only response that ever contains it.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The secret, for `Authorization: Bearer …`. It cannot be shown again.
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// List active keys.
#[utoipa::path(
    get, path = "/keys", tag = "keys",
    responses(
        (status = 200, description = "Active keys, oldest first, without secrets", body = KeyList),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let keys = state.services.keys().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        items: keys.into_iter().map(Key::from).collect(),
    }))
}

/// Create a key. The response holds its secret, once.
#[utoipa::path(
    post, path = "/keys", tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `key` is the secret", body = CreatedKey,
            headers(("Location" = String, description = "The new key's URL"))),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let request = body.parse::<CreateKey>()?.value;
    let name = parse_key_name(&request.name).map_err(|e| ApiError::Validation(vec![e]))?;
    let (key, secret) = state
        .services
        .create_key(&caller.actor(), name, request.role, KeySource::Api)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/keys/{}", key.id)))
        .json(CreatedKey {
            id: key.id,
            name: key.name,
            role: key.role,
            key: secret,
            created_at: key.created_at,
        }))
}

/// Revoke a key. Requests with it fail with 401 from then on.
#[utoipa::path(
    delete, path = "/keys/{id}", tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.services.revoke_key(&caller.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}
