//! MessageBird's REST SMS API: `POST {base}/messages` with JSON, authorised by
//! `AccessKey`. Our notification id travels as `reference`, so status reports find the
//! text again; `reportUrl` tells MessageBird where to send them.

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::json;

pub mod webhook;

use std::sync::Arc;

use super::sandbox::Outbox;
use super::{OutgoingSms, Plugin, Provider, ProviderError, Section, SendOutcome, TIMEOUT};
use crate::domain::Encoding;
use crate::domain::Secret;
use crate::setting::{ConfigError, Source};

/// MessageBird in the provider registry.
pub const PLUGIN: Plugin = Plugin {
    name: "messagebird",
    keys: &[
        "messagebird_access_key",
        "messagebird_base_url",
        "messagebird_signing_key",
    ],
    load,
};

/// MessageBird's settings (`ORDER_NOTIFY_MESSAGEBIRD_*`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub access_key: Option<Secret>,
    pub base_url: String,
    pub signing_key: Option<Secret>,
}

fn load(source: &dyn Source, chosen: bool) -> Result<Box<dyn Section>, ConfigError> {
    let settings = Settings {
        access_key: source.secret("messagebird_access_key")?,
        base_url: source.http_url("messagebird_base_url", "https://rest.messagebird.com")?,
        signing_key: source.secret("messagebird_signing_key")?,
    };
    if chosen && settings.access_key.is_none() {
        return Err(source.required_for("messagebird_access_key", PLUGIN.name));
    }
    Ok(Box::new(settings))
}

impl Section for Settings {
    fn sender(
        &self,
        public_url: Option<&str>,
        _outbox: Arc<dyn Outbox>,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        let access_key = self.access_key.clone().ok_or_else(|| {
            ProviderError("messagebird needs ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY".to_owned())
        })?;
        let provider = MessageBird::new(&self.base_url, access_key, public_url)
            .map_err(|e| ProviderError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(provider))
    }

    fn warnings(&self) -> Vec<String> {
        match self.signing_key {
            Some(_) => Vec::new(),
            None => vec![
                "MessageBird's callbacks (delivery reports, STOP and START) are answered 404 until ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY is set: without it nobody could tell MessageBird from a stranger".to_owned(),
            ],
        }
    }

    fn callback_secret(&self) -> Option<&'static str> {
        self.signing_key.as_ref().map(|_| "messagebird_signing_key")
    }
}

pub struct MessageBird {
    client: reqwest::Client,
    base_url: String,
    access_key: Secret,
    report_url: Option<String>,
}

#[derive(Deserialize)]
struct Accepted {
    id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameter: Option<String>,
}

impl MessageBird {
    /// `public_url` is where MessageBird can reach this service for status reports.
    pub fn new(
        base_url: &str,
        access_key: Secret,
        public_url: Option<&str>,
    ) -> reqwest::Result<MessageBird> {
        Ok(MessageBird {
            client: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_key,
            report_url: public_url.map(|url| format!("{url}/webhooks/messagebird")),
        })
    }
}

/// MessageBird's own words for a refusal: each error's description (and parameter).
fn reasons(status: StatusCode, body: &str) -> String {
    let described: Vec<String> = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let mut text = e.description.unwrap_or_else(|| "no description".to_owned());
            if let Some(parameter) = e.parameter {
                text.push_str(&format!(" ({parameter})"));
            }
            if let Some(code) = e.code {
                text.push_str(&format!(" [code {code}]"));
            }
            text
        })
        .collect();
    if described.is_empty() {
        let snippet: String = body.chars().take(200).collect();
        format!("MessageBird answered {status}: {snippet}")
    } else {
        format!("MessageBird answered {status}: {}", described.join("; "))
    }
}

#[async_trait::async_trait]
impl Provider for MessageBird {
    fn name(&self) -> &'static str {
        PLUGIN.name
    }

    async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        let mut payload = json!({
            "originator": sms.originator,
            "recipients": [sms.recipient.trim_start_matches('+')],
            "body": sms.body,
            "reference": sms.reference.to_string(),
            "datacoding": match sms.encoding {
                Encoding::Gsm7 => "plain",
                Encoding::Ucs2 => "unicode",
            },
        });
        if let Some(report_url) = &self.report_url {
            payload["reportUrl"] = json!(report_url);
        }
        let sent = self
            .client
            .post(format!("{}/messages", self.base_url))
            .header(
                AUTHORIZATION,
                format!("AccessKey {}", self.access_key.expose()),
            )
            .json(&payload)
            .send()
            .await;
        super::outcome_of(
            "MessageBird",
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
    fn refusals_are_told_in_messagebirds_words() {
        let body = r#"{"errors":[{"code":9,"description":"no (correct) recipients found","parameter":"recipients"}]}"#;
        assert_eq!(
            reasons(StatusCode::UNPROCESSABLE_ENTITY, body),
            "MessageBird answered 422 Unprocessable Entity: no (correct) recipients found (recipients) [code 9]"
        );
        assert_eq!(
            reasons(StatusCode::BAD_GATEWAY, "<html>oops</html>"),
            "MessageBird answered 502 Bad Gateway: <html>oops</html>"
        );
    }
}
