//! One tick of the `twilio-sender` cron component.
//!
//! 1. **Lease**: `increment(lease:twilio-sender:<cron timestamp / lease_ms>) == 1`, or the tick ends at once
//!    (another instance works this window). The tick starts no request after
//!    `tick_budget_ms`, so it ends inside its window.
//! 2. **Status callbacks**: the inbound queue from the sender's own cursor (bounded): message and
//!    call status events whose SID the sender recorded move their item forward
//!    ([`crate::status`]); an alert about a failure that ends undelivered escalates to a call to
//!    the controller (create-if-absent, so at most one call per job). Inbound SMS are left to
//!    their own processor.
//! 3. **Outbox**: due entries of the outbox index (bounded by `max_per_tick`); each is a wake-up
//!    for an item whose record decides what to do:
//!    - `pending` without an open attempt → **send**: render, wait for the pacer, take the
//!      attempt claim, journal the attempt, POST;
//!    - `pending`/`sending` with an open attempt (ambiguous result, or a tick that died mid-way)
//!      → **reconcile** first (list messages/calls to that number in the attempt's window,
//!      twilio.md §13), send again only when nothing went out;
//!    - `sent` past `next_attempt_at_ms` without a final callback → **status check** (fetch);
//!    - anything else → stale entry, skipped.
//! 4. The index cursor is committed; the 429 gate is stored if it changed.
//!
//! Outcomes of a request (twilio.md §9, §10, §13; [`twilio::Disposition`]):
//! | answer | item | tick |
//! |---|---|---|
//! | 201 | `sent` (SID recorded, SID index written), status check scheduled | level −1 |
//! | 429 / 21611 | unchanged; retried in this tick after the gate | gate closed for everyone (backoff, `Retry-After`) |
//! | connect error (nothing sent) | `pending`, retry after backoff; failure counted | — |
//! | timeout / 5xx to the POST (ambiguous) | `sending`, reconcile after `reconcile_after_ms` | — |
//! | 4xx (21211, 21610, …) or bad input | `failed` at once, audited, escalated | — |
//! | `max_attempts` failures | `failed`, audited (replayable: [`crate::replay`]), escalated | — |
//!
//! A **Verify** item (`verify-batch<id>`, the approval gate's one-time code) starts a Verify v2
//! verification (twilio.md §6.2) instead: `pending` in the answer means the code went out and
//! the item is final (`delivered`: Verify reports no delivery to us); 60203 (too many sends) or
//! 60202 (checks used up) end it `failed` with that reason; transport errors and 5xx retry like
//! an SMS. An ambiguous start is simply repeated: a restart within the verification's ten
//! minutes resends the same code (twilio.md §13), so nothing needs reconciling.
//!
//! Every send, retry, rate limit, give-up, reconciliation, status change and escalation is
//! audited (`connector::audit`), with numbers masked and never a body or credential.

use crate::config::SenderConfig;
use crate::journal::{self, JournalError, OpenAttempt, SENDER, SendJournal};
use crate::pace::{self, Pacer, Sleep};
use crate::status::{Observed, rank};
use crate::template;
use connector::audit::{self, Actor, AuditEntry, Outcome as AuditOutcome};
use connector::client_config;
use connector::inbound::{self, InboundEvent, MissingSlot, QueueError, Slot};
use connector::keys;
use connector::outbox::{
    self, AlertResult, Channel, DedupKey, Enqueued, OUTBOX_SCHEDULE, OutboxError, OutboxItem,
    OutboxState,
};
use connector::schedule::{self, ScheduleError};
use connector::{Clock, HttpClient, KeyValue, Rng, StoreError};
use std::collections::BTreeMap;
use twilio::{
    CallEvent, CallFilter, CallSid, CallStatus, Disposition, E164, MessageSid, MessageStatus,
    NewCall, NewMessage, PhoneNumberError, TwilioClient, TwilioConfig, TwilioError, VerifyOutcome,
    codes,
};

/// The ports a tick runs on.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// Key-value store.
    pub store: &'a dyn KeyValue,
    /// Outbound HTTP (Twilio).
    pub http: &'a dyn HttpClient,
    /// Wall clock.
    pub clock: &'a dyn Clock,
    /// Randomness for jitter.
    pub rng: &'a dyn Rng,
    /// Waiting.
    pub sleep: &'a dyn Sleep,
}

impl std::fmt::Debug for Ports<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// Why a tick stopped early. Work done before the error stays done; the rest is picked up by the
/// next tick (nothing is committed past the failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickError {
    /// The store failed: not done, retry on the next tick.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record every tick needs (an index cursor) is unreadable; an operator must look.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<ScheduleError> for TickError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Store(s) => Self::Store(s),
            ScheduleError::Corrupt { key, reason } => Self::Corrupt { key, reason },
        }
    }
}

/// What one tick did (counts), for logs and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// False when another instance held this window's lease (nothing else was done).
    pub lease: bool,
    /// Inbound-queue events read.
    pub events_read: u64,
    /// Status events that moved an item forward.
    pub statuses_applied: u64,
    /// Status events that changed nothing (duplicates, reordered, already final).
    pub statuses_unchanged: u64,
    /// Events not about an alert the sender sent (inbound SMS, other SIDs).
    pub events_ignored: u64,
    /// Outbox entries taken from the index.
    pub entries: u64,
    /// Entries whose item needed nothing (already handled, rescheduled, gone).
    pub stale_entries: u64,
    /// SMS Twilio accepted.
    pub sms_sent: u64,
    /// Calls Twilio accepted.
    pub calls_placed: u64,
    /// Verify checks started (approval codes sent).
    pub verifications: u64,
    /// 429 answers met.
    pub rate_limited: u64,
    /// Time spent waiting for the pacer (ms).
    pub waited_ms: u64,
    /// Attempts that failed and were scheduled again.
    pub retries: u64,
    /// Ambiguous attempts left for reconciliation.
    pub ambiguous: u64,
    /// Reconciliations that found the alert sent.
    pub reconciled_sent: u64,
    /// Reconciliations that found nothing sent (sent again or given up).
    pub reconciled_unsent: u64,
    /// Items given up (`failed`).
    pub given_up: u64,
    /// Escalation calls enqueued.
    pub escalated: u64,
    /// Status lookups of `sent` items.
    pub status_checks: u64,
    /// Items put back for the next tick because the budget was spent.
    pub deferred: u64,
    /// Attempts another instance had claimed.
    pub claimed_elsewhere: u64,
    /// Unreadable records skipped (audited).
    pub corrupt: u64,
    /// Audit entries that could not be written (the store failed), as text for the log.
    pub audit_lost: Vec<String>,
    /// Tick duration on the tick's clock (ms).
    pub elapsed_ms: u64,
}

