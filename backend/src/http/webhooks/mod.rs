//! Provider callbacks: status reports and inbound texts. They carry no API key; each
//! must carry the provider's signature instead, so they are answered only for the
//! providers that send the texts and only when their secret is set (404 otherwise).
//! Unknown references are answered 200 (and logged), so a provider never retries them.

pub mod bird;
pub mod messagebird;
pub mod twilio;

use std::collections::HashMap;

use actix_web::HttpRequest;

use super::body::RawBody;
use super::problem::ApiError;
use crate::domain::{Reply, Report, Secret};
use crate::service::Services;

/// The call's parameters: the query string, then a form or JSON body over it.
pub fn parameters(req: &HttpRequest, body: &RawBody) -> Result<HashMap<String, String>, ApiError> {
    let mut params: HashMap<String, String> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("The query string is not valid: {e}.")))?;
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(body.bytes())
            .map_err(|e| ApiError::BadRequest(format!("The form body is not valid: {e}.")))?;
        params.extend(form);
    } else {
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body.bytes())
            .map_err(|e| {
                ApiError::MalformedJson(format!(
                    "The body is neither a form nor a JSON object: {e}."
                ))
            })?;
        for (key, value) in json {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            params.insert(key, text);
        }
    }
    Ok(params)
}

/// The call's field `name`, unless it is missing or empty.
pub fn field<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Applies the status report a provider read from its call (`sms::*::webhook`): one it
/// could not read is 400, one about a status that changes nothing is passed over, and
/// one about a text we do not know is logged and acknowledged all the same.
pub async fn apply_report(
    services: &Services,
    provider: &str,
    read: Result<Option<Report>, &'static str>,
) -> Result<(), ApiError> {
    let Some(report) = read.map_err(|missing| ApiError::BadRequest(missing.to_owned()))? else {
        return Ok(());
    };
    let (reference, id) = (report.reference, report.provider_message_id.clone());
    if !services.apply_delivery_report(report).await? {
        log::warn!(
            "{provider} reported on a text we do not know (reference {reference:?}, id {id:?})"
        );
    }
    Ok(())
}

/// The URL the provider called, as it saw it: the public URL and the path and query
/// called. Never `Host` or `X-Forwarded-*`, which the caller chooses.
pub fn called_url(req: &HttpRequest, public_url: &str) -> String {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{public_url}{path_and_query}")
}

/// The public URL signed calls are checked against, and the provider's secret: both
/// or a 404 naming what is missing (start-up refuses a secret without a public URL).
pub fn signed_by<'a>(
    public_url: Option<&'a str>,
    secret: Option<&'a Secret>,
    missing: &str,
) -> Result<(&'a str, &'a Secret), ApiError> {
    match (public_url, secret) {
        (Some(url), Some(secret)) => Ok((url, secret)),
        _ => Err(ApiError::NotFound(missing.to_owned())),
    }
}

/// An inbound text's sender (from `sender_field`) and words (from the first present of
/// `text_fields`), as the use case takes it.
pub fn reply(
    params: &HashMap<String, String>,
    sender_field: &str,
    text_fields: &[&str],
    via: &'static str,
) -> Result<Reply, ApiError> {
    let Some(sender) = params.get(sender_field) else {
        return Err(ApiError::BadRequest(format!(
            "An inbound text needs {sender_field}."
        )));
    };
    let text = text_fields
        .iter()
        .find_map(|f| params.get(*f))
        .cloned()
        .unwrap_or_default();
    Ok(Reply {
        sender: sender.clone(),
        text,
        via,
    })
}
