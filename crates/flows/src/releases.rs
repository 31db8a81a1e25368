//! Releases by Twilio events and held-batch expiry, run inside the `datev-poller` tick
//! (`ARCHITECTURE.md` flow 2; the decisions themselves are [`connector::approval::decide`]).
//!
//! # Why the poller's tick
//! Processing an inbound SMS or an approval request's `delivered` callback needs no Twilio
//! request at all (a reply SMS goes through the outbox), only the store: batches, client
//! configurations, the poller's own submission index. Running it at the start of the poller's
//! tick, under the poller's lease, means a batch released by SMS is uploaded **in the same
//! tick**, the submission index is written with the poller's own schedule shape (no second
//! component has to mirror `poller_tick_ms`), and the `twilio-sender` tick keeps its time budget
//! for paced sends. The sender reads the same queue for status callbacks with its own cursor;
//! reading never changes the queue, so the two never interfere.
//!
//! # Inbound queue ([`Releases::process_inbound`])
//! From `cursor:inbound`, slot by slot, **in order**, at most `inbound_per_tick` per tick:
//! - an inbound SMS or a `delivered` message callback is applied once per dedup key:
//!   `claim:applied:<dedup-key>` is read first (present → a copy already applied: skip, no
//!   write) and taken with `increment` after the event was applied. A crash between the two
//!   re-applies the event, which changes nothing: decisions are claimed per batch, and the reply
//!   SMS is create-if-absent under `sms-reply-<MessageSid>`;
//! - every other event (the sender's business) is passed over without a write;
//! - a failed event (store error, unreadable record) keeps its error, attempt count and next
//!   attempt time in its own slot ([`connector::inbound::Processing`], one write) and stops the
//!   loop: later events wait behind it so order is kept, and it is retried after an exponential
//!   backoff (5 s doubling, at most 10 min). It is never dropped; a record that is itself
//!   unreadable is audited and passed over (there is nothing to apply).
//! - a missing slot below the tail waits `inbound_grace_ms` (a webhook may still be writing it).
//!
//! Writes per applied event: the claim (1), the decision (see `decide`) or the reply (3), the
//! audit entry (2); one cursor write per tick.
//!
//! # Expiry ([`Releases::expire`])
//! Due entries of `hold-expiry`: a batch still `held` is decided `expired` and its approver and
//! controller get an SMS each (`sms-expired<id>-<e164>`, create-if-absent, so a re-run after a
//! crash tells nobody twice).

use connector::approval::{
    self, ApprovalError, Decided, Decision, EXPIRY_SCHEDULE, EXPIRY_SCHEDULE_CONFIG, Via,
};
use connector::audit::{self, Actor, AuditEntry, Outcome as AuditOutcome};
use connector::batch::{self, BatchId, BatchState};
use connector::client_config::{self, PhoneNumber};
use connector::inbound::{self, InboundEvent, InboundSms, MissingSlot, QueueEntry, Slot};
use connector::outbox::{self, AlertResult, Channel};
use connector::schedule::{self, ScanLimits, ScheduleConfig};
use connector::{KeyValue, keys};

/// The component that runs this (audit actor of expiry).
const NAME: &str = "datev-poller";

/// Settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseConfig {
    /// Inbound-queue slots looked at per tick (default 200).
    pub inbound_per_tick: u64,
    /// A missing slot below the tail is passed over after this long (default 60 s).
    pub inbound_grace_ms: u64,
    /// First retry delay of a failed event (default 5 s; doubles per attempt).
    pub retry_base_ms: u64,
    /// Longest retry delay (default 10 min).
    pub retry_cap_ms: u64,
    /// Expiry entries handled per tick (default 50).
    pub max_expiries: usize,
    /// Shape of the outbox index (must be `twilio-sender`'s).
    pub outbox_schedule: ScheduleConfig,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        Self {
            inbound_per_tick: 200,
            inbound_grace_ms: 60_000,
            retry_base_ms: 5_000,
            retry_cap_ms: 600_000,
            max_expiries: 50,
            outbox_schedule: ScheduleConfig::default(),
        }
    }
}

/// What the release step did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Inbound SMS and `delivered` callbacks applied.
    pub applied: u32,
    /// Copies of already applied events passed over.
    pub duplicates: u32,
    /// Events that failed and wait for their retry.
    pub failed: u32,
    /// Batches decided by an event (approved or cancelled).
    pub decided: u32,
    /// Reply SMS queued for replies that were not understood.
    pub replies: u32,
    /// Held batches expired.
    pub expired: u32,
}

