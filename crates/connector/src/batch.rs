//! Booking batches and their state machine (`ARCHITECTURE.md` flows 1–4).
//!
//! ```text
//! received ─┬─▶ approved ──▶ submitting ──▶ submitted ──▶ succeeded | failed | stuck
//!           │      ▲    │       │   │
//!           │      │    │       │   └──▶ failed      (DATEV refused the upload)
//!           │      │    │       └──────▶ approved    (retry later)
//!           │      │    └──▶ cancelled
//!           └─▶ held ──▶ approved | cancelled | expired
//! received ──▶ cancelled
//! ```
//!
//! - `received` → `held`/`approved`: the risk policy ([`crate::client_config::assess`]), by `api`
//!   in the same write that creates the record (so no batch is ever left undecided).
//! - `held` → `approved` | `cancelled` | `expired`: the approval gate
//!   ([`crate::approval::decide`]). Whoever decides a held batch must first win the claims
//!   [`decision_claim`], so one decision wins.
//! - `approved` → `submitting` → `submitted` | `approved` (retry) | `failed`: only `datev-poller`,
//!   under its tick lease, with the per-attempt claim [`submit_claim`] (see `flows::poller`).
//! - `submitted` → `succeeded` | `failed` | `stuck`: only `datev-poller`, from the job's result.
//!
//! Stored as versioned JSON under `batch:<id>` (`keys::batch`); the uploaded file(s) separately
//! under `batch-file:<id>:<n>` ([`file_key`]) so the record that is rewritten on every transition
//! stays small. Batch ids are decimal numbers from the counter `seq:batch` ([`SEQ_KEY`]), short
//! enough to quote in an SMS reply (`YES 4711`).

use crate::audit::Actor;
use crate::client_config::{ClientId, RiskDecision};
use crate::keys;
use crate::ports::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Schema version of [`Batch`].
pub const BATCH_VERSION: u32 = 1;

/// The counter handing out batch ids (`increment` only).
pub const SEQ_KEY: &str = "seq:batch";

/// At most this many transitions are kept in [`Batch::history`] (the first one always stays).
pub const MAX_HISTORY: usize = 64;

/// Longest reference / note kept.
pub const MAX_TEXT_CHARS: usize = 200;

/// A batch id: a positive decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(u64);

impl BatchId {
    /// Wraps a positive number.
    pub fn new(n: u64) -> Option<Self> {
        (n > 0).then_some(Self(n))
    }

