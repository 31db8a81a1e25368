//! One tick of `datev-poller` (`ARCHITECTURE.md` flow 3), host-independent: the component only
//! supplies the ports and calls [`Poller::tick`] from `handle-cron-event`.
//!
//! # A tick
//! 1. **Lease**: `increment(lease:datev-poller:<window>) == 1`, the window being the cron
//!    timestamp rounded to the tick interval (so two instances whose clocks disagree by a second
//!    still compute the same window). No lease, no work.
//! 2. **Releases** ([`crate::releases`]): inbound SMS replies and `delivered` callbacks of
//!    approval requests from the inbound queue, then held batches past their deadline.
//! 3. **Tokens**: for every registered DATEV client ([`crate::registry`]), `refresh_if_due`
//!    (one refresher at a time: `datev::DatevAuth`). A connection found needing re-consent gets
//!    its alert (once per episode, create-if-absent).
//! 4. **Submissions**: due entries of the index `datev-submit` (bounded), see below.
//! 5. **Polls**: due entries of the index `datev-poll` (bounded): status call, then backoff with
//!    full jitter and `Retry-After` (`datev::backoff::next_poll`), or the result.
//! 6. **Results**: a final status (or the deadline) is recorded on the job, the outbox items are
//!    enqueued (create-if-absent), the batch is moved to its final state, and only then is the
//!    job marked `notified`.
//!
//! A tick stops starting new work after `budget_ms`; entries not reached stay in their index.
//! Should a tick still overlap the next one (a slow DATEV answer), both work the same entries
//! safely: a submission attempt has exactly one owner (its claim), a duplicate status call is a
//! harmless GET, and results and alerts are create-if-absent.
//!
//! # Exactly once, with crashes anywhere
//! Every step is written so that re-running the tick from any point converges:
//! - Index entries are only wake-up calls: each handler re-reads the batch or job record and acts
//!   only on what the record says; an entry is consumed only after its item was handled, and an
//!   item that still needs work always gets a successor entry first.
//! - A **submission** is `approved → submitting(n) → submitted`. Attempt `n` is recorded on the
//!   batch *before* the claim `claim:submit:<batch>:<n>` is taken, and only the claim's owner
//!   uploads. The EXTF upload carries `Reference-Id: mlc-batch-<id>`. If the owner vanished
//!   (crash between the upload and recording the job) or the answer was ambiguous (timeout, 5xx
//!   after sending), the attempt is reconciled after `submit_lease_ms`: the client's EXTF jobs are
//!   listed and a job with that reference is adopted; only if there is none is attempt `n + 1`
//!   made. A DXSO job is processed only once started (`PUT ready`); a job left open by a crash is
//!   deleted (or, if its id was never recorded, left open: DATEV never processes it) and a new
//!   one made.
//! - The **job record** is created if absent from the submitted batch, so a crash after the batch
//!   write still yields the job; notifications are create-if-absent outbox items
//!   (`connector::outbox::enqueue`), so a repeated result never alerts twice.
//!
//! Store errors abort the tick ([`TickError`], "not done, retry"); DATEV errors are handled per
//! item, audited, and retried with backoff. Audit entries are best effort: a failed append is
//! counted in [`TickReport::audit_failures`] and printed to stderr, never a reason to stop.

use crate::alerts;
use crate::config::DatevSetup;
use crate::registry;
use crate::releases::{ReleaseConfig, ReleaseReport, Releases};
use connector::audit::{self, Actor, AuditEntry, Outcome as AuditOutcome};
use connector::batch::{
    self, Batch, BatchId, BatchResult, BatchState, JobKind, JobRef, Payload, Submission,
};
use connector::client_config::{self, ClientId};
use connector::job::{
    self, JobRecord, JobResult, JobState, Outcome, POLL_SCHEDULE, SUBMIT_SCHEDULE,
};
use connector::outbox::{self, Enqueued};
use connector::schedule::{self, Entry, ScanLimits, ScheduleConfig};
use connector::{KeyValue, StoreError};
use datev::backoff::{PollDecision, PollPolicy, next_poll};
use datev::{
    AccessToken, ApiError, DatevApi, DatevAuth, DatevClientId, DxsoFile, DxsoFilename,
    DxsoImportType, DxsoJobId, DxsoJobParams, DxsoJobStatus, ExtfFilename, ExtfJobId, ExtfUpload,
    HeaderText, JobProgress, Ports, RefreshOutcome, Retryability, TokenError,
};

/// The poller's component id (audit actor, lease name).
pub const NAME: &str = "datev-poller";

/// Prefix of the `Reference-Id` of an EXTF upload: `mlc-batch-<id>`.
pub const REFERENCE_PREFIX: &str = "mlc-batch-";

/// `Client-Application-Version` sent with uploads.
const APP_VERSION: &str = concat!("ml-connector ", env!("CARGO_PKG_VERSION"));

/// Settings of the tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerConfig {
    /// The cron interval: the lease window (default 5 s).
    pub tick_ms: u64,
    /// Submission entries handled per tick (default 10).
    pub max_submissions: usize,
    /// Poll entries handled per tick (default 50).
    pub max_polls: usize,
    /// No new item is started after this long into the tick (default 4 s, less than the tick
    /// interval, so a tick rarely overlaps the next one; an overlap is still safe, see above).
    pub budget_ms: u64,
    /// Job polling: base, cap, minimum delay, deadline (default 2 s, 10 min, 1 s, 24 h).
    pub poll: PollPolicy,
    /// Backoff of submission retries (default 5 s base, 15 min cap, 1 s minimum).
    pub submit_retry: PollPolicy,
    /// After this long an unfinished submission attempt is reconciled (default 2 min: far more
    /// than an upload can take with the HTTP timeouts).
    pub submit_lease_ms: u64,
    /// Delay when the DATEV connection is missing, being refreshed or needs re-consent
    /// (default 5 min).
    pub wait_for_connection_ms: u64,
    /// Registered DATEV clients considered per tick (default 100).
    pub max_clients: usize,
    /// Shape of the due indexes.
    pub schedule: ScheduleConfig,
    /// Inbound SMS / `delivered` releases and hold expiry ([`crate::releases`]).
    pub releases: ReleaseConfig,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            tick_ms: 5_000,
            max_submissions: 10,
            max_polls: 50,
            budget_ms: 4_000,
            poll: PollPolicy::default(),
            submit_retry: PollPolicy::new(5_000, 900_000, 1_000, 365 * 86_400_000)
                .unwrap_or_default(),
            submit_lease_ms: 120_000,
            wait_for_connection_ms: 300_000,
            max_clients: 100,
            schedule: ScheduleConfig::default(),
            releases: ReleaseConfig::default(),
        }
    }
}

