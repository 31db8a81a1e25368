//! Everything the simulator remembers between requests, and where it is kept.
//!
//! The state is plain serialisable data. [`InMemory`] keeps it behind a mutex (tests);
//! [`InKeyValue`] keeps it as one JSON document under one key of any [`KeyValue`] store (the
//! sandbox keeps it in Spin's key-value store: one read and one write per request). Tokens,
//! codes and refresh tokens are stored only as SHA-256 hashes.

use crate::config::Faults;
use crate::rng::SimRng;
use connector::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Schema version of the persisted state; a stored state of another version is replaced.
pub const STATE_VERSION: u32 = 1;

/// Why the simulator could not load or save its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The backing store failed ("not done, retry").
    #[error("simulator state store: {0}")]
    Store(#[from] StoreError),
    /// The stored JSON could not be decoded or encoded.
    #[error("simulator state is not valid JSON: {0}")]
    Corrupt(String),
}

/// Where the state lives.
pub trait StateStore {
    /// Runs `f` on the state (created with `init` when absent) and persists what it changed.
    fn update<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&mut SimState) -> R,
    ) -> Result<R, StateError>;

    /// Runs `f` on the state without persisting anything.
    fn read<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&SimState) -> R,
    ) -> Result<R, StateError>;
}

/// State in process memory (tests, benches).
#[derive(Debug, Default)]
pub struct InMemory {
    state: Mutex<Option<SimState>>,
}

impl InMemory {
    /// An empty store; the state is created on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for InMemory {
    fn update<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&mut SimState) -> R,
    ) -> Result<R, StateError> {
        // A panic inside `f` can only come from a test; keep serving the state as it was left.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(guard.get_or_insert_with(init)))
    }

    fn read<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&SimState) -> R,
    ) -> Result<R, StateError> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(guard.get_or_insert_with(init)))
    }
}

/// State as one JSON value under one key of a [`KeyValue`] store.
///
/// Concurrent requests of several Spin instances can lose each other's update (read, change,
/// write without a lock); acceptable for a single-user sandbox, and documented in the crate docs.
#[derive(Debug)]
pub struct InKeyValue<K> {
    kv: K,
    key: String,
}

impl<K: KeyValue> InKeyValue<K> {
    /// Keeps the state under `key` (e.g. `sandbox:state`).
    pub fn new(kv: K, key: impl Into<String>) -> Self {
        Self {
            kv,
            key: key.into(),
        }
    }

    fn load(&self, init: impl FnOnce() -> SimState) -> Result<SimState, StateError> {
        match self.kv.get(&self.key)? {
            None => Ok(init()),
            Some(bytes) => match serde_json::from_slice::<SimState>(&bytes) {
                Ok(s) if s.version == STATE_VERSION => Ok(s),
                // An older schema: start over rather than fail every request.
                Ok(_) => Ok(init()),
                Err(e) => Err(StateError::Corrupt(e.to_string())),
            },
        }
    }
}

impl<K: KeyValue> StateStore for InKeyValue<K> {
    fn update<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&mut SimState) -> R,
    ) -> Result<R, StateError> {
        let mut state = self.load(init)?;
        let out = f(&mut state);
        let bytes = serde_json::to_vec(&state).map_err(|e| StateError::Corrupt(e.to_string()))?;
        self.kv.set(&self.key, &bytes)?;
        Ok(out)
    }

    fn read<R>(
        &self,
        init: impl FnOnce() -> SimState,
        f: impl FnOnce(&SimState) -> R,
    ) -> Result<R, StateError> {
        let state = self.load(init)?;
        Ok(f(&state))
    }
}

/// The whole remembered world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The run's random sequence.
    pub rng: SimRng,
    /// Current fault knobs.
    pub faults: Faults,
    /// Next sequence number for records, deliveries, phone-log entries and events.
    pub next_seq: u64,
    /// DATEV state.
    pub datev: DatevState,
    /// Twilio state.
    pub twilio: TwilioState,
    /// Status changes waiting for their simulated time.
    pub events: Vec<Event>,
    /// Callbacks waiting to be delivered.
    pub outbox: Vec<PendingCallback>,
    /// Every request the simulator answered.
    pub records: Vec<CallRecord>,
    /// Every callback delivery attempt.
    pub deliveries: Vec<Delivery>,
    /// Every SMS and call that reached a phone, and every reply a phone sent.
    pub phone_log: Vec<PhoneEntry>,
    /// Added to the clock port's time: simulated time can be moved ahead where the clock is a
    /// real one (the sandbox's "skip ahead").
    #[serde(default)]
    pub clock_offset_ms: u64,
}

