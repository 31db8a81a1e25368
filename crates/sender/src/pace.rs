//! Pacing: the start-rate bound and the tick-wide 429 gate.
//!
//! A 429/20429 means Twilio did not process the request (twilio.md §9,
//! <https://www.twilio.com/docs/api/errors/20429>), and the limit is account-wide, so a 429 slows
//! the *whole* sender, not just the item that met it: it closes a gate until
//! `now + delay`, where the delay is exponential with full jitter in the number of 429s in a row
//! and at least the `Retry-After` Twilio sent ([`twilio::Backoff`]). Every later request of the
//! tick waits for the gate, and the gate is stored (`pace:twilio-sender`) so the next tick keeps
//! waiting: a storm longer than a tick slows the ticks after it too. A success lowers the level
//! by one, so the sender speeds up gradually after a storm.

use connector::{Clock, KeyValue, Rng, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use twilio::{Backoff, TwilioError};

/// Blocks the caller for a while: `std::thread::sleep` in the component (WASI
/// `monotonic-clock.subscribe-duration`), a simulated clock in tests.
pub trait Sleep {
    /// Waits `ms` milliseconds.
    fn sleep_ms(&self, ms: u64);
}

impl<T: Sleep + ?Sized> Sleep for &T {
    fn sleep_ms(&self, ms: u64) {
        (**self).sleep_ms(ms)
    }
}

/// The store key of the persisted gate (JSON [`PaceState`], written only by the lease holder).
pub const PACE_KEY: &str = "pace:twilio-sender";

/// Schema version of [`PaceState`].
pub const PACE_VERSION: u32 = 1;

/// The gate as stored between ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceState {
    /// [`PACE_VERSION`].
    pub version: u32,
    /// No request starts before this time (Unix ms).
    pub not_before_ms: u64,
    /// 429s in a row (the backoff exponent), lowered by one per success.
    pub level: u32,
}

impl Default for PaceState {
    fn default() -> Self {
        Self {
            version: PACE_VERSION,
            not_before_ms: 0,
            level: 0,
        }
    }
}

/// Reads the stored gate; an unreadable value counts as an open gate (it only ever delays).
pub fn load(store: &(impl KeyValue + ?Sized)) -> Result<PaceState, StoreError> {
    Ok(store
        .get(PACE_KEY)?
        .and_then(|b| serde_json::from_slice::<PaceState>(&b).ok())
        .filter(|p| p.version == PACE_VERSION)
        .unwrap_or_default())
}

/// Stores the gate (one write).
pub fn save(store: &(impl KeyValue + ?Sized), state: &PaceState) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(PACE_KEY, &bytes)
}

/// The request would start after the tick's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfTime {
    /// When it could have started (Unix ms).
    pub until_ms: u64,
}

/// One tick's pacer.
#[derive(Debug)]
pub struct Pacer {
    max_in_flight: usize,
    slot_ms: u64,
    backoff: Backoff,
    starts: VecDeque<u64>,
    state: PaceState,
    initial: PaceState,
    slept_ms: u64,
    rate_limited: u32,
}

impl Pacer {
    /// A pacer continuing from the stored `state`.
    pub fn new(max_in_flight: u32, slot_ms: u64, backoff: Backoff, state: PaceState) -> Self {
        Self {
            max_in_flight: usize::try_from(max_in_flight.max(1)).unwrap_or(1),
            slot_ms,
            backoff,
            starts: VecDeque::new(),
            state,
            initial: state,
            slept_ms: 0,
            rate_limited: 0,
        }
    }

    /// When the next request may start.
    pub fn next_start_ms(&self) -> u64 {
        let slot_free = if self.starts.len() >= self.max_in_flight {
            self.starts
                .front()
                .map_or(0, |s| s.saturating_add(self.slot_ms))
        } else {
            0
        };
        slot_free.max(self.state.not_before_ms)
    }

    /// Waits for the gate and a free slot, then records a request start. Refuses (without
    /// waiting) when that would be after `deadline_ms`.
    pub fn acquire(
        &mut self,
        clock: &dyn Clock,
        sleep: &dyn Sleep,
        deadline_ms: u64,
    ) -> Result<(), OutOfTime> {
        let start = self.next_start_ms();
        let now = clock.now_ms();
        if start > now {
            if start > deadline_ms {
                return Err(OutOfTime { until_ms: start });
            }
            sleep.sleep_ms(start - now);
            self.slept_ms += start - now;
        }
        let now = clock.now_ms().max(start);
        self.starts.push_back(now);
        while self.starts.len() > self.max_in_flight {
            self.starts.pop_front();
        }
        Ok(())
    }

