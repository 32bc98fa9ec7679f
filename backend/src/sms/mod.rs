//! SMS providers behind one small trait. The worker hands a provider one text at a time
//! and records what it answers; a provider never touches notifications itself.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use uuid::Uuid;

use crate::setting::{ConfigError, Source, one_of};

pub mod bird;
pub mod failover;
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
    /// The name recorded on each notification (`sandbox`, `messagebird`, `twilio`, `bird`).
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
/// 2xx accepted (with the id `accepted_id` reads from the body), 408, 429 and 5xx retried
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
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
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

/// Every provider this build can send through. A new provider is its module (its
/// settings section, its sender, how its callbacks are verified and read), one line
/// here, and its callbacks' routes at the HTTP edge.
pub const PLUGINS: &[&Plugin] = &[
    &sandbox::PLUGIN,
    &messagebird::PLUGIN,
    &twilio::PLUGIN,
    &bird::PLUGIN,
];

/// The provider used when `ORDER_NOTIFY_SMS_PROVIDER` is not set.
pub const DEFAULT_PROVIDER: &str = sandbox::PLUGIN.name;

/// What a provider brings to the registry.
pub struct Plugin {
    /// Its name in `ORDER_NOTIFY_SMS_PROVIDER` and on each text it sends.
    pub name: &'static str,
    /// Its settings' keys (the variables without `ORDER_NOTIFY_`, in lower case), so a
    /// settings file may hold them.
    pub keys: &'static [&'static str],
    /// Reads and checks its section. When it is `chosen` to send, a credential it cannot
    /// send without is required (the error names the variable).
    pub load: LoadSection,
}

/// Reads a provider's section from `source`; `chosen` says it is the one that sends.
pub type LoadSection =
    fn(source: &dyn Source, chosen: bool) -> Result<Box<dyn Section>, ConfigError>;

/// A provider's settings, loaded: what builds its sender. Its own type is reached with
/// [`Providers::section`] (the edge reads a signing key from it, say).
pub trait Section: Any + Debug + Send + Sync {
    /// The sender these settings describe. Its callbacks come to `public_url`; the
    /// sandbox keeps what it "sends" in `outbox`.
    fn sender(
        &self,
        public_url: Option<&str>,
        outbox: Arc<dyn sandbox::Outbox>,
    ) -> Result<Arc<dyn Provider>, ProviderError>;

    /// What an operator should hear at start when this provider sends the texts.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// The setting (its key, e.g. `twilio_auth_token`) that verifies this provider's
    /// callbacks, when it is set. A signature covers the URL the provider called, so
    /// such a setting needs `ORDER_NOTIFY_PUBLIC_URL` beside it.
    fn callback_secret(&self) -> Option<&'static str> {
        None
    }
}

/// Every registered provider's settings, and which ones send the texts, in priority
/// order (`ORDER_NOTIFY_SMS_PROVIDER=bird,twilio`).
#[derive(Clone, Debug)]
pub struct Providers {
    chosen: Vec<&'static str>,
    sections: Vec<(&'static str, Arc<dyn Section>)>,
}

/// Reads `ORDER_NOTIFY_SMS_PROVIDER`: one provider's name, or several separated by
/// commas, each once, first the one tried first.
fn parse_priority(raw: &str) -> Result<Vec<&'static str>, String> {
    let names: Vec<&str> = PLUGINS.iter().map(|p| p.name).collect();
    let mut chosen = Vec::new();
    for part in raw.split(',').map(str::trim) {
        let name = PLUGINS
            .iter()
            .map(|p| p.name)
            .find(|name| name.eq_ignore_ascii_case(part))
            .ok_or_else(|| {
                if part.is_empty() {
                    format!(
                        "expected {} (several separated by commas), got {raw:?}",
                        one_of(&names)
                    )
                } else {
                    format!("expected {}, got {part:?}", one_of(&names))
                }
            })?;
        if chosen.contains(&name) {
            return Err(format!("{name} is listed twice in {raw:?}"));
        }
        chosen.push(name);
    }
    Ok(chosen)
}

impl Providers {
    /// Reads `ORDER_NOTIFY_SMS_PROVIDER` and every provider's section from `source`.
    pub fn load(source: &dyn Source) -> Result<Providers, ConfigError> {
        let chosen = source.parsed("sms_provider", vec![DEFAULT_PROVIDER], parse_priority)?;
        let mut sections = Vec::with_capacity(PLUGINS.len());
        for plugin in PLUGINS {
            let section = (plugin.load)(source, chosen.contains(&plugin.name))?;
            sections.push((plugin.name, Arc::from(section)));
        }
        Ok(Providers { chosen, sections })
    }