    /// Parses a decimal id (as in `GET /batches/{id}` or an SMS reply).
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty()
            || s.len() > 19
            || !s.bytes().all(|b| b.is_ascii_digit())
            || s.starts_with('0')
        {
            return None;
        }
        s.parse().ok().and_then(Self::new)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The record's key, `batch:<id>`.
    pub fn key(self) -> String {
        keys::batch(&self.0.to_string())
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// File `n` (from 0) of batch `id`: raw bytes (`batch-file:<id>:<n>`).
pub fn file_key(id: BatchId, n: u32) -> String {
    format!("batch-file:{id}:{n}")
}

/// Claim of submission attempt `attempt` of batch `id` (`claim:submit:<id>:<attempt>`).
pub fn submit_claim(id: BatchId, attempt: u32) -> String {
    format!("claim:submit:{id}:{attempt}")
}

/// Claim that decides a held batch in one time window (`claim:decide:<id>:<window>`): the
/// decider takes two consecutive windows, so the first approve / reject / expire wins and a
/// crashed decider blocks the batch only until its windows are past
/// (`crate::approval::decide`).
pub fn decision_claim(id: BatchId, window: u64) -> String {
    format!("claim:decide:{id}:{window}")
}

/// Where a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Stored, not yet judged by the risk policy.
    Received,
    /// Waiting for approval.
    Held,
    /// May be submitted.
    Approved,
    /// A submission attempt is under way (see [`Batch::submission`]).
    Submitting,
    /// DATEV accepted the upload; its job is being polled (see [`Batch::job`]).
    Submitted,
    /// DATEV processed the job (DXSO: possibly with errors in some documents, see
    /// [`Batch::result`]).
    Succeeded,
    /// DATEV refused the upload or the job failed.
    Failed,
    /// The job did not finish before the polling deadline.
    Stuck,
    /// Rejected by a person.
    Cancelled,
    /// Held too long.
    Expired,
}

impl BatchState {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Received => "received",
            BatchState::Held => "held",
            BatchState::Approved => "approved",
            BatchState::Submitting => "submitting",
            BatchState::Submitted => "submitted",
            BatchState::Succeeded => "succeeded",
            BatchState::Failed => "failed",
            BatchState::Stuck => "stuck",
            BatchState::Cancelled => "cancelled",
            BatchState::Expired => "expired",
        }
    }

    /// True when nothing more happens to the batch.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BatchState::Succeeded
                | BatchState::Failed
                | BatchState::Stuck
                | BatchState::Cancelled
                | BatchState::Expired
        )
    }

    /// The allowed transitions (see the module diagram).
    pub fn can_become(self, to: BatchState) -> bool {
        use BatchState::*;
        matches!(
            (self, to),
            (Received, Held | Approved | Cancelled)
                | (Held, Approved | Cancelled | Expired)
                | (Approved, Submitting | Cancelled)
                | (Submitting, Submitted | Approved | Failed)
                | (Submitted, Succeeded | Failed | Stuck)
        )
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When (Unix ms).
    pub at_ms: u64,
    /// From (none for the creation).
    pub from: Option<BatchState>,
    /// To.
    pub to: BatchState,
    /// Who.
    pub actor: Actor,
    /// Why, from typed values (never free text a caller sent, never a secret).
    pub note: String,
}

/// How the EXTF file of a batch came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtfSource {
    /// Bookings as JSON, written by the `extf` component.
    Bookings,
    /// A ready EXTF file, validated by the `extf` component.
    File,
}

/// One stored DXSO file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DxsoFileInfo {
    /// File name as uploaded (`document.xml`, ledger XML, images).
    pub name: String,
    /// Part `Content-Type`.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What is uploaded to DATEV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// One EXTF Buchungsstapel for `accounting:extf-files` (datev.md §4.1), in `batch-file:<id>:0`.
    Extf {
        /// Upload file name (`EXTF_…csv`, datev.md §1.3).
        file_name: String,
        /// Size in bytes.
        bytes: u64,
        /// Booking rows.
        rows: u32,
        /// How it came in.
        source: ExtfSource,
    },
    /// A DXSO package for `accounting:dxso-jobs` (datev.md §4.3), file `n` in `batch-file:<id>:<n>`.
    Dxso {
        /// The files in upload order.
        files: Vec<DxsoFileInfo>,
        /// `import_type` of the job (with `accounting_month`, or neither).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        import_type: Option<String>,
        /// `accounting_month` `YYYY-MM`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accounting_month: Option<String>,
    },
}

impl Payload {
    /// The job kind this payload becomes.
    pub fn job_kind(&self) -> JobKind {
        match self {
            Payload::Extf { .. } => JobKind::Extf,
            Payload::Dxso { .. } => JobKind::Dxso,
        }
    }
}

/// What the risk policy looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Amounts {
    /// Number of bookings.
    pub bookings: u32,
    /// Sum of `Umsatz` (column 1) in cents.
    pub total_cents: u64,
    /// Largest single booking in cents.
    pub max_cents: u64,
}

/// Kind of DATEV job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// `accounting:extf-files` import job.
    Extf,
    /// `accounting:dxso-jobs` job.
    Dxso,
}

/// The current submission attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// Attempt number (from 1); attempt `n` is owned by whoever won [`submit_claim`]`(id, n)`.
    pub attempt: u32,
    /// When the attempt started (Unix ms).
    pub started_at_ms: u64,
    /// `Reference-Id` sent with the EXTF upload, by which an ambiguous upload is found again.
    pub reference_id: String,
    /// DXSO: the job created by this attempt (before its files are uploaded and it is started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dxso_job: Option<String>,
    /// The last attempt's request may have reached DATEV without an answer: look before
    /// submitting again.
    #[serde(default)]
    pub ambiguous: bool,
    /// Why the last attempt did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Earliest time of the next attempt (Unix ms).
    #[serde(default)]
    pub next_attempt_at_ms: u64,
}

