//! The webhook dispatcher: claims due deliveries with a lease (as the worker claims
//! texts), signs each by Standard Webhooks (the endpoint's secret, a fresh
//! `webhook-timestamp`, the `webhook-id` every attempt shares), POSTs it, and records
//! the answer. A 2xx within 10 s delivers it; anything else (another status, a
//! redirect, which is never followed, a timeout, an address refused by
//! `outbound`) is retried later by `domain::next_webhook_attempt`, for 24 hours.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use standardwebhooks::Webhook;
use tokio::sync::{Notify, Semaphore, watch};
use uuid::Uuid;

use super::worker::DRAIN_LIMIT;
use crate::config::Settings;
use crate::domain::{DueWebhook, EndpointUrl, WebhookAttempt, message_id, next_webhook_attempt};
use crate::outbound::{self, GuardedResolver};
use crate::service::Services;

/// How long an endpoint has to answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long a claimed delivery stays ours: well past one attempt.
const LEASE: Duration = Duration::from_secs(60);
/// How many deliveries are in flight at once, and the most one claim takes.
const IN_FLIGHT: usize = 16;
/// How often an idle dispatcher looks for deliveries nobody told it about.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    services: Services,
    client: reqwest::Client,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    id: String,
}

impl Dispatcher {
    pub fn new(services: Services, settings: Arc<Settings>) -> Result<Arc<Dispatcher>, String> {
        let allow_private = settings.webhooks_allow_private_networks;
        let client = reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the check.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .user_agent(concat!("order-notify-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        let suffix = Uuid::new_v4().simple().to_string();
        Ok(Arc::new(Dispatcher {
            wake: services.webhook_bell(),
            services,
            client,
            settings,
            id: format!("webhooks-{}-{}", std::process::id(), &suffix[..8]),
        }))
    }

    /// Claims and delivers until `stop` turns true, then lets the deliveries in flight
    /// finish (each bounded by [`ANSWER_WITHIN`]) and hands back any lease it holds.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        while !*stop.borrow() {
            let free = slots.available_permits();
            let mut more_waiting = false;
            // With no endpoint registered nothing can be due (deleting one fails what
            // it had left): a cached read then stands in for a claim through the
            // writer every second.
            let endpoints = self
                .services
                .webhook_interest()
                .await
                .map_or(true, |interest| interest.any());
            if free > 0 && endpoints {
                match self
                    .services
                    .claim_due_webhooks(&self.id, free, LEASE)
                    .await
                {
                    Ok(batch) => {
                        more_waiting = batch.len() == free;
                        for due in batch {
                            let Ok(slot) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let this = self.clone();
                            tokio::spawn(async move {
                                this.attempt(due).await;
                                drop(slot);
                                this.wake.notify_one();
                            });
                        }
                    }
                    Err(e) => log::warn!("{}: cannot claim webhook deliveries: {e}", self.id),
                }
            }
            if more_waiting {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        let all = u32::try_from(IN_FLIGHT).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN_LIMIT, slots.acquire_many(all))
            .await
            .is_err()
        {
            log::warn!("{}: webhook deliveries still in flight at stop", self.id);
        }
        match self.services.release_webhook_leases(&self.id).await {
            Ok(0) => {}
            Ok(n) => log::info!("{}: handed back {n} webhook deliveries", self.id),
            Err(e) => log::warn!("{}: cannot hand back webhook deliveries: {e}", self.id),
        }
    }

    /// One attempt at one delivery, recorded.
    async fn attempt(&self, due: DueWebhook) {
        let answer = self.post(&due).await;
        let attempt = match answer {
            Ok(status) => WebhookAttempt::Delivered { status },
            Err((status, error)) => {
                let now = crate::store::now();
                match next_webhook_attempt(
                    due.attempts,
                    due.created_at,
                    now,
                    self.settings.retry_base,
                ) {
                    Some(at) => WebhookAttempt::Retry { status, error, at },
                    None => WebhookAttempt::GaveUp { status, error },
                }
            }
        };
        let outcome = match &attempt {
            WebhookAttempt::Delivered { .. } => "delivered",
            WebhookAttempt::Retry { .. } => "retry",
            WebhookAttempt::GaveUp { .. } => "failed",
        };
        self.services.metrics().record_webhook_attempt(outcome);
        match &attempt {
            WebhookAttempt::Delivered { .. } => log::debug!(
                "webhook {} delivered to endpoint {}",
                message_id(due.event_id),
                due.endpoint_id
            ),
            WebhookAttempt::Retry { error, at, .. } => log::info!(
                "webhook {} to endpoint {} not delivered ({error}); next attempt at {at}",
                message_id(due.event_id),
                due.endpoint_id
            ),
            WebhookAttempt::GaveUp { error, .. } => log::warn!(
                "webhook {} to endpoint {} failed for good after {} attempts ({error})",
                message_id(due.event_id),
                due.endpoint_id,
                due.attempts
            ),
        }
        if let Err(e) = self
            .services
            .record_webhook_attempt(&due, &self.id, attempt)
            .await
        {
            // Its lease runs out and it is delivered again: at least once.
            log::warn!(
                "{}: cannot record webhook {}: {e}",
                self.id,
                message_id(due.event_id)
            );
        }
    }

    /// Signs and sends; the 2xx status, or the status (if any) and why it failed.
    async fn post(&self, due: &DueWebhook) -> Result<u16, (Option<u16>, String)> {
        let url = EndpointUrl::parse(&due.url).map_err(|e| (None, format!("the URL {e}")))?;
        // An address in the URL never reaches the resolver, so it is checked here.
        if matches!(url.host(), url::Host::Ipv4(_) | url::Host::Ipv6(_)) {
            outbound::check_endpoint(&url, self.settings.webhooks_allow_private_networks)
                .await
                .map_err(|refused| (None, format!("refused: {refused}")))?;
        }
        let id = message_id(due.event_id);
        let timestamp = Utc::now().timestamp();
        let signature = Webhook::new(due.secret.expose())
            .and_then(|hook| hook.sign(&id, timestamp, due.body.as_bytes()))
            .map_err(|e| (None, format!("cannot sign: {e}")))?;
        let response = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(due.body.clone())
            .send()
            .await
            .map_err(|e| (None, describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else if status.is_redirection() {
            Err((
                Some(status.as_u16()),
                format!("answered {status}; redirects are not followed"),
            ))
        } else {
            Err((Some(status.as_u16()), format!("answered {status}")))
        }
    }
}

/// What went wrong with a request, with the cause reqwest wraps (a refused address
/// says which).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", ANSWER_WITHIN.as_secs());
    }
    let mut words = if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    let mut last = String::new();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    if !last.is_empty() {
        words = format!("{words}: {last}");
    }
    words
}
