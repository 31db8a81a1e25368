//! [`connector::Clock`] and [`connector::Rng`] over WASI.

use connector::{Clock, Rng};

/// Wall-clock time from `wasi:clocks/wall-clock` (what Spin's host reports; not monotonic).
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiClock;

impl Clock for WasiClock {
    fn now_ms(&self) -> u64 {
        let now = spin_sdk::wit::wasi::clocks0_2_6::wall_clock::now();
        now.seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(now.nanoseconds / 1_000_000))
    }
}

/// Cryptographically secure bytes from `wasi:random/random` (the WIT requires a CSPRNG).
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiRng;

impl Rng for WasiRng {
    fn fill(&self, buf: &mut [u8]) {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        let bytes = spin_sdk::wit::wasi::random0_2_6::random::get_random_bytes(len);
        // The host returns exactly `len` bytes (WIT); copy what came, never read past it.
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
    }
}
