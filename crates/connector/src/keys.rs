//! The key-value schema: every key the app writes, in one place (`ARCHITECTURE.md`, "Key-value
//! store").
//!
//! Spin's store has no scans, no expiry and no safe compare-and-swap (`spin.md` §4.3), so every
//! list is an explicit counter plus one key per slot, and every coordination is an `increment`.
//!
//! | key | kind | written by | meaning |
//! |---|---|---|---|
//! | `seq:inbound` | counter | webhook | last inbound-queue slot handed out (the queue's tail) |
//! | `inbound:<slot>` | JSON [`crate::inbound::QueueEntry`] | webhook; then only the queue processor | one received Twilio event (or a tombstone) |
//! | `claim:inbound:<dedup-key>` | counter | webhook | taken (→ 1) only after the event's record is stored; >1 = deliveries seen |
//! | `cursor:inbound` | JSON [`crate::inbound::Cursor`] | inbound-SMS processor (`datev-poller`, under its lease: `flows::releases`) | next slot to process |
//! | `cursor:inbound:<consumer>` | JSON [`crate::inbound::Cursor`] | another consumer of the queue (e.g. `twilio-sender` for status callbacks) | that consumer's next slot |
//! | `claim:applied:<dedup-key>` | counter | queue processor | the event was applied (apply-once across duplicate slots) |
//! | `seq:audit:<yyyymmdd>` | counter | every component | last audit sequence number of that UTC day |
//! | `audit:<yyyymmdd>:<seq>` | JSON [`crate::audit::AuditEntry`] | every component | one audit entry |
//! | `token:datev:<client>` | JSON, tokens sealed | datev | DATEV connection and tokens |
//! | `oauth:datev:<state>` | JSON, sealed | datev | one OAuth authorization attempt |
//! | `claim:oauth-state:<state>` | counter | datev | single use of an OAuth `state` |
//! | `seq:batch` | counter | api | last batch id handed out ([`crate::batch::SEQ_KEY`]) |
//! | `batch:<id>` | JSON [`crate::batch::Batch`] | api (create), poller (submit → result), approval gate | a booking batch and its history |
//! | `batch-file:<id>:<n>` | bytes | api | the batch's EXTF file (n = 0) or DXSO files ([`crate::batch::file_key`]) |
//! | `claim:submit:<id>:<attempt>` | counter | poller | owner of one submission attempt ([`crate::batch::submit_claim`]) |
//! | `claim:decide:<id>:<window>` | counter | approval gate (api, datev-poller) | the one decision on a held batch; two one-minute windows per decider ([`crate::batch::decision_claim`], [`crate::approval::decide`]) |
//! | `approver:<e164>` | JSON [`crate::approval::ApproverRecord`] | api (on hold) | which client a number approves for (answering an SMS that names no batch) |
//! | `seq:verify-check:<VE sid>` | counter | api | Verify checks made on one verification (attempts left = 5 − n, twilio.md §6.3) |
//! | `idem:batches:<key>` | JSON | api | `Idempotency-Key` → batch id and request hash |
//! | `claim:idem:<key>:<window>` | counter | api | one creation per key (two 5-minute windows) |
//! | `client:<client>` | JSON [`crate::client_config::ClientConfig`] | api | contacts, controller, approver, risk and release policy |
//! | `seq:datev-clients`, `datev-client:<slot>`, `claim:datev-client:<client>` | counter, text, counter | api (connect) | DATEV clients ever connected (the poller refreshes their tokens) |
//! | `job:<datev-job-id>` | JSON [`crate::job::JobRecord`] | poller | a DATEV job being polled |
//! | `claim:alerted:reconsent:<client>:<since-ms>` | counter | poller | the re-consent alert of one episode is in the outbox |
//! | `outbox:<dedup-key>` | JSON [`crate::outbox::OutboxItem`] | producers create, then only the sender | an alert to send (`sms-<job>-<contact>`, `call-<job>`, the approval gate's `verify-batch<id>`, `sms-approval<id>-<e164>`, `sms-expired<id>-<e164>`, `sms-reply-<sid>`, …; [`crate::outbox::DedupKey`]) |
//! | `outbox-send:<dedup-key>` | JSON (`sender::journal::SendJournal`) | twilio-sender | the alert's attempts, failures and open (unreconciled) attempt |
//! | `claim:outbox-send:<dedup-key>:<n>` | counter | twilio-sender | owner of send attempt `n` of one alert |
//! | `outbox-send-lost:<dedup-key>:<n>` | JSON | twilio-sender | when a lost attempt claim was first seen (a dead holder is skipped after a grace time) |
//! | `outbox-sid:<sid>` | JSON (`sender::journal::SidLink`) | twilio-sender | which alert a Twilio `SM…`/`CA…` SID belongs to (status callbacks) |
//! | `pace:twilio-sender` | JSON (`sender::pace::PaceState`) | twilio-sender (under its lease) | the 429 gate and backoff level between ticks |
//! | `seq:sched:<index>:<bucket>` | counter | producers | slots of one due-index bucket ([`crate::schedule`]) |
//! | `sched:<index>:<bucket>:<slot>` | JSON [`crate::schedule::Entry`] | producers; deleted by the consumer | "item X is due at T" (indexes `datev-submit`, `datev-poll`, `outbox`, `hold-expiry` ([`crate::approval::EXPIRY_SCHEDULE`])) |
//! | `cursor:sched:<index>` | JSON [`crate::schedule::Cursor`] | the index's consumer (under its lease) | how far the consumer got |
//! | `lease:<name>:<window>` | counter | cron components | "one ticker per window" (`datev-poller`, `twilio-sender`, `datev-refresh:<client>`); the tick leases are deleted by the holder of the window a minute later ([`retire_lease`]) |
//! | `settings:twilio` | JSON, credentials sealed (`flows::credentials`) | api (`PUT /settings/twilio`) | Twilio account, API key and secret, Verify service, sender; read by api and twilio-sender over the variables |
//! | `settings:datev` | JSON, credentials sealed (`flows::credentials`) | api (`PUT /settings/datev`) | DATEV OAuth `client_id` and `client_secret`; read by api and datev-poller over the variables |
//!
//! Rules:
//! - A **counter** key (`seq:…`, `claim:…`, `lease:…`) is only ever changed with `increment`,
//!   never `set`: the SQLite backend stores 8 little-endian bytes there, Redis a decimal string,
//!   and an `increment` of anything else traps in Spin's host. Read one with
//!   [`decode_counter`], which accepts both encodings.
//! - Every variable part is either a validated newtype whose alphabet excludes `:` (SIDs, slots,
//!   dates) or passes through [`segment`], which escapes it, so no input can forge another key.

