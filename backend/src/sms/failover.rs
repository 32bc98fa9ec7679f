//! Several providers in priority order (`ORDER_NOTIFY_SMS_PROVIDER=bird,twilio`), each
//! behind a circuit breaker. An attempt goes to the first provider that is up; the
//! attempt after a retryable failure goes to another one that is up, so one provider's
//! outage at dinner peak delays a text by one retry, not by the outage. A provider that
//! failed `failures` times in a row is skipped for `cooldown`, then tried with one text
//! (the probe): taken or refused, it is up again; failed, it waits another cooldown. A
//! refusal (a bad number) is an answer, not an outage: the provider stays up, and the
//! text fails without trying elsewhere (the worker's rule). With one provider, every
//! attempt goes to it, as before.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{OutgoingSms, Provider, SendOutcome};

/// When a provider counts as down, and for how long it is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Retryable failures in a row that take a provider out (`ORDER_NOTIFY_SMS_BREAKER_FAILURES`).
    pub failures: u32,
    /// How long it stays out before one text probes it (`ORDER_NOTIFY_SMS_BREAKER_COOLDOWN_MS`).
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// A provider's breaker, as `/metrics` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Taking texts.
    Closed,
    /// Skipped until its cooldown ends.
    Open,
    /// Cooldown over: one text is (or may be) trying it.
    Probing,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::Probing => "probing",
        }
    }
}

#[derive(Default)]
struct Breaker {
    /// Retryable failures since the last answer.
    failures: u32,
    /// While open: when the cooldown ends.
    open_until: Option<Instant>,
    /// A probe is out; no second text goes before its answer.
    probing: bool,
}

impl Breaker {
    fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now >= until => BreakerState::Probing,
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether a text may go now, and whether it would be the probe.
    fn admits(&self, now: Instant) -> Option<bool> {
        match self.state(now) {
            BreakerState::Closed => Some(false),
            BreakerState::Probing if !self.probing => Some(true),
            _ => None,
        }
    }
}

struct Member {
    provider: Arc<dyn Provider>,
    breaker: Mutex<Breaker>,
}

/// One attempt, as made.
#[derive(Debug)]
pub struct Attempted {
    /// The provider it went to.
    pub provider: &'static str,
    pub outcome: SendOutcome,
    pub took: Duration,
}

pub struct Failover {
    members: Vec<Member>,
    settings: BreakerSettings,
}

impl Failover {
    /// `providers` in priority order; at least one.
    pub fn new(providers: Vec<Arc<dyn Provider>>, settings: BreakerSettings) -> Failover {
        assert!(!providers.is_empty(), "at least one provider");
        Failover {
            members: providers
                .into_iter()
                .map(|provider| Member {
                    provider,
                    breaker: Mutex::default(),
                })
                .collect(),
            settings,
        }
    }

