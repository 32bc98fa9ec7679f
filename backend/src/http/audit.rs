//! `GET /audit` (admin): who created or revoked a key, changed a status's text, or let
//! a number that texted STOP receive texts again, and when. Newest first, paged.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::problem::ApiError;
use super::query::{QueryParser, next_cursor};
use crate::domain::{AuditAction, AuditEntry as Entry};
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// Where the entry stands in the trail; later entries have larger ids.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The key's name, or `customer (START via twilio)` for a customer's START.
    #[schema(example = "Owner")]
    pub actor: String,
    /// The key that acted; `null` when no key did (a customer's START).
    pub key_id: Option<Uuid>,
    #[schema(value_type = String, example = "key.created")]
    pub action: String,
    /// What it was done to: a key's id (`key.*`), a status (`template.saved`), a phone
    /// number (`opt_out.lifted`).
    pub subject: String,
    /// What else there is to know: the new key's name and role, the text saved, how an
    /// opt-out was lifted.
    pub detail: Option<String>,
}

impl From<Entry> for AuditEntry {
    fn from(e: Entry) -> Self {
        AuditEntry {
            id: e.seq,
            at: e.at,
            actor: e.actor,
            key_id: e.key_id,
            action: e.action.as_str().to_owned(),
            subject: e.subject,
            detail: e.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only these actions, comma-separated (`key.created,key.revoked`).
    #[param(
        pattern = "^ *((key\\.created|key\\.revoked|template\\.saved|opt_out\\.lifted) *)?(, *((key\\.created|key\\.revoked|template\\.saved|opt_out\\.lifted) *)?)*$"
    )]
    pub action: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// The audit trail: key creation and revocation, template changes, opt-out removals.
#[utoipa::path(
    get, path = "/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Newest first", body = AuditPage),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 403, response = super::problem::Forbidden),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn list_audit(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let mut query = QueryParser::default();
    let actions: Vec<AuditAction> = query.list("action", params.action.as_deref());
    let page = query.page(params.limit.as_deref(), params.cursor.as_deref());
    query.finish()?;
    let (entries, next) = state.services.audit_trail(&actions, page).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: entries.into_iter().map(AuditEntry::from).collect(),
        next_cursor: next_cursor(next),
    }))
}
