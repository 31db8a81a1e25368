//! The `api` component's routes, host-independent (`ARCHITECTURE.md` flow 1 and the OAuth
//! connect). The component converts the Spin request, supplies the ports and the composed
//! `extf` component ([`ExtfService`]), and returns [`Api::handle`]'s answer.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /datev/connect?client=<consultant>-<client>` | admin | 302 to DATEV's authorization URL (PKCE, fresh `state`) |
//! | `GET /datev/callback?state=…&code=…` (or `error=…`) | the `state` | 303 to `/datev/result?outcome=…` |
//! | `GET /datev/result?outcome=…&client=…` | none | an HTML page saying what happened |
//! | `POST /batches` | admin | 201 batch, 200 replay, 422 with every finding, 409 key in use |
//! | `GET /batches/{id}` | admin | the batch: state, history, submission, job, result |
//! | `PUT /clients/{client}`, `GET /clients/{client}` | admin | the client's configuration |
//! | `POST /batches/{id}/approve` `{"code": "123456"}` | admin | Verify check; 200 approved, 403 wrong code (attempts left), 429 checks used up, 410 no pending verification, 409 already decided |
//! | `POST /batches/{id}/verify` | admin | a new Verify code to the approver; 202 sent, 429 Verify's send limit |
//! | `POST /batches/{id}/reject` | admin | 200 cancelled, 409 already decided |
//! | `GET /audit`, `GET /audit/{id}`, `POST /audit/{id}/replay` | admin | audit trail and replay ([`admin`]) |
//! | `GET /settings`, `PUT /settings/twilio`, `PUT /settings/datev`, `POST /settings/ping` | admin | credentials and the connection check ([`admin`]) |
//!
//! "admin" is `Authorization: Bearer <admin_token>`, compared in constant time
//! ([`connector::Secret`]). Every answer except the result page leaves an audit entry (best
//! effort, like the webhook's).
//!
//! # `POST /batches`
//! - `Content-Type: application/json`: `{"client": "29098-55003", "reference": "…", "high_risk":
//!   false, "kind": "bookings" | "extf_file" | "dxso", …}` with `header` + `bookings`
//!   ([`crate::extf_port`] records), `file_base64`, or `header` + `documents` + `options` +
//!   `attachments` (images, base64).
//! - `Content-Type: text/csv` or `application/octet-stream`: a ready EXTF file as the body, with
//!   `?client=…&reference=…[&high_risk=true]`.
//!
//! Everything is validated by the `extf` component (bookings are written by it, files validated
//! and parsed, DXSO packages written); the header's Berater-/Mandantennummer must be those of
//! `client`. Any error finding → 422 listing all findings. A good batch is stored `received` and,
//! in the same write, `approved` or `held` by the client's risk policy
//! ([`connector::client_config::assess`]); an approved batch gets an entry in the poller's
//! submission index.
//!
//! `Idempotency-Key` (1–255 visible ASCII characters): the first request with a key wins claims
//! on two consecutive 5-minute windows (`claim:idem:<key>:<w>`), then stores
//! `idem:batches:<key>` → batch id and request hash *before* the batch. A later request with the
//! key gets the same batch (200, `Idempotent-Replayed: true`), finishing a creation a crash
//! interrupted; a different body with the same key is a 422; a request racing the first one is a
//! 409. A creation that crashed before storing the mapping blocks its key for at most 10 minutes.
//!
//! # The approval gate (`ARCHITECTURE.md` flow 2)
//! A batch stored `held` starts the gate ([`connector::approval::on_hold`]): a Verify check to
//! the client's approver through the outbox, an approval request SMS where the client's release
//! policy allows a release by reply or delivery, and its expiry entry. The routes below decide it
//! through [`connector::approval::decide`] — the same function the inbound processor and expiry
//! use — so one decision wins and every decision is audited (`approval.<verb>`), besides this
//! route's own entry. Outcomes carry a machine-readable `outcome`:
//!
//! | answer | `outcome` | meaning |
//! |---|---|---|
//! | 200 | `approved` / `rejected` | decided now (approved: the poller submits it) |
//! | 403 | `wrong_code` | Verify said `pending`: `attempts_left` of Verify's five checks remain |
//! | 429 | `max_attempts` | the verification's checks are used up (60202): `POST …/verify` after it expired |
//! | 410 | `verification_gone` | Verify has no pending verification (expired after 10 minutes, used up, or approved for another batch of the same approver): `POST …/verify` |
//! | 409 | `already_decided` | the batch is not held (approved, submitted, cancelled, expired…): nothing checked, nothing changed — also the answer to a code sent again after an approval |
//! | 409 | `in_progress` | another decision holds the batch's claim (retry) |
//! | 409 | `no_approver` | the client has no approver: only a reject or expiry can end the hold |
//! | 202 | `code_sent` | `POST …/verify`: Verify sent (or re-sent) a code |
//! | 429 | `too_many_sends` | `POST …/verify`: Verify's limit of five sends per verification (60203) |
//! | 502 | `twilio_unavailable` | Twilio did not answer usably: nothing changed, retry |
//!
//! The code is checked from here, not through the outbox: the operator waits for the answer, and
//! a Verify check is a read of Twilio's state that may be repeated. The code itself is never
//! stored, logged or audited ([`twilio::VerifyCode`] prints `[redacted]`).

use crate::config::{ConfigError, DatevSetup};
use crate::extf_port::{
    Booking, DxsoDocument, DxsoOptions, ExtfService, Finding, Header, LedgerKind, Severity,
    Timestamp, WriteFailure,
};
use crate::registry;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use connector::approval::{self, Decided, Decision, Via};
use connector::audit::{self, Actor, AuditEntry, Outcome as AuditOutcome};
use connector::batch::{
    self, Amounts, Batch, BatchId, BatchState, DxsoFileInfo, ExtfSource, Payload,
};
use connector::client_config::{
    self, ClientConfig, ClientId, Contact, Language, PhoneNumber, ReleasePolicy, RiskPolicy,
};
use connector::job::SUBMIT_SCHEDULE;
use connector::schedule::{self, ScheduleConfig};
use connector::{HttpResponse, KeyValue, Secret, StoreError};
use datev::{CallbackParams, ConnectError, DatevAuth, DatevClientId, Ports};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod admin;
pub use admin::AdminSettings;

/// Largest request body read (a 50 MB EXTF file as base64 in JSON, plus room).
pub const MAX_BODY_BYTES: usize = 72 * 1024 * 1024;
/// Largest EXTF file (datev.md §1.7) and DXSO file (datev.md §4.3).
const MAX_EXTF_BYTES: usize = datev::EXTF_MAX_BYTES;
/// At most this many findings are returned.
const MAX_FINDINGS: u32 = 1_000;
/// Longest batch reference.
const MAX_REFERENCE_CHARS: usize = 60;
/// Length of one idempotency window.
const IDEMPOTENCY_WINDOW_MS: u64 = 300_000;
/// The component id (audit actor of its own actions).
pub const NAME: &str = "api";

/// The request body as the component read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole body (at most [`MAX_BODY_BYTES`]).
    Complete(Vec<u8>),
    /// More than [`MAX_BODY_BYTES`] arrived; reading stopped.
    TooLarge,
    /// The stream failed.
    Unreadable(String),
}

/// One incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// Method (`GET`, `POST`, …).
    pub method: String,
    /// Path and query as received.
    pub path_with_query: String,
    /// Header fields (names lowercase or not; compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
}