/// Reference to the DATEV job of a submitted batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    /// Kind.
    pub kind: JobKind,
    /// DATEV's job id.
    pub id: String,
}

/// The final outcome shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// DATEV's code (`1008834`, `#DCO01005`, a DXSO status), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A short reason.
    pub reason: String,
    /// Details (affected elements, protocol entries), at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// A booking batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// [`BATCH_VERSION`].
    pub version: u32,
    /// Id.
    pub id: BatchId,
    /// The DATEV client it is for.
    pub client: ClientId,
    /// The submitter's reference (e.g. "Ausgangsrechnungen 02/2024"); shown in alerts.
    pub reference: String,
    /// What goes to DATEV.
    pub payload: Payload,
    /// What the risk policy looked at.
    pub amounts: Amounts,
    /// The submitter flagged it as high risk.
    #[serde(default)]
    pub flagged: bool,
    /// The risk policy's verdict.
    pub risk: RiskDecision,
    /// Warnings of the `extf` validation (file accepted anyway), at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Current state.
    pub state: BatchState,
    /// Every state change, oldest first (bounded by [`MAX_HISTORY`]).
    pub history: Vec<Transition>,
    /// The current submission attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<Submission>,
    /// The DATEV job, once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
    /// The outcome, once final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<BatchResult>,
    /// SHA-256 (hex) of the request that created it (to answer a replayed `Idempotency-Key`).
    pub request_sha256: String,
    /// Created (Unix ms).
    pub created_at_ms: u64,
    /// Last change (Unix ms).
    pub updated_at_ms: u64,
}

/// A refused state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch {id}: {from} cannot become {to}")]
pub struct TransitionError {
    /// The batch.
    pub id: BatchId,
    /// Its state.
    pub from: BatchState,
    /// The state asked for.
    pub to: BatchState,
}

impl Batch {
    /// Moves to `to`, recording who and why; refuses transitions the diagram does not have.
    pub fn transition(
        &mut self,
        to: BatchState,
        at_ms: u64,
        actor: Actor,
        note: impl Into<String>,
    ) -> Result<(), TransitionError> {
        if !self.state.can_become(to) {
            return Err(TransitionError {
                id: self.id,
                from: self.state,
                to,
            });
        }
        self.push_history(Some(self.state), to, at_ms, actor, note.into());
        self.state = to;
        self.updated_at_ms = at_ms;
        Ok(())
    }

    /// Records the creation (in `received`) as the first history entry.
    pub fn record_creation(&mut self, at_ms: u64, actor: Actor, note: impl Into<String>) {
        self.push_history(None, BatchState::Received, at_ms, actor, note.into());
    }

    fn push_history(
        &mut self,
        from: Option<BatchState>,
        to: BatchState,
        at_ms: u64,
        actor: Actor,
        note: String,
    ) {
        let note: String = note.chars().take(MAX_TEXT_CHARS).collect();
        self.history.push(Transition {
            at_ms,
            from,
            to,
            actor,
            note,
        });
        if self.history.len() > MAX_HISTORY {
            self.history.remove(1);
        }
    }
}

/// Why a batch could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchStoreError {
    /// The store failed: nothing done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not match the schema.
    #[error("batch record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a batch.