impl SimState {
    /// A fresh world.
    pub fn new(seed: u64, faults: Faults) -> Self {
        Self {
            version: STATE_VERSION,
            rng: SimRng::new(seed),
            faults,
            next_seq: 1,
            datev: DatevState::default(),
            twilio: TwilioState::default(),
            events: Vec::new(),
            outbox: Vec::new(),
            records: Vec::new(),
            deliveries: Vec::new(),
            phone_log: Vec::new(),
            clock_offset_ms: 0,
        }
    }

    /// Hands out the next sequence number.
    pub fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Schedules a status change.
    pub fn schedule(&mut self, due_ms: u64, kind: EventKind) {
        let seq = self.seq();
        self.events.push(Event { due_ms, seq, kind });
    }
}

/// DATEV: OAuth grants and jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatevState {
    /// Authorization codes by SHA-256.
    pub codes: BTreeMap<String, AuthCode>,
    /// Access tokens by SHA-256.
    pub access_tokens: BTreeMap<String, AccessToken>,
    /// Refresh tokens by SHA-256.
    pub refresh_tokens: BTreeMap<String, RefreshToken>,
    /// Grants (one per consent) by id.
    pub grants: BTreeMap<String, Grant>,
    /// EXTF import jobs, oldest first.
    pub extf_jobs: Vec<ExtfJob>,
    /// DXSO jobs, oldest first.
    pub dxso_jobs: Vec<DxsoJob>,
}

/// An issued authorization code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// Client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorize request (must be repeated exactly, RFC 6749 §4.1.3).
    pub redirect_uri: String,
    /// The S256 `code_challenge`.
    pub code_challenge: String,
    /// Granted scope (space separated).
    pub scope: String,
    /// `nonce` for the ID token, if sent.
    pub nonce: Option<String>,
    /// Issue time.
    pub issued_ms: u64,
    /// Redeemed already.
    pub used: bool,
    /// Grant it belongs to.
    pub grant: String,
}

/// An access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Client.
    pub client_id: String,
    /// Scope.
    pub scope: String,
    /// Grant.
    pub grant: String,
    /// Expiry.
    pub expires_ms: u64,
}

/// A refresh token (single use: rotation, datev.md §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Client.
    pub client_id: String,
    /// Scope.
    pub scope: String,
    /// Grant.
    pub grant: String,
    /// Expiry.
    pub expires_ms: u64,
    /// Already exchanged.
    pub used: bool,
}

/// One user consent; revoking it kills every token issued under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Client.
    pub client_id: String,
    /// Scope.
    pub scope: String,
    /// Revoked (by the user, the token endpoint's code-reuse rule, or a fault).
    pub revoked: bool,
}

/// `validation_details` of a failed EXTF job (datev.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationDetails {
    /// `http://www.datev.de/hilfe/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. "Invalid EXTF-header".
    pub title: String,
    /// e.g. "Fields with error".
    pub detail: String,
    /// Offending elements.
    pub affected_elements: Vec<AffectedElement>,
}

impl ValidationDetails {
    /// Details with DATEV's help-URL `type` for `code`.
    pub fn new(code: u32, title: &str, detail: &str, affected: Vec<AffectedElement>) -> Self {
        Self {
            kind: format!("http://www.datev.de/hilfe/{code}"),
            title: title.into(),
            detail: detail.into(),
            affected_elements: affected,
        }
    }
}

/// One offending element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedElement {
    /// Element name.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl AffectedElement {
    /// An element and its reason.
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Header data DATEV echoes in the job (datev.md §4.1, Job).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtfHeaderInfo {
    /// Field 17 Bezeichnung.
    pub label: String,
    /// Field 13, `YYYY-MM-DD`.
    pub fiscal_year_begin: Option<String>,
    /// Field 15, `YYYY-MM-DD`.
    pub date_from: Option<String>,
    /// Field 16, `YYYY-MM-DD`.
    pub date_to: Option<String>,
    /// Field 3.
    pub data_category_id: Option<u32>,
    /// Data lines.
    pub number_of_accounting_records: u64,
}

