//! The inbound queue: Twilio events the webhook verified, stored for later processing.
//!
//! # Records
//! [`InboundEvent`] is what Twilio told us, typed and validated, field names from Twilio's
//! callback docs (`twilio.md` §7.1–7.3): a message status callback, a call status callback, or an
//! inbound SMS. It is stored as a versioned [`InboundRecord`] (serde JSON, `"version": 1`).
//!
//! # Queue layout (see [`crate::keys`])
//! - `seq:inbound` — counter; `increment` hands out the next slot (1, 2, …). It is the tail.
//! - `inbound:<slot>` — a [`QueueEntry`]: the event record, or a tombstone left by a concurrent
//!   duplicate.
//! - `claim:inbound:<dedup-key>` — taken with `increment` *after* the record is stored.
//! - `cursor:inbound` — the processor's [`Cursor`] (next slot to look at); other consumers keep
//!   their own under `cursor:inbound:<consumer>` ([`keys::inbound_cursor`]): reading never
//!   changes the queue, so several consumers can follow it independently.
//!
//! # Enqueue order, and why ([`enqueue`])
//! 1. `get(claim)`: present → a duplicate, answered at once with no write. The claim is only ever
//!    taken after the record is durable, so its presence proves the event is queued.
//! 2. `increment(seq:inbound)` → slot `n`.
//! 3. `set(inbound:<n>, record)`.
//! 4. `increment(claim)`: 1 → queued; >1 → a concurrent delivery won the race after storing its
//!    own record, so ours is replaced by a tombstone (`set`) and the answer is "duplicate".
//!
//! A store error at any step is "not done": the webhook answers 503 and Twilio's retry (with
//! `rp=5xx`, `twilio.md` §7.5) starts over. Claiming *first* would be wrong: a claim taken before
//! a failed enqueue would make the retry look like a duplicate and the event would be lost. With
//! this order a failure can at worst leave an orphan (a slot without a record, or a record whose
//! claim failed and which the retry then queues a second time). Orphans are never lost events,
//! only possible extra copies, and the processor applies each dedup key once
//! (`claim:applied:<dedup-key>`), so nothing is lost and nothing is applied twice.
//!
//! Writes per delivery: new event 3 (steps 2–4); sequential duplicate 0; concurrent duplicate 4.
//!
//! # Processing (a later issue) — what this module gives it
//! Slots are in arrival order; [`tail`] reads the counter without writing; [`read_slot`] tells an
//! event from a tombstone from a missing record. A missing record below the tail is either still
//! being written or was orphaned by a failed request: [`Cursor::decide_missing`] waits a grace
//! period before skipping it. Per-subject order: calls carry `SequenceNumber`, messages a status
//! rank (`twilio.md` §7.4); a processor applies an event only if it moves the subject forward.
//! A failed event keeps its error in [`InboundRecord::processing`] and is retried, never dropped.

