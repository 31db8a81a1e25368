//! Prints how many DATEV status calls one job costs under the default polling policy, for jobs
//! lasting 10 s, 2 min and 30 min of simulated time (plus longer ones for context), and how late
//! the finished state is noticed. Figures only, no timed assertions.
//!
//! `cargo bench -p datev --bench poll_calls`

use connector::memory::SeededRng;
use datev::backoff::{PollPolicy, simulate_polling};

fn main() {
    let policy = PollPolicy::default();
    let runs = 10_000u32;
    println!(
        "policy: base {} ms, cap {} ms, min delay {} ms, deadline {} ms; first call after Retry-After 5 s; {runs} seeded runs each",
        policy.base_ms(),
        policy.cap_ms(),
        policy.min_delay_ms(),
        policy.deadline_ms()
    );
    println!(
        "{:>10} {:>10} {:>6} {:>6} {:>18}",
        "job", "mean calls", "min", "max", "mean notice delay"
    );
    for (label, ms) in [
        ("10 s", 10_000u64),
        ("2 min", 120_000),
        ("30 min", 1_800_000),
        ("2 h", 7_200_000),
        ("8 h", 28_800_000),
    ] {
        let rng = SeededRng::new(0x5EED);
        let (mut total, mut min, mut max, mut late) = (0u64, u32::MAX, 0u32, 0u64);
        for _ in 0..runs {
            let r = simulate_polling(&policy, ms, Some(5), &rng);
            total += u64::from(r.status_calls);
            min = min.min(r.status_calls);
            max = max.max(r.status_calls);
            late += r.seen_finished_at_ms.map_or(0, |t| t - ms);
        }
        println!(
            "{label:>10} {:>10.2} {min:>6} {max:>6} {:>16.1} s",
            total as f64 / f64::from(runs),
            late as f64 / f64::from(runs) / 1000.0
        );
    }
}
