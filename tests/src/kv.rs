//! The key-value store shared by every component of a [`crate::SpinApp`], with the semantics of
//! Spin's two real backends (spin.md §4.3).
//!
//! One [`HostStore`] exists per label; `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue@0.2.0-draft2` reach the same data, as in Spin. Which backend is imitated is a
//! property of the app ([`KvBackend`]) and applies to every store at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use connector::{KeyValue, StoreError};

/// Which Spin key-value backend to imitate (spin.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvBackend {
    /// Spin's default store (`crates/key-value-spin`): counters are 8 little-endian bytes; CAS
    /// compares values (ABA possible); a swap without a remembered value (absent key, or
    /// `current()` never called) is an unconditional upsert; a lost race is `cas-failed`.
    #[default]
    Sqlite,
    /// A Redis runtime config (`crates/key-value-redis`): counters are decimal strings (`INCRBY`);
    /// `current()` is `WATCH`+`GET` and a swap whose watched key changed meanwhile is reported as
    /// success although its write was dropped; `batch.get-many` fails for several keys and traps
    /// the host for one.
    Redis,
}

/// The backend switch shared by all stores of one app.
#[derive(Debug, Default)]
pub(crate) struct BackendCell(AtomicBool);

impl BackendCell {
    pub(crate) fn set(&self, backend: KvBackend) {
        self.0.store(backend == KvBackend::Redis, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> KvBackend {
        if self.0.load(Ordering::SeqCst) {
            KvBackend::Redis
        } else {
            KvBackend::Sqlite
        }
    }
}

#[derive(Debug, Default)]
struct Data {
    values: BTreeMap<String, Vec<u8>>,
    /// Bumped on every write of a key (set, delete, increment, swap), never reset: what Redis
    /// `WATCH` detects.
    versions: HashMap<String, u64>,
    writes: u64,
}

impl Data {
    fn write(&mut self, key: &str, value: Option<Vec<u8>>) {
        match value {
            Some(v) => {
                self.values.insert(key.to_owned(), v);
            }
            None => {
                self.values.remove(key);
            }
        }
        *self.versions.entry(key.to_owned()).or_default() += 1;
        self.writes += 1;
    }

    fn version(&self, key: &str) -> u64 {
        self.versions.get(key).copied().unwrap_or(0)
    }
}

/// Why an `increment` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IncrementError {
    /// SQLite backend: the key holds something other than 8 bytes. Spin's host `expect`s 8 bytes
    /// there and panics, so the guest call traps.
    NotEightBytes { key: String, len: usize },
    /// Redis backend: `ERR value is not an integer or out of range`.
    NotAnInteger { key: String },
    /// The new value does not fit an i64.
    Overflow { key: String },
}

impl std::fmt::Display for IncrementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IncrementError::NotEightBytes { key, len } => write!(
                f,
                "increment of {key:?}: the value is {len} bytes, not an 8-byte little-endian \
                 counter (Spin's SQLite host panics here)"
            ),
            IncrementError::NotAnInteger { key } => {
                write!(
                    f,
                    "increment of {key:?}: ERR value is not an integer or out of range"
                )
            }
            IncrementError::Overflow { key } => {
                write!(
                    f,
                    "increment of {key:?}: increment or decrement would overflow"
                )
            }
        }
    }
}

/// What a CAS handle remembered when the guest called `current()`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CasRead {
    /// SQLite: the value read (`None` = absent or never read).
    pub(crate) value: Option<Vec<u8>>,
    /// Redis: the key's version at `WATCH` time (`None` = never watched).
    pub(crate) watched: Option<u64>,
}

/// Outcome of `atomics.swap` as the guest sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwapOutcome {
    /// `ok(())`. On Redis this includes a write that was silently dropped.
    Ok,
    /// `cas-failed` (SQLite only).
    CasFailed,
}

/// One labelled store of a [`crate::SpinApp`], shared by all its components.
///
/// Tests use it directly to seed and inspect state: it implements [`connector::KeyValue`] with
/// the same backend semantics the guests get.
#[derive(Debug)]
pub struct HostStore {
    label: String,
    data: Mutex<Data>,
    backend: Arc<BackendCell>,
}

