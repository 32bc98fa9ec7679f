//! Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` as a
//! form, with basic auth (account SID and auth token). Twilio's message SID is what its
//! status callbacks carry, so that is how they find the text again.

use reqwest::StatusCode;
use serde::Deserialize;

pub mod webhook;

use std::sync::Arc;

use super::sandbox::Outbox;
use super::{OutgoingSms, Plugin, Provider, ProviderError, Section, SendOutcome, TIMEOUT};
use crate::domain::Secret;
use crate::setting::{ConfigError, Source};

/// Twilio in the provider registry.
pub const PLUGIN: Plugin = Plugin {
    name: "twilio",
    keys: &[
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_base_url",
        "twilio_webhook_key",
    ],
    load,
};

/// Twilio's settings (`ORDER_NOTIFY_TWILIO_*`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub base_url: String,
    /// The shared key Twilio signs webhooks with when they carry
    /// `X-Twilio-Webhooks-Signature-Settings` (`ORDER_NOTIFY_TWILIO_WEBHOOK_KEY`).
    pub webhook_key: Option<Secret>,
}

fn load(source: &dyn Source, chosen: bool) -> Result<Box<dyn Section>, ConfigError> {
    let settings = Settings {
        account_sid: source.parsed("twilio_account_sid", None, |raw| {
            if raw.starts_with("AC")
                && raw.len() == 34
                && raw.chars().all(|c| c.is_ascii_alphanumeric())
            {
                Ok(Some(raw.to_owned()))
            } else {
                Err(format!(
                    "expected a Twilio account SID (AC followed by 32 characters), got {raw:?}"
                ))
            }
        })?,
        auth_token: source.secret("twilio_auth_token")?,
        base_url: source.http_url("twilio_base_url", "https://api.twilio.com")?,
        webhook_key: source.secret("twilio_webhook_key")?,
    };
    if chosen && settings.account_sid.is_none() {
        return Err(source.required_for("twilio_account_sid", PLUGIN.name));
    }
    if chosen && settings.auth_token.is_none() {
        return Err(source.required_for("twilio_auth_token", PLUGIN.name));
    }
    Ok(Box::new(settings))
}

impl Section for Settings {
    fn sender(
        &self,
        public_url: Option<&str>,
        _outbox: Arc<dyn Outbox>,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        let (Some(sid), Some(token)) = (&self.account_sid, &self.auth_token) else {
            return Err(ProviderError(
                "twilio needs ORDER_NOTIFY_TWILIO_ACCOUNT_SID and ORDER_NOTIFY_TWILIO_AUTH_TOKEN"
                    .to_owned(),
            ));
        };
        let provider = Twilio::new(&self.base_url, sid, token.clone(), public_url)
            .map_err(|e| ProviderError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(provider))
    }

    fn callback_secret(&self) -> Option<&'static str> {
        self.auth_token.as_ref().map(|_| "twilio_auth_token")
    }
}

pub struct Twilio {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: Secret,
    status_callback: Option<String>,
}

#[derive(Deserialize)]
struct Accepted {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct Refusal {
    code: Option<i64>,
    message: Option<String>,
}

impl Twilio {
    pub fn new(
        base_url: &str,
        account_sid: &str,
        auth_token: Secret,
        public_url: Option<&str>,
    ) -> reqwest::Result<Twilio> {
        Ok(Twilio {
            client: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            messages_url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                base_url.trim_end_matches('/')
            ),
            account_sid: account_sid.to_owned(),
            auth_token,
            status_callback: public_url.map(|url| format!("{url}/webhooks/twilio/status")),
        })
    }
}

fn reason(status: StatusCode, body: &str) -> String {
    match serde_json::from_str::<Refusal>(body) {
        Ok(Refusal {
            message: Some(message),
            code,
        }) => match code {
            Some(code) => format!("Twilio answered {status}: {message} [code {code}]"),
            None => format!("Twilio answered {status}: {message}"),
        },
        _ => format!(
            "Twilio answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ),
    }
}

#[async_trait::async_trait]
impl Provider for Twilio {
    fn name(&self) -> &'static str {
        PLUGIN.name
    }

    async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        let mut form = vec![
            ("To", sms.recipient.as_str()),
            ("From", sms.originator.as_str()),
            ("Body", sms.body.as_str()),
        ];
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        let sent = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await;
        super::outcome_of(
            "Twilio",
            sms.reference,
            sent,
            |body| {
                serde_json::from_str::<Accepted>(body)
                    .ok()
                    .and_then(|a| a.sid)
            },
            reason,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_in_twilios_words() {
        let body = r#"{"code": 21211, "message": "The 'To' number 123 is not a valid phone number.", "status": 400}"#;
        assert_eq!(
            reason(StatusCode::BAD_REQUEST, body),
            "Twilio answered 400 Bad Request: The 'To' number 123 is not a valid phone number. [code 21211]"
        );
    }
}