    /// Every key any provider's section may hold.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        PLUGINS.iter().flat_map(|p| p.keys.iter().copied())
    }

    /// The provider tried first: the one a new text is recorded with.
    pub fn chosen(&self) -> &'static str {
        self.chosen[0]
    }

    /// The providers that send, in the order they are tried.
    pub fn priority(&self) -> &[&'static str] {
        &self.chosen
    }

    /// The loaded section of type `T` (each provider's own settings type).
    pub fn section<T: Section>(&self) -> Option<&T> {
        self.sections
            .iter()
            .find_map(|(_, section)| (section.as_ref() as &dyn Any).downcast_ref::<T>())
    }

    /// The section of type `T` when its provider is one that sends: only those
    /// providers' callbacks are answered (another's are 404, whatever is set for it).
    pub fn answering<T: Section>(&self) -> Option<&T> {
        self.chosen_sections()
            .find_map(|section| (section as &dyn Any).downcast_ref::<T>())
    }

    /// The keys of the settings that verify callbacks and are set, for any provider.
    pub fn callback_secrets(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sections
            .iter()
            .filter_map(|(_, section)| section.callback_secret())
    }

    /// The sections of the providers that send, in priority order.
    fn chosen_sections(&self) -> impl Iterator<Item = &dyn Section> + '_ {
        self.chosen.iter().map(|name| {
            self.sections
                .iter()
                .find(|(registered, _)| registered == name)
                .map(|(_, section)| section.as_ref())
                .expect("every registered provider has its section loaded")
        })
    }

    /// The senders of the providers that send, in priority order, behind their
    /// breakers (see [`Section::sender`] and [`failover`]).
    pub fn sender(
        &self,
        public_url: Option<&str>,
        outbox: Arc<dyn sandbox::Outbox>,
        breaker: failover::BreakerSettings,
    ) -> Result<failover::Failover, ProviderError> {
        let senders = self
            .chosen_sections()
            .map(|section| section.sender(public_url, outbox.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(failover::Failover::new(senders, breaker))
    }

    /// What an operator should hear at start about the sending providers' settings.
    pub fn warnings(&self) -> Vec<String> {
        self.chosen_sections()
            .flat_map(|section| section.warnings())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Settings as the environment would hold them.
    struct Env(HashMap<String, String>);

    impl Env {
        fn of(pairs: &[(&str, &str)]) -> Env {
            Env(pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect())
        }
    }

    impl Source for Env {
        fn get(&self, key: &str) -> Option<(String, String)> {
            let var = self.variable(key);
            self.0.get(&var).map(|value| (var, value.clone()))
        }

        fn variable(&self, key: &str) -> String {
            format!("ORDER_NOTIFY_{}", key.to_uppercase())
        }
    }

    struct NoOutbox;

    #[async_trait::async_trait]
    impl sandbox::Outbox for NoOutbox {
        async fn keep(&self, _: crate::domain::SandboxMessage) -> Result<(), String> {
            Err("not in this test".to_owned())
        }
    }

    const CREDENTIALS: &[(&str, &str)] = &[
        ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "live_key"),
        (
            "ORDER_NOTIFY_TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        ),
        ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", "token"),
        ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_token"),
    ];

    #[test]
    fn each_provider_has_its_own_name_and_keys() {
        let mut names: Vec<&str> = PLUGINS.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PLUGINS.len(), "a name is registered twice");
        assert!(names.contains(&DEFAULT_PROVIDER));
        for plugin in PLUGINS {
            for key in plugin.keys {
                assert!(
                    key.starts_with(&format!("{}_", plugin.name)),
                    "{key} is not in {}'s section",
                    plugin.name
                );
            }
        }
    }

    #[test]
    fn only_the_chosen_provider_needs_its_credentials() {
        let empty = Env::of(&[]);
        for plugin in PLUGINS {
            assert!((plugin.load)(&empty, false).is_ok(), "{}", plugin.name);
            if let Err(e) = (plugin.load)(&empty, true) {
                assert!(
                    plugin.keys.iter().any(|k| empty.variable(k) == e.name),
                    "{} blames {}, not one of its own settings",
                    plugin.name,
                    e.name
                );
                assert_eq!(
                    e.message,
                    format!("required when ORDER_NOTIFY_SMS_PROVIDER is {}", plugin.name)
                );
            }
        }
    }

    #[test]
    fn the_chosen_provider_sends_under_its_name() {
        for plugin in PLUGINS {
            let mut pairs = CREDENTIALS.to_vec();
            let upper = plugin.name.to_uppercase();
            pairs.push(("ORDER_NOTIFY_SMS_PROVIDER", &upper));
            let providers = Providers::load(&Env::of(&pairs)).unwrap();
            assert_eq!(providers.chosen(), plugin.name);
            let sender = providers
                .sender(None, Arc::new(NoOutbox), Default::default())
                .unwrap();
            assert_eq!(sender.names(), vec![plugin.name]);
        }
        let providers = Providers::load(&Env::of(CREDENTIALS)).unwrap();
        assert_eq!(providers.chosen(), DEFAULT_PROVIDER);
        let twilio = providers.section::<twilio::Settings>().unwrap();
        assert_eq!(twilio.auth_token.as_ref().unwrap().expose(), "token");
    }

    #[test]
    fn birds_address_comes_from_the_keys_region_unless_given() {
        let bird = |pairs: &[(&str, &str)]| {
            let mut pairs = pairs.to_vec();
            pairs.push(("ORDER_NOTIFY_SMS_PROVIDER", "bird"));
            Providers::load(&Env::of(&pairs))
        };
        let from_key = bird(&[("ORDER_NOTIFY_BIRD_API_KEY", "bk_us1_token")]).unwrap();
        let section = from_key.section::<bird::Settings>().unwrap();
        assert_eq!(
            section.base_url.as_deref(),
            Some("https://us1.platform.bird.com")
        );
        let given = bird(&[
            ("ORDER_NOTIFY_BIRD_API_KEY", "legacy-token"),
            ("ORDER_NOTIFY_BIRD_BASE_URL", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        let section = given.section::<bird::Settings>().unwrap();
        assert_eq!(section.base_url.as_deref(), Some("http://127.0.0.1:9"));
        let error = bird(&[("ORDER_NOTIFY_BIRD_API_KEY", "legacy-token")]).unwrap_err();
        assert_eq!(error.name, "ORDER_NOTIFY_BIRD_BASE_URL");
        assert!(
            error.message.contains("names no region"),
            "{}",
            error.message
        );
        let error = bird(&[
            ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_token"),
            ("ORDER_NOTIFY_BIRD_WEBHOOK_SECRET", "not-a-secret"),
        ])
        .unwrap_err();
        assert_eq!(error.name, "ORDER_NOTIFY_BIRD_WEBHOOK_SECRET");
        let secret = bird(&[
            ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_token"),
            (
                "ORDER_NOTIFY_BIRD_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ]);
        assert!(secret.is_ok());
    }

    #[test]
    fn an_unknown_provider_is_refused_with_the_choices() {
        let error =
            Providers::load(&Env::of(&[("ORDER_NOTIFY_SMS_PROVIDER", "pigeon")])).unwrap_err();
        assert_eq!(error.name, "ORDER_NOTIFY_SMS_PROVIDER");
        assert_eq!(
            error.message,
            "expected sandbox, messagebird, twilio or bird, got \"pigeon\""
        );
    }

    #[test]
    fn a_priority_list_needs_each_providers_credentials_and_answers_each_ones_callbacks() {
        let load = |pairs: &[(&str, &str)]| Providers::load(&Env::of(pairs));
        let listed = load(&[
            ("ORDER_NOTIFY_SMS_PROVIDER", " Bird , twilio"),
            ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_token"),
            (
                "ORDER_NOTIFY_TWILIO_ACCOUNT_SID",
                "AC0123456789abcdef0123456789abcdef",
            ),
            ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", "token"),
        ])
        .unwrap();
        assert_eq!(listed.priority(), ["bird", "twilio"]);
        assert_eq!(listed.chosen(), "bird");
        assert!(listed.answering::<bird::Settings>().is_some());
        assert!(listed.answering::<twilio::Settings>().is_some());
        assert!(listed.answering::<messagebird::Settings>().is_none());
        let sender = listed
            .sender(None, Arc::new(NoOutbox), Default::default())
            .unwrap();
        assert_eq!(sender.names(), vec!["bird", "twilio"]);

        let missing = load(&[
            ("ORDER_NOTIFY_SMS_PROVIDER", "bird,twilio"),
            ("ORDER_NOTIFY_BIRD_API_KEY", "bk_eu1_token"),
        ])
        .unwrap_err();
        assert_eq!(missing.name, "ORDER_NOTIFY_TWILIO_ACCOUNT_SID");
        let twice = load(&[("ORDER_NOTIFY_SMS_PROVIDER", "sandbox,SANDBOX")]).unwrap_err();
        assert_eq!(
            twice.message,
            "sandbox is listed twice in \"sandbox,SANDBOX\""
        );
        let gap = load(&[("ORDER_NOTIFY_SMS_PROVIDER", "sandbox,,twilio")]).unwrap_err();
        assert!(
            gap.message.contains("several separated by commas"),
            "{}",
            gap.message
        );
    }
}