impl HostStore {
    pub(crate) fn new(label: &str, backend: Arc<BackendCell>) -> HostStore {
        HostStore {
            label: label.to_owned(),
            data: Mutex::default(),
            backend,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock leaves the map consistent (every write is one insert),
        // so a poisoned lock is still usable.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store's label (`default`, …).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().values.keys().cloned().collect()
    }

    /// A copy of every key and value, sorted by key.
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().values.clone()
    }

    /// How many writes (set, delete, increment, successful swap, each `set-many`/`delete-many`
    /// entry) this store has committed so far, from guests and tests alike. Spin's default store
    /// commits one SQLite transaction per write (~400/s, spin.md §4.3), so tests use this to keep
    /// writes per request few.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    pub(crate) fn get_value(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().values.get(key).cloned()
    }

    pub(crate) fn set_value(&self, key: &str, value: &[u8]) {
        self.lock().write(key, Some(value.to_vec()));
    }

    pub(crate) fn delete_value(&self, key: &str) {
        self.lock().write(key, None);
    }

    pub(crate) fn exists(&self, key: &str) -> bool {
        self.lock().values.contains_key(key)
    }

    pub(crate) fn increment_value(&self, key: &str, delta: i64) -> Result<i64, IncrementError> {
        let mut data = self.lock();
        let current = data.values.get(key);
        let (old, encode): (i64, fn(i64) -> Vec<u8>) = match self.backend.get() {
            KvBackend::Sqlite => {
                let old = match current {
                    None => 0,
                    Some(v) => i64::from_le_bytes(v.as_slice().try_into().map_err(|_| {
                        IncrementError::NotEightBytes {
                            key: key.to_owned(),
                            len: v.len(),
                        }
                    })?),
                };
                (old, |n| n.to_le_bytes().to_vec())
            }
            KvBackend::Redis => {
                let old = match current {
                    None => 0,
                    Some(v) => {
                        parse_redis_integer(v).ok_or_else(|| IncrementError::NotAnInteger {
                            key: key.to_owned(),
                        })?
                    }
                };
                (old, |n| n.to_string().into_bytes())
            }
        };
        let new = old
            .checked_add(delta)
            .ok_or_else(|| IncrementError::Overflow {
                key: key.to_owned(),
            })?;
        data.write(key, Some(encode(new)));
        Ok(new)
    }

    /// `cas.current()`: reads the value and remembers what each backend remembers.
    pub(crate) fn cas_current(&self, key: &str) -> (Option<Vec<u8>>, CasRead) {
        let data = self.lock();
        let value = data.values.get(key).cloned();
        let read = CasRead {
            value: value.clone(),
            watched: Some(data.version(key)),
        };
        (value, read)
    }

    /// `atomics.swap`, per backend (spin.md §4.3).
    pub(crate) fn cas_swap(&self, key: &str, read: &CasRead, value: &[u8]) -> SwapOutcome {
        let mut data = self.lock();
        match self.backend.get() {
            KvBackend::Sqlite => match &read.value {
                // UPDATE … WHERE value = old: zero rows means cas-failed.
                Some(old) => {
                    if data.values.get(key) == Some(old) {
                        data.write(key, Some(value.to_vec()));
                        SwapOutcome::Ok
                    } else {
                        SwapOutcome::CasFailed
                    }
                }
                // Nothing remembered: unconditional upsert.
                None => {
                    data.write(key, Some(value.to_vec()));
                    SwapOutcome::Ok
                }
            },
            KvBackend::Redis => {
                // MULTI/SET/EXEC: an EXEC aborted by WATCH returns nil, which the host parses as
                // success; the write is dropped.
                if read.watched.is_none_or(|v| v == data.version(key)) {
                    data.write(key, Some(value.to_vec()));
                }
                SwapOutcome::Ok
            }
        }
    }

    /// `batch.get-many`. Only keys that exist are returned (Spin's SQLite store selects existing
    /// rows). On Redis several keys are rejected by the server and one key panics the host.
    pub(crate) fn get_many(&self, keys: &[String]) -> Result<GetMany, String> {
        if self.backend.get() == KvBackend::Redis {
            return match keys.len() {
                0 => Ok(GetMany::Values(Vec::new())),
                1 => Ok(GetMany::HostPanic),
                _ => Err("ERR wrong number of arguments for 'keys' command".into()),
            };
        }
        let data = self.lock();
        Ok(GetMany::Values(
            keys.iter()
                .filter_map(|k| data.values.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        ))
    }
}

