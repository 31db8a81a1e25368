//! Replay: an operator puts a `failed` alert back in line (issue 8's `POST /audit/{id}/replay`
//! ends here for Twilio sends), or has a `sent` alert's status looked up again ([`recheck`]).
//!
//! Replay goes through the same path as the first send: the item becomes `pending` again with a
//! fresh failure count, and the next tick sends it under the next attempt claim. The journal's
//! open attempt is cleared and the old SID is unlinked, so a late callback of the old message
//! cannot move the replayed item, and a replay can never make two sends of one attempt. Only a
//! `failed` item can be replayed: a pending, sending, sent or delivered alert is refused with
//! its state, so a replay can never send an alert twice that went out.

use crate::journal::{self, JournalError, SENDER, SendJournal};
use crate::tick::masked_subject;
use connector::audit::{self, Actor, AuditEntry, Outcome};
use connector::outbox::{self, DedupKey, OUTBOX_SCHEDULE, OutboxError, OutboxItem, OutboxState};
use connector::schedule::{self, ScheduleConfig, ScheduleError};
use connector::{KeyValue, StoreError};

/// Why a replay was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// No such outbox item.
    #[error("outbox item {0} does not exist")]
    NotFound(String),
    /// The item is not `failed`; nothing to replay.
    #[error("outbox item {key} is {state}, only a failed alert can be replayed")]
    NotFailed {
        /// The item (number masked).
        key: String,
        /// Its state.
        state: &'static str,
    },
    /// Only a `sent` alert (accepted, no final status yet) can have its status looked up again.
    #[error(
        "outbox item {key} is {state}, only a sent alert without a final status can be checked again"
    )]
    NotSent {
        /// The item (number masked).
        key: String,
        /// Its state.
        state: &'static str,
    },
    /// The store failed: nothing or only part done; replaying again is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record is unreadable.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<OutboxError> for ReplayError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Store(s) => Self::Store(s),
            OutboxError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

impl From<JournalError> for ReplayError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Store(s) => Self::Store(s),
            JournalError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

impl From<ScheduleError> for ReplayError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Store(s) => Self::Store(s),
            ScheduleError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

fn state_word(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Pending => "pending",
        OutboxState::Sending => "sending",
        OutboxState::Sent => "sent",
        OutboxState::Delivered => "delivered",
        OutboxState::Failed => "failed",
    }
}

/// Replays a failed status check (issue 8): a `sent` alert whose lookups ran out
/// (`max_status_checks`) gets a fresh lookup budget and is due at `now_ms`, so the next tick
/// fetches its status again (`GET …/Messages/{Sid}.json` or `…/Calls/{Sid}.json`) and moves it
/// forward only. A lookup is a read: nothing is sent again. Any other state is refused.
/// Writes: journal 1, item 1, index entry 2, audit 2.
pub fn recheck(
    store: &(impl KeyValue + ?Sized),
    schedule_config: &ScheduleConfig,
    key: &DedupKey,
    now_ms: u64,
    actor: Actor,
) -> Result<(), ReplayError> {
    let subject = masked_subject(key.as_str());
    let (mut item, mut j) = load(store, key, &subject, OutboxState::Sent)?;
    let previous_checks = j.status_checks;
    j.status_checks = 0;
    j.updated_at_ms = now_ms;
    journal::save(store, key, &j)?;
    requeue(store, schedule_config, key, &mut item, now_ms)?;
    let mut entry = AuditEntry::new(
        now_ms,
        actor,
        format!("{SENDER}.recheck"),
        subject,
        Outcome::Ok,
    )
    .with("previous_checks", previous_checks.to_string());
    if let Some(sid) = &item.twilio_sid {
        entry = entry.with("sid", sid.clone());
    }
    append_audit(store, &entry)
}

/// Puts the failed item `key` back in line, due at `now_ms`, and audits it as done by `actor`.
/// Writes: journal 1, SID unlink 0–1, item 1, index entry 2, audit 2.
pub fn replay(
    store: &(impl KeyValue + ?Sized),
    schedule_config: &ScheduleConfig,
    key: &DedupKey,
    now_ms: u64,
    actor: Actor,
) -> Result<(), ReplayError> {
    let subject = masked_subject(key.as_str());
    let (mut item, mut j) = load(store, key, &subject, OutboxState::Failed)?;
    j.open = None;
    j.failures = 0;
    j.status_checks = 0;
    j.updated_at_ms = now_ms;
    journal::save(store, key, &j)?;
    let old_sid = item.twilio_sid.take();
    if let Some(sid) = &old_sid {
        store.delete(&journal::sid_key(sid))?;
    }
    let last_error = item.last_error.take();
    item.state = OutboxState::Pending;
    requeue(store, schedule_config, key, &mut item, now_ms)?;
    let mut entry = AuditEntry::new(
        now_ms,
        actor,
        format!("{SENDER}.replay"),
        subject,
        Outcome::Ok,
    )
    .with("attempts", j.attempts.to_string());
    if let Some(sid) = old_sid {
        entry = entry.with("previous_sid", sid);
    }
    if let Some(e) = last_error {
        entry = entry.with("previous_error", crate::tick::redact_numbers(&e));
    }
    append_audit(store, &entry)
}

/// The item `key` and its journal (a fresh one when none was written yet), if the item is in
/// `expected` (`Failed` for a replay, `Sent` for a recheck); otherwise the refusal naming its
/// state.
fn load(
    store: &(impl KeyValue + ?Sized),
    key: &DedupKey,
    subject: &str,
    expected: OutboxState,
) -> Result<(OutboxItem, SendJournal), ReplayError> {
    let item =
        outbox::load(store, key)?.ok_or_else(|| ReplayError::NotFound(subject.to_owned()))?;
    if item.state != expected {
        let key = subject.to_owned();
        let state = state_word(item.state);
        return Err(if expected == OutboxState::Sent {
            ReplayError::NotSent { key, state }
        } else {
            ReplayError::NotFailed { key, state }
        });
    }
    let j = journal::load(store, key)?.unwrap_or_else(|| SendJournal {
        version: journal::JOURNAL_VERSION,
        attempts: item.attempts,
        ..SendJournal::default()
    });
    Ok((item, j))
}

/// Makes `item` due at `now_ms`: saves it and adds it to the sender's due index, where the next
/// tick picks it up through its normal path (attempt claims, pacing, reconciliation).
fn requeue(
    store: &(impl KeyValue + ?Sized),
    schedule_config: &ScheduleConfig,
    key: &DedupKey,
    item: &mut OutboxItem,
    now_ms: u64,
) -> Result<(), ReplayError> {
    item.next_attempt_at_ms = now_ms;
    item.updated_at_ms = now_ms;
    outbox::save(store, item)?;
    schedule::append(
        store,
        schedule_config,
        OUTBOX_SCHEDULE,
        &key.store_key(),
        now_ms,
        now_ms,
    )?;
    Ok(())
}

fn append_audit(store: &(impl KeyValue + ?Sized), entry: &AuditEntry) -> Result<(), ReplayError> {
    audit::append(store, entry).map_err(|e| match e {
        audit::AuditError::Store(s) => ReplayError::Store(s),
        other => ReplayError::Corrupt {
            key: "audit".into(),
            reason: other.to_string(),
        },
    })?;
    Ok(())
}