use crate::keys::{self, CounterError};
use crate::ports::{KeyValue, StoreError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Schema version of [`InboundRecord`], [`Tombstone`] and [`Cursor`].
pub const RECORD_VERSION: u32 = 1;

/// Longest `From`/`To` kept (E.164 is at most 16 characters; SIP/client addresses are longer).
pub const MAX_ADDRESS_LEN: usize = 256;
/// Longest `I-Twilio-Idempotency-Token` accepted.
pub const MAX_TOKEN_LEN: usize = 256;

/// Why a callback parameter was not accepted. Names the field; never contains its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The Twilio parameter (or header) name.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: FieldProblem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// Required and absent (or empty).
    #[error("missing")]
    Missing,
    /// Given more than once.
    #[error("given more than once")]
    Repeated,
    /// Not a SID with one of the expected prefixes.
    #[error("expected {0} followed by 32 hexadecimal digits")]
    NotASid(&'static str),
    /// Not a non-negative decimal integer.
    #[error("not a non-negative decimal integer")]
    NotANumber,
    /// Not a status word (`[a-z0-9_-]`, at most 40 characters).
    #[error("not a status value")]
    NotAStatus,
    /// Longer than allowed.
    #[error("longer than {0} characters")]
    TooLong(usize),
}

impl FieldError {
    fn new(field: &'static str, problem: FieldProblem) -> Self {
        Self { field, problem }
    }
}

/// A Twilio SID: two uppercase letters naming the resource type and 32 hex digits
/// (<https://www.twilio.com/docs/glossary/what-is-a-sid>; `twilio.md` §3.2, §4.2). Its alphabet
/// has no `:`, so it goes into keys unescaped.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    /// Validates `value` against `prefixes` (e.g. `["SM", "MM"]`); `field` names the source.
    pub fn parse(
        value: &str,
        prefixes: &'static [&'static str],
        field: &'static str,
    ) -> Result<Self, FieldError> {
        let ok = value.len() == 34
            && prefixes.iter().any(|p| value.starts_with(p))
            && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit);
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                FieldProblem::NotASid(prefix_text(prefixes)),
            ))
        }
    }

    /// The SID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn prefix_text(prefixes: &[&str]) -> &'static str {
    match prefixes {
        ["SM", "MM"] => "SM or MM",
        ["CA"] => "CA",
        ["AC"] => "AC",
        _ => "a two-letter prefix",
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.0)
    }
}

impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let ok = raw.len() == 34
            && raw.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
            && raw.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit);
        if ok {
            Ok(Self(raw))
        } else {
            Err(serde::de::Error::custom("not a Twilio SID"))
        }
    }
}

/// A status word as Twilio sent it (`delivered`, `in-progress`, `partially_delivered`, …).
///
/// Kept verbatim rather than as an enum: Twilio adds values without notice, and the processor
/// interprets them with `twilio::MessageStatus`/`CallStatus` (which `connector` cannot depend
/// on). The alphabet `[a-z0-9_-]` makes it safe inside keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Status(String);

impl Status {
    /// Validates a status value.
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        let ok = !value.is_empty()
            && value.len() <= 40
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(field, FieldProblem::NotAStatus))
        }
    }

    /// The status value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Status::parse(&raw, "status").map_err(serde::de::Error::custom)
    }
}

/// A message status callback (`twilio.md` §7.2;
/// <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatusEvent {
    /// `MessageSid`.
    pub message_sid: Sid,
    /// `MessageStatus` (or the legacy `SmsStatus` when that is all there is).
    pub status: Status,
    /// `ErrorCode`, on `failed`/`undelivered`.
    pub error_code: Option<u32>,
    /// `From`, as given.
    pub from: Option<String>,
    /// `To`, as given.
    pub to: Option<String>,
    /// `AccountSid`.
    pub account_sid: Option<Sid>,
}

/// A call status callback (`twilio.md` §7.3;
/// <https://www.twilio.com/docs/voice/api/call-resource#statuscallback>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatusEvent {
    /// `CallSid`.
    pub call_sid: Sid,
    /// `CallStatus`.
    pub status: Status,
    /// `SequenceNumber`: order call events by it, not by arrival (`twilio.md` §7.3).
    pub sequence_number: Option<u64>,
    /// `ErrorCode`, when Twilio reports one.
    pub error_code: Option<u32>,
    /// `From`, as given.
    pub from: Option<String>,
    /// `To`, as given.
    pub to: Option<String>,
    /// `AccountSid`.
    pub account_sid: Option<Sid>,
}

/// An inbound SMS (`twilio.md` §7.1; <https://www.twilio.com/docs/messaging/guides/webhook-request>).
///
/// The body is kept because a reply such as `YES 4711` releases a batch; it must never be copied
/// into audit entries or logs, so `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundSms {
    /// `MessageSid`.
    pub message_sid: Sid,
    /// `From`, as given (normalised to E.164 by the processor).
    pub from: String,
    /// `To`, as given.
    pub to: String,
    /// `Body` (empty when absent, e.g. a picture-only MMS).
    pub body: String,
    /// `NumMedia`.
    pub num_media: Option<u32>,
    /// `AccountSid`.
    pub account_sid: Option<Sid>,
}

