//! The approval gate (`ARCHITECTURE.md` flow 2): what happens when a batch is held, and the one
//! place where a held batch is decided — by a Verify code (`api`), an SMS reply or a `delivered`
//! callback (the inbound-queue processor in `datev-poller`), an operator's reject (`api`) or
//! expiry (`datev-poller`).
//!
//! # Holding ([`on_hold`])
//! - a Verify check to the client's approver through the outbox (`verify-batch<id>`, channel
//!   [`Channel::Verify`]; `twilio-sender` starts it, twilio.md §6.2);
//! - where the client's [`ReleasePolicy`] allows an SMS reply or a `delivered` callback, an
//!   approval request SMS (`sms-approval<id>-<e164>`) that says how to answer (`YES <id>`);
//! - the approver index `approver:<e164>` → client, so an SMS the processor cannot match to a
//!   batch can still be answered — only ever to a registered approver, never to a stranger;
//! - an entry in the due index [`EXPIRY_SCHEDULE`] at the hold's deadline (the client's
//!   `release.hold_ttl_ms`, or the `approval_hold_ttl_ms` default for unconfigured clients).
//!
//! # Deciding ([`decide`])
//! `held → approved | cancelled | expired` only. The decider re-reads the batch, takes the claims
//! [`batch::decision_claim`] on two consecutive one-minute windows (the `increment` lease pattern
//! of `ARCHITECTURE.md`), re-reads the batch again and only then writes it: of two deciders at
//! the same time exactly one wins, a loser answers [`Decided::InProgress`] or, once the winner
//! has written, [`Decided::AlreadyDecided`]. Claims on time windows expire by themselves, so a
//! decider that crashed between its claim and its write blocks the batch for at most two
//! minutes instead of forever. An approved batch gets an entry in the poller's submission index
//! (`datev-submit`), exactly as a batch the risk policy approved. Every call leaves one audit
//! entry `approval.<approve|reject|expire>` (outcome `ok`, or `duplicate` naming the state that
//! was found), with the source of the decision and never a code, a body or a whole number.
//!
//! # SMS replies ([`parse_reply`])
//! `YES 4711` / `NO 4711` (also `JA`/`NEIN`, `Y`/`N`), case-insensitive, any whitespace around
//! and between, an optional `#` before the id.

use crate::audit::{self, Actor, AuditEntry, AuditError, Outcome as AuditOutcome};
use crate::batch::{self, Batch, BatchId, BatchState, BatchStoreError};
use crate::client_config::{self, ClientConfig, ClientId, ConfigStoreError, PhoneNumber};
use crate::job::SUBMIT_SCHEDULE;
use crate::keys;
use crate::outbox::{self, AlertResult, AlertText, Channel, DedupKey, OutboxError, OutboxItem};
use crate::ports::{KeyValue, StoreError};
use crate::schedule::{self, ScheduleConfig, ScheduleError};
use serde::{Deserialize, Serialize};

/// The due index of hold deadlines (consumer: `datev-poller`). Entries name `batch:<id>`.
pub const EXPIRY_SCHEDULE: &str = "hold-expiry";

/// Shape of [`EXPIRY_SCHEDULE`], shared by its producer (`api`) and consumer (`datev-poller`):
/// one-minute buckets, since holds last hours and expiring a minute late is harmless.
pub const EXPIRY_SCHEDULE_CONFIG: ScheduleConfig = ScheduleConfig {
    bucket_ms: 60_000,
    grace_ms: 300_000,
    initial_lookback_ms: 6 * 3_600_000,
};

/// Default hold time for a client without configuration (`approval_hold_ttl_ms`): 72 hours,
/// the same as [`ReleasePolicy::default`](client_config::ReleasePolicy).
pub const DEFAULT_HOLD_TTL_MS: u64 = 72 * 3_600_000;

/// Length of one decision-claim window (see the module docs).
pub const DECISION_WINDOW_MS: u64 = 60_000;

