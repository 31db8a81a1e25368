//! The sender's own records next to the outbox: its journal of attempts per item, the attempt
//! claims, the SID index that maps status callbacks back to items, and its inbound-queue cursor.
//!
//! | key | kind | meaning |
//! |---|---|---|
//! | `outbox-send:<dedup-key>` | JSON [`SendJournal`] | attempts, failures and the open attempt of one item |
//! | `claim:outbox-send:<dedup-key>:<n>` | counter | attempt `n` of the item: only the caller that got 1 sends it |
//! | `outbox-sid:<sid>` | JSON [`SidLink`] | which item a Twilio `SM…`/`CA…` SID belongs to |
//! | `cursor:inbound:twilio-sender` | JSON `connector::inbound::Cursor` | the sender's own position in the inbound queue |
//! | `pace:twilio-sender` | JSON [`crate::pace::PaceState`] | the 429 gate between ticks |
//! | `lease:twilio-sender:<window>` | counter | one tick per lease window |
//!
//! # Why a journal beside the item
//! Twilio's Messages and Calls have no idempotency key (twilio.md §13), so the intent of an
//! attempt must be stored *before* the request: its number and start time. The `OutboxItem`
//! record is the producers' contract and keeps the state readers care about (`pending`,
//! `sending`, `sent`, …); what only the sender needs to reconcile and to count failures lives
//! here. It costs no extra write on the common path: the pre-request write goes here instead of
//! to the item, and the item is written once with the outcome. Precedence: an open attempt in
//! the journal matters only while the item is `pending` or `sending`; once the item is `sent`,
//! `delivered` or `failed` the item is the truth.
//!
//! # Why per-attempt claims
//! Ticks hold a lease, but a tick that overruns its window, or two instances with skewed clocks,
//! could work the same item. Every request for an item is preceded by
//! `increment(claim:outbox-send:<key>:<n>) == 1` for the next attempt number `n`: whoever reads
//! the same journal state competes for the same claim, so attempt `n` is sent at most once, and a
//! new attempt is only made after the previous one was concluded (sent, refused, or reconciled as
//! "nothing went out").

use connector::keys;
use connector::outbox::{Channel, DedupKey};
use connector::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};

/// Schema version of [`SendJournal`] and [`SidLink`].
pub const JOURNAL_VERSION: u32 = 1;

/// The component name in leases, cursors and audit entries.
pub const SENDER: &str = "twilio-sender";

/// The sender's inbound-queue cursor: it reads status callbacks without moving the cursor of any
/// other consumer (`cursor:inbound` belongs to the inbound-SMS processor).
pub const INBOUND_CURSOR: &str = "cursor:inbound:twilio-sender";

/// `outbox-send:<dedup-key>`.
pub fn journal_key(key: &DedupKey) -> String {
    format!("outbox-send:{}", keys::segment(key.as_str()))
}

/// `claim:outbox-send:<dedup-key>:<n>`.
pub fn attempt_claim(key: &DedupKey, attempt: u32) -> String {
    format!(
        "claim:outbox-send:{}:{attempt}",
        keys::segment(key.as_str())
    )
}

/// `outbox-sid:<sid>` (a SID is two letters and 32 hex digits: no escaping needed, but it is
/// escaped anyway so that nothing from the outside can forge a key).
pub fn sid_key(sid: &str) -> String {
    format!("outbox-sid:{}", keys::segment(sid))
}

/// An attempt whose outcome is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAttempt {
    /// Attempt number (from 1).
    pub number: u32,
    /// When the request was about to be sent (Unix ms).
    pub started_at_ms: u64,
    /// When its ambiguous outcome (timeout, 5xx to the POST) was seen; `None` while in flight,
    /// or when the tick died during the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
}