impl fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSms")
            .field("message_sid", &self.message_sid)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body_chars", &self.body.chars().count())
            .field("num_media", &self.num_media)
            .field("account_sid", &self.account_sid)
            .finish()
    }
}

/// One verified Twilio event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEvent {
    /// A message status callback.
    MessageStatus(MessageStatusEvent),
    /// A call status callback.
    CallStatus(CallStatusEvent),
    /// An inbound SMS.
    InboundSms(InboundSms),
}

impl InboundEvent {
    /// The subject for audit entries: `message:<sid>` or `call:<sid>`.
    pub fn subject(&self) -> String {
        match self {
            Self::MessageStatus(e) => format!("message:{}", e.message_sid),
            Self::CallStatus(e) => format!("call:{}", e.call_sid),
            Self::InboundSms(e) => format!("message:{}", e.message_sid),
        }
    }

    /// The dedup key when the request carried no `I-Twilio-Idempotency-Token`.
    pub fn natural_key(&self) -> DedupKey {
        match self {
            Self::MessageStatus(e) => DedupKey::MessageStatus {
                sid: e.message_sid.clone(),
                status: e.status.clone(),
            },
            Self::CallStatus(e) => DedupKey::CallStatus {
                sid: e.call_sid.clone(),
                status: e.status.clone(),
                sequence_number: e.sequence_number,
            },
            Self::InboundSms(e) => DedupKey::InboundSms {
                sid: e.message_sid.clone(),
            },
        }
    }
}

/// What makes two deliveries "the same event" (`twilio.md` §7.4).
///
/// - `I-Twilio-Idempotency-Token` when present (Twilio's own dedup value; note that it is a header
///   and not covered by the signature, so a replayed request with a new token is queued again —
///   the processor's idempotent apply makes that harmless);
/// - else `MessageSid` + status for message callbacks;
/// - `CallSid` + `CallStatus` + `SequenceNumber` for call callbacks: the sequence number is the
///   same on a redelivery, and keeping it distinguishes two real events that share a status;
/// - `MessageSid` for inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DedupKey {
    /// `I-Twilio-Idempotency-Token`.
    Token(String),
    /// Message SID + status.
    MessageStatus {
        /// `MessageSid`.
        sid: Sid,
        /// `MessageStatus`.
        status: Status,
    },
    /// Call SID + status + sequence number.
    CallStatus {
        /// `CallSid`.
        sid: Sid,
        /// `CallStatus`.
        status: Status,
        /// `SequenceNumber`, when given.
        sequence_number: Option<u64>,
    },
    /// Inbound SMS SID.
    InboundSms {
        /// `MessageSid`.
        sid: Sid,
    },
}

impl DedupKey {
    /// Validates an `I-Twilio-Idempotency-Token` header value.
    pub fn token(value: &str) -> Result<Self, FieldError> {
        const FIELD: &str = "I-Twilio-Idempotency-Token";
        if value.is_empty() {
            return Err(FieldError::new(FIELD, FieldProblem::Missing));
        }
        if value.chars().count() > MAX_TOKEN_LEN {
            return Err(FieldError::new(FIELD, FieldProblem::TooLong(MAX_TOKEN_LEN)));
        }
        Ok(Self::Token(value.to_owned()))
    }

