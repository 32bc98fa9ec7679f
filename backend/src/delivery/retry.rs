//! The backoff policy: the first retry after the base delay, doubling each time, with
//! ±20 % jitter so texts that failed together do not retry together, capped at 10 minutes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::service::Outcome;
use crate::sms::SendOutcome;

pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// The delay before the next attempt, after `attempts` attempts have failed.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let delay = base.saturating_mul(1u32 << exponent).min(MAX_DELAY);
    let jitter = rand::rng().random_range(0.8..=1.2);
    delay.mul_f64(jitter).min(MAX_DELAY)
}

/// When the provider named a time (429's `Retry-After`), exactly that: never sooner,
/// and no later than it asked.
pub fn next_delay(base: Duration, attempts: u32, provider_asked: Option<Duration>) -> Duration {
    provider_asked.unwrap_or_else(|| backoff(base, attempts))
}

/// What an attempt's answer means for the text, after `attempts` attempts (this one
/// included): sent; back in the queue after a backoff while attempts remain; or failed
/// (a refusal at once, with the provider's reason). When `elsewhere` (another provider
/// is up to take the next attempt), the next attempt comes after the base delay alone:
/// the backoff and `Retry-After` spare the provider that failed, not the next one.
pub fn settle(
    answer: SendOutcome,
    attempts: u32,
    max_attempts: u32,
    base: Duration,
    now: DateTime<Utc>,
    elsewhere: bool,
) -> Outcome {
    match answer {
        SendOutcome::Accepted {
            provider_message_id,
        } => Outcome::Sent {
            provider_message_id,
        },
        SendOutcome::Refused { reason } => Outcome::Failed { reason },
        SendOutcome::Retry { reason, .. } if attempts >= max_attempts => Outcome::Failed {
            reason: format!("gave up after {attempts} attempts: {reason}"),
        },
        SendOutcome::Retry { reason, after } => {
            let delay = if elsewhere {
                base
            } else {
                next_delay(base, attempts, after)
            };
            let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(10));
            Outcome::RetryAt {
                due_at: now + delay,
                reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(after: Option<Duration>) -> SendOutcome {
        SendOutcome::Retry {
            reason: "503 Service Unavailable".into(),
            after,
        }
    }

    #[test]
    fn retries_wait_and_then_give_up_and_refusals_fail_at_once() {
        let now = Utc::now();
        let base = Duration::from_secs(2);
        match settle(retry(None), 1, 3, base, now, false) {
            Outcome::RetryAt { due_at, reason } => {
                let wait = (due_at - now).to_std().unwrap();
                assert!(
                    wait >= Duration::from_millis(1600) && wait <= Duration::from_millis(2400),
                    "{wait:?}"
                );
                assert_eq!(reason, "503 Service Unavailable");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        match settle(retry(Some(Duration::from_secs(30))), 2, 3, base, now, false) {
            Outcome::RetryAt { due_at, .. } => {
                assert_eq!(due_at - now, chrono::Duration::seconds(30))
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        assert_eq!(
            settle(retry(None), 3, 3, base, now, true),
            Outcome::Failed {
                reason: "gave up after 3 attempts: 503 Service Unavailable".into()
            }
        );
        let refused = SendOutcome::Refused {
            reason: "recipient is not a valid number".into(),
        };
        assert_eq!(
            settle(refused, 1, 8, base, now, true),
            Outcome::Failed {
                reason: "recipient is not a valid number".into()
            }
        );
        let accepted = SendOutcome::Accepted {
            provider_message_id: "mb-1".into(),
        };
        assert_eq!(
            settle(accepted, 1, 8, base, now, false),
            Outcome::Sent {
                provider_message_id: "mb-1".into()
            }
        );
    }

    #[test]
    fn a_retry_that_goes_to_another_provider_waits_only_the_base_delay() {
        let now = Utc::now();
        let base = Duration::from_millis(500);
        match settle(retry(Some(Duration::from_secs(60))), 5, 8, base, now, true) {
            Outcome::RetryAt { due_at, .. } => {
                assert_eq!(due_at - now, chrono::Duration::milliseconds(500))
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn delays_double_within_the_jitter_and_stop_at_ten_minutes() {
        let base = Duration::from_secs(2);
        for (attempts, nominal) in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)] {
            for _ in 0..50 {
                let delay = backoff(base, attempts).as_secs_f64();
                assert!(
                    delay >= nominal * 0.8 - 1e-9 && delay <= nominal * 1.2 + 1e-9,
                    "{attempts}: {delay}"
                );
            }
        }
        for _ in 0..50 {
            assert!(backoff(base, 12) <= MAX_DELAY);
            assert!(backoff(base, 12) >= MAX_DELAY.mul_f64(0.8));
            assert!(backoff(base, u32::MAX) <= MAX_DELAY);
        }
    }

    #[test]
    fn a_providers_retry_after_is_the_earliest_next_attempt() {
        let base = Duration::from_millis(100);
        assert_eq!(
            next_delay(base, 1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        let ours = next_delay(base, 1, None);
        assert!(ours < Duration::from_secs(1));
        // Even a wait longer than our cap is honoured.
        assert_eq!(
            next_delay(base, 1, Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
    }
}
