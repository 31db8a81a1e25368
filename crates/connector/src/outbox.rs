//! The outbox: alerts waiting to go out by SMS or voice call (`ARCHITECTURE.md` flow 4).
//!
//! This is the contract between the producers (`datev-poller` today; the approval gate and the
//! inbound-queue processor later) and the consumer, `twilio-sender`.
//!
//! # Records
//! One versioned JSON [`OutboxItem`] per alert under `outbox:<dedup-key>` (`keys::outbox`). The
//! dedup key names the alert, so one alert is one record however often it is produced:
//!
//! | alert | dedup key ([`DedupKey`]) | channel | to |
//! |---|---|---|---|
//! | a job finished (any outcome) | `sms-<datev-job-id>-<e164>` | SMS | each finance contact |
//! | a job failed, partly failed, was cancelled or is stuck | `call-<datev-job-id>` | call | the controller |
//! | DATEV refused a batch's upload (no job exists) | `sms-batch<id>-<e164>`, `call-batch<id>` | SMS, call | finance contacts, controller |
//! | the DATEV connection needs re-consent | `sms-reconsent-<client>-<since-ms>-<e164>` | SMS | the controller |
//! | a batch is held: the one-time code | `verify-batch<id>` | Verify | the approver |
//! | a batch is held and may be released by SMS/delivery | `sms-approval<id>-<e164>` | SMS | the approver |
//! | a held batch expired | `sms-expired<id>-<e164>` | SMS | the approver and the controller |
//! | an approver's SMS was not understood | `sms-reply-<inbound MessageSid>` | SMS | the approver |
//!
//! An item holds only the **inputs** of the text ([`AlertText`]: client, batch/document
//! reference, result, a short reason) — never ledger data beyond that; the sender renders the
//! words in the contact's [`Language`].
//!
//! # Producing ([`enqueue`])
//! Create-if-absent (`get`, then `set` only when absent), then an entry in the due index
//! [`OUTBOX_SCHEDULE`] (`crate::schedule`). Re-running it is harmless: an existing item is never
//! overwritten (the sender may have changed it), and the index entry is appended again only while
//! the item is still `pending` (covering a crash between the `set` and the append).
//!
//! # Consuming (`twilio-sender`)
//! - Index entries are wake-up calls and may repeat: act on an item only if its record says
//!   `state == pending` and `next_attempt_at_ms <= now`.
//! - After creation the sender is the only writer of an item, and a send must happen at most once
//!   per dedup key (claim before sending; reconcile an ambiguous failure before resending).
//! - `pending → sending → sent → delivered`, or `→ failed` (given up, audited, replayable);
//!   `attempts`, `next_attempt_at_ms` and `twilio_sid` record the way there.