pub fn load(
    store: &(impl KeyValue + ?Sized),
    id: BatchId,
) -> Result<Option<Batch>, BatchStoreError> {
    let key = id.key();
    match store.get(&key)? {
        None => Ok(None),
        Some(bytes) => {
            let b: Batch =
                serde_json::from_slice(&bytes).map_err(|e| BatchStoreError::Corrupt {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
            if b.version != BATCH_VERSION {
                return Err(BatchStoreError::Corrupt {
                    key,
                    reason: format!("version {} is not supported", b.version),
                });
            }
            Ok(Some(b))
        }
    }
}

/// Writes a batch (one write).
pub fn save(store: &(impl KeyValue + ?Sized), batch: &Batch) -> Result<(), BatchStoreError> {
    let bytes = serde_json::to_vec(batch).map_err(|e| BatchStoreError::Corrupt {
        key: batch.id.key(),
        reason: e.to_string(),
    })?;
    store.set(&batch.id.key(), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn api() -> Actor {
        Actor::Component { name: "api".into() }
    }

    fn batch() -> Batch {
        Batch {
            version: 1,
            id: BatchId::new(4711).unwrap(),
            client: ClientId::parse("29098-55003").unwrap(),
            reference: "RE 02/2024".into(),
            payload: Payload::Extf {
                file_name: "EXTF_BS_1.csv".into(),
                bytes: 10,
                rows: 1,
                source: ExtfSource::Bookings,
            },
            amounts: Amounts {
                bookings: 1,
                total_cents: 11_900,
                max_cents: 11_900,
            },
            flagged: false,
            risk: RiskDecision {
                hold: false,
                reasons: vec![],
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
        }
    }

    #[test]
    fn ids() {
        assert_eq!(BatchId::parse("4711").unwrap().key(), "batch:4711");
        for bad in ["", "0", "04711", "-1", "1a", "99999999999999999999"] {
            assert_eq!(BatchId::parse(bad), None, "{bad}");
        }
        let id = BatchId::new(7).unwrap();
        assert_eq!(file_key(id, 0), "batch-file:7:0");
        assert_eq!(submit_claim(id, 2), "claim:submit:7:2");
        assert_eq!(decision_claim(id, 3), "claim:decide:7:3");
    }

    #[test]
    fn the_state_machine() {
        use BatchState::*;
        let all = [
            Received, Held, Approved, Submitting, Submitted, Succeeded, Failed, Stuck, Cancelled,
            Expired,
        ];
        let allowed: Vec<(BatchState, BatchState)> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Received, Held),
                (Received, Approved),
                (Received, Cancelled),
                (Held, Approved),
                (Held, Cancelled),
                (Held, Expired),
                (Approved, Submitting),
                (Approved, Cancelled),
                (Submitting, Approved),
                (Submitting, Submitted),
                (Submitting, Failed),
                (Submitted, Succeeded),
                (Submitted, Failed),
                (Submitted, Stuck),
            ]
        );
        for s in all {
            assert_eq!(s.is_final(), !all.iter().any(|t| s.can_become(*t)), "{s}");
        }
    }

    #[test]
    fn transitions_are_recorded_and_checked() {
        let mut b = batch();
        b.record_creation(1, api(), "bookings");
        b.transition(BatchState::Approved, 1, api(), "risk policy: approved")
            .unwrap();
        assert_eq!(
            b.transition(BatchState::Succeeded, 2, api(), "x"),
            Err(TransitionError {
                id: b.id,
                from: BatchState::Approved,
                to: BatchState::Succeeded
            })
        );
        assert_eq!(
            b.history.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(),
            vec![
                (None, BatchState::Received),
                (Some(BatchState::Received), BatchState::Approved)
            ]
        );
        for i in 0..100 {
            let to = if i % 2 == 0 {
                BatchState::Submitting
            } else {
                BatchState::Approved
            };
            b.transition(to, 10 + i, api(), "retry").unwrap();
        }
        assert_eq!(b.history.len(), MAX_HISTORY);
        assert_eq!(b.history[0].to, BatchState::Received);
        assert_eq!(b.history.last().unwrap().at_ms, 109);
    }

    #[test]
    fn round_trip() {
        let s = MemoryStore::new();
        let b = batch();
        save(&s, &b).unwrap();
        assert_eq!(load(&s, b.id).unwrap(), Some(b.clone()));
        s.set("batch:4711", br#"{"version":2}"#).unwrap();
        assert!(matches!(
            load(&s, b.id),
            Err(BatchStoreError::Corrupt { .. })
        ));
    }
}
