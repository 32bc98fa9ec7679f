//! Rate limiting: a token bucket per API key, and per client address for requests
//! without a valid key, so one noisy integration (or someone guessing keys) cannot
//! starve the kitchen's dashboard. Over the limit → 429 with `Retry-After`.
//!
//! The buckets live in this process: with several instances each enforces the limit on
//! its own share of the traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Whom a bucket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    Key(Uuid),
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Client, Bucket>>,
}

/// Buckets kept before idle ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

impl RateLimiter {
    /// `per_second == 0` admits everything.
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the client's bucket, or says how long until one is there.
    pub fn admit(&self, client: Client) -> Result<(), Duration> {
        self.admit_at(client, Instant::now())
    }

    /// Whether the client's bucket holds a token, without taking it (or how long until
    /// it will).
    pub fn check(&self, client: Client) -> Result<(), Duration> {
        self.take_at(client, Instant::now(), false)
    }

    fn admit_at(&self, client: Client, now: Instant) -> Result<(), Duration> {
        self.take_at(client, now, true)
    }

    fn take_at(&self, client: Client, now: Instant, take: bool) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            // A bucket that would be full again holds no information: forget it.
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, b| now.duration_since(b.refilled_at) < full_after);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            refilled_at: now,
        });
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_average_rate() {
        let limiter = RateLimiter::new(2, 3);
        let client = Client::Key(Uuid::nil());
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.admit_at(client, start).is_ok());
        }
        let wait = limiter.admit_at(client, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limiter
                .admit_at(client, start + Duration::from_millis(499))
                .is_err()
        );
        assert!(
            limiter
                .admit_at(client, start + Duration::from_millis(1000))
                .is_ok()
        );
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1);
        let now = Instant::now();
        assert!(limiter.admit_at(Client::Key(Uuid::nil()), now).is_ok());
        assert!(limiter.admit_at(Client::Key(Uuid::nil()), now).is_err());
        assert!(limiter.admit_at(Client::Key(Uuid::max()), now).is_ok());
        assert!(
            limiter
                .admit_at(Client::Address([127, 0, 0, 1].into()), now)
                .is_ok()
        );
    }

    #[test]
    fn a_check_takes_nothing() {
        let limiter = RateLimiter::new(1, 2);
        let (client, now) = (Client::Address([10, 0, 0, 1].into()), Instant::now());
        for _ in 0..5 {
            assert!(limiter.take_at(client, now, false).is_ok());
        }
        assert!(limiter.admit_at(client, now).is_ok());
        assert!(limiter.admit_at(client, now).is_ok());
        assert!(limiter.take_at(client, now, false).is_err(), "empty now");
    }

    #[test]
    fn zero_turns_limiting_off() {
        let limiter = RateLimiter::new(0, 1);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.admit_at(Client::Key(Uuid::nil()), now).is_ok());
        }
    }

    #[test]
    fn idle_buckets_are_swept() {
        let limiter = RateLimiter::new(10, 1);
        let start = Instant::now();
        for i in 0..=SWEEP_ABOVE as u128 {
            let _ = limiter.admit_at(Client::Key(Uuid::from_u128(i)), start);
        }
        let _ = limiter.admit_at(Client::Key(Uuid::max()), start + Duration::from_secs(1));
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