/// The sender's journal of one item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJournal {
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// Attempt numbers used (claims taken).
    #[serde(default)]
    pub attempts: u32,
    /// Attempts that failed (5xx, transport errors, ambiguous attempts reconciled as not sent);
    /// 429s are not failures: Twilio did not process them (twilio.md §9).
    #[serde(default)]
    pub failures: u32,
    /// The attempt to reconcile before anything else is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenAttempt>,
    /// Lookups of a `sent` item that got no final callback.
    #[serde(default)]
    pub status_checks: u32,
    /// Last write (Unix ms).
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// Why a record of the sender could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The store failed: not done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not match the schema.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, JournalError> {
    serde_json::from_slice(bytes).map_err(|e| JournalError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(value).map_err(|e| JournalError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads an item's journal (a fresh one when absent).
pub fn load(
    store: &(impl KeyValue + ?Sized),
    key: &DedupKey,
) -> Result<Option<SendJournal>, JournalError> {
    let k = journal_key(key);
    match store.get(&k)? {
        None => Ok(None),
        Some(bytes) => {
            let j: SendJournal = decode(&k, &bytes)?;
            if j.version != JOURNAL_VERSION {
                return Err(JournalError::Corrupt {
                    key: k,
                    reason: format!("version {} is not supported", j.version),
                });
            }
            Ok(Some(j))
        }
    }
}

/// Writes an item's journal (one write).
pub fn save(
    store: &(impl KeyValue + ?Sized),
    key: &DedupKey,
    journal: &SendJournal,
) -> Result<(), JournalError> {
    let k = journal_key(key);
    store.set(&k, &encode(&k, journal)?)?;
    Ok(())
}

/// What `outbox-sid:<sid>` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidLink {
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The item.
    pub dedup_key: DedupKey,
    /// SMS or call.
    pub channel: Channel,
}

/// Records which item a SID belongs to (one write).
pub fn link_sid(
    store: &(impl KeyValue + ?Sized),
    sid: &str,
    key: &DedupKey,
    channel: Channel,
) -> Result<(), JournalError> {
    let k = sid_key(sid);
    let link = SidLink {
        version: JOURNAL_VERSION,
        dedup_key: key.clone(),
        channel,
    };
    store.set(&k, &encode(&k, &link)?)?;
    Ok(())
}

/// The item a SID belongs to, if the sender sent it.
pub fn item_of_sid(
    store: &(impl KeyValue + ?Sized),
    sid: &str,
) -> Result<Option<SidLink>, JournalError> {
    let k = sid_key(sid);
    match store.get(&k)? {
        None => Ok(None),
        Some(bytes) => decode(&k, &bytes).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::client_config::PhoneNumber;
    use connector::memory::MemoryStore;

    fn key() -> DedupKey {
        DedupKey::job_sms("J:1", &PhoneNumber::parse("+4915112345678", "t").unwrap())
    }

    #[test]
    fn keys_are_escaped_and_namespaced() {
        assert_eq!(journal_key(&key()), "outbox-send:sms-J%3A1-+4915112345678");
        assert_eq!(
            attempt_claim(&key(), 3),
            "claim:outbox-send:sms-J%3A1-+4915112345678:3"
        );
        assert_eq!(
            sid_key("SM0123456789abcdef0123456789abcdef"),
            "outbox-sid:SM0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn journal_round_trip_and_json() {
        let s = MemoryStore::new();
        assert_eq!(load(&s, &key()).unwrap(), None);
        let j = SendJournal {
            version: 1,
            attempts: 2,
            failures: 1,
            open: Some(OpenAttempt {
                number: 2,
                started_at_ms: 10,
                ended_at_ms: None,
            }),
            status_checks: 0,
            updated_at_ms: 10,
        };
        save(&s, &key(), &j).unwrap();
        assert_eq!(load(&s, &key()).unwrap(), Some(j.clone()));
        assert_eq!(
            String::from_utf8(s.get(&journal_key(&key())).unwrap().unwrap()).unwrap(),
            r#"{"version":1,"attempts":2,"failures":1,"open":{"number":2,"started_at_ms":10},"status_checks":0,"updated_at_ms":10}"#
        );
        s.set(&journal_key(&key()), br#"{"version":2}"#).unwrap();
        assert!(matches!(
            load(&s, &key()),
            Err(JournalError::Corrupt { .. })
        ));
    }

    #[test]
    fn sid_links() {
        let s = MemoryStore::new();
        let sid = "CA0123456789abcdef0123456789abcdef";
        assert_eq!(item_of_sid(&s, sid).unwrap(), None);
        link_sid(&s, sid, &key(), Channel::Call).unwrap();
        assert_eq!(
            item_of_sid(&s, sid).unwrap(),
            Some(SidLink {
                version: 1,
                dedup_key: key(),
                channel: Channel::Call
            })
        );
    }
}