/// Audit action prefix of this module.
pub const AUDIT_PREFIX: &str = "approval";

/// Schema version of [`ApproverRecord`].
pub const APPROVER_VERSION: u32 = 1;

/// `approver:<e164>`: which client a number approves for (written on every hold).
pub fn approver_key(phone: &PhoneNumber) -> String {
    format!("approver:{}", keys::segment(phone.as_str()))
}

/// The value under [`approver_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverRecord {
    /// [`APPROVER_VERSION`].
    pub version: u32,
    /// The client whose batches the number approves (the most recent hold's).
    pub client: ClientId,
    /// The client's display name (for the reply SMS).
    pub client_name: String,
    /// The approver's language.
    pub language: client_config::Language,
}

/// Reads the approver index for `phone`.
pub fn approver(
    store: &(impl KeyValue + ?Sized),
    phone: &PhoneNumber,
) -> Result<Option<ApproverRecord>, ApprovalError> {
    let key = approver_key(phone);
    match store.get(&key)? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApprovalError::Corrupt {
                    key,
                    reason: e.to_string(),
                })
        }
    }
}

/// Why a gate operation did not complete. A store error means "not done, retry".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another decider holds the batch's claim and has not written yet: retry later.
    #[error("batch {0}: another decision is in progress; retry later")]
    InProgress(BatchId),
    /// A stored record does not match its schema.
    #[error("{key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<BatchStoreError> for ApprovalError {
    fn from(e: BatchStoreError) -> Self {
        match e {
            BatchStoreError::Store(s) => Self::Store(s),
            BatchStoreError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

impl From<ConfigStoreError> for ApprovalError {
    fn from(e: ConfigStoreError) -> Self {
        match e {
            ConfigStoreError::Store(s) => Self::Store(s),
            ConfigStoreError::Corrupt(reason) => Self::Corrupt {
                key: "client configuration".into(),
                reason,
            },
        }
    }
}

impl From<OutboxError> for ApprovalError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Store(s) => Self::Store(s),
            OutboxError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

impl From<ScheduleError> for ApprovalError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Store(s) => Self::Store(s),
            ScheduleError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

impl From<AuditError> for ApprovalError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(s) => Self::Store(s),
            AuditError::Corrupt { key, reason } => Self::Corrupt { key, reason },
            AuditError::Encode(reason) => Self::Corrupt {
                key: "audit".into(),
                reason,
            },
        }
    }
}

/// What a decision does to a held batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `held → approved` (then submitted by the poller).
    Approve,
    /// `held → cancelled`.
    Reject,
    /// `held → expired`.
    Expire,
}

impl Decision {
    /// The state the batch moves to.
    pub fn target(self) -> BatchState {
        match self {
            Decision::Approve => BatchState::Approved,
            Decision::Reject => BatchState::Cancelled,
            Decision::Expire => BatchState::Expired,
        }
    }

    /// The audit verb.
    pub fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Expire => "expire",
        }
    }
}

/// Where a decision came from (audited, and recorded in the batch history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A correct Verify code through `POST /batches/{id}/approve`.
    VerifyCode,
    /// `POST /batches/{id}/reject`.
    Operator,
    /// An SMS reply from the registered approver (the inbound SMS's `MessageSid`).
    SmsReply {
        /// `MessageSid` of the reply.
        message_sid: String,
    },
    /// A `delivered` status callback of the approval request SMS.
    DeliveredCallback {
        /// `MessageSid` of the approval request.
        message_sid: String,
    },
    /// The hold's deadline passed.
    Expiry,
}