/// The release step over the store (see the module docs).
pub struct Releases<'a> {
    store: &'a dyn KeyValue,
    config: &'a ReleaseConfig,
    submit_schedule: &'a ScheduleConfig,
}

impl std::fmt::Debug for Releases<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Releases")
            .field("config", self.config)
            .finish_non_exhaustive()
    }
}

/// Why the step stopped. Work done before stays done.
pub type ReleaseError = ApprovalError;

fn queue_error(e: inbound::QueueError) -> ApprovalError {
    match e {
        inbound::QueueError::Store(s) => ApprovalError::Store(s),
        inbound::QueueError::Corrupt { key, reason } => ApprovalError::Corrupt { key, reason },
        inbound::QueueError::Encode(reason) => ApprovalError::Corrupt {
            key: keys::INBOUND_CURSOR.into(),
            reason,
        },
    }
}

impl<'a> Releases<'a> {
    /// Binds the store and settings; `submit_schedule` is the poller's index shape.
    pub fn new(
        store: &'a dyn KeyValue,
        config: &'a ReleaseConfig,
        submit_schedule: &'a ScheduleConfig,
    ) -> Self {
        Self {
            store,
            config,
            submit_schedule,
        }
    }

    fn audit(&self, entry: &AuditEntry) -> Result<(), ApprovalError> {
        audit::append(self.store, entry)?;
        Ok(())
    }