/// An EXTF import job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtfJob {
    /// Job id (UUID).
    pub id: String,
    /// Client id of the upload path.
    pub client_id: String,
    /// `Filename` header.
    pub filename: String,
    /// `Reference-Id` header.
    pub reference_id: Option<String>,
    /// `Client-Application-Version` header.
    pub client_application_version: Option<String>,
    /// Receipt time.
    pub created_ms: u64,
    /// When the result stops being `pending`.
    pub ready_ms: u64,
    /// The result, decided at upload, revealed at `ready_ms`.
    pub failure: Option<ValidationDetails>,
    /// What the header said.
    pub header: ExtfHeaderInfo,
    /// Size of the file.
    pub size: usize,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The file, base64 (only with `keep_upload_bytes`).
    pub bytes_b64: Option<String>,
}

/// A file uploaded into a DXSO job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DxsoFile {
    /// File name of the part.
    pub filename: String,
    /// Content type of the part.
    pub content_type: Option<String>,
    /// Size.
    pub size: usize,
    /// SHA-256.
    pub sha256: String,
    /// Upload time.
    pub received_ms: u64,
    /// The bytes, base64 (only with `keep_upload_bytes`).
    pub bytes_b64: Option<String>,
}

/// A DXSO job (datev.md §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DxsoJob {
    /// 32 upper-case hex digits.
    pub id: String,
    /// Client id.
    pub client_id: String,
    /// `import_type`, if given.
    pub import_type: Option<String>,
    /// `accounting_month`, if given.
    pub accounting_month: Option<String>,
    /// Creation time.
    pub created_ms: u64,
    /// Uploaded files.
    pub files: Vec<DxsoFile>,
    /// When `ready` was set (status 1 from then).
    pub ready_ms: Option<u64>,
    /// When processing ends.
    pub done_ms: Option<u64>,
    /// Status after processing (2, 3 or 4).
    pub final_status: u8,
    /// Status forced by the operator (5 or 6, cancellation in Belege online).
    pub forced_status: Option<u8>,
}

/// Twilio resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwilioState {
    /// Messages, oldest first (outbound, inbound and rejected attempts).
    pub messages: Vec<Message>,
    /// Calls, oldest first.
    pub calls: Vec<Call>,
    /// Verifications, oldest first (deleted ones stay with their final status).
    pub verifications: Vec<Verification>,
    /// End times of requests occupying a concurrency slot.
    pub in_flight_until: Vec<u64>,
}

/// A Message resource (twilio.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `SM…`
    pub sid: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Current status.
    pub status: String,
    /// `outbound-api` or `inbound`.
    pub direction: String,
    /// `MG…`, if used.
    pub messaging_service_sid: Option<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// Billed segments (twilio.md §12).
    pub num_segments: u32,
    /// Error code on failure.
    pub error_code: Option<u32>,
    /// Creation.
    pub date_created_ms: u64,
    /// Sent (`sent` reached).
    pub date_sent_ms: Option<u64>,
    /// Last change.
    pub date_updated_ms: u64,
}

/// A Call resource (twilio.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// `CA…`
    pub sid: String,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Resource status.
    pub status: String,
    /// Inline TwiML.
    pub twiml: Option<String>,
    /// TwiML URL.
    pub url: Option<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent` values (default `completed`).
    pub callback_events: Vec<String>,
    /// Next `SequenceNumber` of a callback.
    pub next_sequence: u32,
    /// Creation.
    pub date_created_ms: u64,
    /// Last change.
    pub date_updated_ms: u64,
    /// Answered at.
    pub start_ms: Option<u64>,
    /// Ended at.
    pub end_ms: Option<u64>,
    /// Duration in seconds once completed.
    pub duration_s: Option<u64>,
}

/// One send of a verification (`send_code_attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAttempt {
    /// `VL…`
    pub attempt_sid: String,
    /// Channel.
    pub channel: String,
    /// Time.
    pub time_ms: u64,
}

/// A Verification (twilio.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// `VE…`
    pub sid: String,
    /// `VA…`
    pub service_sid: String,
    /// Recipient.
    pub to: String,
    /// Channel of the latest send.
    pub channel: String,
    /// The code (kept so the phone log and tests can read it; sandbox data only).
    pub code: String,
    /// `pending`, `approved`, `canceled`, `max_attempts_reached`, `expired`.
    pub status: String,
    /// Creation.
    pub created_ms: u64,
    /// Last change.
    pub updated_ms: u64,
    /// End of validity.
    pub expires_ms: u64,
    /// Checks made with a wrong code.
    pub wrong_checks: u32,
    /// Sends.
    pub sends: Vec<SendAttempt>,
    /// Deleted (approved, canceled, expired): fetch and check answer 404.
    pub deleted: bool,
}