use crate::ports::{KeyValue, StoreError};
use std::fmt::Write as _;

/// The inbound queue's tail counter: the last slot handed out (`increment` only).
pub const INBOUND_SEQ: &str = "seq:inbound";

/// The inbound queue processor's cursor (JSON, written only by the lease holder).
pub const INBOUND_CURSOR: &str = "cursor:inbound";

/// The cursor of one more consumer of the inbound queue. The queue is a log: records are never
/// moved by reading, so each consumer keeps its own position (`cursor:inbound:<consumer>`).
pub fn inbound_cursor(consumer: &str) -> String {
    format!("{INBOUND_CURSOR}:{}", segment(consumer))
}

/// The record in inbound-queue slot `slot` (slots start at 1).
pub fn inbound_slot(slot: u64) -> String {
    format!("inbound:{slot}")
}

/// The webhook's dedup claim of one event. `dedup_key` is [`crate::inbound::DedupKey::as_key`],
/// already escaped.
pub fn inbound_claim(dedup_key: &str) -> String {
    format!("claim:inbound:{dedup_key}")
}

/// The processor's apply-once claim of one event (same dedup key as [`inbound_claim`]).
pub fn applied_claim(dedup_key: &str) -> String {
    format!("claim:applied:{dedup_key}")
}

/// The audit counter of one UTC day (`yyyymmdd`).
pub fn audit_seq(day: crate::time::Day) -> String {
    format!("seq:audit:{day}")
}

