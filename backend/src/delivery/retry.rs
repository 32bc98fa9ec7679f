//! The backoff policy: the first retry after the base delay, doubling each time, with
//! ±20 % jitter so texts that failed together do not retry together, capped at 10 minutes.

use std::time::Duration;

use rand::Rng;

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

#[cfg(test)]
mod tests {
    use super::*;

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