impl Via {
    /// Short name for audit entries and the batch history.
    pub fn name(&self) -> &'static str {
        match self {
            Via::VerifyCode => "verify_code",
            Via::Operator => "operator",
            Via::SmsReply { .. } => "sms_reply",
            Via::DeliveredCallback { .. } => "delivered_callback",
            Via::Expiry => "expiry",
        }
    }
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This call decided the batch; the record as written.
    Done(Box<Batch>),
    /// The batch is not held (any more): nothing changed. The state found.
    AlreadyDecided(BatchState),
    /// Another decider holds the claim and has not written yet: nothing changed; retry later.
    InProgress,
    /// No such batch: nothing changed.
    Unknown,
}

/// Decides the held batch `id` (see the module docs). `actor` is who acted (`Operator`,
/// `Twilio`, or a component). Writes on success: two claims, the batch, the submission-index
/// entry (approve only, two writes) and the audit entry (two writes).
pub fn decide(
    store: &(impl KeyValue + ?Sized),
    submit_schedule: &ScheduleConfig,
    id: BatchId,
    decision: Decision,
    via: &Via,
    actor: Actor,
    now_ms: u64,
) -> Result<Decided, ApprovalError> {
    let outcome = decide_inner(store, submit_schedule, id, decision, via, &actor, now_ms)?;
    let (audit_outcome, state) = match &outcome {
        Decided::Done(b) => (AuditOutcome::Ok, Some(b.state)),
        Decided::AlreadyDecided(s) => (AuditOutcome::Duplicate, Some(*s)),
        Decided::InProgress => (
            AuditOutcome::Rejected {
                status: None,
                reason: "another decision on this batch is in progress".into(),
            },
            None,
        ),
        Decided::Unknown => (
            AuditOutcome::Rejected {
                status: None,
                reason: "no such batch".into(),
            },
            None,
        ),
    };
    let mut entry = AuditEntry::new(
        now_ms,
        actor,
        format!("{AUDIT_PREFIX}.{}", decision.verb()),
        format!("batch:{id}"),
        audit_outcome,
    )
    .with("batch", id.to_string())
    .with("via", via.name());
    if let Some(s) = state {
        entry = entry.with("state", s.as_str());
    }
    match via {
        Via::SmsReply { message_sid } | Via::DeliveredCallback { message_sid } => {
            entry = entry.with("sid", message_sid.clone());
        }
        _ => {}
    }
    audit::append(store, &entry)?;
    Ok(outcome)
}

fn decide_inner(
    store: &(impl KeyValue + ?Sized),
    submit_schedule: &ScheduleConfig,
    id: BatchId,
    decision: Decision,
    via: &Via,
    actor: &Actor,
    now_ms: u64,
) -> Result<Decided, ApprovalError> {
    let Some(b) = batch::load(store, id)? else {
        return Ok(Decided::Unknown);
    };
    if b.state != BatchState::Held {
        return Ok(Decided::AlreadyDecided(b.state));
    }
    let window = now_ms / DECISION_WINDOW_MS;
    for w in [window.saturating_sub(1), window] {
        if !store.claim(&batch::decision_claim(id, w))? {
            return match batch::load(store, id)? {
                Some(b) if b.state != BatchState::Held => Ok(Decided::AlreadyDecided(b.state)),
                Some(_) => Ok(Decided::InProgress),
                None => Ok(Decided::Unknown),
            };
        }
    }
    // Read again under the claim: a decider of an earlier window may have written meanwhile.
    let Some(mut b) = batch::load(store, id)? else {
        return Ok(Decided::Unknown);
    };
    if b.state != BatchState::Held {
        return Ok(Decided::AlreadyDecided(b.state));
    }
    let note = format!("approval: {} ({})", decision.verb(), via.name());
    b.transition(decision.target(), now_ms, actor.clone(), note)
        .map_err(|e| ApprovalError::Corrupt {
            key: id.key(),
            reason: e.to_string(),
        })?;
    batch::save(store, &b)?;
    if decision == Decision::Approve {
        schedule::append(
            store,
            submit_schedule,
            SUBMIT_SCHEDULE,
            &id.key(),
            now_ms,
            now_ms,
        )?;
    }
    Ok(Decided::Done(Box::new(b)))
}

