//! Exponential backoff with full jitter, honouring `Retry-After`.
//!
//! Twilio's REST limits are concurrency-based and a 429 means "not processed, retry with
//! backoff" (twilio.md §9, <https://www.twilio.com/docs/api/errors/20429>). twilio-node's
//! opt-in retry uses exponential backoff with full jitter (100 ms base, 3 s cap) and ignores
//! `Retry-After`; here the header wins when it asks for longer. Full jitter (a uniform draw in
//! `[0, min(cap, base·2^attempt)]`) spreads the retries of many senders so they do not hit the
//! limit again in lockstep (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog).

use crate::error::TwilioError;
use connector::Rng;

/// A backoff schedule. Pure: the same `attempt`, `Retry-After` and random draw give the same
/// delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
}

/// A schedule that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BackoffError {
    /// `base_ms` was 0, so every delay would be 0.
    #[error("backoff base_ms: must be at least 1")]
    ZeroBase,
    /// `cap_ms` below `base_ms`.
    #[error("backoff cap_ms: must not be below base_ms")]
    CapBelowBase,
}

impl Default for Backoff {
    /// 500 ms base, 30 s cap: a cron tick can absorb a few retries without overrunning.
    fn default() -> Self {
        Self {
            base_ms: 500,
            cap_ms: 30_000,
        }
    }
}

impl Backoff {
    /// A schedule whose ceiling starts at `base_ms` and doubles per attempt up to `cap_ms`.
    pub fn new(base_ms: u64, cap_ms: u64) -> Result<Self, BackoffError> {
        if base_ms == 0 {
            return Err(BackoffError::ZeroBase);
        }
        if cap_ms < base_ms {
            return Err(BackoffError::CapBelowBase);
        }
        Ok(Self { base_ms, cap_ms })
    }

    /// Base delay in milliseconds.
    pub fn base_ms(&self) -> u64 {
        self.base_ms
    }

    /// Largest jittered delay in milliseconds.
    pub fn cap_ms(&self) -> u64 {
        self.cap_ms
    }

    /// The ceiling for retry number `attempt` (0 for the first retry):
    /// `min(cap, base · 2^attempt)`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }

    /// The delay before retry number `attempt`: a uniform draw in `[0, ceiling_ms(attempt)]`,
    /// raised to `retry_after_ms` when the server asked for longer. `Retry-After` is not capped:
    /// retrying earlier than the server asked only earns another 429.
    pub fn delay_ms(&self, attempt: u32, retry_after_ms: Option<u64>, rng: &dyn Rng) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        // Multiply-shift maps a 64-bit draw onto [0, ceiling] without modulo bias worth
        // mentioning (Lemire, "Fast Random Integer Generation in an Interval", 2019).
        let span = u128::from(ceiling) + 1;
        let jittered = ((u128::from(rng.next_u64()) * span) >> 64) as u64;
        jittered.max(retry_after_ms.unwrap_or(0))
    }

    /// [`Backoff::delay_ms`] with the `Retry-After` of `err`, measured from `now_ms`.
    pub fn delay_after(&self, attempt: u32, err: &TwilioError, now_ms: u64, rng: &dyn Rng) -> u64 {
        self.delay_ms(attempt, err.retry_after().map(|r| r.delay_ms(now_ms)), rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, RetryAfter};
    use connector::memory::SeededRng;
    use connector::{HttpResponse, Method};

    /// Returns a fixed draw.
    struct Fixed(u64);
    impl Rng for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            let b = self.0.to_le_bytes();
            for (i, x) in buf.iter_mut().enumerate() {
                *x = b[i % 8];
            }
        }
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::new(100, 3000).unwrap();
        let got: Vec<u64> = (0..8).map(|a| b.ceiling_ms(a)).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 3000, 3000, 3000]);
        assert_eq!(b.ceiling_ms(64), 3000);
        assert_eq!(b.ceiling_ms(u32::MAX), 3000);
        let huge = Backoff::new(u64::MAX / 2, u64::MAX).unwrap();
        assert_eq!(huge.ceiling_ms(5), u64::MAX);
    }

    #[test]
    fn draw_spans_zero_to_ceiling_inclusive() {
        let b = Backoff::new(100, 3000).unwrap();
        assert_eq!(b.delay_ms(0, None, &Fixed(0)), 0);
        assert_eq!(b.delay_ms(0, None, &Fixed(u64::MAX)), 100);
        assert_eq!(b.delay_ms(3, None, &Fixed(u64::MAX)), 800);
        assert_eq!(b.delay_ms(3, None, &Fixed(1 << 63)), 400); // half of [0, 800]
        assert_eq!(b.delay_ms(10, None, &Fixed(u64::MAX / 4)), 750);
    }

    #[test]
    fn retry_after_wins_only_when_longer() {
        let b = Backoff::new(100, 3000).unwrap();
        assert_eq!(b.delay_ms(2, Some(5_000), &Fixed(u64::MAX)), 5_000);
        assert_eq!(b.delay_ms(2, Some(50), &Fixed(u64::MAX)), 400);
        assert_eq!(b.delay_ms(2, Some(0), &Fixed(0)), 0);
    }

    #[test]
    fn delay_after_reads_the_errors_retry_after() {
        let b = Backoff::new(100, 3000).unwrap();
        let resp = HttpResponse::new(
            429,
            r#"{"code":20429,"message":"Too many requests","status":429}"#,
        )
        .header("Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT");
        let err = TwilioError::Api(ApiError::from_response(Method::Post, &resp));
        assert_eq!(err.retry_after(), Some(RetryAfter::At(784_111_787)));
        // 10 s after 08:49:37.
        assert_eq!(b.delay_after(0, &err, 784_111_777_000, &Fixed(0)), 10_000);
    }

    #[test]
    fn seeded_draws_stay_within_bounds_and_vary() {
        let b = Backoff::default();
        let rng = SeededRng::new(42);
        let draws: Vec<u64> = (0..200).map(|_| b.delay_ms(4, None, &rng)).collect();
        assert!(draws.iter().all(|&d| d <= 8_000));
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(
            distinct.len() > 150,
            "only {} distinct draws",
            distinct.len()
        );
    }

    #[test]
    fn invalid_schedules() {
        assert_eq!(Backoff::new(0, 10), Err(BackoffError::ZeroBase));
        assert_eq!(Backoff::new(10, 9), Err(BackoffError::CapBelowBase));
        assert_eq!(Backoff::default(), Backoff::new(500, 30_000).unwrap());
    }
}