    /// The providers' names, in priority order.
    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(|m| m.provider.name()).collect()
    }

    /// Each provider's breaker now.
    pub fn states(&self) -> Vec<(&'static str, BreakerState)> {
        let now = Instant::now();
        self.members
            .iter()
            .map(|m| (m.provider.name(), lock(&m.breaker).state(now)))
            .collect()
    }

    /// Whether a provider other than `name` would take a text now: then a text that
    /// just failed with `name` can be tried again at once elsewhere.
    pub fn another_is_up(&self, name: &str) -> bool {
        let now = Instant::now();
        self.members
            .iter()
            .filter(|m| m.provider.name() != name)
            .any(|m| lock(&m.breaker).admits(now).is_some())
    }

    /// Sends `sms` through the provider whose turn it is. `failed_last` is the provider
    /// this text's last attempt failed with (retryably), which is passed over while
    /// another one is up.
    pub async fn send(&self, sms: &OutgoingSms, failed_last: Option<&str>) -> Attempted {
        let (index, probe) = self.pick(failed_last, Instant::now());
        let member = &self.members[index];
        let started = Instant::now();
        let outcome = member.provider.send(sms).await;
        let took = started.elapsed();
        self.settle(member, probe, &outcome, Instant::now());
        Attempted {
            provider: member.provider.name(),
            outcome,
            took,
        }
    }

    /// The provider for the next attempt, and whether it is that provider's probe: the
    /// first one up that is not `avoid`; else `avoid` if it is up; else, all being out,
    /// the one whose cooldown ends first.
    fn pick(&self, avoid: Option<&str>, now: Instant) -> (usize, bool) {
        let others = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| Some(m.provider.name()) != avoid);
        let avoided = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| Some(m.provider.name()) == avoid);
        for (index, member) in others.chain(avoided) {
            let mut breaker = lock(&member.breaker);
            if let Some(probe) = breaker.admits(now) {
                breaker.probing |= probe;
                return (index, probe);
            }
        }
        let soonest = self
            .members
            .iter()
            .enumerate()
            .min_by_key(|(_, m)| lock(&m.breaker).open_until)
            .map_or(0, |(index, _)| index);
        (soonest, false)
    }

    fn settle(&self, member: &Member, probe: bool, outcome: &SendOutcome, now: Instant) {
        let name = member.provider.name();
        let mut breaker = lock(&member.breaker);
        if probe {
            breaker.probing = false;
        }
        match outcome {
            SendOutcome::Accepted { .. } | SendOutcome::Refused { .. } => {
                if breaker.open_until.is_some() {
                    log::info!("{name} answers again: texts go to it again");
                }
                *breaker = Breaker::default();
            }
            SendOutcome::Retry { reason, .. } => {
                breaker.failures = breaker.failures.saturating_add(1);
                let until = now + self.settings.cooldown;
                if probe {
                    log::warn!(
                        "{name} still fails ({reason}); skipped for another {} s",
                        self.settings.cooldown.as_secs()
                    );
                    breaker.open_until = Some(until);
                } else if breaker.failures >= self.settings.failures
                    && breaker.state(now) == BreakerState::Closed
                    && self.members.len() > 1
                {
                    log::warn!(
                        "{name} failed {} times in a row ({reason}); texts go to the next provider for {} s",
                        breaker.failures,
                        self.settings.cooldown.as_secs()
                    );
                    breaker.open_until = Some(until);
                }
            }
        }
    }
}