/// What [`on_hold`] set in motion (also the audit entry's correlation ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldStarted {
    /// A Verify check to the approver was queued.
    pub verify_queued: bool,
    /// An approval request SMS was queued (the policy allows a release by reply or delivery).
    pub request_queued: bool,
    /// When the hold expires (Unix ms).
    pub expires_at_ms: u64,
}

/// The hold's deadline for `config` (the client's policy; `default_ttl_ms` without one).
pub fn hold_deadline(config: Option<&ClientConfig>, default_ttl_ms: u64, held_at_ms: u64) -> u64 {
    let ttl = config.map_or(default_ttl_ms, |c| c.release.hold_ttl_ms);
    held_at_ms.saturating_add(ttl)
}

/// The text inputs of an approval-related SMS about `b`.
pub fn alert_text(b: &Batch, config: &ClientConfig, result: AlertResult) -> AlertText {
    AlertText {
        client: b.client.clone(),
        client_name: config.name.clone(),
        batch: Some(b.id),
        reference: Some(b.reference.clone()),
        datev_job: None,
        result,
        reason: None,
    }
}

/// Starts the gate for a batch just stored `held` (see the module docs). Idempotent: outbox
/// items are create-if-absent; the approver record and the expiry entry may be written again.
pub fn on_hold(
    store: &(impl KeyValue + ?Sized),
    outbox_schedule: &ScheduleConfig,
    b: &Batch,
    config: Option<&ClientConfig>,
    default_ttl_ms: u64,
    now_ms: u64,
) -> Result<HoldStarted, ApprovalError> {
    let expires_at_ms = hold_deadline(config, default_ttl_ms, now_ms);
    let mut started = HoldStarted {
        verify_queued: false,
        request_queued: false,
        expires_at_ms,
    };
    // The expiry entry first and the Verify item last: a crash in between is repaired by
    // running this again, and the Verify item's presence says the whole start was written
    // (`api` resumes an interrupted start on an idempotent replay).
    schedule::append(
        store,
        &EXPIRY_SCHEDULE_CONFIG,
        EXPIRY_SCHEDULE,
        &b.id.key(),
        expires_at_ms,
        now_ms,
    )?;
    if let Some(c) = config
        && let Some(approver) = &c.approver
    {
        let language = c.language_of(approver);
        let record = ApproverRecord {
            version: APPROVER_VERSION,
            client: c.client.clone(),
            client_name: c.name.clone(),
            language,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| ApprovalError::Corrupt {
            key: approver_key(&approver.phone),
            reason: e.to_string(),
        })?;
        store.set(&approver_key(&approver.phone), &bytes)?;
        if c.release.sms_reply || c.release.delivered_callback {
            let request = OutboxItem::new(
                DedupKey::approval_sms(b.id, &approver.phone),
                Channel::Sms,
                approver.phone.clone(),
                language,
                alert_text(b, c, AlertResult::ApprovalRequested),
                now_ms,
            );
            outbox::enqueue(store, outbox_schedule, &request, now_ms)?;
            started.request_queued = true;
        }
        let verify = OutboxItem::new(
            DedupKey::approval_verify(b.id),
            Channel::Verify,
            approver.phone.clone(),
            language,
            alert_text(b, c, AlertResult::ApprovalRequested),
            now_ms,
        );
        outbox::enqueue(store, outbox_schedule, &verify, now_ms)?;
        started.verify_queued = true;
    }
    let mut entry = AuditEntry::new(
        now_ms,
        Actor::Component {
            name: AUDIT_PREFIX.into(),
        },
        format!("{AUDIT_PREFIX}.hold"),
        format!("batch:{}", b.id),
        AuditOutcome::Ok,
    )
    .with("batch", b.id.to_string())
    .with("client", b.client.as_str())
    .with("verify_queued", started.verify_queued.to_string())
    .with("request_queued", started.request_queued.to_string())
    .with("expires_at_ms", expires_at_ms.to_string());
    match config.and_then(|c| c.approver.as_ref()) {
        Some(a) => entry = entry.with("approver", a.phone.masked()),
        None => {
            entry = entry.with(
                "note",
                "no approver configured: only an operator can reject it, or it expires",
            );
        }
    }
    audit::append(store, &entry)?;
    Ok(started)
}

