//! Due indexes: "which items are due now?" without scanning the store.
//!
//! Spin's key-value store has no range scan and `get-keys` lists everything (`spin.md` §4.1), so
//! every time-ordered work list (DATEV submissions and job polls for `datev-poller`, alerts for
//! `twilio-sender`) is an explicit index of **time buckets**:
//!
//! | key | kind | meaning |
//! |---|---|---|
//! | `seq:sched:<name>:<bucket>` | counter | slots handed out in bucket `<bucket>` (= `due_at_ms / bucket_ms`) |
//! | `sched:<name>:<bucket>:<slot>` | JSON [`Entry`] | "item `<item>` is due at `<due_at_ms>`" |
//! | `cursor:sched:<name>` | JSON [`Cursor`] | the single consumer's progress (written only under its lease) |
//!
//! # Producers ([`append`]): any component, any time
//! `increment(seq:sched:<name>:<bucket>)` hands out a slot, `set` writes the entry: two writes,
//! no read-modify-write, so concurrent producers never lose each other's entries. An entry is
//! only a wake-up call: the **item's own record is the truth** (its state and its `next_*_at`).
//! Entries may therefore repeat or go stale (the item was rescheduled, or finished) and the
//! consumer must re-check the item before acting: a stale or repeated entry is skipped.
//!
//! # The consumer ([`scan`] then [`Plan::commit`])
//! Under its lease it reads buckets in time order from its cursor up to the current bucket,
//! bounded by [`ScanLimits`], and gets the due entries (`due_at_ms <= now`). It handles each
//! (idempotently: a re-run may see it again), then commits the cursor and deletes the consumed
//! entries ([`Plan::commit`]). A crash before the commit only means the same entries are seen
//! again.
//!
//! - Within a bucket entries are in append order, not due order: the scan stops at the first
//!   entry not yet due (it waits at most one bucket width) and at a slot whose entry is missing
//!   (its producer is between `increment` and `set`, or crashed there).
//! - A producer may append to a bucket the consumer has already passed (it read its clock just
//!   before the consumer moved on). The cursor therefore keeps, for every bucket younger than
//!   the grace period, how many slots it consumed, and re-reads those counters on every scan
//!   ([`Cursor::recent`]). After the grace period a bucket is closed: a missing entry there is
//!   given up (its producer is long gone) and the bucket's keys are no longer read.
//! - A first scan without a cursor starts `initial_lookback_ms` in the past.
//!
//! Reads per scan: one counter per bucket visited plus one `get` per slot; no writes until the
//! caller's `commit`.

use crate::keys;
use crate::ports::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The counter of bucket `bucket` of index `name` (`seq:sched:<name>:<bucket>`; `increment` only).
pub fn seq_key(name: &str, bucket: u64) -> String {
    format!("seq:sched:{}:{bucket}", keys::segment(name))
}

/// Entry `slot` of bucket `bucket` of index `name` (`sched:<name>:<bucket>:<slot>`).
pub fn entry_key(name: &str, bucket: u64, slot: u64) -> String {
    format!("sched:{}:{bucket}:{slot}", keys::segment(name))
}

/// The consumer's cursor of index `name` (`cursor:sched:<name>`).
pub fn cursor_key(name: &str) -> String {
    format!("cursor:sched:{}", keys::segment(name))
}

/// Schema version of [`Entry`] and [`Cursor`].
pub const SCHEDULE_VERSION: u32 = 1;

/// Shape of one due index. All producers and the consumer of an index must agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Width of one bucket (default 5 s: one cron tick).
    pub bucket_ms: u64,
    /// How long a passed bucket is still re-read for late appends (default 120 s: far longer
    /// than any producer takes between reading its clock and writing its entry).
    pub grace_ms: u64,
    /// Where a consumer without a cursor starts (default 6 h back: entries written before the
    /// consumer ever ran are still found).
    pub initial_lookback_ms: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            bucket_ms: 5_000,
            grace_ms: 120_000,
            initial_lookback_ms: 6 * 3_600_000,
        }
    }
}