/// A scheduled status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Due time.
    pub due_ms: u64,
    /// Tie-breaker.
    pub seq: u64,
    /// What happens.
    pub kind: EventKind,
}

/// Kinds of scheduled change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A message reaches a status (with an error code for failures).
    Message {
        /// SID.
        sid: String,
        /// New status.
        status: String,
        /// Error code.
        error_code: Option<u32>,
    },
    /// A call reaches a status.
    Call {
        /// SID.
        sid: String,
        /// New status (`initiated` is callback-only).
        status: String,
    },
}

/// What a callback reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKind {
    /// Message status callback (twilio.md §7.2).
    MessageStatus,
    /// Call status callback (twilio.md §7.3).
    CallStatus,
    /// Inbound SMS webhook (twilio.md §7.1).
    InboundSms,
}

/// A callback waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCallback {
    /// Due time.
    pub due_ms: u64,
    /// Tie-breaker.
    pub seq: u64,
    /// The URL as configured (fragment with connection overrides included).
    pub url: String,
    /// Form parameters in the order Twilio would send them.
    pub params: Vec<(String, String)>,
    /// `I-Twilio-Idempotency-Token`.
    pub idempotency_token: String,
    /// Kind.
    pub kind: CallbackKind,
    /// The resource SID.
    pub sid: String,
    /// The status it reports.
    pub status: String,
}

/// One callback delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Sequence.
    pub seq: u64,
    /// Time of the attempt.
    pub at_ms: u64,
    /// The signed URL.
    pub url: String,
    /// Kind.
    pub kind: CallbackKind,
    /// Resource SID.
    pub sid: String,
    /// Reported status.
    pub status: String,
    /// 1 for the first try, 2… for retries.
    pub attempt: u32,
    /// `I-Twilio-Idempotency-Token`.
    pub idempotency_token: String,
    /// The receiver's HTTP status, if it answered.
    pub response_status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
}

/// Which API a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// `login.datev.de` authorize.
    DatevLogin,
    /// `api.datev.de` token/revoke.
    DatevToken,
    /// `accounting-extf-files`.
    DatevExtf,
    /// `accounting-clients`.
    DatevClients,
    /// `accounting-dxso-jobs`.
    DatevDxso,
    /// `api.twilio.com`.
    TwilioApi,
    /// `verify.twilio.com`.
    TwilioVerify,
}

impl Api {
    /// True for the DATEV services.
    pub fn is_datev(self) -> bool {
        !matches!(self, Api::TwilioApi | Api::TwilioVerify)
    }
}

/// One request the simulator answered (secrets never recorded: credentials appear as the
/// principal they identify, never as the token or password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequence.
    pub seq: u64,
    /// Simulated time.
    pub at_ms: u64,
    /// Service.
    pub api: Api,
    /// Method.
    pub method: String,
    /// Path within the service (after any `/sandbox/<side>/<service>` prefix).
    pub path: String,
    /// Decoded query.
    pub query: Vec<(String, String)>,
    /// Who the credentials identified (`client:<id>`, `key:SK…`, `account:AC…`), or why not.
    pub principal: String,
    /// `X-DATEV-Client-Id`, `Filename`, `Content-Type` and similar non-secret headers.
    pub headers: Vec<(String, String)>,
    /// Request body size.
    pub body_len: usize,
    /// Status answered, if a response was returned.
    pub status: Option<u16>,
    /// Injected transport fault instead of (or after) the response.
    pub fault: Option<String>,
}

/// What reached or left a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// An SMS was delivered to the handset.
    Sms,
    /// A call was answered; `text` is the TwiML (or its URL).
    Call,
    /// A Verify code arrived by SMS.
    VerifySms,
    /// A Verify code was read out in a call.
    VerifyCall,
    /// The phone sent an SMS to the account's number.
    Reply,
}

/// One phone-log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneEntry {
    /// Sequence.
    pub seq: u64,
    /// Simulated time.
    pub at_ms: u64,
    /// Kind.
    pub kind: PhoneKind,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text, TwiML or URL.
    pub text: String,
    /// Resource SID (`SM…`, `CA…`, `VE…`).
    pub sid: String,
}