/// The `twilio-sender` tick.
pub struct Sender<'a> {
    ports: Ports<'a>,
    twilio: TwilioClient<'a>,
    config: SenderConfig,
}

impl std::fmt::Debug for Sender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("twilio", &self.twilio)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a> Sender<'a> {
    /// A sender over `ports`, talking to Twilio with `twilio`.
    pub fn new(ports: Ports<'a>, twilio: TwilioConfig, config: SenderConfig) -> Self {
        Self {
            twilio: TwilioClient::new(ports.http, twilio),
            ports,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Runs the tick the scheduler fired at `timestamp_s` (Unix seconds, the cron metadata),
    /// see the module docs.
    ///
    /// The lease window comes from the scheduler's timestamp, which every instance firing the
    /// same tick shares, not from each instance's clock: skewed clocks cannot split one tick
    /// into two windows. Everything else (deadline, backoff, records) uses the clock port.
    pub fn tick(&self, timestamp_s: u64) -> Result<TickReport, TickError> {
        let store = self.ports.store;
        let start = self.ports.clock.now_ms();
        let window = timestamp_s.saturating_mul(1000) / self.config.lease_ms.max(1);
        if !store.claim(&keys::lease(SENDER, window))? {
            return Ok(TickReport::default());
        }
        // Best effort: a lease key left behind costs only space (keys::retire_lease).
        if let Err(e) = keys::retire_lease(store, SENDER, window, self.config.lease_ms) {
            eprintln!("{SENDER}: old lease key not deleted ({e})");
        }
        let mut run = Run {
            s: self,
            pacer: Pacer::new(
                self.config.max_in_flight,
                self.config.request_slot_ms,
                self.config.rate_backoff,
                pace::load(store)?,
            ),
            deadline_ms: start.saturating_add(self.config.tick_budget_ms),
            report: TickReport {
                lease: true,
                ..TickReport::default()
            },
            last_call: BTreeMap::new(),
            spacing_waited_ms: 0,
        };
        let result = run.statuses().and_then(|()| run.outbox());
        // The gate is worth keeping even when the tick failed half-way.
        if let Some(state) = run.pacer.changed_state() {
            pace::save(store, &state)?;
        }
        result?;
        run.report.waited_ms = run.pacer.slept_ms() + run.spacing_waited_ms;
        run.report.elapsed_ms = self.ports.clock.now_ms().saturating_sub(start);
        Ok(run.report)
    }
}

/// What a step asks of the outbox loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next entry.
    Next,
    /// The tick's budget is spent: put every remaining entry back.
    Stop,
}

/// A request ready to go.
enum Request {
    Sms(NewMessage),
    Call(NewCall),
    Verify(E164, twilio::Language),
}

/// What Twilio accepted.
struct Accepted {
    sid: String,
    observed: Option<Observed>,
    /// A Verify start Twilio answered but refused for good (60203, 60202, another status).
    refused: Option<String>,
}

/// Is this "not processed, slow down" (twilio.md §9, §10: 429/20429, 60212; 21611 queue full)?
fn is_rate_limit(e: &TwilioError) -> bool {
    e.status() == Some(429) || e.code() == Some(codes::QUEUE_FULL)
}

/// A stored number as Twilio's type, by shape only (no libphonenumber on the hot path).
fn recipient(item: &OutboxItem) -> Result<E164, PhoneNumberError> {
    E164::from_canonical(item.to.as_str(), "to")
}

/// `outbox:<dedup-key>` with the phone number in it masked (`+49151*****678`): audit entries
/// never carry a whole number.
pub fn masked_subject(raw: &str) -> String {
    let masked = match raw.rfind('+') {
        Some(i) => match connector::client_config::PhoneNumber::parse(&raw[i..], "to") {
            Ok(n) => format!("{}{}", &raw[..i], n.masked()),
            Err(_) => raw.to_owned(),
        },
        None => raw.to_owned(),
    };
    format!("outbox:{masked}")
}

struct Run<'s, 'a> {
    s: &'s Sender<'a>,
    pacer: Pacer,
    deadline_ms: u64,
    report: TickReport,
    /// Number → when the tick's last call request to it ended (see `call_spacing_ms`).
    last_call: BTreeMap<String, u64>,
    /// Time spent keeping calls apart (ms).
    spacing_waited_ms: u64,
}