impl ScheduleConfig {
    fn bucket_of(&self, at_ms: u64) -> u64 {
        at_ms / self.bucket_ms.max(1)
    }

    fn bucket_end(&self, bucket: u64) -> u64 {
        bucket
            .saturating_add(1)
            .saturating_mul(self.bucket_ms.max(1))
    }

    /// A bucket is closed once its end plus the grace period has passed.
    fn is_closed(&self, bucket: u64, now_ms: u64) -> bool {
        self.bucket_end(bucket).saturating_add(self.grace_ms) <= now_ms
    }
}

/// One wake-up call: `item` (a store key such as `batch:17`, `job:…`, `outbox:…`) is due at
/// `due_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// [`SCHEDULE_VERSION`].
    pub version: u32,
    /// Key of the item's record.
    pub item: String,
    /// When it is due (Unix ms).
    pub due_at_ms: u64,
}

/// Where the entry of a due item lives (to delete it once handled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// Bucket number.
    pub bucket: u64,
    /// Slot within the bucket (from 1).
    pub slot: u64,
}

/// The consumer's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// [`SCHEDULE_VERSION`].
    pub version: u32,
    /// The first bucket not yet fully consumed.
    pub bucket: u64,
    /// Slots of `bucket` consumed (a prefix: slots `1..=consumed`).
    pub consumed: u64,
    /// Passed buckets still inside the grace period → slots consumed in each; their counters are
    /// re-read for late appends.
    #[serde(default)]
    pub recent: BTreeMap<u64, u64>,
}

/// Bounds of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// At most this many due entries are returned.
    pub max_entries: usize,
    /// At most this many bucket counters are read (bounds catch-up after downtime).
    pub max_buckets: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            max_entries: 50,
            max_buckets: 5_000,
        }
    }
}

/// A due entry found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Where it is stored.
    pub slot: Slot,
    /// The entry.
    pub entry: Entry,
}

/// Why the index could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The store failed: nothing was done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not match the schema.
    #[error("{key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<keys::CounterError> for ScheduleError {
    fn from(e: keys::CounterError) -> Self {
        match e {
            keys::CounterError::Store(s) => Self::Store(s),
            keys::CounterError::NotACounter { key, len } => Self::Corrupt {
                key,
                reason: format!("not a counter ({len} bytes)"),
            },
        }
    }
}

/// Appends "`item` is due at `due_at_ms`" to index `name` (two writes). An overdue item goes to
/// the bucket of `now_ms`. Returns where it was stored.
pub fn append(
    store: &(impl KeyValue + ?Sized),
    config: &ScheduleConfig,
    name: &str,
    item: &str,
    due_at_ms: u64,
    now_ms: u64,
) -> Result<Slot, ScheduleError> {
    let bucket = config.bucket_of(due_at_ms.max(now_ms));
    let entry = Entry {
        version: SCHEDULE_VERSION,
        item: item.to_owned(),
        due_at_ms,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| ScheduleError::Corrupt {
        key: item.to_owned(),
        reason: e.to_string(),
    })?;
    let counter = seq_key(name, bucket);
    let n = store.increment(&counter, 1)?;
    let slot = u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ScheduleError::Corrupt {
            key: counter,
            reason: format!("counter at {n}"),
        })?;
    store.set(&entry_key(name, bucket, slot), &bytes)?;
    Ok(Slot { bucket, slot })
}

/// What one scan found, and the cursor to commit once the entries are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    name: String,
    /// Due entries in scan order (oldest bucket first).
    pub due: Vec<Due>,
    /// Entries read but skipped as unreadable (a corrupt record), with the reason; they are
    /// consumed so one bad value cannot block the index.
    pub corrupt: Vec<(Slot, String)>,
    cursor: Cursor,
    changed: bool,
}