impl ApiRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.path_with_query.split('?').next().unwrap_or("")
    }

    fn query(&self) -> Vec<(String, String)> {
        let q = self.path_with_query.split_once('?').map_or("", |(_, q)| q);
        serde_urlencoded::from_str(q).unwrap_or_default()
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The configuration the api reads from variables; each part may be broken independently (a
/// broken DATEV setup must not take the batch routes down, and vice versa).
#[derive(Debug)]
pub struct ApiSettings {
    /// `admin_token`.
    pub admin_token: Result<Secret, ConfigError>,
    /// The DATEV side.
    pub datev: Result<DatevSetup, ConfigError>,
    /// Shape of the poller's due index (must match the poller's).
    pub schedule: ScheduleConfig,
    /// Twilio (Verify checks of the approval gate), from the same variables as the
    /// `twilio-sender` (`sender::config::twilio_settings`); the error names the variable.
    pub twilio: Result<twilio::TwilioConfig, String>,
    /// How long a batch of a client without configuration stays held (`approval_hold_ttl_ms`,
    /// default [`approval::DEFAULT_HOLD_TTL_MS`]); configured clients use their release policy.
    pub hold_ttl_ms: u64,
    /// Shape of the outbox due index (must be the `twilio-sender`'s).
    pub outbox_schedule: ScheduleConfig,
}

impl ApiSettings {
    /// Settings with the given admin token and DATEV setup, the poller's default index shape,
    /// no Twilio, and the default hold time.
    pub fn new(
        admin_token: Result<Secret, ConfigError>,
        datev: Result<DatevSetup, ConfigError>,
    ) -> Self {
        Self {
            admin_token,
            datev,
            schedule: ScheduleConfig::default(),
            twilio: Err("Twilio is not configured".into()),
            hold_ttl_ms: approval::DEFAULT_HOLD_TTL_MS,
            outbox_schedule: ScheduleConfig::default(),
        }
    }
}

/// The api.
pub struct Api<'a> {
    settings: &'a ApiSettings,
    ports: Ports<'a>,
    extf: &'a dyn ExtfService,
    /// The operator routes' settings ([`Api::with_admin`]); without them those routes answer 500.
    admin_settings: Option<&'a AdminSettings>,
}

impl std::fmt::Debug for Api<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

fn json_response<T: Serialize>(status: u16, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => HttpResponse::new(status, body).header("Content-Type", "application/json"),
        Err(e) => HttpResponse::new(500, format!("cannot encode the answer: {e}").into_bytes()),
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

fn error(status: u16, message: &str) -> HttpResponse {
    json_response(
        status,
        &ErrorBody {
            error: message,
            field: None,
        },
    )
}

fn field_error(status: u16, field: &str, message: &str) -> HttpResponse {
    json_response(
        status,
        &ErrorBody {
            error: message,
            field: Some(field),
        },
    )
}

#[derive(Serialize)]
struct Findings<'a> {
    error: &'static str,
    findings: &'a [Finding],
}

fn unprocessable(findings: &[Finding]) -> HttpResponse {
    json_response(
        422,
        &Findings {
            error: "the batch is invalid",
            findings,
        },
    )
}

/// A served request: the answer and the audit entry's correlation ids.
type Served = Result<(HttpResponse, Vec<(&'static str, String)>), Fail>;

/// Why a request was not served, mapped to an answer at the end.
enum Fail {
    Answer(HttpResponse, AuditOutcome),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<batch::BatchStoreError> for Fail {
    fn from(e: batch::BatchStoreError) -> Self {
        match e {
            batch::BatchStoreError::Store(s) => Fail::Store(s),
            other => internal(&other.to_string()),
        }
    }
}

impl From<schedule::ScheduleError> for Fail {
    fn from(e: schedule::ScheduleError) -> Self {
        match e {
            schedule::ScheduleError::Store(s) => Fail::Store(s),
            other => internal(&other.to_string()),
        }
    }
}

impl From<client_config::ConfigStoreError> for Fail {
    fn from(e: client_config::ConfigStoreError) -> Self {
        match e {
            client_config::ConfigStoreError::Store(s) => Fail::Store(s),
            other => internal(&other.to_string()),
        }
    }
}

fn reject(status: u16, response: HttpResponse, reason: impl Into<String>) -> Fail {
    Fail::Answer(
        response,
        AuditOutcome::Rejected {
            status: Some(status),
            reason: reason.into(),
        },
    )
}

fn internal(reason: &str) -> Fail {
    Fail::Answer(
        error(500, reason),
        AuditOutcome::Failed {
            status: Some(500),
            reason: reason.to_owned(),
        },
    )
}

/// The request for `POST /batches` with a JSON body.
#[derive(Debug, Deserialize)]
struct BatchRequest {
    client: String,
    reference: String,
    #[serde(default)]
    high_risk: bool,
    #[serde(flatten)]
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Content {
    Bookings {
        header: Header,
        bookings: Vec<Booking>,
    },
    ExtfFile {
        file_base64: String,
    },
    Dxso {
        header: Header,
        documents: Vec<DxsoDocument>,
        #[serde(default)]
        options: DxsoOptions,
        #[serde(default)]
        attachments: Vec<Attachment>,
    },
}

#[derive(Debug, Deserialize)]
struct Attachment {
    name: String,
    #[serde(default)]
    content_type: Option<String>,
    content_base64: String,
}

/// What a validated request becomes.
struct Prepared {
    client: ClientId,
    reference: String,
    flagged: bool,
    amounts: Amounts,
    warnings: Vec<String>,
    kind: PreparedKind,
}

enum PreparedKind {
    /// The header for the file name and the file (written or validated).
    Extf {
        header: Header,
        file: Vec<u8>,
        rows: u32,
        source: ExtfSource,
    },
    /// DXSO files in upload order.
    Dxso {
        files: Vec<(DxsoFileInfo, Vec<u8>)>,
        import_type: String,
        accounting_month: String,
    },
}

/// `idem:batches:<key>`.
#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyRecord {
    version: u32,
    batch: BatchId,
    request_sha256: String,
    created_at_ms: u64,
}

fn idempotency_key(key: &str) -> String {
    format!("idem:batches:{}", connector::keys::segment(key))
}

fn idempotency_claim(key: &str, window: u64) -> String {
    format!("claim:idem:{}:{window}", connector::keys::segment(key))
}

fn amounts(bookings: &[&Booking]) -> Amounts {
    Amounts {
        bookings: u32::try_from(bookings.len()).unwrap_or(u32::MAX),
        total_cents: bookings
            .iter()
            .fold(0u64, |s, b| s.saturating_add(b.amount_cents)),
        max_cents: bookings.iter().map(|b| b.amount_cents).max().unwrap_or(0),
    }
}

fn warning_lines(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .take(50)
        .map(Finding::summary)
        .collect()
}

/// The content type of a DXSO attachment from its extension (datev.md §4.3 examples).
fn content_type_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "xml" => "text/xml",
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        _ => return None,
    })
}

impl<'a> Api<'a> {
    /// Binds settings, ports and the `extf` service.
    pub fn new(settings: &'a ApiSettings, ports: Ports<'a>, extf: &'a dyn ExtfService) -> Self {
        Self {
            settings,
            ports,
            extf,
            admin_settings: None,
        }
    }

    /// Enables the operator routes (audit, replay, settings, ping; [`admin`]).
    pub fn with_admin(mut self, admin: &'a AdminSettings) -> Self {
        self.admin_settings = Some(admin);
        self
    }

    fn store(&self) -> &'a dyn KeyValue {
        self.ports.store
    }

    fn now(&self) -> u64 {
        self.ports.clock.now_ms()
    }

    /// Answers one request; never panics.
    pub fn handle(&self, req: &ApiRequest) -> HttpResponse {
        let path = req.path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = req.method.as_str();
        let (action, subject, result) = match (method, segments.as_slice()) {
            ("GET", ["datev", "connect"]) => (
                "connect",
                "route:/datev/connect".to_owned(),
                self.admin(req).and_then(|_| self.connect(req)),
            ),
            ("GET", ["datev", "callback"]) => (
                "callback",
                "route:/datev/callback".to_owned(),
                self.callback(req),
            ),
            ("GET", ["datev", "result"]) => return result_page(req),
            ("POST", ["batches"]) => (
                "batch-create",
                "route:/batches".to_owned(),
                self.admin(req).and_then(|_| self.create_batch(req)),
            ),
            ("GET", ["batches", id]) => (
                "batch-read",
                format!("batch:{id}"),
                self.admin(req).and_then(|_| self.read_batch(id)),
            ),
            ("POST", ["batches", id, "approve"]) => (
                "batch-approve",
                format!("batch:{id}"),
                self.admin(req).and_then(|_| self.approve(req, id)),
            ),
            ("POST", ["batches", id, "verify"]) => (
                "batch-verify",
                format!("batch:{id}"),
                self.admin(req).and_then(|_| self.restart_verify(id)),
            ),
            ("POST", ["batches", id, "reject"]) => (
                "batch-reject",
                format!("batch:{id}"),
                self.admin(req).and_then(|_| self.reject(id)),
            ),
            ("PUT", ["clients", client]) => (
                "client-config",
                format!("client:{client}"),
                self.admin(req).and_then(|_| self.put_client(req, client)),
            ),
            ("GET", ["clients", client]) => (
                "client-read",
                format!("client:{client}"),
                self.admin(req).and_then(|_| self.get_client(client)),
            ),
            ("GET", ["audit"]) => (
                "audit-list",
                "route:/audit".to_owned(),
                self.admin(req).and_then(|_| self.list_audit(req)),
            ),
            ("GET", ["audit", id]) => (
                "audit-read",
                format!("audit:{id}"),
                self.admin(req).and_then(|_| self.read_audit(id)),
            ),
            ("POST", ["audit", id, "replay"]) => (
                "audit-replay",
                format!("audit:{id}"),
                self.admin(req).and_then(|_| self.replay(id)),
            ),
            ("GET", ["settings"]) => (
                "settings-read",
                "route:/settings".to_owned(),
                self.admin(req).and_then(|_| self.get_settings()),
            ),
            ("PUT", ["settings", "twilio"]) => (
                "settings-change",
                "settings:twilio".to_owned(),
                self.admin(req).and_then(|_| self.put_twilio(req)),
            ),
            ("PUT", ["settings", "datev"]) => (
                "settings-change",
                "settings:datev".to_owned(),
                self.admin(req).and_then(|_| self.put_datev(req)),
            ),
            ("POST", ["settings", "ping"]) => (
                "ping",
                "route:/settings/ping".to_owned(),
                self.admin(req).and_then(|_| self.ping(req)),
            ),
            (
                _,
                ["datev", "connect" | "callback" | "result"]
                | ["batches"]
                | ["batches", _]
                | ["batches", _, "approve" | "verify" | "reject"]
                | ["clients", _]
                | ["audit"]
                | ["audit", _]
                | ["audit", _, "replay"]
                | ["settings"]
                | ["settings", "twilio" | "datev" | "ping"],
            ) => {
                return error(405, "method not allowed");
            }
            _ => return error(404, "not found"),
        };
        let (response, outcome, correlation) = match result {
            Ok((response, correlation)) => (response, AuditOutcome::Ok, correlation),
            Err(Fail::Answer(response, outcome)) => (response, outcome, Vec::new()),
            Err(Fail::Store(e)) => (
                error(503, "storage is temporarily unavailable; retry").header("Retry-After", "5"),
                AuditOutcome::Failed {
                    status: Some(503),
                    reason: e.to_string(),
                },
                Vec::new(),
            ),
        };
        let actor = if req.header("authorization").is_some() {
            Actor::Operator { id: "admin".into() }
        } else {
            Actor::Unverified {
                peer: req.header("spin-client-addr").map(str::to_owned),
            }
        };
        let mut entry = AuditEntry::new(
            self.now(),
            actor,
            format!("{NAME}.{action}"),
            subject,
            outcome,
        );
        for (k, v) in correlation {
            entry = entry.with(k, v);
        }
        if let Err(e) = audit::append(self.store(), &entry) {
            eprintln!(
                "{NAME}: audit append failed ({e}): {} {} {:?}",
                entry.action, entry.subject, entry.outcome
            );
        }
        response
    }

    /// Checks the bearer token.
    fn admin(&self, req: &ApiRequest) -> Result<(), Fail> {
        let expected = match &self.settings.admin_token {
            Ok(t) => t,
            Err(e) => return Err(internal(&format!("the API is not configured: {e}"))),
        };
        let unauthorized = |reason: &str| {
            reject(
                401,
                error(401, "a valid admin bearer token is required")
                    .header("WWW-Authenticate", "Bearer realm=\"ml-connector\""),
                reason,
            )
        };
        let Some(value) = req.header("authorization") else {
            return Err(unauthorized("no Authorization header"));
        };
        let Some(presented) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(unauthorized("Authorization is not a bearer token"));
        };
        if Secret::new(presented.trim()) == *expected {
            Ok(())
        } else {
            Err(unauthorized("wrong bearer token"))
        }
    }

    fn datev(&self) -> Result<&'a DatevSetup, Fail> {
        self.settings
            .datev
            .as_ref()
            .map_err(|e| internal(&format!("DATEV is not configured: {e}")))
    }

    // ----- OAuth connect ----------------------------------------------------------------------

    fn connect(&self, req: &ApiRequest) -> Served {
        let raw = req.param("client").unwrap_or_default();
        let client = DatevClientId::parse(&raw).map_err(|e| {
            reject(
                400,
                field_error(400, "client", &e.to_string()),
                e.to_string(),
            )
        })?;
        let setup = self.datev()?;
        let auth = DatevAuth::new(&setup.config, &setup.keyring, self.ports);
        match auth.begin_connect(&client) {
            Ok(attempt) => Ok((
                HttpResponse::new(302, Vec::new())
                    .header("Location", attempt.url)
                    .header("Cache-Control", "no-store"),
                vec![("client", client.to_string())],
            )),
            Err(ConnectError::Store(e)) => Err(Fail::Store(e)),
            Err(e) => Err(internal(&e.to_string())),
        }
    }

    fn callback(&self, req: &ApiRequest) -> Served {
        let redirect = |outcome: &str, client: Option<&DatevClientId>| {
            let mut location = format!("/datev/result?outcome={outcome}");
            if let Some(c) = client {
                location.push_str(&format!("&client={c}"));
            }
            HttpResponse::new(303, Vec::new())
                .header("Location", location)
                .header("Cache-Control", "no-store")
        };
        let setup = match self.datev() {
            Ok(s) => s,
            Err(_) => {
                return Err(Fail::Answer(
                    redirect("misconfigured", None),
                    AuditOutcome::Failed {
                        status: Some(303),
                        reason: "DATEV is not configured".into(),
                    },
                ));
            }
        };
        let query = req.path_with_query.split_once('?').map_or("", |(_, q)| q);
        let params = match CallbackParams::from_query(query) {
            Ok(p) => p,
            Err(e) => return Err(reject(303, redirect("malformed", None), e.to_string())),
        };
        let auth = DatevAuth::new(&setup.config, &setup.keyring, self.ports);
        match auth.complete_connect(&params) {
            Ok(connected) => {
                let client = ClientId::parse(&connected.client.to_string())
                    .map_err(|e| internal(&e.to_string()))?;
                registry::register(self.store(), &client)?;
                Ok((
                    redirect("connected", Some(&connected.client)),
                    vec![("client", connected.client.to_string())],
                ))
            }
            Err(e) => {
                let (code, client) = match &e {
                    ConnectError::MissingParameter(_) | ConnectError::MalformedCallback(_) => {
                        ("malformed", None)
                    }
                    ConnectError::UnknownState => ("unknown-state", None),
                    ConnectError::StateAlreadyUsed { client } => ("already-used", Some(*client)),
                    ConnectError::AttemptExpired { client } => ("expired", Some(*client)),
                    ConnectError::ConsentDenied { client, .. } => ("denied", Some(*client)),
                    ConnectError::AuthorizationFailed { client, .. } => ("refused", Some(*client)),
                    ConnectError::TokenExchange { client, .. } => {
                        ("exchange-failed", Some(*client))
                    }
                    ConnectError::Store(_) => ("unavailable", None),
                    ConnectError::Vault(_) | ConnectError::CorruptRecord(_) => ("internal", None),
                };
                let status = Some(303);
                let outcome = match &e {
                    ConnectError::Store(_)
                    | ConnectError::Vault(_)
                    | ConnectError::CorruptRecord(_) => AuditOutcome::Failed {
                        status,
                        reason: e.to_string(),
                    },
                    _ => AuditOutcome::Rejected {
                        status,
                        reason: e.to_string(),
                    },
                };
                Err(Fail::Answer(redirect(code, client.as_ref()), outcome))
            }
        }
    }

    // ----- batches ----------------------------------------------------------------------------

    fn read_batch(&self, id: &str) -> Served {
        let Some(id) = BatchId::parse(id) else {
            return Err(reject(404, error(404, "no such batch"), "not a batch id"));
        };
        match batch::load(self.store(), id)? {
            Some(b) => Ok((json_response(200, &b), vec![("batch", id.to_string())])),
            None => Err(reject(404, error(404, "no such batch"), "unknown batch")),
        }
    }

    fn create_batch(&self, req: &ApiRequest) -> Served {
        let body = match &req.body {
            Body::Complete(b) => b,
            Body::TooLarge => {
                let msg = format!("the request body exceeds {MAX_BODY_BYTES} bytes");
                return Err(reject(413, error(413, &msg), msg));
            }
            Body::Unreadable(e) => {
                return Err(reject(
                    400,
                    error(400, "the request body could not be read"),
                    e.clone(),
                ));
            }
        };
        let idempotency = match req.header("idempotency-key") {
            None => None,
            Some(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(k.to_owned())
            }
            Some(_) => {
                let msg = "must be 1 to 255 visible ASCII characters";
                return Err(reject(400, field_error(400, "Idempotency-Key", msg), msg));
            }
        };
        let hash = hex(&Sha256::digest(body));
        let prepared = self.prepare(req, body)?;
        let now = self.now();
        let id = match &idempotency {
            None => self.next_id()?,
            Some(key) => match self.idempotent(key, &hash, now)? {
                Idem::Replay(b) => {
                    let correlation = vec![
                        ("batch", b.id.to_string()),
                        ("idempotency", "replayed".to_owned()),
                    ];
                    return Ok((
                        json_response(200, &b).header("Idempotent-Replayed", "true"),
                        correlation,
                    ));
                }
                Idem::Create(id) => id,
            },
        };
        let batch = self.store_batch(id, prepared, &hash, now)?;
        let correlation = vec![
            ("batch", id.to_string()),
            ("state", batch.state.to_string()),
        ];
        Ok((
            json_response(201, &batch).header("Location", format!("/batches/{id}")),
            correlation,
        ))
    }

    fn next_id(&self) -> Result<BatchId, Fail> {
        let n = self.store().increment(batch::SEQ_KEY, 1)?;
        u64::try_from(n)
            .ok()
            .and_then(BatchId::new)
            .ok_or_else(|| internal(&format!("{} at {n}", batch::SEQ_KEY)))
    }

    fn idempotent(&self, key: &str, hash: &str, now: u64) -> Result<Idem, Fail> {
        let record_key = idempotency_key(key);
        if let Some(bytes) = self.store().get(&record_key)? {
            let rec: IdempotencyRecord = serde_json::from_slice(&bytes)
                .map_err(|e| internal(&format!("{record_key}: {e}")))?;
            if rec.request_sha256 != hash {
                let msg = "this Idempotency-Key was used for a different request";
                return Err(reject(422, field_error(422, "Idempotency-Key", msg), msg));
            }
            return match batch::load(self.store(), rec.batch)? {
                Some(b) => {
                    // A creation that crashed after the batch write may have missed its index
                    // entry: add one (a duplicate entry is harmless).
                    if b.state == BatchState::Approved && b.submission.is_none() {
                        self.append_submit(b.id, now)?;
                    }
                    // … or, held, the start of its approval gate (the Verify item is its last
                    // write; everything `on_hold` writes may be written again).
                    if b.state == BatchState::Held {
                        self.resume_hold(&b, now)?;
                    }
                    Ok(Idem::Replay(Box::new(b)))
                }
                None => Ok(Idem::Create(rec.batch)),
            };
        }
        let window = now / IDEMPOTENCY_WINDOW_MS;
        for w in [window.saturating_sub(1), window] {
            if !self.store().claim(&idempotency_claim(key, w))? {
                let msg = "a request with this Idempotency-Key is being processed; retry later";
                return Err(reject(
                    409,
                    field_error(409, "Idempotency-Key", msg).header("Retry-After", "5"),
                    msg,
                ));
            }
        }
        let id = self.next_id()?;
        let rec = IdempotencyRecord {
            version: 1,
            batch: id,
            request_sha256: hash.to_owned(),
            created_at_ms: now,
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| internal(&e.to_string()))?;
        self.store().set(&record_key, &bytes)?;
        Ok(Idem::Create(id))
    }

    fn append_submit(&self, id: BatchId, now: u64) -> Result<(), Fail> {
        schedule::append(
            self.store(),
            &self.settings.schedule,
            SUBMIT_SCHEDULE,
            &id.key(),
            now,
            now,
        )?;
        Ok(())
    }

    /// Writes the files, the batch (decided by the risk policy) and, if approved, its entry in
    /// the submission index.
    fn store_batch(&self, id: BatchId, p: Prepared, hash: &str, now: u64) -> Result<Batch, Fail> {
        let config = client_config::load(self.store(), &p.client)?;
        let risk = client_config::assess(config.as_ref(), p.amounts.total_cents, p.flagged);
        let payload = match p.kind {
            PreparedKind::Extf {
                mut header,
                file,
                rows,
                source,
            } => {
                header
                    .created_at
                    .get_or_insert(Timestamp::from_unix_ms(now));
                let sequence = u32::try_from(id.get() % 1_000_000_000).unwrap_or(0);
                let file_name = self
                    .extf
                    .file_name(&header, sequence)
                    .map_err(|e| internal(&format!("EXTF file name: {e}")))?;
                let bytes = file.len() as u64;
                self.store().set(&batch::file_key(id, 0), &file)?;
                Payload::Extf {
                    file_name,
                    bytes,
                    rows,
                    source,
                }
            }
            PreparedKind::Dxso {
                files,
                import_type,
                accounting_month,
            } => {
                let mut infos = Vec::with_capacity(files.len());
                for (n, (info, content)) in files.into_iter().enumerate() {
                    self.store().set(&batch::file_key(id, n as u32), &content)?;
                    infos.push(info);
                }
                Payload::Dxso {
                    files: infos,
                    import_type: Some(import_type),
                    accounting_month: Some(accounting_month),
                }
            }
        };
        let actor = Actor::Operator { id: "admin".into() };
        let mut b = Batch {
            version: batch::BATCH_VERSION,
            id,
            client: p.client,
            reference: p.reference,
            payload,
            amounts: p.amounts,
            flagged: p.flagged,
            risk: risk.clone(),
            warnings: p.warnings,
            state: BatchState::Received,
            history: Vec::new(),
            submission: None,
            job: None,
            result: None,
            request_sha256: hash.to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        b.record_creation(now, actor, "validated by extf");
        let (to, note) = if risk.hold {
            let reasons: Vec<String> = risk
                .reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v["reason"].as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            (
                BatchState::Held,
                format!("risk policy: held ({})", reasons.join(", ")),
            )
        } else {
            (BatchState::Approved, "risk policy: approved".to_owned())
        };
        b.transition(to, now, Actor::Component { name: NAME.into() }, note)
            .map_err(|e| internal(&e.to_string()))?;
        batch::save(self.store(), &b)?;
        match b.state {
            BatchState::Approved => self.append_submit(id, now)?,
            BatchState::Held => {
                approval::on_hold(
                    self.store(),
                    &self.settings.outbox_schedule,
                    &b,
                    config.as_ref(),
                    self.settings.hold_ttl_ms,
                    now,
                )
                .map_err(approval_fail)?;
            }
            _ => {}
        }
        Ok(b)
    }

    /// Starts the approval gate of a held batch again when a crash interrupted its start.
    fn resume_hold(&self, b: &Batch, now: u64) -> Result<(), Fail> {
        let config = client_config::load(self.store(), &b.client)?;
        if config.as_ref().is_some_and(|c| c.approver.is_some())
            && connector::outbox::load(
                self.store(),
                &connector::outbox::DedupKey::approval_verify(b.id),
            )
            .map_err(|e| internal(&e.to_string()))?
            .is_none()
        {
            approval::on_hold(
                self.store(),
                &self.settings.outbox_schedule,
                b,
                config.as_ref(),
                self.settings.hold_ttl_ms,
                now,
            )
            .map_err(approval_fail)?;
        }
        Ok(())
    }

    /// Parses and validates the request (no writes).
    fn prepare(&self, req: &ApiRequest, body: &[u8]) -> Result<Prepared, Fail> {
        let media = req
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json" => self.prepare_json(body),
            "text/csv" | "application/octet-stream" => {
                let client = self.client_param(req.param("client").as_deref())?;
                let reference = check_reference(req.param("reference").as_deref())?;
                let flagged = match req.param("high_risk").as_deref() {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(_) => {
                        return Err(reject(
                            400,
                            field_error(400, "high_risk", "must be true or false"),
                            "high_risk",
                        ));
                    }
                };
                self.prepare_file(client, reference, flagged, body.to_vec())
            }
            _ => {
                let msg =
                    "Content-Type must be application/json, text/csv or application/octet-stream";
                Err(reject(415, error(415, msg), msg))
            }
        }
    }

    fn client_param(&self, raw: Option<&str>) -> Result<ClientId, Fail> {
        let raw = raw.unwrap_or("");
        ClientId::parse(raw)
            .map_err(|e| reject(422, field_error(422, "client", &e.reason), e.to_string()))
    }

    fn prepare_json(&self, body: &[u8]) -> Result<Prepared, Fail> {
        let request: BatchRequest = serde_json::from_slice(body).map_err(|e| {
            let status = if e.is_data() { 422 } else { 400 };
            let msg = format!("the request is not a valid batch: {e}");
            reject(status, error(status, &msg), msg)
        })?;
        let client = self.client_param(Some(&request.client))?;
        let reference = check_reference(Some(&request.reference))?;
        match request.content {
            Content::Bookings { header, bookings } => {
                let header = self.complete_header(header, &client)?;
                self.prepare_bookings(client, reference, request.high_risk, header, bookings)
            }
            Content::ExtfFile { file_base64 } => {
                let file = STANDARD.decode(file_base64.trim()).map_err(|_| {
                    reject(
                        422,
                        field_error(422, "file_base64", "is not standard base64"),
                        "file_base64 not base64",
                    )
                })?;
                self.prepare_file(client, reference, request.high_risk, file)
            }
            Content::Dxso {
                header,
                documents,
                options,
                attachments,
            } => {
                let header = self.complete_header(header, &client)?;
                self.prepare_dxso(
                    client,
                    reference,
                    request.high_risk,
                    header,
                    documents,
                    options,
                    attachments,
                )
            }
        }
    }

    /// Fills Berater-/Mandantennummer from the client and checks given ones (datev.md §1.4
    /// fields 11, 12: DATEV refuses a mismatch with 1008834).
    fn complete_header(&self, mut header: Header, client: &ClientId) -> Result<Header, Fail> {
        let mut findings = Vec::new();
        check_number(
            &mut findings,
            11,
            "Beraternummer",
            header.consultant,
            client.consultant(),
            client,
        );
        check_number(
            &mut findings,
            12,
            "Mandantennummer",
            header.client,
            client.client(),
            client,
        );
        if !findings.is_empty() {
            return Err(reject(
                422,
                unprocessable(&findings),
                "header does not match the client",
            ));
        }
        header.consultant = Some(client.consultant());
        header.client = Some(client.client());
        header
            .created_at
            .get_or_insert(Timestamp::from_unix_ms(self.now()));
        Ok(header)
    }

    fn prepare_bookings(
        &self,
        client: ClientId,
        reference: String,
        flagged: bool,
        header: Header,
        bookings: Vec<Booking>,
    ) -> Result<Prepared, Fail> {
        if bookings.is_empty() || bookings.len() > 99_999 {
            let msg = "a batch has 1 to 99999 bookings (datev.md §4.1)";
            return Err(reject(422, field_error(422, "bookings", msg), msg));
        }
        let file = match self.extf.write(&header, &bookings) {
            Ok(file) => file,
            Err(WriteFailure::Header(findings)) => {
                return Err(reject(422, unprocessable(&findings), "invalid header"));
            }
            Err(WriteFailure::Booking(_)) => {
                // The writer stops at the first bad booking: check each one on its own to list
                // every finding.
                let mut findings = Vec::new();
                for (i, b) in bookings.iter().enumerate() {
                    if let Err(WriteFailure::Booking(mut f)) =
                        self.extf.write(&header, std::slice::from_ref(b))
                    {
                        f.line = 3 + i as u32;
                        findings.push(f);
                        if findings.len() >= MAX_FINDINGS as usize {
                            break;
                        }
                    }
                }
                return Err(reject(
                    422,
                    unprocessable(&findings),
                    format!("{} invalid bookings", findings.len()),
                ));
            }
        };
        // What the writer produced must pass the validator as well.
        let report = self.extf.validate(&file, MAX_FINDINGS);
        if report.findings.iter().any(Finding::is_error) {
            return Err(reject(
                422,
                unprocessable(&report.findings),
                "the written file fails validation",
            ));
        }
        let refs: Vec<&Booking> = bookings.iter().collect();
        Ok(Prepared {
            client,
            reference,
            flagged,
            amounts: amounts(&refs),
            warnings: warning_lines(&report.findings),
            kind: PreparedKind::Extf {
                header,
                rows: report.rows,
                file,
                source: ExtfSource::Bookings,
            },
        })
    }

    fn prepare_file(
        &self,
        client: ClientId,
        reference: String,
        flagged: bool,
        file: Vec<u8>,
    ) -> Result<Prepared, Fail> {
        if file.is_empty() || file.len() > MAX_EXTF_BYTES {
            let msg = "the EXTF file must be 1 byte to 50 MB (datev.md §1.7)";
            return Err(reject(422, field_error(422, "file", msg), msg));
        }
        let report = self.extf.validate(&file, MAX_FINDINGS);
        if report.findings.iter().any(Finding::is_error) {
            return Err(reject(
                422,
                unprocessable(&report.findings),
                format!("{} findings", report.findings.len()),
            ));
        }
        let parsed = self
            .extf
            .parse(&file, MAX_FINDINGS)
            .map_err(|findings| reject(422, unprocessable(&findings), "the file does not parse"))?;
        let mut findings = Vec::new();
        check_number(
            &mut findings,
            11,
            "Beraternummer",
            parsed.header.consultant,
            client.consultant(),
            &client,
        );
        check_number(
            &mut findings,
            12,
            "Mandantennummer",
            parsed.header.client,
            client.client(),
            &client,
        );
        if !findings.is_empty() {
            return Err(reject(
                422,
                unprocessable(&findings),
                "header does not match the client",
            ));
        }
        let refs: Vec<&Booking> = parsed.bookings.iter().collect();
        Ok(Prepared {
            client,
            reference,
            flagged,
            amounts: amounts(&refs),
            warnings: warning_lines(&report.findings),
            kind: PreparedKind::Extf {
                header: parsed.header,
                rows: report.rows,
                file,
                source: ExtfSource::File,
            },
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_dxso(
        &self,
        client: ClientId,
        reference: String,
        flagged: bool,
        header: Header,
        documents: Vec<DxsoDocument>,
        options: DxsoOptions,
        attachments: Vec<Attachment>,
    ) -> Result<Prepared, Fail> {
        let Some(first) = documents.first() else {
            let msg = "a DXSO batch needs at least one document";
            return Err(reject(422, field_error(422, "documents", msg), msg));
        };
        // One DATEV job per data type and accounting month (datev.md §4.3).
        let (kind, month) = (first.kind, first.accounting_month);
        let mut findings = Vec::new();
        for (i, d) in documents.iter().enumerate() {
            if d.kind != kind || d.accounting_month != month {
                let mut f = Finding::error(
                    "consistency",
                    0,
                    0,
                    "kind/accounting_month",
                    &format!("{:?} {}", d.kind, d.accounting_month),
                    "all documents of a batch must have the same kind and accounting month (one DATEV job each)",
                );
                f.document = Some(i as u32 + 1);
                findings.push(f);
            }
        }
        let referenced: Vec<&str> = documents
            .iter()
            .flat_map(|d| d.images.iter().map(String::as_str))
            .collect();
        for name in &referenced {
            if !attachments.iter().any(|a| a.name == *name) {
                findings.push(Finding::error(
                    "required",
                    0,
                    0,
                    "attachments",
                    name,
                    "the document names this image but no attachment has it",
                ));
            }
        }
        let mut extra = Vec::new();
        for (i, a) in attachments.iter().enumerate() {
            if !referenced.contains(&a.name.as_str()) {
                findings.push(Finding::error(
                    "consistency",
                    0,
                    0,
                    "attachments",
                    &a.name,
                    "no document names this attachment",
                ));
                continue;
            }
            let Some(content_type) = a
                .content_type
                .clone()
                .or_else(|| content_type_of(&a.name).map(str::to_owned))
            else {
                findings.push(Finding::error(
                    "unsupported",
                    0,
                    0,
                    "attachments",
                    &a.name,
                    "unknown file type: give content_type",
                ));
                continue;
            };
            match STANDARD.decode(a.content_base64.trim()) {
                Ok(bytes) if !bytes.is_empty() && bytes.len() <= datev::DXSO_MAX_BYTES => extra
                    .push((
                        DxsoFileInfo {
                            name: a.name.clone(),
                            content_type,
                            bytes: bytes.len() as u64,
                        },
                        bytes,
                    )),
                Ok(_) => findings.push(Finding::error(
                    "limit",
                    0,
                    0,
                    &format!("attachments[{i}]"),
                    &a.name,
                    "must be 1 byte to 20 MB (DCO01016)",
                )),
                Err(_) => findings.push(Finding::error(
                    "format",
                    0,
                    0,
                    &format!("attachments[{i}]"),
                    &a.name,
                    "content_base64 is not standard base64",
                )),
            }
        }
        if !findings.is_empty() {
            return Err(reject(
                422,
                unprocessable(&findings),
                format!("{} findings", findings.len()),
            ));
        }
        let written = self
            .extf
            .write_dxso(&header, &documents, &options)
            .map_err(|findings| {
                reject(
                    422,
                    unprocessable(&findings),
                    "the DXSO package cannot be written",
                )
            })?;
        let mut files: Vec<(DxsoFileInfo, Vec<u8>)> = written
            .into_iter()
            .map(|f| {
                (
                    DxsoFileInfo {
                        name: f.name,
                        content_type: "text/xml".into(),
                        bytes: f.content.len() as u64,
                    },
                    f.content,
                )
            })
            .collect();
        files.extend(extra);
        let refs: Vec<&Booking> = documents.iter().flat_map(|d| d.bookings.iter()).collect();
        let import_type = match kind {
            LedgerKind::AccountsReceivable => "accountsReceivableLedgerImport",
            LedgerKind::AccountsPayable => "accountsPayableLedgerImport",
            LedgerKind::Cash => "cashLedgerImport",
        };
        Ok(Prepared {
            client,
            reference,
            flagged,
            amounts: amounts(&refs),
            warnings: Vec::new(),
            kind: PreparedKind::Dxso {
                files,
                import_type: import_type.to_owned(),
                accounting_month: month.to_string(),
            },
        })
    }

    // ----- client configuration ---------------------------------------------------------------

    fn get_client(&self, raw: &str) -> Served {
        let client = ClientId::parse(raw)
            .map_err(|e| reject(404, error(404, "no such client"), e.to_string()))?;
        match client_config::load(self.store(), &client)? {
            Some(c) => Ok((json_response(200, &c), Vec::new())),
            None => Err(reject(
                404,
                error(404, "no configuration for this client"),
                "unknown client",
            )),
        }
    }

    fn put_client(&self, req: &ApiRequest, raw: &str) -> Served {
        let client = ClientId::parse(raw)
            .map_err(|e| reject(404, error(404, "no such client"), e.to_string()))?;
        let Body::Complete(body) = &req.body else {
            return Err(reject(
                400,
                error(400, "the request body could not be read"),
                "body",
            ));
        };
        let input: ClientInput = serde_json::from_slice(body).map_err(|e| {
            let status = if e.is_data() { 422 } else { 400 };
            let msg = format!("the request is not a valid client configuration: {e}");
            reject(status, error(status, &msg), msg)
        })?;
        let config = input
            .into_config(client, self.now())
            .map_err(|e| reject(422, field_error(422, &e.field, &e.reason), e.to_string()))?;
        client_config::save(self.store(), &config)?;
        Ok((
            json_response(200, &config),
            vec![("client", config.client.to_string())],
        ))
    }
}

/// An approval-gate answer: `{"outcome": …, "error": …, …}`.
fn gate(
    status: u16,
    outcome: &str,
    message: &str,
    extra: &[(&str, serde_json::Value)],
) -> HttpResponse {
    let mut body = serde_json::Map::new();
    body.insert("outcome".into(), outcome.into());
    body.insert("error".into(), message.into());
    for (k, v) in extra {
        body.insert((*k).to_owned(), v.clone());
    }
    json_response(status, &serde_json::Value::Object(body))
}

fn gate_reject(
    status: u16,
    outcome: &str,
    message: &str,
    extra: &[(&str, serde_json::Value)],
) -> Fail {
    reject(
        status,
        gate(status, outcome, message, extra),
        format!("{outcome}: {message}"),
    )
}

fn approval_fail(e: approval::ApprovalError) -> Fail {
    match e {
        approval::ApprovalError::Store(s) => Fail::Store(s),
        approval::ApprovalError::InProgress(id) => gate_reject(
            409,
            "in_progress",
            &format!("another decision on batch {id} is in progress; retry in a minute"),
            &[],
        ),
        other => internal(&other.to_string()),
    }
}

fn twilio_fail(e: &twilio::TwilioError) -> Fail {
    Fail::Answer(
        gate(
            502,
            "twilio_unavailable",
            "Twilio Verify did not answer usably; nothing changed, retry",
            &[],
        )
        .header("Retry-After", "30"),
        AuditOutcome::Failed {
            status: Some(502),
            reason: e.to_string(),
        },
    )
}

/// Verify allows five checks per verification (twilio.md §6.3).
const VERIFY_MAX_CHECKS: i64 = 5;

#[derive(Debug, Deserialize)]
struct ApproveRequest {
    code: String,
}

impl Api<'_> {
    /// The held batch `raw`, its approver's number (as Twilio's type) and language, or the
    /// answer why there is none.
    fn held_batch(&self, raw: &str) -> Result<(Batch, twilio::E164, Language), Fail> {
        let Some(id) = BatchId::parse(raw) else {
            return Err(reject(404, error(404, "no such batch"), "not a batch id"));
        };
        let Some(b) = batch::load(self.store(), id)? else {
            return Err(reject(404, error(404, "no such batch"), "unknown batch"));
        };
        if b.state != BatchState::Held {
            return Err(already_decided(id, b.state));
        }
        let config = client_config::load(self.store(), &b.client)?;
        let Some((phone, language)) = config.as_ref().and_then(|c| {
            c.approver
                .as_ref()
                .map(|a| (a.phone.clone(), c.language_of(a)))
        }) else {
            return Err(gate_reject(
                409,
                "no_approver",
                "the client has no approver: configure one (PUT /clients/{client}), or reject the batch",
                &[],
            ));
        };
        let to = twilio::E164::from_canonical(phone.as_str(), "approver.phone")
            .map_err(|e| internal(&e.to_string()))?;
        Ok((b, to, language))
    }

    fn verify_client(&self) -> Result<twilio::TwilioClient<'_>, Fail> {
        let config = self
            .settings
            .twilio
            .as_ref()
            .map_err(|e| internal(&format!("Twilio Verify is not configured: {e}")))?;
        Ok(twilio::TwilioClient::new(self.ports.http, config.clone()))
    }

    fn decided(&self, b: &Batch, outcome: &str) -> Served {
        Ok((
            json_response(200, &serde_json::json!({"outcome": outcome, "batch": b})),
            vec![("batch", b.id.to_string()), ("state", b.state.to_string())],
        ))
    }

    fn decide(&self, id: BatchId, decision: Decision, via: Via, outcome: &str) -> Served {
        let actor = Actor::Operator { id: "admin".into() };
        match approval::decide(
            self.store(),
            &self.settings.schedule,
            id,
            decision,
            &via,
            actor,
            self.now(),
        )
        .map_err(approval_fail)?
        {
            Decided::Done(b) => self.decided(&b, outcome),
            Decided::AlreadyDecided(state) => Err(already_decided(id, state)),
            Decided::InProgress => Err(approval_fail(approval::ApprovalError::InProgress(id))),
            Decided::Unknown => Err(reject(404, error(404, "no such batch"), "unknown batch")),
        }
    }

    /// `POST /batches/{id}/approve`.
    fn approve(&self, req: &ApiRequest, raw: &str) -> Served {
        let Body::Complete(body) = &req.body else {
            return Err(reject(
                400,
                error(400, "the request body could not be read"),
                "body",
            ));
        };
        let (b, to, _) = self.held_batch(raw)?;
        let input: ApproveRequest = serde_json::from_slice(body).map_err(|_| {
            let msg = "the body must be {\"code\": \"<the code from the SMS>\"}";
            reject(400, field_error(400, "code", msg), msg)
        })?;
        let code = twilio::VerifyCode::parse(&input.code, "code").map_err(|e| {
            let msg = e.to_string();
            reject(422, field_error(422, "code", &msg), msg)
        })?;
        let client = self.verify_client()?;
        match client.check_verification(&to, &code) {
            Ok(twilio::VerifyOutcome::Approved(_)) => {
                self.decide(b.id, Decision::Approve, Via::VerifyCode, "approved")
            }
            Ok(twilio::VerifyOutcome::Pending(v)) => {
                let used = self
                    .store()
                    .increment(&connector::keys::verify_checks(v.sid.as_str()), 1)?;
                let left = (VERIFY_MAX_CHECKS - used).max(0);
                Err(gate_reject(
                    403,
                    "wrong_code",
                    "the code is wrong",
                    &[("attempts_left", left.into())],
                ))
            }
            Ok(twilio::VerifyOutcome::MaxAttempts) => Err(gate_reject(
                429,
                "max_attempts",
                "all five checks of this code are used up; start a new one with POST /batches/{id}/verify once it expired (10 minutes)",
                &[("attempts_left", 0.into())],
            )),
            Ok(twilio::VerifyOutcome::NotFound) => {
                // Decided meanwhile (a concurrent approval), or Verify has nothing pending.
                match batch::load(self.store(), b.id)? {
                    Some(now) if now.state != BatchState::Held => {
                        Err(already_decided(b.id, now.state))
                    }
                    _ => Err(gate_reject(
                        410,
                        "verification_gone",
                        "there is no pending code for the approver (expired after 10 minutes, used up, or already used for another batch); start a new one with POST /batches/{id}/verify",
                        &[],
                    )),
                }
            }
            Ok(twilio::VerifyOutcome::TooManyRequests) => Err(gate_reject(
                429,
                "max_attempts",
                "Verify refused the check (60203)",
                &[],
            )),
            Ok(twilio::VerifyOutcome::Other(v)) => Err(gate_reject(
                410,
                "verification_gone",
                &format!(
                    "the verification is {}; start a new one with POST /batches/{{id}}/verify",
                    v.status.as_str()
                ),
                &[],
            )),
            Err(e) => Err(twilio_fail(&e)),
        }
    }

    /// `POST /batches/{id}/verify`: a new code (or the same one again, within Verify's ten
    /// minutes) to the approver.
    fn restart_verify(&self, raw: &str) -> Served {
        let (b, to, language) = self.held_batch(raw)?;
        let client = self.verify_client()?;
        let locale = crate::api::say_language(language);
        match client.start_verification(&to, Some(locale)) {
            Ok(twilio::VerifyOutcome::Pending(v)) => {
                let used = connector::keys::read_counter(
                    self.store(),
                    &connector::keys::verify_checks(v.sid.as_str()),
                )
                .map_err(|e| internal(&e.to_string()))?;
                Ok((
                    gate(
                        202,
                        "code_sent",
                        "a code was sent to the approver by SMS",
                        &[("attempts_left", (VERIFY_MAX_CHECKS - used).max(0).into())],
                    ),
                    vec![("batch", b.id.to_string()), ("verification", v.sid.as_str().to_owned())],
                ))
            }
            Ok(twilio::VerifyOutcome::TooManyRequests) => Err(gate_reject(
                429,
                "too_many_sends",
                "Verify sends a code at most five times per verification (60203); use the code already sent or retry once it expired (10 minutes)",
                &[],
            )
            .with_retry_after(600)),
            Ok(twilio::VerifyOutcome::MaxAttempts) => Err(gate_reject(
                429,
                "max_attempts",
                "the current verification's checks are used up; retry once it expired (10 minutes)",
                &[],
            )
            .with_retry_after(600)),
            Ok(other) => Err(internal(&format!("unexpected Verify answer to a start: {other:?}"))),
            Err(e) => Err(twilio_fail(&e)),
        }
    }

    /// `POST /batches/{id}/reject`.
    fn reject(&self, raw: &str) -> Served {
        let Some(id) = BatchId::parse(raw) else {
            return Err(reject(404, error(404, "no such batch"), "not a batch id"));
        };
        self.decide(id, Decision::Reject, Via::Operator, "rejected")
    }
}