use crate::batch::BatchId;
use crate::client_config::{ClientId, Language, PhoneNumber};
use crate::job::Outcome;
use crate::keys;
use crate::ports::{KeyValue, StoreError};
use crate::schedule::{self, ScheduleConfig, ScheduleError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Schema version of [`OutboxItem`].
pub const OUTBOX_VERSION: u32 = 1;

/// The due index of outbox items (consumer: `twilio-sender`).
pub const OUTBOX_SCHEDULE: &str = "outbox";

/// Longest reason kept in an alert (a few SMS segments in all, twilio.md).
pub const MAX_REASON_CHARS: usize = 120;

/// The name of one alert; see the module table. Its characters are those of DATEV job ids,
/// decimal numbers and E.164 numbers, so it needs no escaping in a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DedupKey(String);

impl DedupKey {
    /// `sms-<datev-job-id>-<e164>`: a finance contact is told a job's result.
    pub fn job_sms(datev_job_id: &str, to: &PhoneNumber) -> Self {
        Self(format!("sms-{datev_job_id}-{to}"))
    }

    /// `call-<datev-job-id>`: the controller is called about a failed job.
    pub fn job_call(datev_job_id: &str) -> Self {
        Self(format!("call-{datev_job_id}"))
    }

    /// `sms-batch<id>-<e164>`: a finance contact is told DATEV refused a batch's upload.
    pub fn batch_sms(batch: BatchId, to: &PhoneNumber) -> Self {
        Self(format!("sms-batch{batch}-{to}"))
    }

    /// `call-batch<id>`: the controller is called about a refused upload.
    pub fn batch_call(batch: BatchId) -> Self {
        Self(format!("call-batch{batch}"))
    }

    /// `sms-reconsent-<client>-<since-ms>-<e164>`: one alert per re-consent episode.
    pub fn reconsent_sms(client: &ClientId, since_ms: u64, to: &PhoneNumber) -> Self {
        Self(format!("sms-reconsent-{client}-{since_ms}-{to}"))
    }

    /// `verify-batch<id>`: the Verify code that approves a held batch (`crate::approval`).
    pub fn approval_verify(batch: BatchId) -> Self {
        Self(format!("verify-batch{batch}"))
    }

    /// `sms-approval<id>-<e164>`: the approval request an approver may answer `YES <id>`.
    pub fn approval_sms(batch: BatchId, to: &PhoneNumber) -> Self {
        Self(format!("sms-approval{batch}-{to}"))
    }

    /// `sms-expired<id>-<e164>`: a held batch expired undecided.
    pub fn expired_sms(batch: BatchId, to: &PhoneNumber) -> Self {
        Self(format!("sms-expired{batch}-{to}"))
    }

    /// `sms-reply-<sid>`: the answer to one inbound SMS that was not understood (one per
    /// inbound message however often Twilio delivers it). `sid` is a validated `SM…` SID.
    pub fn reply_sms(inbound_sid: &str) -> Self {
        Self(format!("sms-reply-{inbound_sid}"))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The item's store key, `outbox:<dedup-key>`.
    pub fn store_key(&self) -> String {
        keys::outbox(&self.0)
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the alert goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Twilio Messages.
    Sms,
    /// Twilio Calls with `<Say>`.
    Call,
    /// Twilio Verify v2: start a verification by SMS to `to` (twilio.md §6.2;
    /// <https://www.twilio.com/docs/verify/api/verification>). The code's text is Twilio's.
    Verify,
}

/// What happened, in the words of the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertResult {
    /// The DATEV job succeeded.
    Succeeded,
    /// The DATEV job processed only some documents.
    PartiallySucceeded,
    /// The DATEV job failed.
    Failed,
    /// The DATEV job was cancelled.
    Cancelled,
    /// The DATEV job did not finish in time.
    Stuck,
    /// DATEV refused the upload of the batch.
    UploadRefused,
    /// The DATEV connection must be renewed by a person (OAuth re-consent).
    NeedsReconsent,
    /// The batch is held and waits for the approver (`YES <id>` / `NO <id>`, or the Verify
    /// code through the API).
    ApprovalRequested,
    /// The batch was held too long and expired without being submitted.
    HoldExpired,
    /// An SMS from an approver was not understood.
    ReplyUnrecognized,
}

impl From<Outcome> for AlertResult {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Succeeded => AlertResult::Succeeded,
            Outcome::PartiallySucceeded => AlertResult::PartiallySucceeded,
            Outcome::Failed => AlertResult::Failed,
            Outcome::Cancelled => AlertResult::Cancelled,
            Outcome::Stuck => AlertResult::Stuck,
        }
    }
}

