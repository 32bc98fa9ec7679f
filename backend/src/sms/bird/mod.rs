//! Bird's platform API, MessageBird's successor (accounts opened at bird.com have only
//! this one): `POST {base}/v1/sms/messages` with JSON, authorised by `Bearer` and the
//! `bk_{region}_…` key, whose region names the host (`https://{region}.platform.bird.com`)
//! as Bird's own SDK reads it. Every attempt at one text carries the same
//! `Idempotency-Key` (the text's id), so a retry after a lost answer cannot text twice.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::json;

pub mod webhook;

use super::sandbox::Outbox;
use super::{OutgoingSms, Plugin, Provider, ProviderError, Section, SendOutcome, TIMEOUT};
use crate::domain::Secret;
use crate::setting::{ConfigError, Source, parse_http_url};

/// Bird in the provider registry.
pub const PLUGIN: Plugin = Plugin {
    name: "bird",
    keys: &["bird_api_key", "bird_base_url", "bird_webhook_secret"],
    load,
};

/// Bird's settings (`ORDER_NOTIFY_BIRD_*`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub api_key: Option<Secret>,
    /// Where the API is: `ORDER_NOTIFY_BIRD_BASE_URL`, else the key's region's host.
    pub base_url: Option<String>,
    /// The `whsec_…` secret Bird signs its webhooks with (Standard Webhooks).
    pub webhook_secret: Option<Secret>,
}

/// The region a Bird key names: `bk_eu1_…` (or `bm_eu1_…`) → `eu1`.
pub fn region_of(key: &str) -> Option<&str> {
    let rest = key
        .strip_prefix("bk_")
        .or_else(|| key.strip_prefix("bm_"))?;
    let (region, token) = rest.split_once('_')?;
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    (plain(region) && !token.is_empty() && region.chars().all(|c| !c.is_ascii_uppercase()))
        .then_some(region)
}

fn load(source: &dyn Source, chosen: bool) -> Result<Box<dyn Section>, ConfigError> {
    let api_key = source.secret("bird_api_key")?;
    let explicit = source.parsed("bird_base_url", None, |raw| parse_http_url(raw).map(Some))?;
    let webhook_secret = source.parsed("bird_webhook_secret", None, |raw| {
        let encoded = raw
            .strip_prefix("whsec_")
            .ok_or("expected Bird's webhook secret, which starts with whsec_")?;
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "expected whsec_ and base64 after it, as Bird shows the secret")?;
        Ok(Some(Secret::new(raw)))
    })?;
    if chosen && api_key.is_none() {
        return Err(source.required_for("bird_api_key", PLUGIN.name));
    }
    let base_url = match (&explicit, &api_key) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(key)) => match region_of(key.expose()) {
            Some(region) => Some(format!("https://{region}.platform.bird.com")),
            None => {
                return Err(ConfigError::new(
                    source.variable("bird_base_url"),
                    "required: the key in ORDER_NOTIFY_BIRD_API_KEY names no region (keys look like bk_eu1_…), so the API's address must be given",
                ));
            }
        },
        (None, None) => None,
    };
    Ok(Box::new(Settings {
        api_key,
        base_url,
        webhook_secret,
    }))
}

impl Section for Settings {
    fn sender(
        &self,
        _public_url: Option<&str>,
        _outbox: Arc<dyn Outbox>,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        let (Some(api_key), Some(base_url)) = (self.api_key.clone(), self.base_url.as_deref())
        else {
            return Err(ProviderError(
                "bird needs ORDER_NOTIFY_BIRD_API_KEY".to_owned(),
            ));
        };
        let provider = Bird::new(base_url, api_key)
            .map_err(|e| ProviderError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(provider))
    }

    fn warnings(&self) -> Vec<String> {
        match self.webhook_secret {
            Some(_) => Vec::new(),
            None => vec![
                "Bird's events (deliveries, failures, STOP and START) are answered 404 until ORDER_NOTIFY_BIRD_WEBHOOK_SECRET is set: without it nobody could tell Bird from a stranger, so texts stay `sent` and a STOP reaches only Bird's own list".to_owned(),
            ],
        }
    }
}

