//! When to poll a job's status next: exponential backoff with full jitter, a cap, `Retry-After`
//! taken when larger, and a deadline after which the job is reported as stuck.
//!
//! "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): the delay is
//! uniform in `[0, min(cap, base · 2^attempt)]`, which spreads many pollers apart. DATEV asks
//! for backoff and `Retry-After` but publishes no rate limits (datev.md §6).

use crate::InvalidInput;
use connector::Rng;

/// The polling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    base_ms: u64,
    cap_ms: u64,
    min_delay_ms: u64,
    deadline_ms: u64,
}

impl Default for PollPolicy {
    /// Base 2 s, cap 10 min, at least 1 s between calls, deadline 24 h.
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            cap_ms: 600_000,
            min_delay_ms: 1_000,
            deadline_ms: 86_400_000,
        }
    }
}

impl PollPolicy {
    /// A policy; requires `0 < base ≤ cap`, `min_delay ≤ cap` and a deadline above zero.
    pub fn new(
        base_ms: u64,
        cap_ms: u64,
        min_delay_ms: u64,
        deadline_ms: u64,
    ) -> Result<Self, InvalidInput> {
        if base_ms == 0 {
            return Err(InvalidInput::new("poll_base_ms", "must be above zero"));
        }
        if cap_ms < base_ms {
            return Err(InvalidInput::new(
                "poll_cap_ms",
                "must be at least the base",
            ));
        }
        if min_delay_ms > cap_ms {
            return Err(InvalidInput::new(
                "poll_min_delay_ms",
                "must not exceed the cap",
            ));
        }
        if deadline_ms == 0 {
            return Err(InvalidInput::new("poll_deadline_ms", "must be above zero"));
        }
        Ok(Self {
            base_ms,
            cap_ms,
            min_delay_ms,
            deadline_ms,
        })
    }

    /// Base delay.
    pub fn base_ms(&self) -> u64 {
        self.base_ms
    }
    /// Largest exponential delay.
    pub fn cap_ms(&self) -> u64 {
        self.cap_ms
    }
    /// Smallest delay between two calls.
    pub fn min_delay_ms(&self) -> u64 {
        self.min_delay_ms
    }
    /// Time after submission at which a job still unfinished counts as stuck.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }
}

/// What to do next with a job that is not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollDecision {
    /// Ask for the status at this time (Unix ms); never later than the deadline.
    PollAt {
        /// When.
        at_ms: u64,
    },
    /// The deadline has passed: report the job as stuck and stop polling.
    Stuck {
        /// The deadline that passed (Unix ms).
        deadline_at_ms: u64,
    },
}

/// The next status check of a job submitted at `submitted_at_ms` after `attempt` status calls
/// (0 before the first), at `now_ms`. `retry_after_s` is DATEV's `Retry-After` from the last
/// answer (the import's 202, or a 429/503); `random` is a uniform random number (from `Rng`).
///
/// delay = max(uniform[0, min(cap, base · 2^attempt)], min_delay, retry_after); the call is
/// scheduled at `min(now + delay, deadline)`, and once `now ≥ deadline` the job is stuck. So
/// one last check happens at the deadline itself.
pub fn next_poll(
    policy: &PollPolicy,
    attempt: u32,
    submitted_at_ms: u64,
    now_ms: u64,
    retry_after_s: Option<u64>,
    random: u64,
) -> PollDecision {
    let deadline_at_ms = submitted_at_ms.saturating_add(policy.deadline_ms);
    if now_ms >= deadline_at_ms {
        return PollDecision::Stuck { deadline_at_ms };
    }
    let exp = policy
        .base_ms
        .saturating_mul(1u64.checked_shl(attempt).unwrap_or(u64::MAX))
        .min(policy.cap_ms);
    let jittered = match exp.checked_add(1) {
        Some(span) => random % span,
        None => random,
    };
    let mut delay = jittered.max(policy.min_delay_ms);
    if let Some(ra) = retry_after_s {
        delay = delay.max(ra.saturating_mul(1000));
    }
    PollDecision::PollAt {
        at_ms: now_ms.saturating_add(delay).min(deadline_at_ms),
    }
}

/// Result of [`simulate_polling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedPolling {
    /// Status calls made.
    pub status_calls: u32,
    /// When the finished state was seen (ms after submission), if it was.
    pub seen_finished_at_ms: Option<u64>,
}