    /// The key segment used in `claim:inbound:<…>` and `claim:applied:<…>` (escaped, unique).
    pub fn as_key(&self) -> String {
        match self {
            Self::Token(t) => format!("tok:{}", keys::segment(t)),
            Self::MessageStatus { sid, status } => format!("msg:{sid}:{}", status.as_str()),
            Self::CallStatus {
                sid,
                status,
                sequence_number: Some(n),
            } => {
                format!("call:{sid}:{}:{n}", status.as_str())
            }
            Self::CallStatus {
                sid,
                status,
                sequence_number: None,
            } => format!("call:{sid}:{}:-", status.as_str()),
            Self::InboundSms { sid } => format!("sms:{sid}"),
        }
    }

    /// A label for audit entries: the key with a token cut to its first 8 characters (it is not a
    /// credential, but audit entries never carry whole tokens of any kind).
    pub fn audit_label(&self) -> String {
        match self {
            Self::Token(t) => {
                let head: String = t.chars().take(8).collect();
                format!("tok:{}…", keys::segment(&head))
            }
            other => other.as_key(),
        }
    }
}

/// Processing state of a queued event, written only by the queue processor (a later issue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processing {
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure, kept until the event succeeds (never a secret, never the SMS body).
    pub last_error: Option<String>,
    /// Earliest time of the next attempt (backoff), ms since the epoch.
    pub next_attempt_at_ms: Option<u64>,
}

/// One queued event (`inbound:<slot>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The slot this record sits in.
    pub slot: u64,
    /// When the webhook accepted it, ms since the epoch.
    pub received_at_ms: u64,
    /// [`DedupKey::as_key`].
    pub dedup_key: String,
    /// The event.
    pub event: InboundEvent,
    /// Processor state; absent until the processor first touches the record.
    #[serde(default)]
    pub processing: Processing,
}

/// What a concurrent duplicate leaves in the slot it had taken (`inbound:<slot>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The slot.
    pub slot: u64,
    /// The dedup key whose claim another delivery holds.
    pub dedup_key: String,
}

/// The value stored at `inbound:<slot>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum QueueEntry {
    /// A queued event.
    Event(InboundRecord),
    /// A duplicate's released slot.
    Tombstone(Tombstone),
}

/// Result of [`enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored in `slot` and claimed: the first delivery.
    Queued {
        /// The slot.
        slot: u64,
    },
    /// Another delivery of the same event is already queued.
    Duplicate {
        /// The slot this delivery had taken before losing the claim race (tombstoned), if any.
        released_slot: Option<u64>,
    },
}

/// Why a queue operation did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The store failed: not done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value is not what the schema says.
    #[error("{key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A record could not be serialised.
    #[error("record not serialisable: {0}")]
    Encode(String),
}

impl From<CounterError> for QueueError {
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

/// Stores `event` once (see the module docs for the order and the failure argument).
pub fn enqueue(
    store: &(impl KeyValue + ?Sized),
    dedup: &DedupKey,
    event: InboundEvent,
    received_at_ms: u64,
) -> Result<Enqueued, QueueError> {
    let dedup_key = dedup.as_key();
    let claim_key = keys::inbound_claim(&dedup_key);
    if store.get(&claim_key)?.is_some() {
        return Ok(Enqueued::Duplicate {
            released_slot: None,
        });
    }
    let slot = next_slot(store)?;
    let record = QueueEntry::Event(InboundRecord {
        version: RECORD_VERSION,
        slot,
        received_at_ms,
        dedup_key: dedup_key.clone(),
        event,
        processing: Processing::default(),
    });
    let bytes = serde_json::to_vec(&record).map_err(|e| QueueError::Encode(e.to_string()))?;
    store.set(&keys::inbound_slot(slot), &bytes)?;
    if store.claim(&claim_key)? {
        return Ok(Enqueued::Queued { slot });
    }
    // Lost the race to a delivery that stored its record first: release our copy. If this write
    // fails, the copy stays and the processor's apply-once claim skips it.
    let tomb = QueueEntry::Tombstone(Tombstone {
        version: RECORD_VERSION,
        slot,
        dedup_key,
    });
    let bytes = serde_json::to_vec(&tomb).map_err(|e| QueueError::Encode(e.to_string()))?;
    let released = store.set(&keys::inbound_slot(slot), &bytes).is_ok();
    Ok(Enqueued::Duplicate {
        released_slot: released.then_some(slot),
    })
}

fn next_slot(store: &(impl KeyValue + ?Sized)) -> Result<u64, QueueError> {
    let n = store.increment(keys::INBOUND_SEQ, 1)?;
    u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| QueueError::Corrupt {
            key: keys::INBOUND_SEQ.into(),
            reason: format!("counter at {n}"),
        })
}

