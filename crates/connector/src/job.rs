//! DATEV jobs being polled (`ARCHITECTURE.md` flow 3).
//!
//! One versioned JSON record per DATEV job under `job:<datev-job-id>` (`keys::job`), created by
//! `datev-poller` when a batch is submitted and changed only by `datev-poller` under its tick
//! lease. The record carries its own `next_poll_at_ms`; the due index (`crate::schedule`, index
//! [`POLL_SCHEDULE`]) only wakes the poller up, so a stale or repeated index entry is harmless:
//! a job is polled only when its record says it is due.
//!
//! ```text
//! polling ──▶ finished (result recorded) ──▶ notified = true
//!    └──────▶ stuck (deadline passed)    ──▶ notified = true
//! ```
//! `notified` is set only after every outbox item of the result exists, so a crash in between
//! makes the next tick enqueue the (deduplicated) notifications again rather than lose them.

use crate::batch::{BatchId, JobKind};
use crate::client_config::ClientId;
use crate::keys;
use crate::ports::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};

/// Schema version of [`JobRecord`].
pub const JOB_VERSION: u32 = 1;

/// The due index of job polls.
pub const POLL_SCHEDULE: &str = "datev-poll";

/// The due index of batch submissions.
pub const SUBMIT_SCHEDULE: &str = "datev-submit";

/// Where polling stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Not finished; polled at `next_poll_at_ms`.
    Polling,
    /// DATEV reported a final status; see `result`.
    Finished,
    /// The deadline passed without a final status.
    Stuck,
}

/// The outcome of a job, in the words alerts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Processed (EXTF `succeeded`, DXSO 2).
    Succeeded,
    /// Processed with errors in some documents (DXSO 4).
    PartiallySucceeded,
    /// Not processed (EXTF `failed`, DXSO 3), or DATEV no longer knows the job.
    Failed,
    /// Cancelled in Belege online (DXSO 5), or a cancellation that was not possible (DXSO 6).
    Cancelled,
    /// No final status before the deadline.
    Stuck,
}

impl Outcome {
    /// True when the controller is called (everything except a full success).
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Succeeded)
    }

    /// The name used in JSON and texts.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::PartiallySucceeded => "partially_succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Stuck => "stuck",
        }
    }
}

/// A job's final result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// Outcome.
    pub outcome: Outcome,
    /// DATEV's code (`1008834`; for DXSO the status number), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A short reason (DATEV's title and detail, or ours), at most 200 characters.
    pub reason: String,
    /// Details: affected elements (EXTF) or error protocol entries (DXSO), at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// When the result was seen (Unix ms).
    pub at_ms: u64,
}

/// One DATEV job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// [`JOB_VERSION`].
    pub version: u32,
    /// DATEV's job id.
    pub id: String,
    /// Kind.
    pub kind: JobKind,
    /// The DATEV client.
    pub client: ClientId,
    /// The batch it came from.
    pub batch: BatchId,
    /// When DATEV accepted it (Unix ms).
    pub submitted_at_ms: u64,
    /// Status calls made so far.
    pub status_calls: u32,
    /// Failed status calls in a row (429, 5xx, timeouts); reset by an answer.
    #[serde(default)]
    pub errors_in_row: u32,
    /// When to ask next (Unix ms).
    pub next_poll_at_ms: u64,
    /// State.
    pub state: JobState,
    /// The result, once finished or stuck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// All notifications of the result are in the outbox.
    #[serde(default)]
    pub notified: bool,
    /// The last failed status call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Last change (Unix ms).
    pub updated_at_ms: u64,
}

impl JobRecord {
    /// The record's key, `job:<datev-job-id>`.
    pub fn key(&self) -> String {
        keys::job(&self.id)
    }
}

/// Why a job record could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobStoreError {
    /// The store failed: nothing done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not match the schema.
    #[error("job record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a job by its store key (`job:…`).
pub fn load_key(
    store: &(impl KeyValue + ?Sized),
    key: &str,
) -> Result<Option<JobRecord>, JobStoreError> {
    match store.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            let j: JobRecord =
                serde_json::from_slice(&bytes).map_err(|e| JobStoreError::Corrupt {
                    key: key.to_owned(),
                    reason: e.to_string(),
                })?;
            if j.version != JOB_VERSION {
                return Err(JobStoreError::Corrupt {
                    key: key.to_owned(),
                    reason: format!("version {} is not supported", j.version),
                });
            }
            Ok(Some(j))
        }
    }
}

/// Reads a job by DATEV's id.
pub fn load(
    store: &(impl KeyValue + ?Sized),
    datev_job_id: &str,
) -> Result<Option<JobRecord>, JobStoreError> {
    load_key(store, &keys::job(datev_job_id))
}

/// Writes a job (one write).
pub fn save(store: &(impl KeyValue + ?Sized), job: &JobRecord) -> Result<(), JobStoreError> {
    let bytes = serde_json::to_vec(job).map_err(|e| JobStoreError::Corrupt {
        key: job.key(),
        reason: e.to_string(),
    })?;
    store.set(&job.key(), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[test]
    fn round_trip_and_json() {
        let s = MemoryStore::new();
        let j = JobRecord {
            version: 1,
            id: "5656-zyxv".into(),
            kind: JobKind::Extf,
            client: ClientId::parse("29098-55003").unwrap(),
            batch: BatchId::new(3).unwrap(),
            submitted_at_ms: 10,
            status_calls: 0,
            errors_in_row: 0,
            next_poll_at_ms: 5_010,
            state: JobState::Polling,
            result: None,
            notified: false,
            last_error: None,
            updated_at_ms: 10,
        };
        save(&s, &j).unwrap();
        assert_eq!(s.keys(), vec!["job:5656-zyxv"]);
        assert_eq!(load(&s, "5656-zyxv").unwrap(), Some(j.clone()));
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            r#"{"version":1,"id":"5656-zyxv","kind":"extf","client":"29098-55003","batch":3,"submitted_at_ms":10,"status_calls":0,"errors_in_row":0,"next_poll_at_ms":5010,"state":"polling","notified":false,"updated_at_ms":10}"#
        );
        assert!(Outcome::Stuck.is_failure() && !Outcome::Succeeded.is_failure());
    }
}