/// The outbox items telling the approver and the controller that `b` expired.
pub fn expiry_notices(b: &Batch, config: &ClientConfig, now_ms: u64) -> Vec<OutboxItem> {
    let mut items = Vec::new();
    for contact in [config.approver.as_ref(), config.controller.as_ref()]
        .into_iter()
        .flatten()
    {
        if items.iter().any(|i: &OutboxItem| i.to == contact.phone) {
            continue;
        }
        items.push(OutboxItem::new(
            DedupKey::expired_sms(b.id, &contact.phone),
            Channel::Sms,
            contact.phone.clone(),
            config.language_of(contact),
            alert_text(b, config, AlertResult::HoldExpired),
            now_ms,
        ));
    }
    items
}

/// What an approver's SMS says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `YES <id>`: release.
    Yes(BatchId),
    /// `NO <id>`: reject.
    No(BatchId),
}

impl Reply {
    /// The batch named.
    pub fn batch(self) -> BatchId {
        match self {
            Reply::Yes(b) | Reply::No(b) => b,
        }
    }

    /// The decision it asks for.
    pub fn decision(self) -> Decision {
        match self {
            Reply::Yes(_) => Decision::Approve,
            Reply::No(_) => Decision::Reject,
        }
    }
}

/// Parses an SMS reply (see the module docs); `None` when it is not exactly a verdict and a
/// batch id.
pub fn parse_reply(body: &str) -> Option<Reply> {
    let mut words = body.split_whitespace();
    let verb = words.next()?.to_lowercase();
    let mut id = words.next()?;
    if id == "#" {
        id = words.next()?;
    }
    if words.next().is_some() {
        return None;
    }
    let id = BatchId::parse(id.strip_prefix('#').unwrap_or(id))?;
    match verb.as_str() {
        "yes" | "y" | "ja" | "j" => Some(Reply::Yes(id)),
        "no" | "n" | "nein" => Some(Reply::No(id)),
        _ => None,
    }
}