impl<'s, 'a> Run<'s, 'a> {
    fn store(&self) -> &'a dyn KeyValue {
        self.s.ports.store
    }

    fn now(&self) -> u64 {
        self.s.ports.clock.now_ms()
    }

    fn cfg(&self) -> &'s SenderConfig {
        &self.s.config
    }

    // ---- audit ----

    fn audit(&mut self, mut entry: AuditEntry) {
        // Twilio's messages can quote the number ("The 'To' number +49… is not valid").
        entry.outcome = match entry.outcome {
            AuditOutcome::Rejected { status, reason } => AuditOutcome::Rejected {
                status,
                reason: redact_numbers(&reason),
            },
            AuditOutcome::Failed { status, reason } => AuditOutcome::Failed {
                status,
                reason: redact_numbers(&reason),
            },
            other => other,
        };
        if let Err(e) = audit::append(self.store(), &entry) {
            self.report.audit_lost.push(format!(
                "{} {} {:?}: audit entry not written: {e}",
                entry.action, entry.subject, entry.outcome
            ));
        }
    }

    fn item_entry(&self, item: &OutboxItem, action: &str, outcome: AuditOutcome) -> AuditEntry {
        let mut e = AuditEntry::new(
            self.now(),
            Actor::Component {
                name: SENDER.to_owned(),
            },
            format!("{SENDER}.{action}"),
            masked_subject(item.dedup_key.as_str()),
            outcome,
        )
        .with("channel", channel_name(item.channel))
        .with("to", item.to.masked())
        .with("client", item.text.client.as_str());
        if let Some(job) = &item.text.datev_job {
            e = e.with("datev_job", job.as_str());
        }
        if let Some(b) = item.text.batch {
            e = e.with("batch", b.to_string());
        }
        if let Some(sid) = &item.twilio_sid {
            e = e.with("sid", sid.as_str());
        }
        e
    }

    // ---- 2. status callbacks from the inbound queue ----

    fn statuses(&mut self) -> Result<(), TickError> {
        let store = self.store();
        let mut cursor = match store.get(journal::INBOUND_CURSOR)? {
            None => inbound::Cursor::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| TickError::Corrupt {
                key: journal::INBOUND_CURSOR.to_owned(),
                reason: e.to_string(),
            })?,
        };
        let before = cursor.clone();
        let tail = inbound::tail(store).map_err(queue_error)?;
        let mut budget = self.cfg().inbound_per_tick;
        while cursor.next_slot <= tail && budget > 0 {
            budget -= 1;
            match inbound::read_slot(store, cursor.next_slot) {
                Ok(Slot::Event(record)) => {
                    self.report.events_read += 1;
                    self.apply_event(&record.event)?;
                    cursor.advance();
                }
                Ok(Slot::Tombstone(_)) => cursor.advance(),
                Ok(Slot::Missing) => {
                    match cursor.decide_missing(self.now(), self.cfg().inbound_grace_ms) {
                        MissingSlot::Wait => break,
                        MissingSlot::Skip => cursor.advance(),
                    }
                }
                Err(QueueError::Corrupt { key, reason }) => {
                    self.report.corrupt += 1;
                    let entry = AuditEntry::new(
                        self.now(),
                        Actor::Component {
                            name: SENDER.to_owned(),
                        },
                        format!("{SENDER}.status"),
                        key,
                        AuditOutcome::Rejected {
                            status: None,
                            reason,
                        },
                    );
                    self.audit(entry);
                    cursor.advance();
                }
                Err(e) => return Err(queue_error(e)),
            }
        }
        if cursor != before {
            let bytes = serde_json::to_vec(&cursor).map_err(|e| TickError::Corrupt {
                key: journal::INBOUND_CURSOR.to_owned(),
                reason: e.to_string(),
            })?;
            store.set(journal::INBOUND_CURSOR, &bytes)?;
        }
        Ok(())
    }

    fn apply_event(&mut self, event: &InboundEvent) -> Result<(), TickError> {
        let (sid, observed) = match event {
            InboundEvent::MessageStatus(e) => (
                e.message_sid.as_str(),
                Observed::message(&MessageStatus::parse(e.status.as_str()), e.error_code),
            ),
            InboundEvent::CallStatus(e) => (
                e.call_sid.as_str(),
                Observed::call(&CallStatus::parse(e.status.as_str()), e.error_code),
            ),
            InboundEvent::InboundSms(_) => {
                self.report.events_ignored += 1;
                return Ok(());
            }
        };
        let Some(observed) = observed else {
            self.report.events_ignored += 1;
            return Ok(());
        };
        let link = match journal::item_of_sid(self.store(), sid) {
            Ok(Some(link)) => link,
            Ok(None) => {
                self.report.events_ignored += 1;
                return Ok(());
            }
            Err(e) => return self.corrupt_journal(e),
        };
        let item = match outbox::load(self.store(), &link.dedup_key) {
            Ok(Some(item)) => item,
            Ok(None) => {
                self.report.events_ignored += 1;
                return Ok(());
            }
            Err(e) => return self.corrupt_item(e),
        };
        // A replayed item has a new SID; the old message's news is not about it any more.
        if item.twilio_sid.as_deref().is_some_and(|s| s != sid) {
            self.report.statuses_unchanged += 1;
            return Ok(());
        }
        if self.apply(item, sid, &observed, "callback")? {
            self.report.statuses_applied += 1;
        } else {
            self.report.statuses_unchanged += 1;
        }
        Ok(())
    }

    /// Moves `item` forward to what Twilio reported (never backward); audits the change and
    /// escalates a failed alert. Returns whether anything changed.
    fn apply(
        &mut self,
        mut item: OutboxItem,
        sid: &str,
        observed: &Observed,
        source: &str,
    ) -> Result<bool, TickError> {
        if !observed.advances(item.state) {
            return Ok(false);
        }
        let from = item.state;
        item.state = observed.target;
        if item.twilio_sid.is_none() {
            item.twilio_sid = Some(sid.to_owned());
        }
        if item.state == OutboxState::Failed {
            item.last_error = Some(observed.reason());
        }
        item.updated_at_ms = self.now();
        outbox::save(self.store(), &item).map_err(outbox_error)?;
        let mut entry = self
            .item_entry(&item, "status", AuditOutcome::Ok)
            .with("from", state_name(from))
            .with("to_state", state_name(item.state))
            .with("status", observed.status.as_str())
            .with("source", source);
        if let Some(code) = observed.error_code {
            entry = entry.with("error_code", code.to_string());
        }
        self.audit(entry);
        if item.state == OutboxState::Failed {
            self.escalate(&item)?;
        }
        Ok(true)
    }

    // ---- 3. the outbox ----

    fn outbox(&mut self) -> Result<(), TickError> {
        let cfg = self.cfg().clone();
        let now = self.now();
        if self.pacer.next_start_ms() > self.deadline_ms {
            // The 429 gate is closed beyond this tick: leave the index untouched.
            return Ok(());
        }
        let plan = schedule::scan(
            self.store(),
            &cfg.schedule,
            OUTBOX_SCHEDULE,
            now,
            &cfg.scan_limits(),
        )?;
        let mut stopped = false;
        for due in &plan.due {
            self.report.entries += 1;
            if stopped {
                self.requeue_key(&due.entry.item, due.entry.due_at_ms)?;
                self.report.deferred += 1;
                continue;
            }
            if self.entry(&due.entry.item)? == Flow::Stop {
                stopped = true;
            }
        }
        for (_, reason) in &plan.corrupt {
            self.report.corrupt += 1;
            let entry = AuditEntry::new(
                self.now(),
                Actor::Component {
                    name: SENDER.to_owned(),
                },
                format!("{SENDER}.send"),
                "index:outbox".to_owned(),
                AuditOutcome::Rejected {
                    status: None,
                    reason: reason.clone(),
                },
            );
            self.audit(entry);
        }
        plan.commit(self.store())?;
        Ok(())
    }

    fn requeue_key(&self, store_key: &str, due_at_ms: u64) -> Result<(), TickError> {
        schedule::append(
            self.store(),
            &self.cfg().schedule,
            OUTBOX_SCHEDULE,
            store_key,
            due_at_ms,
            self.now(),
        )?;
        Ok(())
    }

    fn requeue(&self, item: &OutboxItem, due_at_ms: u64) -> Result<(), TickError> {
        self.requeue_key(&item.dedup_key.store_key(), due_at_ms)
    }

    fn entry(&mut self, store_key: &str) -> Result<Flow, TickError> {
        let item = match outbox::load_key(self.store(), store_key) {
            Ok(Some(item)) => item,
            Ok(None) => {
                self.report.stale_entries += 1;
                return Ok(Flow::Next);
            }
            Err(e) => return self.corrupt_item(e).map(|()| Flow::Next),
        };
        if item.next_attempt_at_ms > self.now()
            || matches!(item.state, OutboxState::Delivered | OutboxState::Failed)
        {
            // Rescheduled (a later entry exists) or finished.
            self.report.stale_entries += 1;
            return Ok(Flow::Next);
        }
        let journal = match journal::load(self.store(), &item.dedup_key) {
            Ok(Some(j)) => j,
            Ok(None) => SendJournal {
                version: journal::JOURNAL_VERSION,
                attempts: item.attempts,
                updated_at_ms: item.updated_at_ms,
                ..SendJournal::default()
            },
            Err(e) => return self.corrupt_journal(e).map(|()| Flow::Next),
        };
        match item.state {
            OutboxState::Sent => self.check_status(item, journal),
            OutboxState::Pending | OutboxState::Sending if journal.open.is_some() => {
                self.reconcile(item, journal)
            }
            _ => self.attempt(item, journal, true),
        }
    }

    /// The request for `item`; an error is final (bad stored data, nothing to retry).
    fn build(&self, item: &OutboxItem) -> Result<Request, String> {
        // Stored numbers were normalised when they entered (`connector::client_config`); a shape
        // check is enough here and avoids libphonenumber's metadata on every tick.
        let to = recipient(item).map_err(|e| e.to_string())?;
        Ok(match item.channel {
            Channel::Sms => {
                let body = template::sms_body(&item.text, item.language, self.cfg().sms);
                let mut m = NewMessage::new(to, body);
                if let Some(cb) = &self.cfg().status_callback {
                    m = m.status_callback(cb.clone());
                }
                Request::Sms(m)
            }
            Channel::Verify => Request::Verify(to, template::say_language(item.language)),
            Channel::Call => {
                let twiml =
                    template::call_twiml(&item.text, item.language).map_err(|e| e.to_string())?;
                let mut c = NewCall::new(to, twiml).timeout_secs(self.cfg().call_timeout_secs);
                if let Some(cb) = &self.cfg().status_callback {
                    c = c.status_callback(cb.clone(), &[CallEvent::Completed]);
                }
                Request::Call(c)
            }
        })
    }

    fn send(&self, request: &Request) -> Result<Accepted, TwilioError> {
        match request {
            Request::Sms(m) => {
                let msg = self.s.twilio.create_message(m)?;
                Ok(Accepted {
                    observed: Observed::message(&msg.status, msg.error_code),
                    sid: msg.sid.as_str().to_owned(),
                    refused: None,
                })
            }
            Request::Call(c) => {
                let call = self.s.twilio.create_call(c)?;
                Ok(Accepted {
                    observed: Observed::call(&call.status, None),
                    sid: call.sid.as_str().to_owned(),
                    refused: None,
                })
            }
            Request::Verify(to, language) => {
                let refused = |reason: &str| Accepted {
                    sid: String::new(),
                    observed: None,
                    refused: Some(reason.to_owned()),
                };
                Ok(
                    match self.s.twilio.start_verification(to, Some(*language))? {
                        VerifyOutcome::Pending(v) | VerifyOutcome::Approved(v) => Accepted {
                            sid: v.sid.as_str().to_owned(),
                            observed: Some(Observed {
                                target: OutboxState::Delivered,
                                status: "pending".to_owned(),
                                error_code: None,
                            }),
                            refused: None,
                        },
                        VerifyOutcome::TooManyRequests => refused(
                            "Verify refused: more than five sends to this verification (60203); \
                         check the code already sent or wait for it to expire",
                        ),
                        VerifyOutcome::MaxAttempts => refused(
                            "Verify refused: the verification's checks are used up (60202); \
                         start a new one after it expires",
                        ),
                        VerifyOutcome::NotFound => refused("Verify answered 404"),
                        VerifyOutcome::Other(v) => {
                            refused(&format!("Verify answered status {}", v.status.as_str()))
                        }
                    },
                )
            }
        }
    }

    /// Sends the item's next attempt. `may_adopt`: a dead claim may be skipped once.
    fn attempt(
        &mut self,
        mut item: OutboxItem,
        mut journal: SendJournal,
        may_adopt: bool,
    ) -> Result<Flow, TickError> {
        let request = match self.build(&item) {
            Ok(r) => r,
            Err(reason) => {
                self.give_up(item, &journal, reason, None)?;
                return Ok(Flow::Next);
            }
        };
        if item.channel == Channel::Call
            && let Some(&last) = self.last_call.get(item.to.as_str())
        {
            let ready = last.saturating_add(self.cfg().call_spacing_ms);
            let now = self.now();
            if ready > now {
                if ready > self.deadline_ms {
                    self.requeue(&item, ready)?;
                    self.report.deferred += 1;
                    return Ok(Flow::Next);
                }
                self.s.ports.sleep.sleep_ms(ready - now);
                self.spacing_waited_ms += ready - now;
            }
        }
        if self
            .pacer
            .acquire(self.s.ports.clock, self.s.ports.sleep, self.deadline_ms)
            .is_err()
        {
            self.requeue(&item, self.now())?;
            self.report.deferred += 1;
            return Ok(Flow::Stop);
        }
        let n = journal.attempts + 1;
        if !self
            .store()
            .claim(&journal::attempt_claim(&item.dedup_key, n))?
        {
            return self.lost_claim(item, n, may_adopt);
        }
        let started = self.now();
        journal.attempts = n;
        journal.open = Some(OpenAttempt {
            number: n,
            started_at_ms: started,
            ended_at_ms: None,
        });
        journal.updated_at_ms = started;
        journal::save(self.store(), &item.dedup_key, &journal).map_err(journal_error)?;
        loop {
            let sent = self.send(&request);
            if item.channel == Channel::Call {
                self.last_call
                    .insert(item.to.as_str().to_owned(), self.now());
            }
            match sent {
                Ok(Accepted {
                    refused: Some(reason),
                    ..
                }) => {
                    self.pacer.succeeded();
                    self.give_up(item, &journal, reason, None)?;
                    return Ok(Flow::Next);
                }
                Ok(accepted) => {
                    self.pacer.succeeded();
                    match item.channel {
                        Channel::Sms => self.report.sms_sent += 1,
                        Channel::Call => self.report.calls_placed += 1,
                        Channel::Verify => self.report.verifications += 1,
                    }
                    self.record_sent(item, &journal, accepted, "send")?;
                    return Ok(Flow::Next);
                }
                Err(e) if is_rate_limit(&e) => {
                    let now = self.now();
                    let delay = self.pacer.rate_limited(&e, now, self.s.ports.rng);
                    self.report.rate_limited += 1;
                    let entry = self
                        .item_entry(
                            &item,
                            "rate_limited",
                            AuditOutcome::Failed {
                                status: e.status(),
                                reason: e.to_string(),
                            },
                        )
                        .with("attempt", n.to_string())
                        .with("wait_ms", delay.to_string());
                    self.audit(entry);
                    if self
                        .pacer
                        .acquire(self.s.ports.clock, self.s.ports.sleep, self.deadline_ms)
                        .is_err()
                    {
                        // Not processed by Twilio (twilio.md §9): the attempt is closed unsent
                        // and is no failure; the next tick goes on after the gate.
                        journal.open = None;
                        journal.updated_at_ms = self.now();
                        journal::save(self.store(), &item.dedup_key, &journal)
                            .map_err(journal_error)?;
                        self.requeue(&item, self.now())?;
                        self.report.deferred += 1;
                        return Ok(Flow::Stop);
                    }
                }
                Err(e) => {
                    return match e.disposition() {
                        Disposition::Final => {
                            let code = e.code();
                            self.give_up(item, &journal, e.to_string(), code)?;
                            Ok(Flow::Next)
                        }
                        Disposition::Reconcile => {
                            let now = self.now();
                            if let Some(open) = journal.open.as_mut() {
                                open.ended_at_ms = Some(now);
                            }
                            journal.updated_at_ms = now;
                            journal::save(self.store(), &item.dedup_key, &journal)
                                .map_err(journal_error)?;
                            let wait = self.cfg().reconcile_after_ms.max(
                                self.cfg().retry_backoff.delay_after(
                                    journal.failures,
                                    &e,
                                    now,
                                    self.s.ports.rng,
                                ),
                            );
                            item.state = OutboxState::Sending;
                            item.attempts = journal.attempts;
                            item.last_error = Some(e.to_string());
                            item.next_attempt_at_ms = now.saturating_add(wait);
                            item.updated_at_ms = now;
                            outbox::save(self.store(), &item).map_err(outbox_error)?;
                            self.requeue(&item, item.next_attempt_at_ms)?;
                            self.report.ambiguous += 1;
                            let entry = self
                                .item_entry(
                                    &item,
                                    "retry",
                                    AuditOutcome::Failed {
                                        status: e.status(),
                                        reason: e.to_string(),
                                    },
                                )
                                .with("attempt", n.to_string())
                                .with("ambiguous", "true")
                                .with("reconcile_at_ms", item.next_attempt_at_ms.to_string());
                            self.audit(entry);
                            Ok(Flow::Next)
                        }
                        Disposition::Retry => {
                            // Nothing reached Twilio (connect failure).
                            journal.open = None;
                            journal.failures += 1;
                            journal.updated_at_ms = self.now();
                            journal::save(self.store(), &item.dedup_key, &journal)
                                .map_err(journal_error)?;
                            self.retry_later(item, &journal, &e)?;
                            Ok(Flow::Next)
                        }
                    };
                }
            }
        }
    }

    /// Attempt `n` is someone else's. See `journal` for the one case in which it may be skipped.
    fn lost_claim(&mut self, item: OutboxItem, n: u32, may_adopt: bool) -> Result<Flow, TickError> {
        self.report.claimed_elsewhere += 1;
        let now = self.now();
        // Read again: the claim's holder writes the journal right after taking the claim.
        let fresh = journal::load(self.store(), &item.dedup_key).map_err(journal_error)?;
        let marker_key = lost_claim_key(&item.dedup_key, n);
        // Only a clean journal may be taken over: an open attempt must be reconciled first.
        let holder_silent = fresh
            .as_ref()
            .is_none_or(|j| j.attempts < n && j.open.is_none());
        if holder_silent && may_adopt {
            match self.store().get(&marker_key)? {
                Some(bytes) => {
                    let seen: LostClaim = serde_json::from_slice(&bytes).unwrap_or(LostClaim {
                        version: journal::JOURNAL_VERSION,
                        seen_at_ms: now,
                    });
                    if now.saturating_sub(seen.seen_at_ms) >= self.cfg().stale_claim_ms {
                        // The holder wrote nothing for longer than any tick lives: it died
                        // between its claim and its journal write, before sending (the
                        // journal write comes first). Skip attempt n.
                        let mut j = fresh.unwrap_or_else(|| SendJournal {
                            version: journal::JOURNAL_VERSION,
                            attempts: item.attempts,
                            ..SendJournal::default()
                        });
                        j.attempts = n;
                        j.updated_at_ms = now;
                        journal::save(self.store(), &item.dedup_key, &j).map_err(journal_error)?;
                        let entry = self
                            .item_entry(&item, "claim", AuditOutcome::Ok)
                            .with("skipped_attempt", n.to_string())
                            .with("reason", "its claim holder died before sending");
                        self.audit(entry);
                        return self.attempt(item, j, false);
                    }
                }
                None => {
                    let marker = LostClaim {
                        version: journal::JOURNAL_VERSION,
                        seen_at_ms: now,
                    };
                    let bytes = serde_json::to_vec(&marker).map_err(|e| TickError::Corrupt {
                        key: marker_key.clone(),
                        reason: e.to_string(),
                    })?;
                    self.store().set(&marker_key, &bytes)?;
                }
            }
        }
        self.requeue(&item, now.saturating_add(self.cfg().stale_claim_ms))?;
        Ok(Flow::Next)
    }

    fn retry_later(
        &mut self,
        mut item: OutboxItem,
        journal: &SendJournal,
        e: &TwilioError,
    ) -> Result<(), TickError> {
        if journal.failures >= self.cfg().max_attempts {
            let reason = format!(
                "gave up after {} failed attempts; last error: {e}",
                journal.failures
            );
            return self.give_up(item, journal, reason, e.code());
        }
        let now = self.now();
        let wait = self
            .cfg()
            .retry_backoff
            .delay_after(journal.failures.saturating_sub(1), e, now, self.s.ports.rng)
            .max(1);
        item.state = OutboxState::Pending;
        item.attempts = journal.attempts;
        item.last_error = Some(e.to_string());
        item.next_attempt_at_ms = now.saturating_add(wait);
        item.updated_at_ms = now;
        outbox::save(self.store(), &item).map_err(outbox_error)?;
        self.requeue(&item, item.next_attempt_at_ms)?;
        self.report.retries += 1;
        let entry = self
            .item_entry(
                &item,
                "retry",
                AuditOutcome::Failed {
                    status: e.status(),
                    reason: e.to_string(),
                },
            )
            .with("attempt", journal.attempts.to_string())
            .with("failures", journal.failures.to_string())
            .with("next_attempt_at_ms", item.next_attempt_at_ms.to_string());
        self.audit(entry);
        Ok(())
    }

    fn give_up(
        &mut self,
        mut item: OutboxItem,
        journal: &SendJournal,
        reason: String,
        code: Option<u32>,
    ) -> Result<(), TickError> {
        item.state = OutboxState::Failed;
        item.attempts = journal.attempts;
        item.last_error = Some(reason.clone());
        item.updated_at_ms = self.now();
        outbox::save(self.store(), &item).map_err(outbox_error)?;
        self.report.given_up += 1;
        let mut entry = self
            .item_entry(
                &item,
                "give_up",
                AuditOutcome::Failed {
                    status: None,
                    reason,
                },
            )
            .with("attempts", journal.attempts.to_string())
            .with("replay", "twilio-sender replay of this outbox item");
        if let Some(code) = code {
            entry = entry.with("error_code", code.to_string());
        }
        self.audit(entry);
        self.escalate(&item)
    }

    fn record_sent(
        &mut self,
        mut item: OutboxItem,
        journal: &SendJournal,
        accepted: Accepted,
        action: &str,
    ) -> Result<(), TickError> {
        let now = self.now();
        journal::link_sid(self.store(), &accepted.sid, &item.dedup_key, item.channel)
            .map_err(journal_error)?;
        let target = accepted
            .observed
            .as_ref()
            .map_or(OutboxState::Sent, |o| o.target);
        item.state = if rank(target) < rank(OutboxState::Sent) {
            OutboxState::Sent
        } else {
            target
        };
        item.twilio_sid = Some(accepted.sid.clone());
        item.attempts = journal.attempts;
        item.last_error = match (&accepted.observed, item.state) {
            (Some(o), OutboxState::Failed) => Some(o.reason()),
            _ => None,
        };
        item.updated_at_ms = now;
        if item.state == OutboxState::Sent {
            item.next_attempt_at_ms = now.saturating_add(self.cfg().status_check_after_ms);
        }
        outbox::save(self.store(), &item).map_err(outbox_error)?;
        if item.state == OutboxState::Sent {
            self.requeue(&item, item.next_attempt_at_ms)?;
        }
        let mut entry = self
            .item_entry(&item, action, AuditOutcome::Ok)
            .with("attempt", journal.attempts.to_string())
            .with("to_state", state_name(item.state));
        if let Some(o) = &accepted.observed {
            entry = entry.with("status", o.status.as_str());
        }
        self.audit(entry);
        if item.state == OutboxState::Failed {
            self.escalate(&item)?;
        }
        Ok(())
    }

    // ---- reconciliation (twilio.md §13) ----

    fn reconcile(&mut self, item: OutboxItem, mut journal: SendJournal) -> Result<Flow, TickError> {
        let Some(open) = journal.open else {
            return self.attempt(item, journal, true);
        };
        let now = self.now();
        let settle_at = open
            .ended_at_ms
            .unwrap_or(open.started_at_ms)
            .saturating_add(self.cfg().reconcile_after_ms);
        if now < settle_at {
            self.requeue(&item, settle_at)?;
            return Ok(Flow::Next);
        }
        if self
            .pacer
            .acquire(self.s.ports.clock, self.s.ports.sleep, self.deadline_ms)
            .is_err()
        {
            self.requeue(&item, now)?;
            self.report.deferred += 1;
            return Ok(Flow::Stop);
        }
        let candidates = match item.channel {
            Channel::Sms => self.find_message(&item, &open),
            Channel::Call => self.find_call(&item, &open),
            // Nothing to look for: a restart resends the same code (see the module docs).
            Channel::Verify => Ok(Vec::new()),
        };
        let found = match candidates {
            Ok(c) => Ok(self.first_unclaimed(c, &item)?),
            Err(e) => Err(e),
        };
        match found {
            Ok(Some(accepted)) => {
                self.pacer.succeeded();
                self.report.reconciled_sent += 1;
                self.record_sent(item, &journal, accepted, "reconcile")?;
                Ok(Flow::Next)
            }
            Ok(None) => {
                self.pacer.succeeded();
                self.report.reconciled_unsent += 1;
                journal.open = None;
                journal.failures += 1;
                journal.updated_at_ms = self.now();
                journal::save(self.store(), &item.dedup_key, &journal).map_err(journal_error)?;
                let entry = self
                    .item_entry(&item, "reconcile", AuditOutcome::Ok)
                    .with("attempt", open.number.to_string())
                    .with("found", "nothing went out");
                self.audit(entry);
                if journal.failures >= self.cfg().max_attempts {
                    let reason = format!(
                        "gave up after {} failed attempts; the last one was reconciled as not sent ({})",
                        journal.failures,
                        item.last_error.as_deref().unwrap_or("ambiguous answer")
                    );
                    self.give_up(item, &journal, reason, None)?;
                    return Ok(Flow::Next);
                }
                // The wait before reconciling was the backoff: send again now.
                self.attempt(item, journal, true)
            }
            Err(e) if is_rate_limit(&e) => {
                let now = self.now();
                self.pacer.rate_limited(&e, now, self.s.ports.rng);
                self.report.rate_limited += 1;
                self.requeue(&item, now)?;
                Ok(Flow::Next)
            }
            Err(e) => {
                let now = self.now();
                let wait = self
                    .cfg()
                    .retry_backoff
                    .delay_after(journal.failures, &e, now, self.s.ports.rng)
                    .max(1);
                self.requeue(&item, now.saturating_add(wait))?;
                let entry = self
                    .item_entry(
                        &item,
                        "reconcile",
                        AuditOutcome::Failed {
                            status: e.status(),
                            reason: e.to_string(),
                        },
                    )
                    .with("attempt", open.number.to_string());
                self.audit(entry);
                Ok(Flow::Next)
            }
        }
    }

    /// The attempt's window in Unix seconds (Twilio's `date_created` has second precision):
    /// from a second before it started to two seconds after it ended (or could have ended).
    fn window_secs(&self, open: &OpenAttempt) -> (i64, i64) {
        let end = open
            .ended_at_ms
            .unwrap_or_else(|| open.started_at_ms.saturating_add(self.cfg().max_request_ms));
        let from = i64::try_from(open.started_at_ms / 1000).unwrap_or(i64::MAX) - 1;
        let to = i64::try_from(end / 1000)
            .unwrap_or(i64::MAX)
            .saturating_add(2);
        (from, to)
    }

    /// Messages that may be this attempt's, oldest first.
    fn find_message(
        &self,
        item: &OutboxItem,
        open: &OpenAttempt,
    ) -> Result<Vec<Accepted>, TwilioError> {
        // `build` refused a bad number before any attempt, so this cannot fail for an item with
        // an open attempt; answer it as bad input all the same.
        let to = recipient(item).map_err(|_| TwilioError::InvalidInput {
            field: "to",
            reason: twilio::InputReason::Unsupported,
        })?;
        let body = template::sms_body(&item.text, item.language, self.cfg().sms);
        let (from, until) = self.window_secs(open);
        let found = self.s.twilio.find_sent_messages(&to, &body, from, 3)?;
        // A `failed` message never reached a carrier (rejected creates are listed too,
        // twilio.md §3.4): that is "nothing went out".
        let mut found: Vec<twilio::Message> = found
            .into_iter()
            .filter(|m| m.status != MessageStatus::Failed)
            .filter(|m| m.date_created_unix().is_none_or(|t| t <= until))
            .collect();
        found.sort_by_key(|m| m.date_created_unix().unwrap_or(i64::MAX));
        Ok(found
            .into_iter()
            .map(|m| Accepted {
                observed: Observed::message(&m.status, m.error_code),
                sid: m.sid.as_str().to_owned(),
                refused: None,
            })
            .collect())
    }

    /// The first candidate no other item recorded as its own (two alerts with equal texts to
    /// one number, or a call to the same controller just before this attempt).
    fn first_unclaimed(
        &self,
        candidates: Vec<Accepted>,
        item: &OutboxItem,
    ) -> Result<Option<Accepted>, TickError> {
        for c in candidates {
            match journal::item_of_sid(self.store(), &c.sid) {
                Ok(Some(link)) if link.dedup_key != item.dedup_key => {}
                Ok(_) => return Ok(Some(c)),
                // Some item recorded it, which one is unreadable: not this one to decide.
                Err(JournalError::Corrupt { .. }) => {}
                Err(JournalError::Store(e)) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Calls that may be this attempt's, oldest first.
    fn find_call(
        &self,
        item: &OutboxItem,
        open: &OpenAttempt,
    ) -> Result<Vec<Accepted>, TwilioError> {
        // `build` refused a bad number before any attempt, so this cannot fail for an item with
        // an open attempt; answer it as bad input all the same.
        let to = recipient(item).map_err(|_| TwilioError::InvalidInput {
            field: "to",
            reason: twilio::InputReason::Unsupported,
        })?;
        let (from, until) = self.window_secs(open);
        let filter = CallFilter {
            to: Some(to),
            from: self.s.twilio.config().call_from().cloned(),
            start_time_on_or_after: None,
            page_size: Some(50),
        };
        let mut page = Some(self.s.twilio.list_calls(&filter)?);
        let mut found: Vec<twilio::Call> = Vec::new();
        let mut pages = 0;
        while let Some(p) = page {
            pages += 1;
            // Without a creation time a call cannot be placed in the window. Calls for other
            // alerts to the same number are outside it: the tick keeps `call_spacing_ms`
            // between calls to one number, and calls other alerts recorded are skipped later.
            found.extend(
                p.items
                    .iter()
                    .filter(|c| {
                        c.status != CallStatus::Failed
                            && c.date_created_unix()
                                .is_some_and(|t| t >= from && t <= until)
                    })
                    .cloned(),
            );
            page = if pages >= 3 {
                None
            } else {
                self.s.twilio.next_calls(&p)?
            };
        }
        found.sort_by_key(|c| c.date_created_unix().unwrap_or(i64::MAX));
        Ok(found
            .into_iter()
            .map(|c| Accepted {
                observed: Observed::call(&c.status, None),
                sid: c.sid.as_str().to_owned(),
                refused: None,
            })
            .collect())
    }

    // ---- status checks of `sent` items without a final callback ----

    fn check_status(
        &mut self,
        mut item: OutboxItem,
        mut journal: SendJournal,
    ) -> Result<Flow, TickError> {
        if self
            .pacer
            .acquire(self.s.ports.clock, self.s.ports.sleep, self.deadline_ms)
            .is_err()
        {
            self.requeue(&item, item.next_attempt_at_ms)?;
            self.report.deferred += 1;
            return Ok(Flow::Stop);
        }
        self.report.status_checks += 1;
        let sid = item.twilio_sid.clone().unwrap_or_default();
        let looked_up = match item.channel {
            Channel::Sms => MessageSid::parse(&sid, "twilio_sid")
                .map_err(|e| e.to_string())
                .and_then(|s| self.s.twilio.fetch_message(&s).map_err(|e| e.to_string()))
                .map(|m| Observed::message(&m.status, m.error_code)),
            Channel::Call => CallSid::parse(&sid, "twilio_sid")
                .map_err(|e| e.to_string())
                .and_then(|s| self.s.twilio.fetch_call(&s).map_err(|e| e.to_string()))
                .map(|c| Observed::call(&c.status, None)),
            // A Verify item is final once started; an old `sent` record has nothing to fetch.
            Channel::Verify => Ok(Some(Observed {
                target: OutboxState::Delivered,
                status: "pending".to_owned(),
                error_code: None,
            })),
        };
        if let Ok(Some(observed)) = &looked_up {
            self.pacer.succeeded();
            if self.apply(item.clone(), &sid, observed, "status_check")? {
                return Ok(Flow::Next);
            }
        }
        let now = self.now();
        journal.status_checks += 1;
        journal.updated_at_ms = now;
        journal::save(self.store(), &item.dedup_key, &journal).map_err(journal_error)?;
        if journal.status_checks >= self.cfg().max_status_checks {
            let entry = self.item_entry(
                &item,
                "status",
                AuditOutcome::Failed {
                    status: None,
                    reason: format!(
                        "no final status after {} lookups; the alert stays sent{}",
                        journal.status_checks,
                        looked_up
                            .err()
                            .map(|e| format!(" (last lookup: {e})"))
                            .unwrap_or_default()
                    ),
                },
            );
            self.audit(entry);
            return Ok(Flow::Next);
        }
        let factor = 1u64 << journal.status_checks.min(16);
        item.next_attempt_at_ms =
            now.saturating_add(self.cfg().status_check_after_ms.saturating_mul(factor));
        item.updated_at_ms = now;
        outbox::save(self.store(), &item).map_err(outbox_error)?;
        self.requeue(&item, item.next_attempt_at_ms)?;
        Ok(Flow::Next)
    }

    // ---- escalation ----

    /// An alert about a failure that could not be delivered by SMS becomes a call to the
    /// client's controller (`call-<datev-job-id>` or `call-batch<id>`), created only if absent:
    /// a call the poller already enqueued, or one escalated before, is not placed again.
    fn escalate(&mut self, item: &OutboxItem) -> Result<(), TickError> {
        if !self.cfg().escalate
            || item.channel != Channel::Sms
            || item.text.result == AlertResult::Succeeded
        {
            return Ok(());
        }
        let key = match (&item.text.datev_job, item.text.batch) {
            (Some(job), _) => DedupKey::job_call(job),
            (None, Some(batch)) if item.text.result == AlertResult::UploadRefused => {
                DedupKey::batch_call(batch)
            }
            _ => {
                let entry = self.item_entry(
                    item,
                    "escalate",
                    AuditOutcome::Rejected {
                        status: None,
                        reason: "this kind of alert has no call to escalate to".into(),
                    },
                );
                self.audit(entry);
                return Ok(());
            }
        };
        let config = match client_config::load(self.store(), &item.text.client) {
            Ok(c) => c,
            Err(client_config::ConfigStoreError::Store(e)) => return Err(e.into()),
            Err(client_config::ConfigStoreError::Corrupt(reason)) => {
                let entry = self.item_entry(
                    item,
                    "escalate",
                    AuditOutcome::Failed {
                        status: None,
                        reason,
                    },
                );
                self.audit(entry);
                return Ok(());
            }
        };
        let Some((config, controller)) = config.and_then(|c| {
            let ctl = c.controller.clone()?;
            Some((c, ctl))
        }) else {
            let entry = self.item_entry(
                item,
                "escalate",
                AuditOutcome::Rejected {
                    status: None,
                    reason: "the client has no controller to call".into(),
                },
            );
            self.audit(entry);
            return Ok(());
        };
        let now = self.now();
        let call = OutboxItem::new(
            key,
            Channel::Call,
            controller.phone.clone(),
            config.language_of(&controller),
            item.text.clone(),
            now,
        );
        let enqueued = outbox::enqueue(self.store(), &self.cfg().schedule, &call, now)
            .map_err(outbox_error)?;
        let (outcome, note) = match enqueued {
            Enqueued::Created => {
                self.report.escalated += 1;
                (AuditOutcome::Ok, "call to the controller enqueued")
            }
            Enqueued::StillPending | Enqueued::Taken => (
                AuditOutcome::Duplicate,
                "the controller's call was already placed or queued",
            ),
        };
        let entry = self
            .item_entry(item, "escalate", outcome)
            .with("call", masked_subject(call.dedup_key.as_str()))
            .with("note", note);
        self.audit(entry);
        Ok(())
    }

    // ---- unreadable records ----

    fn corrupt_item(&mut self, e: OutboxError) -> Result<(), TickError> {
        match e {
            OutboxError::Store(s) => Err(s.into()),
            OutboxError::Corrupt { key, reason } => {
                self.corrupt_record(key, reason);
                Ok(())
            }
        }
    }

    fn corrupt_journal(&mut self, e: JournalError) -> Result<(), TickError> {
        match e {
            JournalError::Store(s) => Err(s.into()),
            JournalError::Corrupt { key, reason } => {
                self.corrupt_record(key, reason);
                Ok(())
            }
        }
    }

    fn corrupt_record(&mut self, key: String, reason: String) {
        self.report.corrupt += 1;
        let subject = match key.strip_prefix("outbox:") {
            Some(k) => masked_subject(k),
            None => key,
        };
        let entry = AuditEntry::new(
            self.now(),
            Actor::Component {
                name: SENDER.to_owned(),
            },
            format!("{SENDER}.send"),
            subject,
            AuditOutcome::Rejected {
                status: None,
                reason: format!("unreadable record, nothing sent: {reason}"),
            },
        );
        self.audit(entry);
    }
}

/// `text` with every `+` and 8 to 15 digits replaced by its masked form (`+49151*****678`).
pub fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('+') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let candidate = &rest[i..=i + digits];
        match connector::client_config::PhoneNumber::parse(candidate, "text") {
            Ok(n) if (8..=15).contains(&digits) => out.push_str(&n.masked()),
            _ => out.push_str(candidate),
        }
        rest = &rest[i + 1 + digits..];
    }
    out.push_str(rest);
    out
}