/// The inputs of an alert's text. Nothing here is ledger data beyond the batch's reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertText {
    /// The DATEV client.
    pub client: ClientId,
    /// Its display name from the client configuration.
    pub client_name: String,
    /// The batch, if the alert is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchId>,
    /// The batch's reference as submitted (document or batch reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// DATEV's job id, if there is a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datev_job: Option<String>,
    /// What happened.
    pub result: AlertResult,
    /// A short reason on failure (at most [`MAX_REASON_CHARS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (at `next_attempt_at_ms`).
    Pending,
    /// A send is under way (possibly ambiguous: reconcile before resending).
    Sending,
    /// Twilio accepted it (`twilio_sid` set).
    Sent,
    /// Twilio reported it delivered (SMS) or completed (call).
    Delivered,
    /// Given up; audited and replayable.
    Failed,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// [`OUTBOX_VERSION`].
    pub version: u32,
    /// The alert's name (also its store key).
    pub dedup_key: DedupKey,
    /// SMS or call.
    pub channel: Channel,
    /// The recipient, E.164.
    pub to: PhoneNumber,
    /// The recipient's language.
    pub language: Language,
    /// The inputs of the text.
    pub text: AlertText,
    /// State.
    pub state: OutboxState,
    /// Send attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// Earliest next attempt (Unix ms).
    pub next_attempt_at_ms: u64,
    /// Twilio's `SM…`/`CA…` SID once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_sid: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Created (Unix ms).
    pub created_at_ms: u64,
    /// Last change (Unix ms).
    pub updated_at_ms: u64,
}

impl OutboxItem {
    /// A new `pending` item, due at `now_ms`. The reason is cut to [`MAX_REASON_CHARS`].
    pub fn new(
        dedup_key: DedupKey,
        channel: Channel,
        to: PhoneNumber,
        language: Language,
        mut text: AlertText,
        now_ms: u64,
    ) -> Self {
        text.reason = text
            .reason
            .map(|r| r.chars().take(MAX_REASON_CHARS).collect());
        Self {
            version: OUTBOX_VERSION,
            dedup_key,
            channel,
            to,
            language,
            text,
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at_ms: now_ms,
            twilio_sid: None,
            last_error: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }
}

/// Why the outbox could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// The store failed: nothing done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not match the schema.
    #[error("outbox record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<ScheduleError> for OutboxError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Store(s) => Self::Store(s),
            ScheduleError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

/// Reads an item.
pub fn load(
    store: &(impl KeyValue + ?Sized),
    key: &DedupKey,
) -> Result<Option<OutboxItem>, OutboxError> {
    load_key(store, &key.store_key())
}

/// Reads an item by its store key (`outbox:…`, as found in an index entry).
pub fn load_key(
    store: &(impl KeyValue + ?Sized),
    store_key: &str,
) -> Result<Option<OutboxItem>, OutboxError> {
    match store.get(store_key)? {
        None => Ok(None),
        Some(bytes) => {
            let item: OutboxItem =
                serde_json::from_slice(&bytes).map_err(|e| OutboxError::Corrupt {
                    key: store_key.to_owned(),
                    reason: e.to_string(),
                })?;
            if item.version != OUTBOX_VERSION {
                return Err(OutboxError::Corrupt {
                    key: store_key.to_owned(),
                    reason: format!("version {} is not supported", item.version),
                });
            }
            Ok(Some(item))
        }
    }
}

/// Writes an item (one write). Producers use [`enqueue`]; this is for the sender.
pub fn save(store: &(impl KeyValue + ?Sized), item: &OutboxItem) -> Result<(), OutboxError> {
    let key = item.dedup_key.store_key();
    let bytes = serde_json::to_vec(item).map_err(|e| OutboxError::Corrupt {
        key: key.clone(),
        reason: e.to_string(),
    })?;
    store.set(&key, &bytes)?;
    Ok(())
}

/// What [`enqueue`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The item was created (three writes: record + index entry).
    Created,
    /// It existed and is still pending: only the index entry was appended again (two writes).
    StillPending,
    /// It existed and the sender has taken it on: nothing written.
    Taken,
}