/// A breaker's lock; a panic elsewhere while holding it leaves a state that is still
/// a valid breaker.
fn lock(breaker: &Mutex<Breaker>) -> std::sync::MutexGuard<'_, Breaker> {
    breaker.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use uuid::Uuid;

    use super::*;

    /// A provider that answers with whatever its switch says, counting its calls.
    struct Fake {
        name: &'static str,
        down: std::sync::atomic::AtomicBool,
        calls: AtomicU32,
    }

    impl Fake {
        fn new(name: &'static str) -> Arc<Fake> {
            Arc::new(Fake {
                name,
                down: false.into(),
                calls: 0.into(),
            })
        }
        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl Provider for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn send(&self, _: &OutgoingSms) -> SendOutcome {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                SendOutcome::Retry {
                    reason: "503".to_owned(),
                    after: None,
                }
            } else {
                SendOutcome::Accepted {
                    provider_message_id: format!("{}-1", self.name),
                }
            }
        }
    }

    fn sms() -> OutgoingSms {
        OutgoingSms {
            reference: Uuid::nil(),
            recipient: "+31612345678".to_owned(),
            originator: "Kitchen".to_owned(),
            body: "Hi".to_owned(),
            encoding: crate::domain::Encoding::Gsm7,
            segments: 1,
        }
    }

    fn pair(cooldown: Duration) -> (Arc<Fake>, Arc<Fake>, Failover) {
        let (a, b) = (Fake::new("primary"), Fake::new("secondary"));
        let failover = Failover::new(
            vec![a.clone(), b.clone()],
            BreakerSettings {
                failures: 3,
                cooldown,
            },
        );
        (a, b, failover)
    }

    #[tokio::test(start_paused = true)]
    async fn the_primary_sends_and_a_retry_goes_to_the_next_provider() {
        let (primary, secondary, failover) = pair(Duration::from_secs(30));
        assert_eq!(failover.send(&sms(), None).await.provider, "primary");
        primary.set_down(true);
        let first = failover.send(&sms(), None).await;
        assert_eq!(first.provider, "primary");
        assert!(matches!(first.outcome, SendOutcome::Retry { .. }));
        assert!(failover.another_is_up("primary"));
        let again = failover.send(&sms(), Some("primary")).await;
        assert_eq!(again.provider, "secondary");
        assert!(matches!(again.outcome, SendOutcome::Accepted { .. }));
        // A text that failed with the secondary goes back to the primary.
        assert_eq!(
            failover.send(&sms(), Some("secondary")).await.provider,
            "primary"
        );
        assert_eq!((primary.calls(), secondary.calls()), (3, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_failures_in_a_row_and_one_probe_closes_it() {
        let (primary, secondary, failover) = pair(Duration::from_secs(30));
        primary.set_down(true);
        for _ in 0..3 {
            failover.send(&sms(), None).await;
        }
        assert_eq!(failover.states()[0], ("primary", BreakerState::Open));
        // Skipped while open: new texts go straight to the secondary.
        for _ in 0..5 {
            assert_eq!(failover.send(&sms(), None).await.provider, "secondary");
        }
        assert_eq!(primary.calls(), 3);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(failover.states()[0].1, BreakerState::Probing);
        // The probe fails: out for another cooldown.
        assert_eq!(failover.send(&sms(), None).await.provider, "primary");
        assert_eq!(failover.states()[0].1, BreakerState::Open);
        assert_eq!(failover.send(&sms(), None).await.provider, "secondary");
        tokio::time::advance(Duration::from_secs(31)).await;
        primary.set_down(false);
        assert_eq!(failover.send(&sms(), None).await.provider, "primary");
        assert_eq!(failover.states()[0].1, BreakerState::Closed);
        assert_eq!(failover.send(&sms(), None).await.provider, "primary");
        assert_eq!(secondary.calls(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn only_one_probe_goes_out_at_a_time() {
        let (primary, _secondary, failover) = pair(Duration::from_secs(30));
        primary.set_down(true);
        for _ in 0..3 {
            failover.send(&sms(), None).await;
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        let now = Instant::now();
        assert_eq!(failover.pick(None, now), (0, true));
        // While that probe is out, the next text goes to the secondary.
        assert_eq!(failover.pick(None, now), (1, false));
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_provider_out_the_one_back_soonest_is_tried() {
        let (primary, secondary, failover) = pair(Duration::from_secs(30));
        primary.set_down(true);
        secondary.set_down(true);
        for _ in 0..3 {
            failover.send(&sms(), None).await;
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..3 {
            failover.send(&sms(), None).await;
        }
        assert!(
            failover
                .states()
                .iter()
                .all(|(_, s)| *s == BreakerState::Open)
        );
        assert!(!failover.another_is_up("primary"));
        assert_eq!(failover.send(&sms(), None).await.provider, "primary");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_keeps_the_provider_up_and_one_provider_is_never_skipped() {
        struct Refuses;
        #[async_trait::async_trait]
        impl Provider for Refuses {
            fn name(&self) -> &'static str {
                "strict"
            }
            async fn send(&self, _: &OutgoingSms) -> SendOutcome {
                SendOutcome::Refused {
                    reason: "invalid number".to_owned(),
                }
            }
        }
        let failover = Failover::new(vec![Arc::new(Refuses)], BreakerSettings::default());
        for _ in 0..10 {
            assert_eq!(failover.send(&sms(), None).await.provider, "strict");
        }
        assert_eq!(failover.states(), vec![("strict", BreakerState::Closed)]);

        let alone = Fake::new("only");
        alone.set_down(true);
        let failover = Failover::new(vec![alone.clone()], BreakerSettings::default());
        for _ in 0..10 {
            assert_eq!(failover.send(&sms(), Some("only")).await.provider, "only");
        }
        assert_eq!(failover.states()[0].1, BreakerState::Closed);
        assert_eq!(alone.calls(), 10);
    }
}