/// Audit entry `seq` of one UTC day.
pub fn audit_entry(day: crate::time::Day, seq: u64) -> String {
    format!("audit:{day}:{seq}")
}

/// A DATEV client's connection record.
pub fn datev_token(client: &str) -> String {
    format!("token:datev:{}", segment(client))
}

/// The number of Verify checks made on verification `verification_sid` (`VE…`, no `:`).
pub fn verify_checks(verification_sid: &str) -> String {
    format!("seq:verify-check:{}", segment(verification_sid))
}

/// A booking batch.
pub fn batch(id: &str) -> String {
    format!("batch:{}", segment(id))
}

/// A DATEV job.
pub fn job(datev_job_id: &str) -> String {
    format!("job:{}", segment(datev_job_id))
}

/// An outbound alert, by its dedup key (`sms-<datev-job-id>-<contact>`, `call-<datev-job-id>`).
pub fn outbox(dedup_key: &str) -> String {
    format!("outbox:{}", segment(dedup_key))
}

/// A lease: a claim on time window `window` of `name` (expires by itself: the next window is a
/// fresh key).
pub fn lease(name: &str, window: u64) -> String {
    format!("lease:{}:{window}", segment(name))
}

/// How long a tick lease key stays after its window: long enough that a tick instance
/// arriving late (cold start, slow store) still finds its window taken instead of winning it a
/// second time.
pub const LEASE_RETENTION_MS: u64 = 60_000;

/// Deletes the key of the tick lease `name` that lies [`LEASE_RETENTION_MS`] (at least two
/// windows) behind `window`, so a ticker that holds each window in turn keeps a bounded number
/// of lease keys instead of one more every few seconds (Spin's store has no expiry,
/// `spin.md` §4). Windows whose successor that far ahead was never held (downtime) keep their
/// key; that is bounded by the ticks missed.
pub fn retire_lease(
    store: &dyn KeyValue,
    name: &str,
    window: u64,
    window_ms: u64,
) -> Result<(), StoreError> {
    let behind = LEASE_RETENTION_MS.div_ceil(window_ms.max(1)).max(2);
    match window.checked_sub(behind) {
        Some(old) => store.delete(&lease(name, old)),
        None => Ok(()),
    }
}

/// Escapes one variable key segment: bytes outside `[A-Za-z0-9._+-]` become `%XX` (so `:` and
/// `%` can never appear unescaped, and the mapping is injective).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Why a stored counter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// The value is neither a decimal string nor 8 little-endian bytes.
    #[error("key {key:?} does not hold a counter ({len} bytes)")]
    NotACounter {
        /// The key read.
        key: String,
        /// Length of what was found.
        len: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Decodes a counter read with `get`: Spin's SQLite store keeps `increment`ed values as 8
/// little-endian bytes, Redis (`INCRBY`) as a decimal string (`spin.md` §4.3).
///
/// The two cannot be confused for any counter this app keeps: a value made only of ASCII digits
/// (optionally after `-`) is read as decimal; as 8 little-endian bytes such a value would exceed
/// 3.4e18, which no sequence or claim reaches.
pub fn decode_counter(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit) {
        return std::str::from_utf8(bytes).ok()?.parse().ok();
    }
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(arr))
}

