//! In-memory implementations of the ports, for native tests and benchmarks.

use crate::ports::{Clock, KeyValue, Rng, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// An in-memory key-value store with the semantics of Spin's default (SQLite) store
/// (`spin.md` §4.3): counters are 8 little-endian bytes, a missing counter counts as 0, and an
/// increment of a key that holds anything else fails (Spin's host would trap there).
///
/// It can also fail on purpose: [`MemoryStore::fail_after`] makes every call after the next `n`
/// writes return [`StoreError::Other`], to test that a store error is treated as "not done".
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: BTreeMap<String, Vec<u8>>,
    writes: u64,
    fail_after_writes: Option<u64>,
}

impl Inner {
    fn check_write(&mut self) -> Result<(), StoreError> {
        if let Some(limit) = self.fail_after_writes
            && self.writes >= limit
        {
            return Err(StoreError::Other(
                "injected failure: database is locked".into(),
            ));
        }
        self.writes += 1;
        Ok(())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock can only come from a test assertion; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every key, sorted (tests only: Spin's `get-keys` is a full scan and production code never
    /// calls it).
    pub fn keys(&self) -> Vec<String> {
        self.lock().map.keys().cloned().collect()
    }

    /// Every key and value, sorted by key (tests only).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        self.lock()
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Number of successful writes (`set`, `delete`, `increment`) so far.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// After `n` more successful writes, every write fails until [`MemoryStore::heal`].
    pub fn fail_after(&self, n: u64) {
        let mut inner = self.lock();
        inner.fail_after_writes = Some(inner.writes + n);
    }

    /// Stops injecting failures.
    pub fn heal(&self) {
        self.lock().fail_after_writes = None;
    }
}

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().map.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.check_write()?;
        inner.map.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.check_write()?;
        inner.map.remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        let current = match inner.map.get(key) {
            None => 0,
            Some(bytes) => {
                let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    StoreError::Other(format!("key {key:?} does not hold a counter"))
                })?;
                i64::from_le_bytes(arr)
            }
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StoreError::Other(format!("counter {key:?} overflowed")))?;
        inner.check_write()?;
        inner
            .map
            .insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }
}

/// A clock the test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        Self {
            now_ms: AtomicU64::new(now_ms),
        }
    }
    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set_ms(&self, ms: u64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A deterministic generator (SplitMix64): the same seed gives the same run.
#[derive(Debug)]
pub struct SeededRng {
    state: AtomicU64,
}

impl SeededRng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }
}

impl Rng for SeededRng {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            // SplitMix64 (Steele, Lea, Flood 2014): one add, then a fixed mix.
            let mut z = self
                .state
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_is_first_come() {
        let s = MemoryStore::new();
        assert!(s.claim("claim:x").unwrap());
        assert!(!s.claim("claim:x").unwrap());
        assert_eq!(s.get("claim:x").unwrap().unwrap(), 2i64.to_le_bytes());
    }

    #[test]
    fn increment_of_non_counter_fails_without_writing() {
        let s = MemoryStore::new();
        s.set("k", b"hello").unwrap();
        assert!(matches!(s.increment("k", 1), Err(StoreError::Other(_))));
        assert_eq!(s.get("k").unwrap().unwrap(), b"hello");
    }

    #[test]
    fn injected_failure_is_an_error_not_success() {
        let s = MemoryStore::new();
        s.fail_after(1);
        s.set("a", b"1").unwrap();
        assert!(s.set("b", b"2").is_err());
        assert!(s.increment("c", 1).is_err());
        assert_eq!(s.get("b").unwrap(), None);
        s.heal();
        s.set("b", b"2").unwrap();
    }

    #[test]
    fn seeded_rng_repeats() {
        let (a, b) = (SeededRng::new(7), SeededRng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(a.next_u64(), SeededRng::new(8).next_u64());
    }
}
