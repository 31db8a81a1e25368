//! The audit trail: one typed entry per action, in a per-day paged log.
//!
//! Layout (see [`crate::keys`]): `seq:audit:<yyyymmdd>` is a counter; `increment` hands out the
//! entry's sequence number and the entry goes to `audit:<yyyymmdd>:<seq>`. Listing a day reads the
//! counter and then exactly the keys below it, so it never scans the store (`ARCHITECTURE.md`,
//! "Key-value store"). Appending costs two writes.
//!
//! A sequence number whose entry is missing was handed to a writer that then failed (or is still
//! writing): listings skip it.
//!
//! Entries never hold secrets, whole tokens or message bodies: every field is built by code from
//! typed values (SIDs, status words, slot numbers, reasons from typed errors), never copied from
//! free text a caller sent.

use crate::keys::{self, CounterError};
use crate::ports::{KeyValue, StoreError};
use crate::time::Day;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Schema version of [`AuditEntry`].
pub const AUDIT_VERSION: u32 = 1;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// Twilio, proven by a valid `X-Twilio-Signature`.
    Twilio,
    /// A caller whose request was not verified (a rejected webhook request).
    Unverified {
        /// The peer address Spin reported (`spin-client-addr`), if any.
        peer: Option<String>,
    },
    /// One of this app's components acting on its own (a cron tick, a queue processor).
    Component {
        /// Component id from `spin.toml`.
        name: String,
    },
    /// An operator through the API.
    Operator {
        /// The operator's id (never a token).
        id: String,
    },
}

/// How the action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Already done earlier; nothing changed.
    Duplicate,
    /// Refused because of the request (bad signature, bad input).
    Rejected {
        /// HTTP status answered, when there was a request.
        status: Option<u16>,
        /// Why, from a typed error.
        reason: String,
    },
    /// Could not be done (store error, misconfiguration, downstream failure); may be retried.
    Failed {
        /// HTTP status answered, when there was a request.
        status: Option<u16>,
        /// Why, from a typed error.
        reason: String,
    },
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// [`AUDIT_VERSION`].
    pub version: u32,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Who.
    pub actor: Actor,
    /// What, as `<component>.<action>` (e.g. `webhook.status`).
    pub action: String,
    /// On what (e.g. `message:SM…`, `call:CA…`, `batch:4711`, `route:/twilio/status`).
    pub subject: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Correlation ids (`slot`, `dedup`, `status`, `batch`, `datev_job`, …).
    #[serde(default)]
    pub correlation: BTreeMap<String, String>,
}

impl AuditEntry {
    /// An entry with no correlation ids.
    pub fn new(
        at_ms: u64,
        actor: Actor,
        action: impl Into<String>,
        subject: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            version: AUDIT_VERSION,
            at_ms,
            actor,
            action: action.into(),
            subject: subject.into(),
            outcome,
            correlation: BTreeMap::new(),
        }
    }

    /// Adds a correlation id.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.correlation.insert(name.to_owned(), value.into());
        self
    }
}

/// An entry's address: its UTC day and sequence number; printed `yyyymmdd-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId {
    /// The UTC day of `at_ms`.
    pub day: Day,
    /// Sequence number within the day (from 1).
    pub seq: u64,
}

impl AuditId {
    /// Parses `yyyymmdd-seq`.
    pub fn parse(s: &str) -> Option<Self> {
        let (day, seq) = s.split_once('-')?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            day: Day::parse(day)?,
            seq: seq.parse().ok().filter(|n| *n > 0)?,
        })
    }

    /// The key the entry is stored under.
    pub fn key(&self) -> String {
        keys::audit_entry(self.day, self.seq)
    }
}

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.day, self.seq)
    }
}

/// Why reading the log failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
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
    /// The entry could not be serialised.
    #[error("audit entry not serialisable: {0}")]
    Encode(String),
}

impl From<CounterError> for AuditError {
    fn from(e: CounterError) -> Self {
        match e {
            CounterError::Store(s) => Self::Store(s),
            CounterError::NotACounter { key, len } => Self::Corrupt {
                key,
                reason: format!("not a counter ({len} bytes)"),
            },
        }
    }
}

/// Appends `entry` to the log of its day: `increment(seq:audit:<day>)` then
/// `set(audit:<day>:<seq>)` — two writes.
pub fn append(store: &(impl KeyValue + ?Sized), entry: &AuditEntry) -> Result<AuditId, AuditError> {
    let day = Day::from_unix_ms(entry.at_ms);
    let bytes = serde_json::to_vec(entry).map_err(|e| AuditError::Encode(e.to_string()))?;
    let n = store.increment(&keys::audit_seq(day), 1)?;
    let seq = u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AuditError::Corrupt {
            key: keys::audit_seq(day),
            reason: format!("counter at {n}"),
        })?;
    let id = AuditId { day, seq };
    store.set(&id.key(), &bytes)?;
    Ok(id)
}

/// Reads one entry.
pub fn get(
    store: &(impl KeyValue + ?Sized),
    id: AuditId,
) -> Result<Option<AuditEntry>, AuditError> {
    let key = id.key();
    match store.get(&key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuditError::Corrupt {
                key,
                reason: e.to_string(),
            }),
    }
}