/// `outbox-send-lost:<dedup-key>:<n>`: when a lost claim was first seen (see `lost_claim`).
fn lost_claim_key(key: &DedupKey, attempt: u32) -> String {
    format!("outbox-send-lost:{}:{attempt}", keys::segment(key.as_str()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LostClaim {
    version: u32,
    seen_at_ms: u64,
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms",
        Channel::Call => "call",
        Channel::Verify => "verify",
    }
}

fn state_name(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Pending => "pending",
        OutboxState::Sending => "sending",
        OutboxState::Sent => "sent",
        OutboxState::Delivered => "delivered",
        OutboxState::Failed => "failed",
    }
}

fn outbox_error(e: OutboxError) -> TickError {
    match e {
        OutboxError::Store(s) => TickError::Store(s),
        OutboxError::Corrupt { key, reason } => TickError::Corrupt { key, reason },
    }
}

fn journal_error(e: JournalError) -> TickError {
    match e {
        JournalError::Store(s) => TickError::Store(s),
        JournalError::Corrupt { key, reason } => TickError::Corrupt { key, reason },
    }
}

fn queue_error(e: QueueError) -> TickError {
    match e {
        QueueError::Store(s) => TickError::Store(s),
        QueueError::Corrupt { key, reason } => TickError::Corrupt { key, reason },
        QueueError::Encode(reason) => TickError::Corrupt {
            key: keys::INBOUND_SEQ.to_owned(),
            reason,
        },
    }
}
