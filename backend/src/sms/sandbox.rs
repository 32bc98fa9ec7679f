//! The default provider: it "sends" by storing the text, shown at
//! `GET /sandbox/messages`, so the product works end to end without an SMS account.
//! North American numbers 555-0100 to 555-0199 (kept for fiction: no handset has them,
//! +1 202 555 0123 say) are refused, so a failed text and its "Retry" can be seen
//! without a provider.

use std::sync::Arc;

use uuid::Uuid;

use super::{OutgoingSms, Plugin, Provider, ProviderError, Section, SendOutcome};
use crate::domain::SandboxMessage;
use crate::setting::{ConfigError, Source};

/// The sandbox in the provider registry: it has no settings of its own.
pub const PLUGIN: Plugin = Plugin {
    name: "sandbox",
    keys: &[],
    load,
};

/// The sandbox's (empty) settings section.
#[derive(Clone, Debug)]
pub struct Settings;

fn load(_source: &dyn Source, _chosen: bool) -> Result<Box<dyn Section>, ConfigError> {
    Ok(Box::new(Settings))
}

impl Section for Settings {
    fn sender(
        &self,
        _public_url: Option<&str>,
        outbox: Arc<dyn Outbox>,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(Arc::new(SandboxProvider::new(outbox)))
    }
}

/// Where the sandbox keeps what it "sends" (the use cases, in the service: through the
/// writer, into the database).
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    async fn keep(&self, message: SandboxMessage) -> Result<(), String>;
}

pub struct SandboxProvider {
    outbox: Arc<dyn Outbox>,
}

impl SandboxProvider {
    /// A sandbox that keeps what it "sends" in `outbox`.
    pub fn new(outbox: Arc<dyn Outbox>) -> Self {
        SandboxProvider { outbox }
    }
}

#[async_trait::async_trait]
impl Provider for SandboxProvider {
    fn name(&self) -> &'static str {
        PLUGIN.name
    }

    async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        if is_fictional(&sms.recipient) {
            return SendOutcome::Refused {
                reason: format!(
                    "{} is in the range reserved for fiction (555-0100 to 555-0199); the sandbox refuses it",
                    sms.recipient
                ),
            };
        }
        let id = Uuid::now_v7();
        let message = SandboxMessage {
            id,
            notification_id: sms.reference,
            recipient: sms.recipient.clone(),
            originator: sms.originator.clone(),
            body: sms.body.clone(),
            encoding: sms.encoding.as_str().to_owned(),
            segments: i32::try_from(sms.segments).unwrap_or(i32::MAX),
            // At the precision both databases keep (microseconds), as `store::now`.
            created_at: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6),
        };
        let stored = self.outbox.keep(message).await;
        match stored {
            Ok(_) => SendOutcome::Accepted {
                provider_message_id: format!("sandbox-{id}"),
            },
            Err(e) => SendOutcome::Retry {
                reason: format!("the sandbox could not store the text: {e}"),
                after: None,
            },
        }
    }
}

/// NANPA keeps 555-0100 to 555-0199 in every area code for films and books.
fn is_fictional(recipient: &str) -> bool {
    let Some(national) = recipient.strip_prefix("+1") else {
        return false;
    };
    national.len() == 10
        && national.bytes().all(|b| b.is_ascii_digit())
        && &national[3..8] == "55501"
}

#[cfg(test)]
mod tests {
    use super::is_fictional;

    #[test]
    fn only_555_01xx_is_fictional() {
        assert!(is_fictional("+12025550123"));
        assert!(is_fictional("+14155550199"));
        assert!(!is_fictional("+14155550200"));
        assert!(!is_fictional("+14155551234"));
        assert!(!is_fictional("+120255501234"));
        assert!(!is_fictional("+31612345678"));
    }
}