/// The last slot handed out (0 when the queue has never been used). Reads, never writes.
pub fn tail(store: &(impl KeyValue + ?Sized)) -> Result<u64, QueueError> {
    let n = keys::read_counter(store, keys::INBOUND_SEQ)?;
    u64::try_from(n).map_err(|_| QueueError::Corrupt {
        key: keys::INBOUND_SEQ.into(),
        reason: format!("counter at {n}"),
    })
}

/// What a slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// A queued event.
    Event(InboundRecord),
    /// A released duplicate slot.
    Tombstone(Tombstone),
    /// Nothing (yet): being written, or orphaned by a failed request.
    Missing,
}

/// Reads slot `slot`.
pub fn read_slot(store: &(impl KeyValue + ?Sized), slot: u64) -> Result<Slot, QueueError> {
    let key = keys::inbound_slot(slot);
    match store.get(&key)? {
        None => Ok(Slot::Missing),
        Some(bytes) => match serde_json::from_slice::<QueueEntry>(&bytes) {
            Ok(QueueEntry::Event(r)) => Ok(Slot::Event(r)),
            Ok(QueueEntry::Tombstone(t)) => Ok(Slot::Tombstone(t)),
            Err(e) => Err(QueueError::Corrupt {
                key,
                reason: e.to_string(),
            }),
        },
    }
}

/// The processor's position in the queue (`cursor:inbound`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The next slot to look at (slots start at 1).
    pub next_slot: u64,
    /// When the processor first found `next_slot` missing, ms since the epoch.
    pub missing_since_ms: Option<u64>,
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            version: RECORD_VERSION,
            next_slot: 1,
            missing_since_ms: None,
        }
    }
}

/// What to do about a missing slot below the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSlot {
    /// Wait: its request may still be writing it.
    Wait,
    /// Skip it: no request takes this long, so it was orphaned (its event, if any, was answered
    /// 5xx and redelivered into a later slot).
    Skip,
}

impl Cursor {
    /// Decides about the missing slot `next_slot` at `now_ms`, given `grace_ms` (a request's
    /// longest plausible duration; a minute is generous). Records when the gap was first seen.
    pub fn decide_missing(&mut self, now_ms: u64, grace_ms: u64) -> MissingSlot {
        let since = *self.missing_since_ms.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) >= grace_ms {
            MissingSlot::Skip
        } else {
            MissingSlot::Wait
        }
    }

    /// Moves past `next_slot`.
    pub fn advance(&mut self) {
        self.next_slot += 1;
        self.missing_since_ms = None;
    }
}

/// Loads the processor's cursor (default: slot 1).
pub fn load_cursor(store: &(impl KeyValue + ?Sized)) -> Result<Cursor, QueueError> {
    match store.get(keys::INBOUND_CURSOR)? {
        None => Ok(Cursor::default()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| QueueError::Corrupt {
            key: keys::INBOUND_CURSOR.into(),
            reason: e.to_string(),
        }),
    }
}

/// Stores the processor's cursor (only the holder of the processor's lease may call this).
pub fn save_cursor(store: &(impl KeyValue + ?Sized), cursor: &Cursor) -> Result<(), QueueError> {
    let bytes = serde_json::to_vec(cursor).map_err(|e| QueueError::Encode(e.to_string()))?;
    store.set(keys::INBOUND_CURSOR, &bytes)?;
    Ok(())
}