/// Simulates polling one job that finishes `job_duration_ms` after submission (simulated
/// time, no sleeping): the first call honours `initial_retry_after_s` (the import's
/// `Retry-After`), every later one follows [`next_poll`].
pub fn simulate_polling(
    policy: &PollPolicy,
    job_duration_ms: u64,
    initial_retry_after_s: Option<u64>,
    rng: &dyn Rng,
) -> SimulatedPolling {
    let mut now = 0u64;
    let mut calls = 0u32;
    let mut retry_after = initial_retry_after_s;
    loop {
        match next_poll(policy, calls, 0, now, retry_after, rng.next_u64()) {
            PollDecision::Stuck { .. } => {
                return SimulatedPolling {
                    status_calls: calls,
                    seen_finished_at_ms: None,
                };
            }
            PollDecision::PollAt { at_ms } => {
                now = at_ms;
                calls += 1;
                retry_after = None;
                if now >= job_duration_ms {
                    return SimulatedPolling {
                        status_calls: calls,
                        seen_finished_at_ms: Some(now),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::SeededRng;

    fn policy() -> PollPolicy {
        PollPolicy::new(2_000, 60_000, 1_000, 3_600_000).unwrap()
    }

    #[test]
    fn exponential_upper_bound_and_cap() {
        // random = u64::MAX - k hits the top of the range for spans that divide evenly; use
        // span - 1 explicitly to get the maximum delay.
        let at = |attempt: u32, random: u64| match next_poll(&policy(), attempt, 0, 0, None, random)
        {
            PollDecision::PollAt { at_ms } => at_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(0, 2_000), 2_000);
        assert_eq!(at(1, 4_000), 4_000);
        assert_eq!(at(2, 8_000), 8_000);
        assert_eq!(at(4, 32_000), 32_000);
        // attempt 5 would be 64 s: capped at 60 s.
        assert_eq!(at(5, 60_000), 60_000);
        assert_eq!(at(40, 60_000), 60_000);
        assert_eq!(at(u32::MAX, 60_000), 60_000);
        // Full jitter: random wraps modulo span + 1.
        assert_eq!(at(0, 2_001), 1_000); // 0 → raised to the 1 s minimum
        assert_eq!(at(0, 1_500), 1_500);
        assert_eq!(at(3, 16_001 + 7_000), 7_000);
    }

    #[test]
    fn retry_after_wins_when_larger() {
        let p = policy();
        assert_eq!(
            next_poll(&p, 0, 0, 10_000, Some(5), 500),
            PollDecision::PollAt { at_ms: 15_000 }
        );
        assert_eq!(
            next_poll(&p, 4, 0, 10_000, Some(5), 30_000),
            PollDecision::PollAt { at_ms: 40_000 }
        );
        assert_eq!(
            next_poll(&p, 0, 0, 0, Some(u64::MAX), 0),
            PollDecision::PollAt { at_ms: 3_600_000 }
        );
    }

    #[test]
    fn deadline_makes_a_last_call_then_stuck() {
        let p = policy();
        assert_eq!(
            next_poll(&p, 9, 0, 3_590_000, None, 59_000),
            PollDecision::PollAt { at_ms: 3_600_000 }
        );
        assert_eq!(
            next_poll(&p, 10, 0, 3_600_000, None, 0),
            PollDecision::Stuck {
                deadline_at_ms: 3_600_000
            }
        );
        assert_eq!(
            next_poll(&p, 0, 1_000, 3_601_000, None, 0),
            PollDecision::Stuck {
                deadline_at_ms: 3_601_000
            }
        );
    }

    #[test]
    fn policy_validation() {
        assert_eq!(
            PollPolicy::new(0, 1, 0, 1).unwrap_err().field,
            "poll_base_ms"
        );
        assert_eq!(
            PollPolicy::new(2, 1, 0, 1).unwrap_err().field,
            "poll_cap_ms"
        );
        assert_eq!(
            PollPolicy::new(1, 2, 3, 1).unwrap_err().field,
            "poll_min_delay_ms"
        );
        assert_eq!(
            PollPolicy::new(1, 2, 0, 0).unwrap_err().field,
            "poll_deadline_ms"
        );
    }

    #[test]
    fn simulated_calls_grow_with_the_log_of_the_duration() {
        let p = PollPolicy::default();
        let mean = |duration_ms: u64| {
            let rng = SeededRng::new(42);
            let runs = 2_000u32;
            let total: u64 = (0..runs)
                .map(|_| u64::from(simulate_polling(&p, duration_ms, Some(5), &rng).status_calls))
                .sum();
            total as f64 / f64::from(runs)
        };
        let (a, b, c) = (mean(10_000), mean(120_000), mean(1_800_000));
        println!("mean status calls per job: 10 s {a:.2}, 2 min {b:.2}, 30 min {c:.2}");
        // 12x and 180x longer jobs cost only a few more calls each (log growth below the cap).
        assert_eq!(format!("{a:.2} {b:.2} {c:.2}"), "3.37 7.46 13.94");
        // A fixed seed gives an exact, reproducible run.
        let runs: Vec<SimulatedPolling> = [10_000u64, 120_000, 1_800_000]
            .iter()
            .map(|&d| simulate_polling(&p, d, Some(5), &SeededRng::new(7)))
            .collect();
        println!("seed 7: {runs:?}");
        assert_eq!(
            runs,
            vec![
                SimulatedPolling {
                    status_calls: 3,
                    seen_finished_at_ms: Some(14_088)
                },
                SimulatedPolling {
                    status_calls: 8,
                    seen_finished_at_ms: Some(229_994)
                },
                SimulatedPolling {
                    status_calls: 14,
                    seen_finished_at_ms: Some(2_145_129)
                },
            ]
        );
    }

    #[test]
    fn a_job_that_never_finishes_is_stuck() {
        let p = PollPolicy::new(2_000, 60_000, 1_000, 600_000).unwrap();
        let run = simulate_polling(&p, u64::MAX, None, &SeededRng::new(1));
        assert_eq!(run.seen_finished_at_ms, None);
        assert_eq!(run.status_calls, 23);
    }
}