/// Reads a counter without writing (absent = 0).
pub fn read_counter(store: &(impl KeyValue + ?Sized), key: &str) -> Result<i64, CounterError> {
    match store.get(key)? {
        None => Ok(0),
        Some(bytes) => decode_counter(&bytes).ok_or(CounterError::NotACounter {
            key: key.to_owned(),
            len: bytes.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::time::Day;

    #[test]
    fn a_ticker_keeps_a_bounded_number_of_lease_keys() {
        let store = MemoryStore::new();
        // 5 s windows: keys stay for 12 windows (60 s), then the holder of the window 12
        // ahead deletes them.
        for window in 1_000..2_000 {
            assert!(store.claim(&lease("datev-poller", window)).unwrap());
            retire_lease(&store, "datev-poller", window, 5_000).unwrap();
        }
        let mut left = store.keys();
        left.sort();
        let expected: Vec<String> = (1_988..2_000)
            .map(|w| lease("datev-poller", w))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(left, expected);
        // A late instance of a retained window still loses it.
        assert!(!store.claim(&lease("datev-poller", 1_990)).unwrap());
        // Long windows keep at least two behind.
        retire_lease(&store, "x", 1, 600_000).unwrap();
        assert!(store.claim(&lease("x", 0)).unwrap());
        retire_lease(&store, "x", 2, 600_000).unwrap();
        assert!(
            store.claim(&lease("x", 0)).unwrap(),
            "deleted, so won again"
        );
    }

    #[test]
    fn layout() {
        let day = Day::from_ymd(2026, 11, 25).unwrap();
        assert_eq!(inbound_slot(17), "inbound:17");
        assert_eq!(
            inbound_cursor("twilio-sender"),
            "cursor:inbound:twilio-sender"
        );
        assert_eq!(
            inbound_claim("msg:SMx:delivered"),
            "claim:inbound:msg:SMx:delivered"
        );
        assert_eq!(applied_claim("sms:SMx"), "claim:applied:sms:SMx");
        assert_eq!(audit_seq(day), "seq:audit:20261125");
        assert_eq!(audit_entry(day, 3), "audit:20261125:3");
        assert_eq!(datev_token("455148-1"), "token:datev:455148-1");
        assert_eq!(batch("4711"), "batch:4711");
        assert_eq!(job("a:b"), "job:a%3Ab");
        assert_eq!(
            outbox("sms-J1-+4915112345678"),
            "outbox:sms-J1-+4915112345678"
        );
        assert_eq!(lease("sender", 99), "lease:sender:99");
    }

    #[test]
    fn segment_escapes_separators_and_is_injective() {
        assert_eq!(segment("a:b%c d/é"), "a%3Ab%25c%20d%2F%C3%A9");
        assert_ne!(segment("a:b"), segment("a%3Ab"));
        assert_eq!(segment("AZaz09._+-"), "AZaz09._+-");
    }

    #[test]
    fn counters_decode_in_both_encodings() {
        assert_eq!(decode_counter(&7i64.to_le_bytes()), Some(7));
        assert_eq!(decode_counter(b"7"), Some(7));
        assert_eq!(decode_counter(b"12345678"), Some(12_345_678));
        assert_eq!(decode_counter(b"-3"), Some(-3));
        assert_eq!(decode_counter(&(-3i64).to_le_bytes()), Some(-3));
        assert_eq!(decode_counter(b"hello"), None);
        assert_eq!(decode_counter(b""), None);
        assert_eq!(decode_counter(b"-"), None);
    }

    #[test]
    fn read_counter_reads_what_increment_wrote() {
        let s = MemoryStore::new();
        assert_eq!(read_counter(&s, "seq:x").unwrap(), 0);
        s.increment("seq:x", 1).unwrap();
        s.increment("seq:x", 1).unwrap();
        assert_eq!(read_counter(&s, "seq:x").unwrap(), 2);
        s.set("not", b"{}").unwrap();
        assert_eq!(
            read_counter(&s, "not"),
            Err(CounterError::NotACounter {
                key: "not".into(),
                len: 2
            })
        );
    }
}