impl Fail {
    fn with_retry_after(self, secs: u32) -> Self {
        match self {
            Fail::Answer(r, o) => Fail::Answer(r.header("Retry-After", secs.to_string()), o),
            other => other,
        }
    }
}

fn already_decided(id: BatchId, state: BatchState) -> Fail {
    gate_reject(
        409,
        "already_decided",
        &format!("batch {id} is {state}, not held: nothing changed"),
        &[("state", state.as_str().into())],
    )
}

/// The Verify locale for a contact's language.
fn say_language(language: Language) -> twilio::Language {
    match language {
        Language::De => twilio::Language::German,
        Language::En => twilio::Language::English,
    }
}

enum Idem {
    Replay(Box<Batch>),
    Create(BatchId),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_reference(raw: Option<&str>) -> Result<String, Fail> {
    let r = raw.unwrap_or("").trim();
    if r.is_empty() || r.chars().count() > MAX_REFERENCE_CHARS || r.chars().any(char::is_control) {
        let msg =
            format!("must be 1 to {MAX_REFERENCE_CHARS} characters without control characters");
        return Err(reject(422, field_error(422, "reference", &msg), msg));
    }
    Ok(r.to_owned())
}

fn check_number(
    findings: &mut Vec<Finding>,
    field: u16,
    name: &str,
    given: Option<u32>,
    expected: u32,
    client: &ClientId,
) {
    if let Some(n) = given
        && n != expected
    {
        findings.push(Finding::error(
            "consistency",
            1,
            field,
            name,
            &n.to_string(),
            format!("must be {expected}, as in the DATEV client {client} (DATEV refuses a mismatch: 1008834)"),
        ));
    }
}

/// A contact as entered: the number in any format `phonenumber` understands (default region DE).
#[derive(Debug, Deserialize)]
struct ContactInput {
    name: String,
    phone: String,
    #[serde(default)]
    language: Option<Language>,
}

/// The body of `PUT /clients/{client}`.
#[derive(Debug, Deserialize)]
struct ClientInput {
    name: String,
    #[serde(default)]
    language: Language,
    #[serde(default)]
    finance_contacts: Vec<ContactInput>,
    #[serde(default)]
    controller: Option<ContactInput>,
    #[serde(default)]
    approver: Option<ContactInput>,
    #[serde(default)]
    risk: RiskPolicy,
    #[serde(default)]
    release: ReleasePolicy,
}

fn contact(input: ContactInput, field: &str) -> Result<Contact, client_config::InvalidField> {
    // A contact's name shows in operator views and audit-free alert texts: same rule as the
    // client's name.
    let name = input.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > client_config::MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        let name_field = format!("{}.name", field.strip_suffix(".phone").unwrap_or(field));
        return Err(client_config::InvalidField::new(
            name_field,
            format!(
                "must be 1 to {} characters without control characters",
                client_config::MAX_NAME_CHARS
            ),
        ));
    }
    let e164 = twilio::E164::parse(&input.phone, field)
        .map_err(|e| client_config::InvalidField::new(e.field.clone(), e.to_string()))?;
    Ok(Contact {
        name,
        phone: PhoneNumber::parse(e164.as_str(), field)?,
        language: input.language,
    })
}