/// The reply to an SMS that was not understood, to the registered approver `to`.
pub fn reply_notice(
    record: &ApproverRecord,
    to: &PhoneNumber,
    inbound_sid: &str,
    now_ms: u64,
) -> OutboxItem {
    OutboxItem::new(
        DedupKey::reply_sms(inbound_sid),
        Channel::Sms,
        to.clone(),
        record.language,
        AlertText {
            client: record.client.clone(),
            client_name: record.client_name.clone(),
            batch: None,
            reference: None,
            datev_job: None,
            result: AlertResult::ReplyUnrecognized,
            reason: None,
        },
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Amounts, ExtfSource, Payload};
    use crate::client_config::{
        Contact, HoldReason, Language, ReleasePolicy, RiskDecision, RiskPolicy,
    };
    use crate::memory::MemoryStore;
    use crate::schedule::{ScanLimits, scan};

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, "phone").unwrap()
    }

    fn config(sms_reply: bool) -> ClientConfig {
        ClientConfig {
            version: 1,
            client: ClientId::parse("29098-55003").unwrap(),
            name: "Musterholz GmbH".into(),
            language: Language::De,
            finance_contacts: vec![],
            controller: Some(Contact {
                name: "Carl".into(),
                phone: phone("+4917612345678"),
                language: None,
            }),
            approver: Some(Contact {
                name: "Alma".into(),
                phone: phone("+4915199990000"),
                language: Some(Language::En),
            }),
            risk: RiskPolicy {
                threshold_cents: Some(100),
                hold_all: false,
            },
            release: ReleasePolicy {
                sms_reply,
                delivered_callback: false,
                hold_ttl_ms: 3_600_000,
            },
            updated_at_ms: 0,
        }
    }

    fn held(id: u64) -> Batch {
        let mut b = Batch {
            version: 1,
            id: BatchId::new(id).unwrap(),
            client: ClientId::parse("29098-55003").unwrap(),
            reference: "Zahllauf 03".into(),
            payload: Payload::Extf {
                file_name: "EXTF_x.csv".into(),
                bytes: 1,
                rows: 1,
                source: ExtfSource::Bookings,
            },
            amounts: Amounts::default(),
            flagged: false,
            risk: RiskDecision {
                hold: true,
                reasons: vec![HoldReason::Flagged],
            },
            warnings: vec![],
            state: BatchState::Received,
            history: vec![],
            submission: None,
            job: None,
            result: None,
            request_sha256: "00".into(),
            created_at_ms: 1,
            updated_at_ms: 1,
        };
        b.transition(
            BatchState::Held,
            1,
            Actor::Component { name: "api".into() },
            "x",
        )
        .unwrap();
        b
    }

    fn op() -> Actor {
        Actor::Operator { id: "admin".into() }
    }

    #[test]
    fn replies_are_parsed_tolerantly_and_strictly() {
        let id = BatchId::new(4711).unwrap();
        for yes in [
            "YES 4711",
            "yes 4711",
            " Yes\t 4711 \n",
            "JA 4711",
            "y #4711",
            "YES # 4711",
        ] {
            assert_eq!(parse_reply(yes), Some(Reply::Yes(id)), "{yes:?}");
        }
        for no in ["NO 4711", "no 4711", "Nein 4711", "  n   4711"] {
            assert_eq!(parse_reply(no), Some(Reply::No(id)), "{no:?}");
        }
        for bad in [
            "",
            "YES",
            "4711",
            "YES 4711 please",
            "YES 0",
            "YES 04711",
            "MAYBE 4711",
            "YES abc",
            "YES4711",
        ] {
            assert_eq!(parse_reply(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_decision_wins_and_the_rest_change_nothing() {
        let s = MemoryStore::new();
        let sched = ScheduleConfig::default();
        let b = held(7);
        batch::save(&s, &b).unwrap();
        let now = 10 * DECISION_WINDOW_MS + 5;
        let first = decide(
            &s,
            &sched,
            b.id,
            Decision::Approve,
            &Via::VerifyCode,
            op(),
            now,
        )
        .unwrap();
        let Decided::Done(done) = first else {
            panic!("{first:?}")
        };
        assert_eq!(done.state, BatchState::Approved);
        assert_eq!(
            done.history.last().unwrap().note,
            "approval: approve (verify_code)"
        );
        // The approved batch is in the poller's submission index, exactly once.
        let plan = scan(&s, &sched, SUBMIT_SCHEDULE, now, &ScanLimits::default()).unwrap();
        assert_eq!(plan.due.len(), 1);
        assert_eq!(plan.due[0].entry.item, "batch:7");
        let writes = s.writes();
        for d in [Decision::Reject, Decision::Expire, Decision::Approve] {
            assert_eq!(
                decide(&s, &sched, b.id, d, &Via::Operator, op(), now + 1).unwrap(),
                Decided::AlreadyDecided(BatchState::Approved)
            );
        }
        // Only the three audit entries (two writes each) were written.
        assert_eq!(s.writes(), writes + 6);
        assert_eq!(
            batch::load(&s, b.id).unwrap().unwrap().state,
            BatchState::Approved
        );
        assert_eq!(
            decide(
                &s,
                &sched,
                BatchId::new(8).unwrap(),
                Decision::Approve,
                &Via::VerifyCode,
                op(),
                now
            )
            .unwrap(),
            Decided::Unknown
        );
    }

    #[test]
    fn a_racing_decider_is_told_in_progress_and_a_dead_one_blocks_only_two_minutes() {
        let s = MemoryStore::new();
        let sched = ScheduleConfig::default();
        let b = held(9);
        batch::save(&s, &b).unwrap();
        let now = 100 * DECISION_WINDOW_MS;
        // A decider took the claim of this window and died before writing.
        s.increment(&batch::decision_claim(b.id, 100), 1).unwrap();
        assert_eq!(
            decide(
                &s,
                &sched,
                b.id,
                Decision::Reject,
                &Via::Operator,
                op(),
                now
            )
            .unwrap(),
            Decided::InProgress
        );
        assert_eq!(
            batch::load(&s, b.id).unwrap().unwrap().state,
            BatchState::Held
        );
        let later = now + 2 * DECISION_WINDOW_MS;
        assert!(matches!(
            decide(&s, &sched, b.id, Decision::Reject, &Via::Operator, op(), later).unwrap(),
            Decided::Done(d) if d.state == BatchState::Cancelled
        ));
    }

    #[test]
    fn holding_queues_verify_request_and_expiry_and_indexes_the_approver() {
        let s = MemoryStore::new();
        let outbox_sched = ScheduleConfig::default();
        let b = held(11);
        let c = config(true);
        let now = 1_000_000;
        let started = on_hold(&s, &outbox_sched, &b, Some(&c), DEFAULT_HOLD_TTL_MS, now).unwrap();
        assert_eq!(
            started,
            HoldStarted {
                verify_queued: true,
                request_queued: true,
                expires_at_ms: now + 3_600_000
            }
        );
        let verify = outbox::load(&s, &DedupKey::approval_verify(b.id))
            .unwrap()
            .unwrap();
        assert_eq!(verify.channel, Channel::Verify);
        assert_eq!(verify.to.as_str(), "+4915199990000");
        assert_eq!(verify.language, Language::En);
        let request = outbox::load(&s, &DedupKey::approval_sms(b.id, &verify.to))
            .unwrap()
            .unwrap();
        assert_eq!(request.text.result, AlertResult::ApprovalRequested);
        assert_eq!(
            approver(&s, &verify.to).unwrap().unwrap().client.as_str(),
            "29098-55003"
        );
        let plan = scan(
            &s,
            &EXPIRY_SCHEDULE_CONFIG,
            EXPIRY_SCHEDULE,
            now + 3_600_000,
            &ScanLimits::default(),
        )
        .unwrap();
        assert_eq!(plan.due.len(), 1);
        assert_eq!(plan.due[0].entry.due_at_ms, now + 3_600_000);
        // Verify only, when the policy allows no event release; the default TTL without config.
        let s2 = MemoryStore::new();
        let started = on_hold(&s2, &outbox_sched, &b, Some(&config(false)), 5, now).unwrap();
        assert!(started.verify_queued && !started.request_queued);
        let started = on_hold(&s2, &outbox_sched, &held(12), None, 5, now).unwrap();
        assert_eq!(
            started,
            HoldStarted {
                verify_queued: false,
                request_queued: false,
                expires_at_ms: now + 5
            }
        );
    }

    #[test]
    fn expiry_tells_approver_and_controller_once_each() {
        let c = config(false);
        let b = held(13);
        let items = expiry_notices(&b, &c, 5);
        let to: Vec<(&str, &str)> = items
            .iter()
            .map(|i| (i.dedup_key.as_str(), i.to.as_str()))
            .collect();
        assert_eq!(
            to,
            vec![
                ("sms-expired13-+4915199990000", "+4915199990000"),
                ("sms-expired13-+4917612345678", "+4917612345678")
            ]
        );
        let mut same = c.clone();
        same.controller = same.approver.clone();
        assert_eq!(expiry_notices(&b, &same, 5).len(), 1);
    }
}
