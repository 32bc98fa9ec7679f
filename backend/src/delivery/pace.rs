//! Keeps a worker under the provider's rate limit (ORDER_NOTIFY_SEND_RATE_LIMIT): sends
//! start evenly spaced, one every `1 / rate` seconds, so no second ever holds more than
//! the limit (plus the one at its edge). The worker claims only what can start within
//! the next second, so a text never waits on the pacer long enough to lose its lease.

use std::time::Duration;

use tokio::time::Instant;

/// How far ahead the worker books start times.
pub const HORIZON: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    /// The earliest moment the next send may start.
    next: Instant,
}

impl Pacer {
    /// A pacer allowing `per_second` starts a second (at least one).
    pub fn new(per_second: u32, now: Instant) -> Pacer {
        Pacer {
            // Rounded up, so a second never holds one start too many.
            interval: Duration::from_nanos(1_000_000_000u64.div_ceil(u64::from(per_second.max(1)))),
            next: now,
        }
    }

    /// How many sends could be booked to start before `now + HORIZON`.
    pub fn room(&self, now: Instant) -> usize {
        let first = self.next.max(now);
        let end = now + HORIZON;
        if first >= end {
            return 0;
        }
        // Starts at first, first + interval, … before end.
        let starts = (end - first)
            .as_nanos()
            .div_ceil(self.interval.as_nanos().max(1));
        usize::try_from(starts).unwrap_or(usize::MAX)
    }

    /// Books the next start time: now if the pacer is idle, else one interval after the
    /// last one booked.
    pub fn book(&mut self, now: Instant) -> Instant {
        let start = self.next.max(now);
        self.next = start + self.interval;
        start
    }

    /// A moment by which `room` is above zero again.
    pub fn free_at(&self) -> Instant {
        let edge = self.next.checked_sub(HORIZON).unwrap_or(self.next);
        edge + Duration::from_millis(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_pacer_has_a_seconds_worth_of_room() {
        let now = Instant::now();
        assert_eq!(Pacer::new(10, now).room(now), 10);
        assert_eq!(Pacer::new(1, now).room(now), 1);
        assert_eq!(Pacer::new(3, now).room(now), 3);
    }

    #[test]
    fn bookings_are_evenly_spaced_and_use_up_the_room() {
        let now = Instant::now();
        let mut pacer = Pacer::new(4, now);
        let starts: Vec<_> = (0..4).map(|_| pacer.book(now)).collect();
        let gaps: Vec<_> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(starts[0], now);
        assert_eq!(gaps, vec![Duration::from_millis(250); 3]);
        assert_eq!(pacer.room(now), 0, "the next second is booked");
        assert_eq!(pacer.room(pacer.free_at()), 1);
        let later = now + Duration::from_millis(500);
        assert_eq!(pacer.room(later), 2);
        assert_eq!(pacer.book(later), now + Duration::from_secs(1));
    }

    #[test]
    fn an_idle_spell_gives_no_burst_beyond_the_horizon() {
        let now = Instant::now();
        let mut pacer = Pacer::new(2, now);
        pacer.book(now);
        let much_later = now + Duration::from_secs(60);
        assert_eq!(pacer.room(much_later), 2);
        assert_eq!(pacer.book(much_later), much_later);
        assert_eq!(
            pacer.book(much_later),
            much_later + Duration::from_millis(500)
        );
    }
}