/// What a tick did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// False: another instance holds this window; nothing was done.
    pub lease: bool,
    /// Tokens refreshed.
    pub refreshed: u32,
    /// Uploads DATEV accepted (or found again by reconciliation).
    pub submitted: u32,
    /// Submission attempts that will be retried.
    pub submit_retries: u32,
    /// Batches whose upload DATEV refused.
    pub refused: u32,
    /// Status calls made.
    pub polls: u32,
    /// Jobs that reached a result (or the deadline) in this tick.
    pub finished: u32,
    /// Outbox items created.
    pub alerts: u32,
    /// Audit appends that failed.
    pub audit_failures: u32,
    /// The tick stopped early at its time budget.
    pub budget_exhausted: bool,
    /// What the release step (inbound SMS, `delivered` callbacks, expiry) did.
    pub releases: ReleaseReport,
}

/// Why a tick stopped: the store failed (nothing after that point was done; the next tick
/// continues) or holds a value it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickError {
    /// A store call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

macro_rules! store_or_corrupt {
    ($($t:ty => $store:path),* $(,)?) => {$(
        impl From<$t> for TickError {
            fn from(e: $t) -> Self {
                match e {
                    $store(s) => TickError::Store(s),
                    other => TickError::Corrupt(other.to_string()),
                }
            }
        }
    )*};
}

store_or_corrupt!(
    batch::BatchStoreError => batch::BatchStoreError::Store,
    job::JobStoreError => job::JobStoreError::Store,
    outbox::OutboxError => outbox::OutboxError::Store,
    schedule::ScheduleError => schedule::ScheduleError::Store,
    client_config::ConfigStoreError => client_config::ConfigStoreError::Store,
    connector::approval::ApprovalError => connector::approval::ApprovalError::Store,
);

/// A usable token, or why there is none right now.
enum Token {
    Ready(AccessToken),
    Wait(String),
}

/// The poller.
#[derive(Debug)]
pub struct Poller<'a> {
    config: &'a PollerConfig,
    datev: &'a DatevSetup,
    ports: Ports<'a>,
}

fn short(e: &impl std::fmt::Display) -> String {
    e.to_string().chars().take(300).collect()
}

impl<'a> Poller<'a> {
    /// Binds settings, DATEV configuration and ports.
    pub fn new(config: &'a PollerConfig, datev: &'a DatevSetup, ports: Ports<'a>) -> Self {
        Self {
            config,
            datev,
            ports,
        }
    }