    /// A 429: closes the gate for `backoff(level)` (at least `Retry-After`), raises the level.
    /// Returns the delay.
    pub fn rate_limited(&mut self, err: &TwilioError, now_ms: u64, rng: &dyn Rng) -> u64 {
        let delay = self
            .backoff
            .delay_after(self.state.level, err, now_ms, rng)
            .max(1);
        self.state.not_before_ms = self.state.not_before_ms.max(now_ms.saturating_add(delay));
        self.state.level = self.state.level.saturating_add(1);
        self.rate_limited += 1;
        delay
    }

    /// A request Twilio processed: the level goes down by one.
    pub fn succeeded(&mut self) {
        self.state.level = self.state.level.saturating_sub(1);
    }

    /// The gate to store, if it changed in this tick.
    pub fn changed_state(&self) -> Option<PaceState> {
        (self.state != self.initial).then_some(self.state)
    }

    /// Time spent waiting in [`Pacer::acquire`].
    pub fn slept_ms(&self) -> u64 {
        self.slept_ms
    }

    /// 429s met in this tick.
    pub fn rate_limited_count(&self) -> u32 {
        self.rate_limited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::{ManualClock, MemoryStore, SeededRng};
    use connector::{HttpResponse, Method};
    use twilio::ApiError;

    struct Advance<'a>(&'a ManualClock);
    impl Sleep for Advance<'_> {
        fn sleep_ms(&self, ms: u64) {
            self.0.advance_ms(ms);
        }
    }

    fn too_many(retry_after: Option<&str>) -> TwilioError {
        let mut resp = HttpResponse::new(
            429,
            r#"{"code":20429,"message":"Too many requests","status":429}"#,
        );
        if let Some(v) = retry_after {
            resp = resp.header("Retry-After", v);
        }
        TwilioError::Api(ApiError::from_response(Method::Post, &resp))
    }

    #[test]
    fn n_starts_per_slot() {
        let clock = ManualClock::at(1_000);
        let sleep = Advance(&clock);
        let mut p = Pacer::new(2, 100, Backoff::default(), PaceState::default());
        let mut starts = Vec::new();
        for _ in 0..5 {
            p.acquire(&clock, &sleep, u64::MAX).unwrap();
            starts.push(clock.now_ms());
        }
        assert_eq!(starts, [1_000, 1_000, 1_100, 1_100, 1_200]);
        assert_eq!(p.slept_ms(), 200);
        // S = 0: sequential, no waiting.
        let mut p = Pacer::new(1, 0, Backoff::default(), PaceState::default());
        p.acquire(&clock, &sleep, u64::MAX).unwrap();
        p.acquire(&clock, &sleep, u64::MAX).unwrap();
        assert_eq!(p.slept_ms(), 0);
    }

    #[test]
    fn a_429_closes_the_gate_for_everyone_and_retry_after_is_honoured() {
        let clock = ManualClock::at(10_000);
        let sleep = Advance(&clock);
        let rng = SeededRng::new(3);
        let mut p = Pacer::new(
            1,
            0,
            Backoff::new(100, 1_000).unwrap(),
            PaceState::default(),
        );
        p.acquire(&clock, &sleep, u64::MAX).unwrap();
        let d = p.rate_limited(&too_many(Some("2")), clock.now_ms(), &rng);
        assert_eq!(d, 2_000);
        assert_eq!(p.next_start_ms(), 12_000);
        // Past the deadline: refused without sleeping.
        assert_eq!(
            p.acquire(&clock, &sleep, 11_000),
            Err(OutOfTime { until_ms: 12_000 })
        );
        assert_eq!(clock.now_ms(), 10_000);
        p.acquire(&clock, &sleep, 20_000).unwrap();
        assert_eq!(clock.now_ms(), 12_000);
        let state = p.changed_state().unwrap();
        assert_eq!(
            state,
            PaceState {
                version: 1,
                not_before_ms: 12_000,
                level: 1
            }
        );
        // The level grows per 429 in a row and shrinks per success.
        let d2 = p.rate_limited(&too_many(None), clock.now_ms(), &rng);
        assert!(d2 <= 200, "second 429: ceiling 200 ms, got {d2}");
        p.succeeded();
        p.succeeded();
        assert_eq!(p.changed_state().map(|s| s.level), Some(0));
    }

    #[test]
    fn the_gate_survives_the_tick() {
        let s = MemoryStore::new();
        assert_eq!(load(&s).unwrap(), PaceState::default());
        let st = PaceState {
            version: 1,
            not_before_ms: 99,
            level: 3,
        };
        save(&s, &st).unwrap();
        assert_eq!(load(&s).unwrap(), st);
        let p = Pacer::new(1, 0, Backoff::default(), st);
        assert_eq!(p.next_start_ms(), 99);
        assert_eq!(p.changed_state(), None);
        s.set(PACE_KEY, b"garbage").unwrap();
        assert_eq!(load(&s).unwrap(), PaceState::default());
    }
}