impl ClientInput {
    fn into_config(
        self,
        client: ClientId,
        now: u64,
    ) -> Result<ClientConfig, client_config::InvalidField> {
        let finance_contacts = self
            .finance_contacts
            .into_iter()
            .enumerate()
            .map(|(i, c)| contact(c, &format!("finance_contacts[{i}].phone")))
            .collect::<Result<Vec<_>, _>>()?;
        let config = ClientConfig {
            version: client_config::CLIENT_CONFIG_VERSION,
            client,
            name: self.name.trim().to_owned(),
            language: self.language,
            finance_contacts,
            controller: self
                .controller
                .map(|c| contact(c, "controller.phone"))
                .transpose()?,
            approver: self
                .approver
                .map(|c| contact(c, "approver.phone"))
                .transpose()?,
            risk: self.risk,
            release: self.release,
            updated_at_ms: now,
        };
        config.check()?;
        Ok(config)
    }
}

/// `GET /datev/result`: a page per outcome code. Only fixed texts and a validated client id are
/// shown (nothing from the query is echoed otherwise).
fn result_page(req: &ApiRequest) -> HttpResponse {
    let outcome = req.param("outcome").unwrap_or_default();
    let client = req.param("client").and_then(|c| ClientId::parse(&c).ok());
    let (status, title, text) = match outcome.as_str() {
        "connected" => (
            200,
            "DATEV connected",
            "The DATEV connection is stored (encrypted). Batches for this client are submitted from now on.",
        ),
        "denied" => (
            400,
            "Consent denied",
            "The consent was declined at DATEV. Nothing was stored. Start again to connect.",
        ),
        "unknown-state" => (
            400,
            "Unknown connect attempt",
            "This callback does not belong to a connect attempt started here. Nothing was stored.",
        ),
        "already-used" => (
            400,
            "Attempt already used",
            "This connect attempt was already completed or used. Start again to connect.",
        ),
        "expired" => (
            400,
            "Attempt expired",
            "This connect attempt is too old. Start again to connect.",
        ),
        "refused" => (
            400,
            "Authorization refused",
            "DATEV refused the authorization. Nothing was stored. Check the app registration and start again.",
        ),
        "exchange-failed" => (
            502,
            "Token exchange failed",
            "DATEV did not exchange the authorization code for tokens. Nothing was stored. Start again.",
        ),
        "malformed" => (
            400,
            "Malformed callback",
            "The callback from DATEV was incomplete or malformed. Start again to connect.",
        ),
        "unavailable" => (
            503,
            "Temporarily unavailable",
            "The connector's storage was unavailable. Start again in a moment.",
        ),
        "misconfigured" => (
            500,
            "Not configured",
            "The connector's DATEV settings are incomplete; an operator must fix the configuration.",
        ),
        "internal" => (
            500,
            "Internal error",
            "The connection could not be stored. An operator has been told via the audit trail.",
        ),
        _ => (
            404,
            "Unknown outcome",
            "There is nothing to show for this address.",
        ),
    };
    let client_line = client
        .map(|c| format!("<p>DATEV client: {c}</p>"))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>{client_line}</body></html>"
    );
    HttpResponse::new(status, html.into_bytes())
        .header("Content-Type", "text/html;charset=utf-8")
        .header("Cache-Control", "no-store")
}