    fn store(&self) -> &'a dyn KeyValue {
        self.ports.store
    }

    fn now(&self) -> u64 {
        self.ports.clock.now_ms()
    }

    fn auth(&self) -> DatevAuth<'a> {
        DatevAuth::new(&self.datev.config, &self.datev.keyring, self.ports)
    }

    fn api(&self) -> DatevApi<'a> {
        DatevApi::new(&self.datev.config, self.ports)
    }

    /// The lease key of the tick fired at `timestamp_s`: the timestamp rounded to the nearest
    /// tick window.
    pub fn lease_key(&self, timestamp_s: u64) -> String {
        connector::keys::lease(NAME, self.lease_window(timestamp_s))
    }

    fn lease_window(&self, timestamp_s: u64) -> u64 {
        let tick = self.config.tick_ms.max(1);
        timestamp_s.saturating_mul(1000).saturating_add(tick / 2) / tick
    }

    /// Runs one tick (see the module docs).
    pub fn tick(&self, timestamp_s: u64) -> Result<TickReport, TickError> {
        let mut report = TickReport::default();
        if !self.store().claim(&self.lease_key(timestamp_s))? {
            return Ok(report);
        }
        report.lease = true;
        // Best effort: a lease key left behind costs only space (keys::retire_lease).
        if let Err(e) = connector::keys::retire_lease(
            self.store(),
            NAME,
            self.lease_window(timestamp_s),
            self.config.tick_ms,
        ) {
            eprintln!("{NAME}: old lease key not deleted ({e})");
        }
        let started = self.now();
        // Releases first: a batch released by SMS is submitted in this same tick.
        let releases = Releases::new(self.store(), &self.config.releases, &self.config.schedule);
        releases.process_inbound(self.now(), &mut report.releases)?;
        releases.expire(self.now(), &mut report.releases)?;
        for client in registry::list(self.store(), self.config.max_clients)? {
            self.refresh(&client, &mut report)?;
        }
        let limits = ScanLimits {
            max_entries: self.config.max_submissions,
            ..ScanLimits::default()
        };
        let plan = schedule::scan(
            self.store(),
            &self.config.schedule,
            SUBMIT_SCHEDULE,
            self.now(),
            &limits,
        )?;
        for due in &plan.due {
            if self.now().saturating_sub(started) > self.config.budget_ms {
                report.budget_exhausted = true;
                return Ok(report);
            }
            self.submit_entry(&due.entry, &mut report)?;
        }
        plan.commit(self.store())?;
        let limits = ScanLimits {
            max_entries: self.config.max_polls,
            ..ScanLimits::default()
        };
        let plan = schedule::scan(
            self.store(),
            &self.config.schedule,
            POLL_SCHEDULE,
            self.now(),
            &limits,
        )?;
        for due in &plan.due {
            if self.now().saturating_sub(started) > self.config.budget_ms {
                report.budget_exhausted = true;
                return Ok(report);
            }
            self.poll_entry(&due.entry, &mut report)?;
        }
        plan.commit(self.store())?;
        Ok(report)
    }

    // ----- audit -----------------------------------------------------------------------------

    fn audit(&self, report: &mut TickReport, entry: AuditEntry) {
        if let Err(e) = audit::append(self.store(), &entry) {
            report.audit_failures += 1;
            eprintln!(
                "{NAME}: audit append failed ({e}): {} {} {:?}",
                entry.action, entry.subject, entry.outcome
            );
        }
    }

    fn entry(&self, action: &str, subject: String, outcome: AuditOutcome) -> AuditEntry {
        AuditEntry::new(
            self.now(),
            Actor::Component { name: NAME.into() },
            format!("{NAME}.{action}"),
            subject,
            outcome,
        )
    }

    fn failed(reason: String) -> AuditOutcome {
        AuditOutcome::Failed {
            status: None,
            reason,
        }
    }

    // ----- tokens -----------------------------------------------------------------------------

    fn refresh(&self, client: &ClientId, report: &mut TickReport) -> Result<(), TickError> {
        let Ok(id) = DatevClientId::parse(client.as_str()) else {
            return Ok(());
        };
        let subject = format!("datev-client:{client}");
        match self.auth().refresh_if_due(&id) {
            Ok(RefreshOutcome::Refreshed { .. }) => {
                report.refreshed += 1;
                self.audit(
                    report,
                    self.entry("token-refresh", subject, AuditOutcome::Ok),
                );
            }
            Ok(RefreshOutcome::FailedStillValid { error, .. }) => {
                self.audit(
                    report,
                    self.entry("token-refresh", subject, Self::failed(short(&error))),
                );
            }
            Ok(RefreshOutcome::Fresh { .. } | RefreshOutcome::HeldByOther { .. }) => {}
            Err(e) => {
                self.token_problem(client, e, report)?;
            }
        }
        Ok(())
    }

    /// Handles a token error: store errors abort; re-consent gets its alert; everything else is
    /// a reason to wait.
    fn token_problem(
        &self,
        client: &ClientId,
        e: TokenError,
        report: &mut TickReport,
    ) -> Result<String, TickError> {
        match e {
            TokenError::Store(s) => Err(TickError::Store(s)),
            TokenError::NeedsReconsent {
                since_ms,
                newly_marked,
            } => {
                if newly_marked {
                    let entry = self
                        .entry(
                            "reconsent",
                            format!("datev-client:{client}"),
                            Self::failed(
                                "invalid_grant: the DATEV connection needs re-consent".into(),
                            ),
                        )
                        .with("since_ms", since_ms.to_string());
                    self.audit(report, entry);
                }
                self.reconsent_alert(client, since_ms, report)?;
                Ok("the DATEV connection needs re-consent".into())
            }
            TokenError::NotConnected => Ok("the DATEV client is not connected".into()),
            TokenError::RefreshInProgress => {
                Ok("another instance is refreshing the DATEV token".into())
            }
            other => {
                let reason = short(&other);
                self.audit(
                    report,
                    self.entry(
                        "token",
                        format!("datev-client:{client}"),
                        Self::failed(reason.clone()),
                    ),
                );
                Ok(reason)
            }
        }
    }

    /// Makes sure the re-consent episode that started at `since_ms` has its alert: create-if-
    /// absent, then the marker `claim:alerted:reconsent:<client>:<since-ms>`, so later ticks
    /// neither alert again nor keep re-indexing a pending alert (a crash before the marker only
    /// repeats the harmless create-if-absent).
    fn reconsent_alert(
        &self,
        client: &ClientId,
        since_ms: u64,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let marker = format!(
            "claim:alerted:reconsent:{}:{since_ms}",
            connector::keys::segment(client.as_str())
        );
        if connector::keys::read_counter(self.store(), &marker)
            .map_err(|e| TickError::Corrupt(e.to_string()))?
            > 0
        {
            return Ok(());
        }
        let Some(config) = client_config::load(self.store(), client)? else {
            return Ok(());
        };
        let Some(item) = alerts::for_reconsent(&config, since_ms, self.now()) else {
            return Ok(());
        };
        if outbox::enqueue(self.store(), &self.config.schedule, &item, self.now())?
            == Enqueued::Created
        {
            report.alerts += 1;
            let entry = self
                .entry(
                    "alert",
                    // The key ends in the controller's number: masked like the sender's.
                    sender::tick::masked_subject(item.dedup_key.as_str()),
                    AuditOutcome::Ok,
                )
                .with("client", client.as_str());
            self.audit(report, entry);
        }
        self.store().increment(&marker, 1)?;
        Ok(())
    }

    fn token(&self, client: &ClientId, report: &mut TickReport) -> Result<Token, TickError> {
        let Ok(id) = DatevClientId::parse(client.as_str()) else {
            return Ok(Token::Wait(format!("{client} is not a DATEV client id")));
        };
        match self.auth().access_token(&id) {
            Ok(t) => Ok(Token::Ready(t)),
            Err(e) => Ok(Token::Wait(self.token_problem(client, e, report)?)),
        }
    }

    // ----- submissions ------------------------------------------------------------------------

    fn append_submit(&self, id: BatchId, at_ms: u64) -> Result<(), TickError> {
        schedule::append(
            self.store(),
            &self.config.schedule,
            SUBMIT_SCHEDULE,
            &id.key(),
            at_ms,
            self.now(),
        )?;
        Ok(())
    }

    fn submit_entry(&self, entry: &Entry, report: &mut TickReport) -> Result<(), TickError> {
        let Some(id) = entry.item.strip_prefix("batch:").and_then(BatchId::parse) else {
            self.audit(
                report,
                self.entry(
                    "submit",
                    entry.item.clone(),
                    Self::failed("index entry names no batch".into()),
                ),
            );
            return Ok(());
        };
        let Some(batch) = batch::load(self.store(), id)? else {
            return Ok(());
        };
        let now = self.now();
        match batch.state {
            BatchState::Approved => {
                if batch
                    .submission
                    .as_ref()
                    .is_some_and(|s| s.next_attempt_at_ms > now)
                {
                    // Early or stale: the batch has its own later entry.
                    return Ok(());
                }
                self.new_attempt(batch, report)
            }
            BatchState::Submitting => self.continue_attempt(batch, report),
            BatchState::Submitted => self.ensure_job(&batch, None, report),
            _ => Ok(()),
        }
    }

    /// Records attempt `n + 1` on the batch, takes its claim and runs it.
    fn new_attempt(&self, mut batch: Batch, report: &mut TickReport) -> Result<(), TickError> {
        let now = self.now();
        let token = match self.token(&batch.client, report)? {
            Token::Ready(t) => t,
            Token::Wait(reason) => {
                return self.defer(batch, reason, self.config.wait_for_connection_ms, report);
            }
        };
        let previous = batch.submission.take();
        let attempt = previous.as_ref().map_or(0, |s| s.attempt) + 1;
        let reason = format!("attempt {attempt}");
        if batch.state == BatchState::Approved {
            self.transition(&mut batch, BatchState::Submitting, &reason)?;
        }
        batch.submission = Some(Submission {
            attempt,
            started_at_ms: now,
            reference_id: format!("{REFERENCE_PREFIX}{}", batch.id),
            dxso_job: None,
            ambiguous: false,
            last_error: previous.and_then(|s| s.last_error),
            next_attempt_at_ms: now,
        });
        batch.updated_at_ms = now;
        // A successor entry first: if this tick dies anywhere below, the attempt is looked at
        // again after the submission lease.
        self.append_submit(batch.id, now.saturating_add(self.config.submit_lease_ms))?;
        batch::save(self.store(), &batch)?;
        if !self
            .store()
            .claim(&batch::submit_claim(batch.id, attempt))?
        {
            return Ok(());
        }
        self.run_attempt(batch, &token, report)
    }

    /// A batch found in `submitting`: finish an unclaimed attempt, leave a live one alone, and
    /// reconcile an ambiguous or abandoned one.
    fn continue_attempt(&self, batch: Batch, report: &mut TickReport) -> Result<(), TickError> {
        let now = self.now();
        let Some(sub) = batch.submission.clone() else {
            return Err(TickError::Corrupt(format!(
                "batch {} is submitting without a submission",
                batch.id
            )));
        };
        let claim = batch::submit_claim(batch.id, sub.attempt);
        let claimed = connector::keys::read_counter(self.store(), &claim)
            .map_err(|e| TickError::Corrupt(e.to_string()))?;
        if claimed == 0 {
            // The tick that recorded the attempt died before claiming it.
            let token = match self.token(&batch.client, report)? {
                Token::Ready(t) => t,
                Token::Wait(reason) => {
                    return self.defer(batch, reason, self.config.wait_for_connection_ms, report);
                }
            };
            self.append_submit(batch.id, now.saturating_add(self.config.submit_lease_ms))?;
            if !self.store().claim(&claim)? {
                return Ok(());
            }
            return self.run_attempt(batch, &token, report);
        }
        let abandoned = now
            >= sub
                .started_at_ms
                .saturating_add(self.config.submit_lease_ms);
        if !sub.ambiguous && !abandoned {
            // Its owner may still be working: look again when the lease is over.
            return self.append_submit(
                batch.id,
                sub.started_at_ms
                    .saturating_add(self.config.submit_lease_ms),
            );
        }
        if sub.next_attempt_at_ms > now {
            return Ok(());
        }
        self.reconcile(batch, report)
    }

    /// Finds out what an ambiguous or abandoned attempt did; adopts its job or starts over.
    fn reconcile(&self, batch: Batch, report: &mut TickReport) -> Result<(), TickError> {
        let token = match self.token(&batch.client, report)? {
            Token::Ready(t) => t,
            Token::Wait(reason) => return self.retry_later(batch, reason, true, None, report),
        };
        let client = self.datev_client(&batch)?;
        let sub = batch
            .submission
            .clone()
            .unwrap_or_else(|| unreachable_submission(&batch));
        match batch.payload.job_kind() {
            JobKind::Extf => match self.find_extf_job(&token, &client, &sub.reference_id) {
                Ok(Some(job_id)) => {
                    let entry = self
                        .entry("reconcile", format!("batch:{}", batch.id), AuditOutcome::Ok)
                        .with("datev_job", job_id.as_str())
                        .with("attempt", sub.attempt.to_string());
                    self.audit(report, entry);
                    self.record_submitted(batch, job_id.as_str().to_owned(), None, report)
                }
                Ok(None) => self.new_attempt(batch, report),
                Err(e) => self.retry_later(batch, short(&e), true, e.retry_after_s(), report),
            },
            JobKind::Dxso => {
                let Some(job) = sub
                    .dxso_job
                    .as_deref()
                    .and_then(|j| DxsoJobId::parse(j).ok())
                else {
                    // No job id recorded: a job created by that attempt (if any) was never
                    // started, and DATEV never processes an unstarted job.
                    return self.new_attempt(batch, report);
                };
                match self.api().dxso_job_status(&token, &client, &job) {
                    Ok(state) if state.status == DxsoJobStatus::Open => {
                        // Not started: throw it away and start over. A failed delete only leaves
                        // an unstarted job behind.
                        if let Err(e) = self.api().delete_dxso_job(&token, &client, &job) {
                            let entry = self
                                .entry(
                                    "dxso-delete",
                                    format!("batch:{}", batch.id),
                                    Self::failed(short(&e)),
                                )
                                .with("datev_job", job.as_str());
                            self.audit(report, entry);
                        }
                        self.new_attempt(batch, report)
                    }
                    Ok(_) => self.record_submitted(batch, job.as_str().to_owned(), None, report),
                    Err(e) if e.status() == Some(404) => self.new_attempt(batch, report),
                    Err(e) => self.retry_later(batch, short(&e), true, e.retry_after_s(), report),
                }
            }
        }
    }

    /// Looks for an EXTF job with `reference` among the client's newest jobs (at most 5 pages).
    fn find_extf_job(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        reference: &str,
    ) -> Result<Option<ExtfJobId>, ApiError> {
        let api = self.api();
        let first = api.list_extf_jobs(token, client, 0, 100)?;
        let total = first.total_items.unwrap_or(first.jobs.len() as u64);
        let matches = |jobs: &[datev::ExtfJob]| {
            jobs.iter()
                .rev()
                .find(|j| j.reference_id.as_deref() == Some(reference))
                .and_then(|j| ExtfJobId::parse(&j.id).ok())
        };
        if total <= 100 {
            return Ok(matches(&first.jobs));
        }
        // Newest jobs are listed last: read backwards from the end.
        let mut skip = total.saturating_sub(100);
        for _ in 0..5 {
            let page =
                api.list_extf_jobs(token, client, u32::try_from(skip).unwrap_or(u32::MAX), 100)?;
            if let Some(found) = matches(&page.jobs) {
                return Ok(Some(found));
            }
            if skip == 0 {
                break;
            }
            skip = skip.saturating_sub(100);
        }
        Ok(None)
    }

    fn datev_client(&self, batch: &Batch) -> Result<DatevClientId, TickError> {
        DatevClientId::parse(batch.client.as_str())
            .map_err(|e| TickError::Corrupt(format!("batch {}: {e}", batch.id)))
    }

    /// Runs the claimed attempt recorded on `batch`.
    fn run_attempt(
        &self,
        batch: Batch,
        token: &AccessToken,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        match batch.payload.clone() {
            Payload::Extf { file_name, .. } => self.upload_extf(batch, token, &file_name, report),
            Payload::Dxso {
                files,
                import_type,
                accounting_month,
            } => self.upload_dxso(
                batch,
                token,
                &files,
                import_type.as_deref(),
                accounting_month.as_deref(),
                report,
            ),
        }
    }

    fn load_file(&self, id: BatchId, n: u32) -> Result<Vec<u8>, TickError> {
        self.store()
            .get(&batch::file_key(id, n))?
            .ok_or_else(|| TickError::Corrupt(format!("batch {id}: file {n} is missing")))
    }

    fn upload_extf(
        &self,
        batch: Batch,
        token: &AccessToken,
        file_name: &str,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let client = self.datev_client(&batch)?;
        let reference = batch
            .submission
            .as_ref()
            .map_or_else(String::new, |s| s.reference_id.clone());
        let content = self.load_file(batch.id, 0)?;
        let upload = ExtfFilename::parse(file_name).and_then(|name| {
            let mut u = ExtfUpload::new(name, content)?;
            u.reference_id = Some(HeaderText::reference_id(&reference)?);
            u.client_application_version =
                Some(HeaderText::client_application_version(APP_VERSION)?);
            Ok(u)
        });
        let upload = match upload {
            Ok(u) => u,
            Err(e) => return self.refuse(batch, None, e.to_string(), Vec::new(), report),
        };
        match self.api().import_extf(token, &client, &upload) {
            Ok(accepted) => self.record_submitted(
                batch,
                accepted.job_id.as_str().to_owned(),
                accepted.retry_after_s,
                report,
            ),
            Err(e) => self.upload_failed(batch, token, e, report),
        }
    }

    fn upload_dxso(
        &self,
        mut batch: Batch,
        token: &AccessToken,
        files: &[batch::DxsoFileInfo],
        import_type: Option<&str>,
        accounting_month: Option<&str>,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let client = self.datev_client(&batch)?;
        let params = match (import_type, accounting_month) {
            (Some(t), Some(m)) => {
                let import_type = match t {
                    "accountsPayableLedgerImport" => DxsoImportType::AccountsPayableLedger,
                    "accountsReceivableLedgerImport" => DxsoImportType::AccountsReceivableLedger,
                    _ => DxsoImportType::CashLedger,
                };
                match datev::AccountingMonth::parse(m) {
                    Ok(accounting_month) => Some(DxsoJobParams {
                        import_type,
                        accounting_month,
                    }),
                    Err(e) => return self.refuse(batch, None, e.to_string(), Vec::new(), report),
                }
            }
            _ => None,
        };
        let mut parts = Vec::with_capacity(files.len());
        for (n, f) in files.iter().enumerate() {
            let content = self.load_file(batch.id, n as u32)?;
            match DxsoFilename::parse(&f.name)
                .and_then(|name| DxsoFile::new(name, &f.content_type, content))
            {
                Ok(part) => parts.push(part),
                Err(e) => return self.refuse(batch, None, e.to_string(), Vec::new(), report),
            }
        }
        let api = self.api();
        let created = match api.create_dxso_job(token, &client, params.as_ref()) {
            Ok(c) => c,
            Err(e) => return self.upload_failed(batch, token, e, report),
        };
        if let Some(sub) = batch.submission.as_mut() {
            sub.dxso_job = Some(created.job_id.as_str().to_owned());
        }
        batch.updated_at_ms = self.now();
        batch::save(self.store(), &batch)?;
        for part in &parts {
            if let Err(e) = api.upload_dxso_file(token, &client, &created.job_id, part) {
                return self.dxso_step_failed(batch, token, &created.job_id, e, report);
            }
        }
        match api.start_dxso_job(token, &client, &created.job_id) {
            Ok(()) => {
                self.record_submitted(batch, created.job_id.as_str().to_owned(), None, report)
            }
            // DCO01007: the job is already finalized, i.e. an earlier `PUT ready` took effect.
            Err(e) if e.body().and_then(|b| b.code()) == Some("#DCO01007") => {
                self.record_submitted(batch, created.job_id.as_str().to_owned(), None, report)
            }
            Err(e) => self.dxso_step_failed(batch, token, &created.job_id, e, report),
        }
    }

    /// An upload or start of a created DXSO job failed: refused → delete the job and fail the
    /// batch; otherwise reconcile later (status 0 → start over).
    fn dxso_step_failed(
        &self,
        batch: Batch,
        token: &AccessToken,
        job: &DxsoJobId,
        e: ApiError,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        if e.retryability() == Retryability::Permanent && !e.is_unauthorized() {
            let client = self.datev_client(&batch)?;
            let _ = self.api().delete_dxso_job(token, &client, job);
            let (code, reason, details) = describe(&e);
            return self.refuse(batch, code, reason, details, report);
        }
        if e.is_unauthorized() {
            let _ = self
                .auth()
                .refresh_after_unauthorized(&self.datev_client(&batch)?, token);
        }
        self.retry_later(batch, short(&e), true, e.retry_after_s(), report)
    }

    /// The first request of an attempt failed.
    fn upload_failed(
        &self,
        batch: Batch,
        token: &AccessToken,
        e: ApiError,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        if e.is_unauthorized() {
            // Nothing was processed; the token is dead: refresh now and retry soon.
            let _ = self
                .auth()
                .refresh_after_unauthorized(&self.datev_client(&batch)?, token);
            return self.retry_later(batch, short(&e), false, None, report);
        }
        match e.retryability() {
            Retryability::Retryable => {
                self.retry_later(batch, short(&e), false, e.retry_after_s(), report)
            }
            Retryability::Ambiguous => {
                // For EXTF the upload may have created a job: find it before uploading again.
                // For DXSO a job created without our knowing is never started: start over.
                let ambiguous = batch.payload.job_kind() == JobKind::Extf;
                self.retry_later(batch, short(&e), ambiguous, e.retry_after_s(), report)
            }
            Retryability::Permanent => {
                let (code, reason, details) = describe(&e);
                self.refuse(batch, code, reason, details, report)
            }
        }
    }

    /// Schedules the next look at a batch. `ambiguous`: stay `submitting` and reconcile first;
    /// otherwise back to `approved` for a fresh attempt.
    fn retry_later(
        &self,
        mut batch: Batch,
        reason: String,
        ambiguous: bool,
        retry_after_s: Option<u64>,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let now = self.now();
        let attempt = batch.submission.as_ref().map_or(1, |s| s.attempt);
        let at = match next_poll(
            &self.config.submit_retry,
            attempt.saturating_sub(1),
            now,
            now,
            retry_after_s,
            self.ports.rng.next_u64(),
        ) {
            PollDecision::PollAt { at_ms } => at_ms,
            PollDecision::Stuck { deadline_at_ms } => deadline_at_ms,
        };
        if !ambiguous && batch.state == BatchState::Submitting {
            self.transition(
                &mut batch,
                BatchState::Approved,
                &format!("attempt {attempt} failed, retry"),
            )?;
        }
        if let Some(sub) = batch.submission.as_mut() {
            sub.ambiguous = ambiguous;
            sub.last_error = Some(reason.clone());
            sub.next_attempt_at_ms = at;
        }
        batch.updated_at_ms = now;
        self.append_submit(batch.id, at)?;
        batch::save(self.store(), &batch)?;
        report.submit_retries += 1;
        let entry = self
            .entry(
                "submit",
                format!("batch:{}", batch.id),
                Self::failed(reason),
            )
            .with("attempt", attempt.to_string())
            .with("retry_at_ms", at.to_string())
            .with("ambiguous", ambiguous.to_string());
        self.audit(report, entry);
        Ok(())
    }

    /// The connection is not usable: look again later, without counting an attempt.
    fn defer(
        &self,
        mut batch: Batch,
        reason: String,
        delay_ms: u64,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let now = self.now();
        let at = now.saturating_add(delay_ms);
        if batch.state == BatchState::Approved {
            let sub = batch.submission.get_or_insert_with(|| Submission {
                attempt: 0,
                started_at_ms: now,
                reference_id: format!("{REFERENCE_PREFIX}{}", batch.id),
                dxso_job: None,
                ambiguous: false,
                last_error: None,
                next_attempt_at_ms: at,
            });
            sub.next_attempt_at_ms = at;
            sub.last_error = Some(reason.clone());
            batch.updated_at_ms = now;
        }
        self.append_submit(batch.id, at)?;
        if batch.state == BatchState::Approved {
            batch::save(self.store(), &batch)?;
        }
        let entry = self
            .entry(
                "submit",
                format!("batch:{}", batch.id),
                Self::failed(reason),
            )
            .with("retry_at_ms", at.to_string());
        self.audit(report, entry);
        Ok(())
    }

    /// DATEV refused the upload for good: alerts first (create-if-absent), then `failed`.
    fn refuse(
        &self,
        mut batch: Batch,
        code: Option<String>,
        reason: String,
        details: Vec<String>,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let now = self.now();
        if let Some(config) = client_config::load(self.store(), &batch.client)? {
            for item in alerts::for_refused_upload(&config, &batch, &reason, now) {
                if outbox::enqueue(self.store(), &self.config.schedule, &item, now)?
                    == Enqueued::Created
                {
                    report.alerts += 1;
                }
            }
        }
        batch.result = Some(BatchResult {
            code: code.clone(),
            reason: reason.clone(),
            details,
        });
        self.transition(&mut batch, BatchState::Failed, "DATEV refused the upload")?;
        batch::save(self.store(), &batch)?;
        report.refused += 1;
        let mut entry = self.entry(
            "submit",
            format!("batch:{}", batch.id),
            AuditOutcome::Rejected {
                status: None,
                reason,
            },
        );
        if let Some(code) = code {
            entry = entry.with("datev_code", code);
        }
        self.audit(report, entry);
        Ok(())
    }

    fn transition(&self, batch: &mut Batch, to: BatchState, note: &str) -> Result<(), TickError> {
        batch
            .transition(to, self.now(), Actor::Component { name: NAME.into() }, note)
            .map_err(|e| TickError::Corrupt(e.to_string()))
    }

    /// DATEV accepted the upload (or reconciliation found it): `submitted`, then the job.
    fn record_submitted(
        &self,
        mut batch: Batch,
        job_id: String,
        retry_after_s: Option<u64>,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let kind = batch.payload.job_kind();
        self.transition(
            &mut batch,
            BatchState::Submitted,
            &format!("DATEV job {job_id}"),
        )?;
        batch.job = Some(JobRef {
            kind,
            id: job_id.clone(),
        });
        if let Some(sub) = batch.submission.as_mut() {
            sub.ambiguous = false;
        }
        batch::save(self.store(), &batch)?;
        report.submitted += 1;
        let entry = self
            .entry("submit", format!("batch:{}", batch.id), AuditOutcome::Ok)
            .with("datev_job", job_id)
            .with(
                "attempt",
                batch
                    .submission
                    .as_ref()
                    .map_or(0, |s| s.attempt)
                    .to_string(),
            );
        self.audit(report, entry);
        self.ensure_job(&batch, retry_after_s, report)
    }

    /// Makes sure a submitted batch has its job record and a poll entry.
    fn ensure_job(
        &self,
        batch: &Batch,
        retry_after_s: Option<u64>,
        _report: &mut TickReport,
    ) -> Result<(), TickError> {
        let Some(job_ref) = &batch.job else {
            return Err(TickError::Corrupt(format!(
                "batch {} is submitted without a job",
                batch.id
            )));
        };
        let now = self.now();
        let job = match job::load(self.store(), &job_ref.id)? {
            Some(existing) => existing,
            None => {
                let first = match next_poll(
                    &self.config.poll,
                    0,
                    now,
                    now,
                    retry_after_s,
                    self.ports.rng.next_u64(),
                ) {
                    PollDecision::PollAt { at_ms } => at_ms,
                    PollDecision::Stuck { deadline_at_ms } => deadline_at_ms,
                };
                let record = JobRecord {
                    version: job::JOB_VERSION,
                    id: job_ref.id.clone(),
                    kind: job_ref.kind,
                    client: batch.client.clone(),
                    batch: batch.id,
                    submitted_at_ms: now,
                    status_calls: 0,
                    errors_in_row: 0,
                    next_poll_at_ms: first,
                    state: JobState::Polling,
                    result: None,
                    notified: false,
                    last_error: None,
                    updated_at_ms: now,
                };
                job::save(self.store(), &record)?;
                record
            }
        };
        if job.state == JobState::Polling || !job.notified {
            schedule::append(
                self.store(),
                &self.config.schedule,
                POLL_SCHEDULE,
                &job.key(),
                job.next_poll_at_ms,
                now,
            )?;
        }
        Ok(())
    }

    // ----- polls ------------------------------------------------------------------------------

    fn poll_entry(&self, entry: &Entry, report: &mut TickReport) -> Result<(), TickError> {
        let Some(job) = job::load_key(self.store(), &entry.item)? else {
            return Ok(());
        };
        match job.state {
            JobState::Polling if job.next_poll_at_ms <= self.now() => self.poll(job, report),
            JobState::Finished | JobState::Stuck if !job.notified => self.finish(job, report),
            _ => Ok(()),
        }
    }

    fn poll(&self, mut job: JobRecord, report: &mut TickReport) -> Result<(), TickError> {
        let now = self.now();
        let token = match self.token(&job.client, report)? {
            Token::Ready(t) => t,
            Token::Wait(reason) => {
                let at = now.saturating_add(self.config.wait_for_connection_ms);
                return self.reschedule(job, Some(reason), at, report);
            }
        };
        let client = DatevClientId::parse(job.client.as_str())
            .map_err(|e| TickError::Corrupt(format!("job {}: {e}", job.id)))?;
        report.polls += 1;
        job.status_calls = job.status_calls.saturating_add(1);
        let answer = match job.kind {
            JobKind::Extf => {
                let id = ExtfJobId::parse(&job.id)
                    .map_err(|e| TickError::Corrupt(format!("job {}: {e}", job.id)))?;
                self.api().extf_job(&token, &client, &id).map(|j| {
                    let progress = j.progress();
                    let result = (progress == JobProgress::Failed).then(|| extf_failure(&j));
                    (progress, result)
                })
            }
            JobKind::Dxso => {
                let id = DxsoJobId::parse(&job.id)
                    .map_err(|e| TickError::Corrupt(format!("job {}: {e}", job.id)))?;
                self.api().dxso_job_status(&token, &client, &id).map(|s| {
                    let progress = s.status.progress();
                    let result = matches!(
                        progress,
                        JobProgress::Failed | JobProgress::PartiallySucceeded
                    )
                    .then(|| self.dxso_failure(&token, &client, &id, s.status));
                    (progress, result)
                })
            }
        };
        match answer {
            Ok((progress, details)) if progress.is_terminal() => {
                let outcome = match progress {
                    JobProgress::Succeeded => Outcome::Succeeded,
                    JobProgress::PartiallySucceeded => Outcome::PartiallySucceeded,
                    JobProgress::Cancelled | JobProgress::CancellationNotPossible => {
                        Outcome::Cancelled
                    }
                    _ => Outcome::Failed,
                };
                let (code, reason, details) = details.unwrap_or_else(|| {
                    let reason = match progress {
                        JobProgress::Succeeded => "processed by DATEV".to_owned(),
                        JobProgress::CancellationNotPossible => {
                            "DXSO status 6: cancellation not possible".to_owned()
                        }
                        JobProgress::Cancelled => {
                            "cancelled in Belege online (DXSO status 5)".to_owned()
                        }
                        other => format!("{other:?}"),
                    };
                    (None, reason, Vec::new())
                });
                job.errors_in_row = 0;
                job.last_error = None;
                self.conclude(
                    job,
                    JobResult {
                        outcome,
                        code,
                        reason,
                        details,
                        at_ms: now,
                    },
                    report,
                )
            }
            Ok(_) => {
                job.errors_in_row = 0;
                job.last_error = None;
                self.next_or_stuck(job, None, None, report)
            }
            Err(e) if e.status() == Some(404) => {
                let result = JobResult {
                    outcome: Outcome::Failed,
                    code: Some("404".into()),
                    reason: "DATEV no longer knows the job (deleted or too old)".into(),
                    details: Vec::new(),
                    at_ms: now,
                };
                self.conclude(job, result, report)
            }
            Err(e) => {
                if e.is_unauthorized() {
                    let _ = self.auth().refresh_after_unauthorized(&client, &token);
                }
                job.errors_in_row = job.errors_in_row.saturating_add(1);
                let reason = short(&e);
                let entry = self
                    .entry(
                        "poll",
                        format!("job:{}", job.id),
                        Self::failed(reason.clone()),
                    )
                    .with("batch", job.batch.to_string())
                    .with("status_calls", job.status_calls.to_string());
                self.audit(report, entry);
                self.next_or_stuck(job, Some(reason), e.retry_after_s(), report)
            }
        }
    }

    /// Schedules the next status call by the backoff, or declares the job stuck.
    fn next_or_stuck(
        &self,
        job: JobRecord,
        error: Option<String>,
        retry_after_s: Option<u64>,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        let now = self.now();
        match next_poll(
            &self.config.poll,
            job.status_calls,
            job.submitted_at_ms,
            now,
            retry_after_s,
            self.ports.rng.next_u64(),
        ) {
            PollDecision::PollAt { at_ms } => self.reschedule(job, error, at_ms, report),
            PollDecision::Stuck { deadline_at_ms } => {
                let result = JobResult {
                    outcome: Outcome::Stuck,
                    code: None,
                    reason: format!(
                        "no result after {} minutes",
                        (deadline_at_ms - job.submitted_at_ms) / 60_000
                    ),
                    details: error.into_iter().collect(),
                    at_ms: now,
                };
                self.conclude(job, result, report)
            }
        }
    }

    fn reschedule(
        &self,
        mut job: JobRecord,
        error: Option<String>,
        at_ms: u64,
        _report: &mut TickReport,
    ) -> Result<(), TickError> {
        let now = self.now();
        job.next_poll_at_ms = at_ms;
        if error.is_some() {
            job.last_error = error;
        }
        job.updated_at_ms = now;
        schedule::append(
            self.store(),
            &self.config.schedule,
            POLL_SCHEDULE,
            &job.key(),
            at_ms,
            now,
        )?;
        job::save(self.store(), &job)?;
        Ok(())
    }

    fn dxso_failure(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
        status: DxsoJobStatus,
    ) -> (Option<String>, String, Vec<String>) {
        let code = Some(format!("DXSO status {}", status.code()));
        let reason = match status {
            DxsoJobStatus::PartiallyProcessed => "DXSO status 4: partially processed, with errors",
            _ => "DXSO status 3: not processed, critical errors",
        }
        .to_owned();
        let details = match self.api().dxso_protocol(token, client, job) {
            Ok(entries) => entries
                .iter()
                .filter(|e| e.entry_type.as_deref() == Some("error"))
                .take(20)
                .map(|e| {
                    let text = format!(
                        "{}{}{}",
                        e.filename
                            .as_deref()
                            .map(|f| format!("{f}: "))
                            .unwrap_or_default(),
                        e.text.as_deref().unwrap_or(""),
                        e.context
                            .as_deref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default()
                    );
                    text.chars().take(200).collect()
                })
                .collect(),
            Err(e) => vec![format!("protocol entries unavailable: {}", short(&e))],
        };
        (code, reason, details)
    }

    // ----- results ----------------------------------------------------------------------------

    /// Records the result on the job (one write), then notifies.
    fn conclude(
        &self,
        mut job: JobRecord,
        result: JobResult,
        report: &mut TickReport,
    ) -> Result<(), TickError> {
        job.state = if result.outcome == Outcome::Stuck {
            JobState::Stuck
        } else {
            JobState::Finished
        };
        job.updated_at_ms = self.now();
        let entry = self
            .entry(
                "result",
                format!("job:{}", job.id),
                if result.outcome.is_failure() {
                    Self::failed(format!("{}: {}", result.outcome.as_str(), result.reason))
                } else {
                    AuditOutcome::Ok
                },
            )
            .with("batch", job.batch.to_string())
            .with("outcome", result.outcome.as_str())
            .with("status_calls", job.status_calls.to_string());
        job.result = Some(result);
        job::save(self.store(), &job)?;
        report.finished += 1;
        self.audit(report, entry);
        self.finish(job, report)
    }

    /// Enqueues the alerts, moves the batch to its final state, marks the job notified.
    fn finish(&self, mut job: JobRecord, report: &mut TickReport) -> Result<(), TickError> {
        let Some(result) = job.result.clone() else {
            return Err(TickError::Corrupt(format!(
                "job {} is final without a result",
                job.id
            )));
        };
        let now = self.now();
        let mut batch = batch::load(self.store(), job.batch)?;
        let reference = batch.as_ref().map(|b| b.reference.clone());
        match client_config::load(self.store(), &job.client)? {
            Some(config) => {
                let mut keys = Vec::new();
                for item in alerts::for_job(&config, &job, reference.as_deref(), now) {
                    if outbox::enqueue(self.store(), &self.config.schedule, &item, now)?
                        == Enqueued::Created
                    {
                        report.alerts += 1;
                        // Audit entries never carry a whole number: keys masked like the
                        // sender's subjects.
                        let masked = sender::tick::masked_subject(item.dedup_key.as_str());
                        keys.push(masked.trim_start_matches("outbox:").to_owned());
                    }
                }
                if !keys.is_empty() {
                    let entry = self
                        .entry("alert", format!("job:{}", job.id), AuditOutcome::Ok)
                        .with("batch", job.batch.to_string())
                        .with("outbox", keys.join(","));
                    self.audit(report, entry);
                }
            }
            None => {
                let entry = self.entry(
                    "alert",
                    format!("job:{}", job.id),
                    Self::failed(format!(
                        "no configuration for client {}: nobody to tell",
                        job.client
                    )),
                );
                self.audit(report, entry);
            }
        }
        if let Some(b) = batch.as_mut()
            && b.state == BatchState::Submitted
        {
            let to = match result.outcome {
                Outcome::Succeeded | Outcome::PartiallySucceeded => BatchState::Succeeded,
                Outcome::Stuck => BatchState::Stuck,
                Outcome::Failed | Outcome::Cancelled => BatchState::Failed,
            };
            b.result = Some(BatchResult {
                code: result.code.clone(),
                reason: result.reason.clone(),
                details: result.details.clone(),
            });
            self.transition(
                b,
                to,
                &format!("DATEV job {}: {}", job.id, result.outcome.as_str()),
            )?;
            batch::save(self.store(), b)?;
        }
        job.notified = true;
        job.updated_at_ms = now;
        job::save(self.store(), &job)?;
        Ok(())
    }

    // ----- operator replay (issue 8: `POST /audit/{id}/replay`) -------------------------------

    /// Runs the submission of batch `id` now instead of at its backoff time, through the same
    /// path a tick takes: an `approved` batch gets attempt `n + 1` under its claim
    /// (`claim:submit:<id>:<n+1>`), an ambiguous or abandoned `submitting` batch is reconciled
    /// first (its job is looked up by `Reference-Id` before anything is uploaded again). So a
    /// replay racing a tick, or a second replay, can never upload a batch twice. Anything else
    /// is refused with its state.
    pub fn replay_submit(&self, id: BatchId) -> Result<ReplayDone, ReplayRefusal> {
        let mut report = TickReport::default();
        let batch = batch::load(self.store(), id)
            .map_err(TickError::from)?
            .ok_or_else(|| ReplayRefusal::NotFound(format!("batch {id} does not exist")))?;
        let now = self.now();
        match batch.state {
            BatchState::Approved => self.new_attempt(batch, &mut report)?,
            BatchState::Submitting => {
                let Some(sub) = batch.submission.clone() else {
                    return Err(TickError::Corrupt(format!(
                        "batch {id} is submitting without a submission"
                    ))
                    .into());
                };
                let abandoned = now
                    >= sub
                        .started_at_ms
                        .saturating_add(self.config.submit_lease_ms);
                if !sub.ambiguous && !abandoned {
                    return Err(ReplayRefusal::NotReplayable(format!(
                        "batch {id}: attempt {} is in progress; it is reconciled if it does not \
                         finish",
                        sub.attempt
                    )));
                }
                self.reconcile(batch, &mut report)?
            }
            other => {
                return Err(ReplayRefusal::NotReplayable(format!(
                    "batch {id} is {}, only an approved batch waiting for a retry or an \
                     ambiguous submission can be replayed",
                    other.as_str()
                )));
            }
        }
        let after = batch::load(self.store(), id)
            .map_err(TickError::from)?
            .ok_or_else(|| TickError::Corrupt(format!("batch {id} vanished")))?;
        let succeeded = report.submitted > 0;
        let error = if succeeded {
            None
        } else {
            after
                .submission
                .and_then(|s| s.last_error)
                .or(after.result.map(|r| r.reason))
        };
        Ok(ReplayDone {
            state: after.state.as_str().to_owned(),
            succeeded,
            error,
            report,
        })
    }

    /// Makes the status call of DATEV job `datev_job_id` now (a harmless GET), through the same
    /// path a tick takes; a result is recorded and alerted create-if-absent, so a replay never
    /// alerts twice. Only a job still being polled can be replayed.
    pub fn replay_poll(&self, datev_job_id: &str) -> Result<ReplayDone, ReplayRefusal> {
        let mut report = TickReport::default();
        let job = job::load(self.store(), datev_job_id)
            .map_err(TickError::from)?
            .ok_or_else(|| ReplayRefusal::NotFound(format!("job {datev_job_id} does not exist")))?;
        if job.state != JobState::Polling {
            return Err(ReplayRefusal::NotReplayable(format!(
                "job {datev_job_id} already has its result; there is nothing to poll"
            )));
        }
        self.poll(job, &mut report)?;
        let after = job::load(self.store(), datev_job_id)
            .map_err(TickError::from)?
            .ok_or_else(|| TickError::Corrupt(format!("job {datev_job_id} vanished")))?;
        if after.state != JobState::Polling && !after.notified {
            self.finish(after.clone(), &mut report)?;
        }
        Ok(ReplayDone {
            state: match after.state {
                JobState::Polling => "polling",
                JobState::Finished => "finished",
                JobState::Stuck => "stuck",
            }
            .to_owned(),
            succeeded: after.last_error.is_none(),
            error: after.last_error,
            report,
        })
    }
}