/// Result of [`HostStore::get_many`].
pub(crate) enum GetMany {
    Values(Vec<(String, Vec<u8>)>),
    /// redis-rs panics on the reply (spin.md §4.3): the guest call traps.
    HostPanic,
}

/// Redis integers: an optional `-` and decimal digits, fitting an i64.
fn parse_redis_integer(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl KeyValue for HostStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_value(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.set_value(key, value);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.delete_value(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.increment_value(key, delta)
            .map_err(|e| StoreError::Other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(backend: KvBackend) -> HostStore {
        let cell = Arc::new(BackendCell::default());
        cell.set(backend);
        HostStore::new("default", cell)
    }

    #[test]
    fn sqlite_counters_are_8_byte_le_and_reject_other_values() {
        let s = store(KvBackend::Sqlite);
        assert_eq!(s.increment_value("c", 1), Ok(1));
        assert_eq!(s.increment_value("c", 41), Ok(42));
        assert_eq!(s.get_value("c"), Some(42i64.to_le_bytes().to_vec()));
        s.set_value("text", b"12");
        assert_eq!(
            s.increment_value("text", 1),
            Err(IncrementError::NotEightBytes {
                key: "text".into(),
                len: 2
            })
        );
        assert_eq!(s.writes(), 3);
    }

    #[test]
    fn redis_counters_are_decimal_strings() {
        let s = store(KvBackend::Redis);
        assert_eq!(s.increment_value("c", -5), Ok(-5));
        assert_eq!(s.get_value("c"), Some(b"-5".to_vec()));
        s.set_value("bin", &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            s.increment_value("bin", 1),
            Err(IncrementError::NotAnInteger { key: "bin".into() })
        );
        s.set_value("n", b"+3");
        assert!(s.increment_value("n", 1).is_err());
    }

    #[test]
    fn sqlite_cas_compares_values_and_upserts_blindly() {
        let s = store(KvBackend::Sqlite);
        s.set_value("k", b"v1");
        let (_, a) = s.cas_current("k");
        let (_, b) = s.cas_current("k");
        assert_eq!(s.cas_swap("k", &b, b"b"), SwapOutcome::Ok);
        assert_eq!(s.cas_swap("k", &a, b"a"), SwapOutcome::CasFailed);
        assert_eq!(s.get_value("k"), Some(b"b".to_vec()));
        // ABA: a read of "b", then b -> x -> b, still swaps.
        let (_, c) = s.cas_current("k");
        s.set_value("k", b"x");
        s.set_value("k", b"b");
        assert_eq!(s.cas_swap("k", &c, b"c"), SwapOutcome::Ok);
        // Absent key: both creators succeed, last writer wins.
        let (_, p) = s.cas_current("new");
        let (_, q) = s.cas_current("new");
        assert_eq!(s.cas_swap("new", &q, b"q"), SwapOutcome::Ok);
        assert_eq!(s.cas_swap("new", &p, b"p"), SwapOutcome::Ok);
        assert_eq!(s.get_value("new"), Some(b"p".to_vec()));
    }

    #[test]
    fn redis_cas_reports_lost_updates_as_ok() {
        let s = store(KvBackend::Redis);
        s.set_value("k", b"v1");
        let (_, a) = s.cas_current("k");
        let (_, b) = s.cas_current("k");
        assert_eq!(s.cas_swap("k", &b, b"b"), SwapOutcome::Ok);
        assert_eq!(s.cas_swap("k", &a, b"a"), SwapOutcome::Ok);
        assert_eq!(s.get_value("k"), Some(b"b".to_vec()));
        // Without current(), a swap is a plain SET.
        assert_eq!(s.cas_swap("k", &CasRead::default(), b"z"), SwapOutcome::Ok);
        assert_eq!(s.get_value("k"), Some(b"z".to_vec()));
    }

    #[test]
    fn redis_get_many_fails_for_several_keys() {
        let s = store(KvBackend::Redis);
        assert!(s.get_many(&["a".into(), "b".into()]).is_err());
        assert!(matches!(s.get_many(&["a".into()]), Ok(GetMany::HostPanic)));
        let s = store(KvBackend::Sqlite);
        s.set_value("a", b"1");
        match s.get_many(&["a".into(), "b".into()]) {
            Ok(GetMany::Values(v)) => assert_eq!(v, vec![("a".to_owned(), b"1".to_vec())]),
            _ => panic!("sqlite get-many must return the existing keys"),
        }
    }
}