/// One page of a day's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// Entries in sequence order.
    pub entries: Vec<(AuditId, AuditEntry)>,
    /// Pass as `after_seq` for the next page; `None` when the day has no more entries yet.
    pub next_after: Option<u64>,
}

/// Lists up to `limit` entries of `day` with sequence numbers above `after_seq`, reading the day's
/// counter once and then at most `limit` keys (without writing).
pub fn page(
    store: &(impl KeyValue + ?Sized),
    day: Day,
    after_seq: u64,
    limit: usize,
) -> Result<AuditPage, AuditError> {
    let last = u64::try_from(keys::read_counter(store, &keys::audit_seq(day))?).unwrap_or(0);
    let mut entries = Vec::new();
    let mut seq = after_seq;
    let mut budget = limit;
    while seq < last && budget > 0 {
        seq += 1;
        budget -= 1;
        let id = AuditId { day, seq };
        if let Some(entry) = get(store, id)? {
            entries.push((id, entry));
        }
    }
    Ok(AuditPage {
        entries,
        next_after: (seq < last).then_some(seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    const NOON: u64 = 1_795_608_000_000; // 2026-11-25T12:00:00Z

    fn entry(at_ms: u64, subject: &str) -> AuditEntry {
        AuditEntry::new(at_ms, Actor::Twilio, "webhook.status", subject, Outcome::Ok)
            .with("slot", "1")
    }

    #[test]
    fn append_is_two_writes_under_the_day() {
        let s = MemoryStore::new();
        let id = append(&s, &entry(NOON, "message:a")).unwrap();
        assert_eq!(id.to_string(), "20261125-1");
        assert_eq!(s.writes(), 2);
        let id2 = append(&s, &entry(NOON + 1, "message:b")).unwrap();
        assert_eq!(id2.to_string(), "20261125-2");
        let next_day = append(&s, &entry(NOON + 12 * 3_600_000, "message:c")).unwrap();
        assert_eq!(next_day.to_string(), "20261126-1");
        assert_eq!(
            s.keys(),
            vec![
                "audit:20261125:1",
                "audit:20261125:2",
                "audit:20261126:1",
                "seq:audit:20261125",
                "seq:audit:20261126"
            ]
        );
        assert_eq!(get(&s, id2).unwrap().unwrap().subject, "message:b");
    }

    #[test]
    fn entry_json_is_stable() {
        let e = AuditEntry::new(
            NOON,
            Actor::Unverified {
                peer: Some("203.0.113.9:4711".into()),
            },
            "webhook.status",
            "route:/twilio/status",
            Outcome::Rejected {
                status: Some(403),
                reason: "signature mismatch".into(),
            },
        )
        .with("claimed_sid", "SM0123456789abcdef0123456789abcdef");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"at_ms":1795608000000,"actor":{"type":"unverified","peer":"203.0.113.9:4711"},"action":"webhook.status","subject":"route:/twilio/status","outcome":{"result":"rejected","status":403,"reason":"signature mismatch"},"correlation":{"claimed_sid":"SM0123456789abcdef0123456789abcdef"}}"#
        );
        assert_eq!(serde_json::from_str::<AuditEntry>(&json).unwrap(), e);
    }

    #[test]
    fn paging_reads_only_below_the_counter_and_skips_gaps() {
        let s = MemoryStore::new();
        for i in 0..5 {
            append(&s, &entry(NOON + i, &format!("message:{i}"))).unwrap();
        }
        // A writer that got seq 6 and then failed leaves a gap.
        s.increment("seq:audit:20261125", 1).unwrap();
        append(&s, &entry(NOON + 9, "message:after-gap")).unwrap();
        let day = Day::parse("20261125").unwrap();
        let p1 = page(&s, day, 0, 3).unwrap();
        assert_eq!(
            p1.entries.iter().map(|(id, _)| id.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(p1.next_after, Some(3));
        let p2 = page(&s, day, 3, 3).unwrap();
        assert_eq!(
            p2.entries.iter().map(|(id, _)| id.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(p2.next_after, Some(6));
        let p3 = page(&s, day, 6, 3).unwrap();
        assert_eq!(
            p3.entries
                .iter()
                .map(|(id, e)| (id.seq, e.subject.as_str()))
                .collect::<Vec<_>>(),
            vec![(7, "message:after-gap")]
        );
        assert_eq!(p3.next_after, None);
        let empty = page(&s, Day::parse("20261124").unwrap(), 0, 10).unwrap();
        assert_eq!(
            empty,
            AuditPage {
                entries: vec![],
                next_after: None
            }
        );
    }

    #[test]
    fn a_failed_append_is_an_error() {
        let s = MemoryStore::new();
        s.fail_after(1);
        assert!(matches!(
            append(&s, &entry(NOON, "message:x")),
            Err(AuditError::Store(_))
        ));
        assert_eq!(s.keys(), vec!["seq:audit:20261125"]);
    }

    #[test]
    fn ids_parse_and_print() {
        let id = AuditId::parse("20261125-17").unwrap();
        assert_eq!(id.to_string(), "20261125-17");
        assert_eq!(id.key(), "audit:20261125:17");
        for bad in [
            "20261125",
            "20261125-",
            "20261125-0",
            "2026112-1",
            "20261125-x",
            "20261325-1",
            "20261125--1",
        ] {
            assert_eq!(AuditId::parse(bad), None, "{bad}");
        }
    }
}