/// What an operator replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayDone {
    /// The batch's or job's state afterwards.
    pub state: String,
    /// The replayed call went through (no new error recorded).
    pub succeeded: bool,
    /// The error recorded by the replayed call, if it failed again.
    pub error: Option<String>,
    /// What the replay did, in tick terms.
    pub report: TickReport,
}

/// Why an operator replay was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefusal {
    /// The batch or job does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The record's state allows no replay (already done, or in progress).
    #[error("{0}")]
    NotReplayable(String),
    /// The store failed or holds an unreadable record: nothing or only part done; retry.
    #[error(transparent)]
    Tick(#[from] TickError),
}

fn unreachable_submission(batch: &Batch) -> Submission {
    // `continue_attempt` checked the submission exists; keep a harmless value rather than panic.
    Submission {
        attempt: 0,
        started_at_ms: batch.updated_at_ms,
        reference_id: format!("{REFERENCE_PREFIX}{}", batch.id),
        dxso_job: None,
        ambiguous: true,
        last_error: None,
        next_attempt_at_ms: 0,
    }
}

/// Code, reason and details of a failed EXTF job (extf-files 3.0.1 `validation_details`).
fn extf_failure(job: &datev::ExtfJob) -> (Option<String>, String, Vec<String>) {
    match &job.validation_details {
        None => (None, "DATEV reported the job as failed".into(), Vec::new()),
        Some(d) => {
            let reason = [d.title.as_deref(), d.detail.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let details = d
                .affected_elements
                .iter()
                .take(20)
                .map(|a| {
                    format!(
                        "{}: {}",
                        a.name.as_deref().unwrap_or("?"),
                        a.reason.as_deref().unwrap_or("")
                    )
                })
                .collect();
            let reason = if reason.is_empty() {
                "DATEV reported the job as failed".into()
            } else {
                reason
            };
            (
                d.code().map(str::to_owned),
                reason.chars().take(200).collect(),
                details,
            )
        }
    }
}

/// Code, reason and details of a refused request.
fn describe(e: &ApiError) -> (Option<String>, String, Vec<String>) {
    let code = e.body().and_then(|b| b.code()).map(str::to_owned);
    let details = match e.body() {
        Some(datev::DatevErrorBody::ProblemDetails(p)) => p
            .affected_elements
            .iter()
            .take(20)
            .map(|a| {
                format!(
                    "{}: {}",
                    a.name.as_deref().unwrap_or("?"),
                    a.reason.as_deref().unwrap_or("")
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    (code, short(e), details)
}