    /// Processes the inbound queue from `cursor:inbound` (see the module docs).
    pub fn process_inbound(
        &self,
        now_ms: u64,
        report: &mut ReleaseReport,
    ) -> Result<(), ReleaseError> {
        let store = self.store;
        let mut cursor = inbound::load_cursor(store).map_err(queue_error)?;
        let before = cursor.clone();
        let tail = inbound::tail(store).map_err(queue_error)?;
        let mut budget = self.config.inbound_per_tick;
        let result = loop {
            if cursor.next_slot > tail || budget == 0 {
                break Ok(());
            }
            budget -= 1;
            match inbound::read_slot(store, cursor.next_slot) {
                Ok(Slot::Event(mut record)) => {
                    if !is_ours(&record.event) {
                        cursor.advance();
                        continue;
                    }
                    if record
                        .processing
                        .next_attempt_at_ms
                        .is_some_and(|t| t > now_ms)
                    {
                        // A failed event waits for its retry; everything after it waits too.
                        break Ok(());
                    }
                    let claim = keys::applied_claim(&record.dedup_key);
                    match store.get(&claim) {
                        Ok(Some(_)) => {
                            report.duplicates += 1;
                            cursor.advance();
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => break Err(e.into()),
                    }
                    match self.apply(&record.event, record.slot, now_ms, report) {
                        Ok(()) => {
                            if let Err(e) = store.increment(&claim, 1) {
                                break Err(e.into());
                            }
                            report.applied += 1;
                            cursor.advance();
                        }
                        Err(e) => {
                            report.failed += 1;
                            let p = &mut record.processing;
                            p.attempts = p.attempts.saturating_add(1);
                            p.last_error = Some(e.to_string());
                            let delay = self
                                .config
                                .retry_base_ms
                                .saturating_mul(1u64 << p.attempts.saturating_sub(1).min(20))
                                .min(self.config.retry_cap_ms);
                            p.next_attempt_at_ms = Some(now_ms.saturating_add(delay));
                            let attempts = p.attempts;
                            let slot = record.slot;
                            let bytes =
                                serde_json::to_vec(&QueueEntry::Event(record)).map_err(|e| {
                                    ApprovalError::Corrupt {
                                        key: keys::inbound_slot(slot),
                                        reason: e.to_string(),
                                    }
                                });
                            let kept = bytes.and_then(|b| {
                                store
                                    .set(&keys::inbound_slot(slot), &b)
                                    .map_err(ApprovalError::from)
                            });
                            let entry = AuditEntry::new(
                                now_ms,
                                Actor::Component { name: NAME.into() },
                                "approval.inbound",
                                format!("inbound:{slot}"),
                                AuditOutcome::Failed {
                                    status: None,
                                    reason: e.to_string(),
                                },
                            )
                            .with("slot", slot.to_string())
                            .with("attempts", attempts.to_string())
                            .with("retry_in_ms", delay.to_string());
                            // Best effort: the store may be what failed.
                            let _ = self.audit(&entry);
                            break kept;
                        }
                    }
                }
                Ok(Slot::Tombstone(_)) => cursor.advance(),
                Ok(Slot::Missing) => {
                    match cursor.decide_missing(now_ms, self.config.inbound_grace_ms) {
                        MissingSlot::Wait => break Ok(()),
                        MissingSlot::Skip => cursor.advance(),
                    }
                }
                Err(inbound::QueueError::Corrupt { key, reason }) => {
                    let entry = AuditEntry::new(
                        now_ms,
                        Actor::Component { name: NAME.into() },
                        "approval.inbound",
                        key,
                        AuditOutcome::Rejected {
                            status: None,
                            reason,
                        },
                    );
                    if let Err(e) = self.audit(&entry) {
                        break Err(e);
                    }
                    cursor.advance();
                }
                Err(e) => break Err(queue_error(e)),
            }
        };
        if cursor != before {
            inbound::save_cursor(store, &cursor).map_err(queue_error)?;
        }
        result
    }

    fn apply(
        &self,
        event: &InboundEvent,
        slot: u64,
        now_ms: u64,
        report: &mut ReleaseReport,
    ) -> Result<(), ApprovalError> {
        match event {
            InboundEvent::InboundSms(sms) => self.sms(sms, slot, now_ms, report),
            InboundEvent::MessageStatus(e) => {
                self.delivered(e.message_sid.as_str(), now_ms, report)
            }
            InboundEvent::CallStatus(_) => Ok(()),
        }
    }

    fn sms_entry(
        &self,
        sms: &InboundSms,
        slot: u64,
        now_ms: u64,
        outcome: AuditOutcome,
    ) -> AuditEntry {
        let from = PhoneNumber::parse(sms.from.trim(), "From")
            .map(|p| p.masked())
            .unwrap_or_else(|_| "(not E.164)".to_owned());
        AuditEntry::new(
            now_ms,
            Actor::Twilio,
            "approval.sms_reply",
            format!("message:{}", sms.message_sid),
            outcome,
        )
        .with("slot", slot.to_string())
        .with("from", from)
    }

    fn sms(
        &self,
        sms: &InboundSms,
        slot: u64,
        now_ms: u64,
        report: &mut ReleaseReport,
    ) -> Result<(), ApprovalError> {
        let rejected = |reason: &str| AuditOutcome::Rejected {
            status: None,
            reason: reason.to_owned(),
        };
        // Twilio sends `From` in E.164; anything else cannot be a registered approver.
        let Ok(from) = PhoneNumber::parse(sms.from.trim(), "From") else {
            return self.audit(&self.sms_entry(
                sms,
                slot,
                now_ms,
                rejected("the sender is not an E.164 number: nothing changed"),
            ));
        };
        let Some(reply) = approval::parse_reply(&sms.body) else {
            return match approval::approver(self.store, &from)? {
                Some(record) => {
                    let item =
                        approval::reply_notice(&record, &from, sms.message_sid.as_str(), now_ms);
                    let created =
                        outbox::enqueue(self.store, &self.config.outbox_schedule, &item, now_ms)?
                            == outbox::Enqueued::Created;
                    if created {
                        report.replies += 1;
                    }
                    self.audit(
                        &self
                            .sms_entry(
                                sms,
                                slot,
                                now_ms,
                                rejected("not understood (expected YES <batch> or NO <batch>): a reply SMS explains it"),
                            )
                            .with("reply", item.dedup_key.as_str().replace(from.as_str(), &from.masked())),
                    )
                }
                None => self.audit(&self.sms_entry(
                    sms,
                    slot,
                    now_ms,
                    rejected("not understood, from a number that approves nothing: no reply"),
                )),
            };
        };
        let id = reply.batch();
        let Some(b) = batch::load(self.store, id)? else {
            return self.audit(
                &self
                    .sms_entry(
                        sms,
                        slot,
                        now_ms,
                        rejected("unknown batch: nothing changed"),
                    )
                    .with("batch", id.to_string()),
            );
        };
        let config = client_config::load(self.store, &b.client)?;
        let approver = config
            .as_ref()
            .and_then(|c| c.approver.as_ref())
            .map(|a| &a.phone);
        if approver != Some(&from) {
            return self.audit(
                &self
                    .sms_entry(
                        sms,
                        slot,
                        now_ms,
                        rejected("not the batch's registered approver: nothing changed"),
                    )
                    .with("batch", id.to_string()),
            );
        }
        if !config.as_ref().is_some_and(|c| c.release.sms_reply) {
            return self.audit(
                &self
                    .sms_entry(
                        sms,
                        slot,
                        now_ms,
                        rejected("the client's release policy does not allow SMS replies: nothing changed"),
                    )
                    .with("batch", id.to_string()),
            );
        }
        let via = Via::SmsReply {
            message_sid: sms.message_sid.as_str().to_owned(),
        };
        let decided = approval::decide(
            self.store,
            self.submit_schedule,
            id,
            reply.decision(),
            &via,
            Actor::Twilio,
            now_ms,
        )?;
        if let Decided::InProgress = decided {
            return Err(ApprovalError::InProgress(id));
        }
        if matches!(decided, Decided::Done(_)) {
            report.decided += 1;
        }
        Ok(())
    }

    fn delivered(
        &self,
        sid: &str,
        now_ms: u64,
        report: &mut ReleaseReport,
    ) -> Result<(), ApprovalError> {
        let link = match sender::journal::item_of_sid(self.store, sid) {
            Ok(Some(link)) => link,
            Ok(None) => return Ok(()),
            Err(sender::journal::JournalError::Store(e)) => return Err(e.into()),
            Err(e) => {
                return Err(ApprovalError::Corrupt {
                    key: format!("outbox-sid:{sid}"),
                    reason: e.to_string(),
                });
            }
        };
        if link.channel != Channel::Sms {
            return Ok(());
        }
        let Some(item) = outbox::load(self.store, &link.dedup_key)? else {
            return Ok(());
        };
        let (AlertResult::ApprovalRequested, Some(id)) = (item.text.result, item.text.batch) else {
            return Ok(());
        };
        let config = client_config::load(self.store, &item.text.client)?;
        if !config
            .as_ref()
            .is_some_and(|c| c.release.delivered_callback)
        {
            let entry = AuditEntry::new(
                now_ms,
                Actor::Twilio,
                "approval.delivered",
                format!("message:{sid}"),
                AuditOutcome::Rejected {
                    status: None,
                    reason: "the client's release policy does not allow a release on delivery: nothing changed".into(),
                },
            )
            .with("batch", id.to_string());
            return self.audit(&entry);
        }
        let via = Via::DeliveredCallback {
            message_sid: sid.to_owned(),
        };
        match approval::decide(
            self.store,
            self.submit_schedule,
            id,
            Decision::Approve,
            &via,
            Actor::Twilio,
            now_ms,
        )? {
            Decided::Done(_) => report.decided += 1,
            Decided::InProgress => {
                return Err(ApprovalError::InProgress(id));
            }
            Decided::AlreadyDecided(_) | Decided::Unknown => {}
        }
        Ok(())
    }

    /// Expires held batches whose deadline passed (see the module docs).
    pub fn expire(&self, now_ms: u64, report: &mut ReleaseReport) -> Result<(), ReleaseError> {
        let limits = ScanLimits {
            max_entries: self.config.max_expiries,
            ..ScanLimits::default()
        };
        let plan = schedule::scan(
            self.store,
            &EXPIRY_SCHEDULE_CONFIG,
            EXPIRY_SCHEDULE,
            now_ms,
            &limits,
        )?;
        for due in &plan.due {
            let Some(id) = due
                .entry
                .item
                .strip_prefix("batch:")
                .and_then(BatchId::parse)
            else {
                continue;
            };
            let decided = approval::decide(
                self.store,
                self.submit_schedule,
                id,
                Decision::Expire,
                &Via::Expiry,
                Actor::Component { name: NAME.into() },
                now_ms,
            )?;
            let expired = match decided {
                Decided::Done(b) => {
                    report.expired += 1;
                    Some(*b)
                }
                // A re-run after a crash: the notices may be missing (create-if-absent).
                Decided::AlreadyDecided(BatchState::Expired) => batch::load(self.store, id)?,
                Decided::InProgress => {
                    schedule::append(
                        self.store,
                        &EXPIRY_SCHEDULE_CONFIG,
                        EXPIRY_SCHEDULE,
                        &id.key(),
                        now_ms.saturating_add(2 * approval::DECISION_WINDOW_MS),
                        now_ms,
                    )?;
                    None
                }
                Decided::AlreadyDecided(_) | Decided::Unknown => None,
            };
            if let Some(b) = expired
                && let Some(config) = client_config::load(self.store, &b.client)?
            {
                for item in approval::expiry_notices(&b, &config, now_ms) {
                    outbox::enqueue(self.store, &self.config.outbox_schedule, &item, now_ms)?;
                }
            }
        }
        plan.commit(self.store)?;
        Ok(())
    }
}

/// Inbound SMS and `delivered` message callbacks are this processor's; the rest is the
/// sender's.
fn is_ours(event: &InboundEvent) -> bool {
    match event {
        InboundEvent::InboundSms(_) => true,
        InboundEvent::MessageStatus(e) => e.status.as_str() == "delivered",
        InboundEvent::CallStatus(_) => false,
    }
}