/// Creates the item unless it exists, and makes sure a pending item has an index entry. See the
/// module docs for why a re-run is harmless.
pub fn enqueue(
    store: &(impl KeyValue + ?Sized),
    schedule_config: &ScheduleConfig,
    item: &OutboxItem,
    now_ms: u64,
) -> Result<Enqueued, OutboxError> {
    let key = item.dedup_key.store_key();
    let (outcome, due_at_ms) = match load_key(store, &key)? {
        None => {
            save(store, item)?;
            (Enqueued::Created, item.next_attempt_at_ms)
        }
        Some(existing) if existing.state == OutboxState::Pending => {
            (Enqueued::StillPending, existing.next_attempt_at_ms)
        }
        Some(_) => return Ok(Enqueued::Taken),
    };
    schedule::append(
        store,
        schedule_config,
        OUTBOX_SCHEDULE,
        &key,
        due_at_ms,
        now_ms,
    )?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::schedule::{ScanLimits, scan};

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("+4915112345678", "phone").unwrap()
    }

    fn item(now: u64) -> OutboxItem {
        OutboxItem::new(
            DedupKey::job_sms("J-1", &phone()),
            Channel::Sms,
            phone(),
            Language::De,
            AlertText {
                client: ClientId::parse("29098-55003").unwrap(),
                client_name: "Musterholz".into(),
                batch: BatchId::new(4711),
                reference: Some("RE 02/2024".into()),
                datev_job: Some("J-1".into()),
                result: AlertResult::Failed,
                reason: Some("x".repeat(500)),
            },
            now,
        )
    }

    #[test]
    fn dedup_keys() {
        let c = ClientId::parse("29098-55003").unwrap();
        let b = BatchId::new(7).unwrap();
        assert_eq!(
            DedupKey::job_sms("J-1", &phone()).store_key(),
            "outbox:sms-J-1-+4915112345678"
        );
        assert_eq!(DedupKey::job_call("J-1").store_key(), "outbox:call-J-1");
        assert_eq!(
            DedupKey::batch_sms(b, &phone()).as_str(),
            "sms-batch7-+4915112345678"
        );
        assert_eq!(DedupKey::batch_call(b).as_str(), "call-batch7");
        assert_eq!(
            DedupKey::reconsent_sms(&c, 99, &phone()).as_str(),
            "sms-reconsent-29098-55003-99-+4915112345678"
        );
    }

    #[test]
    fn enqueue_is_create_if_absent_and_never_overwrites_the_sender() {
        let s = MemoryStore::new();
        let cfg = ScheduleConfig::default();
        let now = 1_000_000;
        let first = item(now);
        assert_eq!(
            first.text.reason.as_ref().unwrap().chars().count(),
            MAX_REASON_CHARS
        );
        assert_eq!(enqueue(&s, &cfg, &first, now).unwrap(), Enqueued::Created);
        assert_eq!(s.writes(), 3);
        assert_eq!(
            enqueue(&s, &cfg, &item(now + 1), now + 1).unwrap(),
            Enqueued::StillPending
        );
        assert_eq!(load(&s, &first.dedup_key).unwrap().unwrap(), first);
        let mut sent = first.clone();
        sent.state = OutboxState::Sent;
        sent.twilio_sid = Some("SM0123".into());
        save(&s, &sent).unwrap();
        let writes = s.writes();
        assert_eq!(
            enqueue(&s, &cfg, &item(now + 2), now + 2).unwrap(),
            Enqueued::Taken
        );
        assert_eq!(s.writes(), writes);
        assert_eq!(load(&s, &first.dedup_key).unwrap().unwrap(), sent);
        let plan = scan(&s, &cfg, OUTBOX_SCHEDULE, now + 2, &ScanLimits::default()).unwrap();
        let entries: Vec<&str> = plan.due.iter().map(|d| d.entry.item.as_str()).collect();
        assert_eq!(entries, vec!["outbox:sms-J-1-+4915112345678"; 2]);
    }

    #[test]
    fn item_json_is_stable() {
        let mut i = item(5);
        i.text.reason = Some("1008834 Invalid EXTF-header".into());
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"version":1,"dedup_key":"sms-J-1-+4915112345678","channel":"sms","to":"+4915112345678","language":"de","text":{"client":"29098-55003","client_name":"Musterholz","batch":4711,"reference":"RE 02/2024","datev_job":"J-1","result":"failed","reason":"1008834 Invalid EXTF-header"},"state":"pending","attempts":0,"next_attempt_at_ms":5,"created_at_ms":5,"updated_at_ms":5}"#
        );
    }
}