impl Plan {
    /// Call once **every** entry of [`Plan::due`] is handled: writes the cursor (one write, none
    /// when nothing moved), then deletes the consumed entries (one write each). A crash before
    /// the cursor write only means the entries are seen again; a crash after it leaves some
    /// consumed entries behind, which are never read again.
    pub fn commit(&self, store: &(impl KeyValue + ?Sized)) -> Result<(), ScheduleError> {
        if self.changed {
            let bytes = serde_json::to_vec(&self.cursor).map_err(|e| ScheduleError::Corrupt {
                key: cursor_key(&self.name),
                reason: e.to_string(),
            })?;
            store.set(&cursor_key(&self.name), &bytes)?;
        }
        for slot in self
            .due
            .iter()
            .map(|d| d.slot)
            .chain(self.corrupt.iter().map(|(s, _)| *s))
        {
            store.delete(&entry_key(&self.name, slot.bucket, slot.slot))?;
        }
        Ok(())
    }

    /// The cursor [`Plan::commit`] writes.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }
}

/// Reads the cursor of index `name` (no write).
pub fn read_cursor(
    store: &(impl KeyValue + ?Sized),
    name: &str,
) -> Result<Option<Cursor>, ScheduleError> {
    let key = cursor_key(name);
    match store.get(&key)? {
        None => Ok(None),
        Some(bytes) => {
            let c: Cursor = serde_json::from_slice(&bytes).map_err(|e| ScheduleError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            if c.version != SCHEDULE_VERSION {
                return Err(ScheduleError::Corrupt {
                    key,
                    reason: format!("version {} is not supported", c.version),
                });
            }
            Ok(Some(c))
        }
    }
}

/// How one bucket's slots were consumed.
enum BucketScan {
    /// Every slot up to the counter was consumed.
    Drained,
    /// Stopped at a slot (entry not yet due, missing, or the entry limit reached).
    Stopped,
}

/// Finds the due entries of index `name` (reads only). See the module docs.
pub fn scan(
    store: &(impl KeyValue + ?Sized),
    config: &ScheduleConfig,
    name: &str,
    now_ms: u64,
    limits: &ScanLimits,
) -> Result<Plan, ScheduleError> {
    let now_bucket = config.bucket_of(now_ms);
    let (mut cursor, mut changed) = match read_cursor(store, name)? {
        Some(c) => (c, false),
        None => {
            let start = config.bucket_of(now_ms.saturating_sub(config.initial_lookback_ms));
            (
                Cursor {
                    version: SCHEDULE_VERSION,
                    bucket: start,
                    consumed: 0,
                    recent: BTreeMap::new(),
                },
                true,
            )
        }
    };
    let mut plan = Plan {
        name: name.to_owned(),
        due: Vec::new(),
        corrupt: Vec::new(),
        cursor: cursor.clone(),
        changed: false,
    };
    let mut budget = limits.max_buckets;

    // 1. Late appends to passed buckets still inside the grace period.
    let recent: Vec<(u64, u64)> = cursor.recent.iter().map(|(b, c)| (*b, *c)).collect();
    for (bucket, consumed) in recent {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let closed = config.is_closed(bucket, now_ms);
        let mut done = consumed;
        scan_bucket(
            store, name, bucket, &mut done, now_ms, closed, limits, &mut plan,
        )?;
        if done != consumed {
            cursor.recent.insert(bucket, done);
            changed = true;
        }
        if closed {
            cursor.recent.remove(&bucket);
            changed = true;
        }
    }

    // 2. Forward from the cursor to the current bucket.
    while cursor.bucket <= now_bucket && budget > 0 && plan.due.len() < limits.max_entries {
        budget -= 1;
        let bucket = cursor.bucket;
        let closed = config.is_closed(bucket, now_ms);
        let mut done = cursor.consumed;
        let outcome = scan_bucket(
            store, name, bucket, &mut done, now_ms, closed, limits, &mut plan,
        )?;
        if done != cursor.consumed {
            cursor.consumed = done;
            changed = true;
        }
        let passed = bucket < now_bucket;
        match outcome {
            BucketScan::Drained if passed => {
                // Even an empty bucket can still receive a late entry: remember it.
                if !closed {
                    cursor.recent.insert(bucket, done);
                }
                cursor.bucket = bucket + 1;
                cursor.consumed = 0;
                changed = true;
            }
            BucketScan::Drained | BucketScan::Stopped => break,
        }
    }
    // Empty buckets remembered only for the grace period; drop the closed ones now.
    let before = cursor.recent.len();
    cursor.recent.retain(|b, _| !config.is_closed(*b, now_ms));
    changed |= cursor.recent.len() != before;
    plan.cursor = cursor;
    plan.changed = changed;
    Ok(plan)
}

#[allow(clippy::too_many_arguments)]
fn scan_bucket(
    store: &(impl KeyValue + ?Sized),
    name: &str,
    bucket: u64,
    consumed: &mut u64,
    now_ms: u64,
    closed: bool,
    limits: &ScanLimits,
    plan: &mut Plan,
) -> Result<BucketScan, ScheduleError> {
    let last = u64::try_from(keys::read_counter(store, &seq_key(name, bucket))?).unwrap_or(0);
    while *consumed < last {
        if plan.due.len() >= limits.max_entries {
            return Ok(BucketScan::Stopped);
        }
        let slot = Slot {
            bucket,
            slot: *consumed + 1,
        };
        let key = entry_key(name, bucket, slot.slot);
        match store.get(&key)? {
            // Its producer crashed between `increment` and `set`, long ago: give it up.
            None if closed => {}
            // Its producer is between `increment` and `set`: wait (at most the grace period).
            None => return Ok(BucketScan::Stopped),
            Some(bytes) => match serde_json::from_slice::<Entry>(&bytes) {
                Ok(entry) if entry.due_at_ms > now_ms => return Ok(BucketScan::Stopped),
                Ok(entry) => plan.due.push(Due { slot, entry }),
                Err(e) => plan.corrupt.push((slot, format!("{key}: {e}"))),
            },
        }
        *consumed += 1;
    }
    Ok(BucketScan::Drained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    const CFG: ScheduleConfig = ScheduleConfig {
        bucket_ms: 5_000,
        grace_ms: 20_000,
        initial_lookback_ms: 60_000,
    };
    const T: u64 = 1_000_000_000;

    fn items(plan: &Plan) -> Vec<&str> {
        plan.due.iter().map(|d| d.entry.item.as_str()).collect()
    }

    fn run(s: &MemoryStore, now: u64) -> Vec<String> {
        let plan = scan(s, &CFG, "t", now, &ScanLimits::default()).unwrap();
        plan.commit(s).unwrap();
        plan.due.iter().map(|d| d.entry.item.clone()).collect()
    }

    #[test]
    fn entries_come_due_in_time_order_of_buckets() {
        let s = MemoryStore::new();
        append(&s, &CFG, "t", "job:b", T + 12_000, T).unwrap();
        append(&s, &CFG, "t", "job:a", T + 1_000, T).unwrap();
        append(&s, &CFG, "t", "job:now", T, T).unwrap();
        append(&s, &CFG, "t", "job:c", T - 10_000, T - 10_000).unwrap();
        assert_eq!(run(&s, T), vec!["job:c"]);
        // Within a bucket, entries wait behind one not yet due (at most one bucket width).
        assert_eq!(run(&s, T + 999), Vec::<String>::new());
        assert_eq!(run(&s, T + 1_000), vec!["job:a", "job:now"]);
        assert_eq!(run(&s, T + 11_999), Vec::<String>::new());
        assert_eq!(run(&s, T + 12_000), vec!["job:b"]);
        assert_eq!(run(&s, T + 60_000), Vec::<String>::new());
        // Handled entries are deleted; only counters and the cursor remain.
        assert!(
            s.keys()
                .iter()
                .all(|k| k.starts_with("seq:sched:t:") || k == "cursor:sched:t")
        );
    }

    #[test]
    fn a_late_append_to_a_passed_bucket_is_still_found() {
        let s = MemoryStore::new();
        assert_eq!(run(&s, T + 10_000), Vec::<String>::new());
        // A producer read its clock at T + 1 s and writes only now, into a passed bucket.
        append(&s, &CFG, "t", "outbox:late", T + 1_000, T + 1_000).unwrap();
        assert_eq!(run(&s, T + 10_001), vec!["outbox:late"]);
        assert_eq!(run(&s, T + 10_002), Vec::<String>::new());
    }

    #[test]
    fn an_unhandled_scan_is_seen_again() {
        let s = MemoryStore::new();
        append(&s, &CFG, "t", "batch:1", T, T).unwrap();
        let plan = scan(&s, &CFG, "t", T + 6_000, &ScanLimits::default()).unwrap();
        assert_eq!(items(&plan), vec!["batch:1"]);
        // Crash: neither done nor commit.
        assert_eq!(run(&s, T + 6_000), vec!["batch:1"]);
    }

    #[test]
    fn a_missing_entry_waits_for_the_grace_period() {
        let s = MemoryStore::new();
        // A producer took slot 1 and has not written it yet.
        s.increment(&seq_key("t", T / 5_000), 1).unwrap();
        append(&s, &CFG, "t", "job:x", T, T).unwrap();
        assert_eq!(run(&s, T + 1), Vec::<String>::new());
        s.set(
            &entry_key("t", T / 5_000, 1),
            br#"{"version":1,"item":"job:w","due_at_ms":1000000000}"#,
        )
        .unwrap();
        assert_eq!(run(&s, T + 2), vec!["job:w", "job:x"]);
        // Another slot that is never written is given up after the grace period.
        s.increment(&seq_key("t", T / 5_000), 1).unwrap();
        append(&s, &CFG, "t", "job:y", T + 3, T + 3).unwrap();
        assert_eq!(run(&s, T + 4), Vec::<String>::new());
        assert_eq!(run(&s, T + 5_000 + 20_000), vec!["job:y"]);
    }

    #[test]
    fn limits_bound_a_scan_and_the_rest_follows() {
        let s = MemoryStore::new();
        for i in 0..7 {
            append(&s, &CFG, "t", &format!("job:{i}"), T + i * 5_000, T).unwrap();
        }
        let limits = ScanLimits {
            max_entries: 3,
            max_buckets: 100,
        };
        let plan = scan(&s, &CFG, "t", T + 60_000, &limits).unwrap();
        assert_eq!(items(&plan), vec!["job:0", "job:1", "job:2"]);
        plan.commit(&s).unwrap();
        let plan = scan(&s, &CFG, "t", T + 60_000, &limits).unwrap();
        assert_eq!(items(&plan), vec!["job:3", "job:4", "job:5"]);
        plan.commit(&s).unwrap();
        let plan = scan(&s, &CFG, "t", T + 60_000, &limits).unwrap();
        assert_eq!(items(&plan), vec!["job:6"]);
    }

    #[test]
    fn first_scan_starts_at_the_lookback_and_catch_up_is_bounded() {
        let s = MemoryStore::new();
        append(&s, &CFG, "t", "job:old", T - 50_000, T - 50_000).unwrap();
        append(&s, &CFG, "t", "job:too-old", T - 70_000, T - 70_000).unwrap();
        let limits = ScanLimits {
            max_entries: 10,
            max_buckets: 3,
        };
        let mut seen = Vec::new();
        for _ in 0..10 {
            let plan = scan(&s, &CFG, "t", T, &limits).unwrap();
            seen.extend(items(&plan).into_iter().map(str::to_owned));
            plan.commit(&s).unwrap();
        }
        assert_eq!(seen, vec!["job:old"]);
    }

    #[test]
    fn corrupt_entries_are_reported_and_consumed() {
        let s = MemoryStore::new();
        s.increment(&seq_key("t", T / 5_000), 1).unwrap();
        s.set(&entry_key("t", T / 5_000, 1), b"not json").unwrap();
        append(&s, &CFG, "t", "job:ok", T, T).unwrap();
        let plan = scan(&s, &CFG, "t", T, &ScanLimits::default()).unwrap();
        assert_eq!(items(&plan), vec!["job:ok"]);
        assert_eq!(plan.corrupt.len(), 1);
        assert_eq!(
            plan.corrupt[0].0,
            Slot {
                bucket: T / 5_000,
                slot: 1
            }
        );
    }

    #[test]
    fn entry_json_is_stable() {
        let e = Entry {
            version: 1,
            item: "job:J1".into(),
            due_at_ms: 7,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"version":1,"item":"job:J1","due_at_ms":7}"#
        );
    }
}
