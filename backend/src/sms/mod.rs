//! SMS providers behind one small trait. The worker hands a provider one text at a time
//! and records what it answers; a provider never touches notifications itself.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use uuid::Uuid;

pub mod messagebird;
pub mod sandbox;
pub mod twilio;

/// One text to hand to a provider.
#[derive(Clone, Debug)]
pub struct OutgoingSms {
    /// Our notification id; providers that support it get it as their reference, so
    /// status reports find the text again.
    pub reference: Uuid,
    pub recipient: String,
    pub originator: String,
    pub body: String,
    pub encoding: crate::domain::Encoding,
    pub segments: u32,
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took the text; this is its id for it.
    Accepted { provider_message_id: String },
    /// Worth trying again (a timeout, a dropped connection, 5xx, 429), after `after`
    /// when the provider said so.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Refused for good (a bad number, a bad originator): no retry will help.
    Refused { reason: String },
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The name recorded on each notification (`sandbox`, `messagebird`, `twilio`).
    fn name(&self) -> &'static str;
    async fn send(&self, sms: &OutgoingSms) -> SendOutcome;
}

/// How long one request to a provider may take before it counts as failed (and is
/// retried).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `Retry-After` in seconds (the form providers use).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Turns a provider API's answer into an outcome, the same way for every provider:
/// 2xx accepted (with the id `accepted_id` reads from the body), 429 and 5xx retried
/// (after `Retry-After` when given), timeouts and connection errors retried, any other
/// status refused in the provider's words (`describe`).
pub async fn outcome_of(
    provider: &str,
    reference: Uuid,
    sent: reqwest::Result<reqwest::Response>,
    accepted_id: impl Fn(&str) -> Option<String>,
    describe: impl Fn(StatusCode, &str) -> String,
) -> SendOutcome {
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return SendOutcome::Retry {
                reason: format!("{provider} did not answer within {} s", TIMEOUT.as_secs()),
                after: None,
            };
        }
        Err(e) => {
            return SendOutcome::Retry {
                reason: format!("cannot reach {provider}: {e}"),
                after: None,
            };
        }
    };
    let status = response.status();
    let after = retry_after(response.headers());
    let body = match response.text().await {
        Ok(body) => body,
        Err(e) if status.is_success() => {
            // It was accepted; only the answer got lost. Sending again would text the
            // customer twice.
            log::warn!("{provider} accepted text {reference} but its answer was unreadable: {e}");
            String::new()
        }
        Err(e) => {
            return SendOutcome::Retry {
                reason: format!("{provider}'s answer ({status}) was cut off: {e}"),
                after: None,
            };
        }
    };
    if status.is_success() {
        return SendOutcome::Accepted {
            provider_message_id: accepted_id(&body).unwrap_or_default(),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return SendOutcome::Retry {
            reason: describe(status, &body),
            after,
        };
    }
    SendOutcome::Refused {
        reason: describe(status, &body),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("ORDER_NOTIFY_SMS_PROVIDER: {0}")]
pub struct ProviderError(pub(crate) String);

/// Which provider sends the texts (`ORDER_NOTIFY_SMS_PROVIDER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsProviderKind {
    Sandbox,
    MessageBird,
    Twilio,
}

impl SmsProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProviderKind::Sandbox => "sandbox",
            SmsProviderKind::MessageBird => "messagebird",
            SmsProviderKind::Twilio => "twilio",
        }
    }
}

/// The provider `kind` names, built from its settings; the sandbox keeps its texts in
/// `sandbox_outbox`. `public_url` is where a provider is told to send its callbacks.
pub fn provider_for(
    kind: SmsProviderKind,
    messagebird: &messagebird::Settings,
    twilio: &twilio::Settings,
    public_url: Option<&str>,
    sandbox_outbox: Arc<dyn sandbox::Outbox>,
) -> Result<Arc<dyn Provider>, ProviderError> {
    match kind {
        SmsProviderKind::Sandbox => Ok(Arc::new(sandbox::SandboxProvider::new(sandbox_outbox))),
        SmsProviderKind::MessageBird => messagebird.sender(public_url),
        SmsProviderKind::Twilio => twilio.sender(public_url),
    }
}