pub struct Bird {
    client: reqwest::Client,
    base_url: String,
    api_key: Secret,
}

impl Bird {
    pub fn new(base_url: &str, api_key: Secret) -> reqwest::Result<Bird> {
        Ok(Bird {
            client: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }
}

#[derive(Deserialize)]
struct Accepted {
    id: Option<String>,
}

/// Bird's error body: `{"error": {"type", "code", "message", "param", "details"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Bird's own words for a refusal, and what to do about a key from another region.
fn reasons(status: StatusCode, body: &str) -> String {
    if status == StatusCode::MISDIRECTED_REQUEST {
        return "Bird answered 421: the API key belongs to another region than the address it was sent to; use the key's own region (bk_{region}_…) or fix ORDER_NOTIFY_BIRD_BASE_URL".to_owned();
    }
    let described = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .map(|e| {
            let mut text = e.message.unwrap_or_else(|| "no message".to_owned());
            if let Some(param) = e.param {
                text.push_str(&format!(" ({param})"));
            }
            for detail in e.details {
                let message = detail.message.unwrap_or_default();
                match detail.param {
                    Some(param) => text.push_str(&format!("; {param}: {message}")),
                    None => text.push_str(&format!("; {message}")),
                }
            }
            if let Some(code) = e.code {
                text.push_str(&format!(" [{code}]"));
            }
            text
        });
    match described {
        Some(text) => format!("Bird answered {status}: {text}"),
        None => {
            let snippet: String = body.chars().take(200).collect();
            format!("Bird answered {status}: {snippet}")
        }
    }
}

#[async_trait::async_trait]
impl Provider for Bird {
    fn name(&self) -> &'static str {
        PLUGIN.name
    }

    async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        let payload = json!({
            "to": sms.recipient,
            "from": sms.originator,
            "text": sms.body,
            "category": "transactional",
            "metadata": { "notification_id": sms.reference.to_string() },
        });
        let sent = self
            .client
            .post(format!("{}/v1/sms/messages", self.base_url))
            .header(AUTHORIZATION, format!("Bearer {}", self.api_key.expose()))
            .header("Idempotency-Key", sms.reference.to_string())
            .json(&payload)
            .send()
            .await;
        super::outcome_of(
            "Bird",
            sms.reference,
            sent,
            |body| {
                serde_json::from_str::<Accepted>(body)
                    .ok()
                    .and_then(|a| a.id)
            },
            reasons,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_read_from_the_key_as_birds_sdk_reads_it() {
        assert_eq!(region_of("bk_eu1_abcDEF123"), Some("eu1"));
        assert_eq!(region_of("bm_us1_x"), Some("us1"));
        for no_region in [
            "abc",
            "bk_",
            "bk_eu1",
            "bk__token",
            "bk_EU1_token",
            "sk_eu1_x",
        ] {
            assert_eq!(region_of(no_region), None, "{no_region}");
        }
    }

    #[test]
    fn refusals_are_told_in_birds_words_and_a_wrong_region_says_so() {
        let body = r#"{"error":{"type":"validation_error","code":"invalid_parameter","message":"The request is invalid","details":[{"param":"to","message":"must be E.164"}]}}"#;
        assert_eq!(
            reasons(StatusCode::UNPROCESSABLE_ENTITY, body),
            "Bird answered 422 Unprocessable Entity: The request is invalid; to: must be E.164 [invalid_parameter]"
        );
        assert!(reasons(StatusCode::MISDIRECTED_REQUEST, "{}").contains("another region"));
        assert_eq!(
            reasons(StatusCode::BAD_GATEWAY, "<html>oops</html>"),
            "Bird answered 502 Bad Gateway: <html>oops</html>"
        );
    }
}
