//! What the simulated DATEV and Twilio accounts look like, and the fault knobs.
//!
//! [`SimConfig`] is given to [`crate::Sim`] on every construction and is never persisted (it
//! carries credentials); only [`Faults`] are copied into the state, so the sandbox can change them
//! at run time.

use connector::Secret;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A credential in the configuration. Prints as `[redacted]`, compares in constant time.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that signs or compares with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        Secret::new(self.0.as_str()) == Secret::new(presented)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The whole simulated world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Seed of every random choice (ids, codes, faults). Same seed and same requests at the same
    /// simulated times give the same run.
    pub seed: u64,
    /// The DATEV side.
    pub datev: DatevConfig,
    /// The Twilio side.
    pub twilio: TwilioConfig,
    /// Initial fault knobs (copied into the state when it is created).
    pub faults: Faults,
    /// At most this many request records, callback deliveries and phone-log entries are kept
    /// (oldest dropped first); bounds the state the sandbox keeps in the key-value store.
    pub record_limit: usize,
    /// Keep the bytes of uploaded EXTF and DXSO files in the state (tests read them back).
    pub keep_upload_bytes: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            datev: DatevConfig::default(),
            twilio: TwilioConfig::default(),
            faults: Faults::default(),
            record_limit: 10_000,
            keep_upload_bytes: true,
        }
    }
}

/// What the authorize endpoint answers on behalf of the (simulated) user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// The user logs in and consents: redirect with `code` and `state`.
    #[default]
    Approve,
    /// The user declines: redirect with `error=access_denied` (RFC 6749 §4.1.2.1).
    Deny,
}

/// The registered DATEV app, its user's clients and the service's timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatevConfig {
    /// OAuth client id (also the `X-DATEV-Client-Id` every API call must carry, datev.md §3).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Registered redirect URIs; empty accepts any `http(s)` URI.
    pub redirect_uris: Vec<String>,
    /// Accept `client_id`/`client_secret` in the token request body (`client_secret_post`).
    /// Off by default: DATEV answers that with 401 `invalid_client` and expects HTTP Basic
    /// (datev.md §5.2, S14).
    pub accept_client_secret_post: bool,
    /// Shortest accepted `state`; DATEV rejects short ones ("state too short", S15) without a
    /// documented minimum.
    pub min_state_len: usize,
    /// Authorize outcome.
    pub consent: Consent,
    /// Authorization codes live this long (seconds of simulated time).
    pub code_ttl_s: u64,
    /// Access token lifetime: 900 s (datev.md §5.4).
    pub access_token_ttl_s: u64,
    /// Refresh token lifetime without `offline_access`: about 11 h (datev.md §5.4).
    pub refresh_ttl_s: u64,
    /// Refresh token lifetime with `offline_access`: about 2 years (datev.md §5.4).
    pub offline_refresh_ttl_s: u64,
    /// The user's clients (accounting-clients and dxso-jobs `GET /clients`).
    pub clients: Vec<ClientSpec>,
    /// `Retry-After` seconds on the EXTF import's 202 (`None`: header omitted).
    pub retry_after_s: Option<u32>,
    /// An EXTF job stays `pending` this long after the upload.
    pub extf_processing_ms: u64,
    /// A DXSO job stays in status 1 (processing) this long after `ready`.
    pub dxso_processing_ms: u64,
}

impl Default for DatevConfig {
    fn default() -> Self {
        let buchungsdaten =
            ServiceSpec::new("Buchungsdatenservice", "datev:accounting:extf-files-import");
        Self {
            client_id: "ml-connector-sim".into(),
            client_secret: SecretString::new("sim-client-secret"),
            redirect_uris: Vec::new(),
            accept_client_secret_post: false,
            min_state_len: 16,
            consent: Consent::Approve,
            code_ttl_s: 600,
            access_token_ttl_s: 900,
            refresh_ttl_s: 11 * 3600,
            offline_refresh_ttl_s: 2 * 365 * 86_400,
            // The accounting-clients example (datev.md §4.2, S9), matching DATEV's sample
            // Buchungsstapel (consultant 29098, client 55003).
            clients: vec![
                ClientSpec {
                    consultant_number: 29098,
                    client_number: 55003,
                    name: "Musterholz".into(),
                    services: vec![
                        ServiceSpec::new("Belegbilderservice", "accounting:documents"),
                        buchungsdaten.clone(),
                    ],
                    account_length: 4,
                    fiscal_year_start: "2024-01-01".into(),
                    document_management: true,
                },
                ClientSpec {
                    consultant_number: 29098,
                    client_number: 55004,
                    name: "Testholz".into(),
                    services: vec![
                        buchungsdaten,
                        ServiceSpec::new("Rechnungsdatenservice 2.0", "datev:accounting:invoices"),
                    ],
                    account_length: 4,
                    fiscal_year_start: "2024-01-01".into(),
                    document_management: false,
                },
                ClientSpec {
                    consultant_number: 455148,
                    client_number: 3,
                    name: "Ohne Buchungsdatenservice".into(),
                    services: vec![ServiceSpec::new(
                        "Belegbilderservice",
                        "accounting:documents",
                    )],
                    account_length: 4,
                    fiscal_year_start: "2024-01-01".into(),
                    document_management: true,
                },
            ],
            retry_after_s: Some(5),
            extf_processing_ms: 3_000,
            dxso_processing_ms: 5_000,
        }
    }
}

/// One DATEV client (Mandant) the user can access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Beraternummer.
    pub consultant_number: u64,
    /// Mandantennummer.
    pub client_number: u64,
    /// Display name.
    pub name: String,
    /// Booked services; the EXTF import needs "Buchungsdatenservice" (datev.md §4.2).
    pub services: Vec<ServiceSpec>,
    /// G/L account length (dxso `account_length`, EXTF header field 14).
    pub account_length: u8,
    /// Start of the current fiscal year, `YYYY-MM-DD`.
    pub fiscal_year_start: String,
    /// Belege online available (dxso `is_document_management_available`).
    pub document_management: bool,
}

impl ClientSpec {
    /// The technical id `<Beraternummer>-<Mandantennummer>` (datev.md §3).
    pub fn id(&self) -> String {
        format!("{}-{}", self.consultant_number, self.client_number)
    }
    /// True when the client books the named service.
    pub fn has_service(&self, name: &str) -> bool {
        self.services.iter().any(|s| s.name == name)
    }
}

/// A booked service and the scopes it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

impl ServiceSpec {
    /// A service with one scope.
    pub fn new(name: &str, scope: &str) -> Self {
        Self {
            name: name.into(),
            scopes: vec![scope.into()],
        }
    }
}

/// One API key (twilio.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `SK…`
    pub sid: String,
    /// The key secret.
    pub secret: SecretString,
}

/// A Verify service (twilio.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyServiceSpec {
    /// `VA…`
    pub sid: String,
    /// Shown in the code message.
    pub friendly_name: String,
    /// Code length, 4–10.
    pub code_length: usize,
}

/// The Twilio account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioConfig {
    /// `AC…`, also in every 2010 API path.
    pub account_sid: String,
    /// Primary Auth Token: accepted as Basic password with the Account SID, and the key every
    /// callback is signed with (twilio.md §1.1, §8).
    pub auth_token: SecretString,
    /// API keys accepted as Basic credentials.
    pub api_keys: Vec<ApiKey>,
    /// Numbers the account owns. Non-empty: `From` must be one of them (21606 for Messages, 21210
    /// for Calls, as Twilio's test numbers show, twilio.md §11). Empty: any E.164 `From`.
    pub phone_numbers: Vec<String>,
    /// Verify services.
    pub verify_services: Vec<VerifyServiceSpec>,
    /// Where an inbound SMS to the account's number is posted (the number's "A message comes in"
    /// webhook). `None`: injected replies are logged but delivered nowhere.
    pub inbound_sms_url: Option<String>,
    /// Concurrency limit of the REST API: a request arriving while this many are in flight gets
    /// 429/20429 and is not processed (twilio.md §9). `None`: unlimited.
    pub max_concurrency: Option<u32>,
    /// How long one REST request occupies a concurrency slot, in simulated ms.
    pub request_ms: u64,
    /// Message goes `queued` → `sending` after this many ms.
    pub sms_sending_ms: u64,
    /// … → `sent`.
    pub sms_sent_ms: u64,
    /// … → `delivered` (or `undelivered`).
    pub sms_delivered_ms: u64,
    /// Call goes `queued` → `initiated` after this many ms.
    pub call_initiated_ms: u64,
    /// … → `ringing`.
    pub call_ringing_ms: u64,
    /// … → `in-progress` (answered) or busy/no-answer/failed.
    pub call_answered_ms: u64,
    /// Seconds an answered call lasts.
    pub call_duration_s: u64,
    /// Verification validity: 10 minutes (twilio.md §6.4).
    pub verify_ttl_s: u64,
    /// Wrong checks allowed before 60202 (twilio.md §6.4).
    pub verify_max_checks: u32,
    /// Sends allowed in one validity window before 60203.
    pub verify_max_sends: u32,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: SecretString::new("sim-auth-token"),
            api_keys: vec![ApiKey {
                sid: "SK00000000000000000000000000000000".into(),
                secret: SecretString::new("sim-api-key-secret"),
            }],
            phone_numbers: Vec::new(),
            verify_services: vec![VerifyServiceSpec {
                sid: "VA00000000000000000000000000000000".into(),
                friendly_name: "ml-connector".into(),
                code_length: 6,
            }],
            inbound_sms_url: None,
            max_concurrency: None,
            request_ms: 250,
            sms_sending_ms: 100,
            sms_sent_ms: 1_000,
            sms_delivered_ms: 3_000,
            call_initiated_ms: 100,
            call_ringing_ms: 1_000,
            call_answered_ms: 6_000,
            call_duration_s: 15,
            verify_ttl_s: 600,
            verify_max_checks: 5,
            verify_max_sends: 5,
        }
    }
}

/// A window of simulated time, `[from_ms, until_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub from_ms: u64,
    /// End (exclusive).
    pub until_ms: u64,
}

impl Window {
    /// True when `now` falls inside.
    pub fn contains(&self, now: u64) -> bool {
        (self.from_ms..self.until_ms).contains(&now)
    }
}

/// Transport-level faults, drawn per request in this order. Rates are per mille.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransportFaults {
    /// Nothing reaches the server: `HttpError::Connect`, no effect.
    pub connect_error_permille: u32,
    /// Every request in this window gets 429 (a "429 storm").
    pub rate_limit_storm: Option<Window>,
    /// 429 at random.
    pub rate_limit_permille: u32,
    /// 503 before any effect.
    pub unavailable_permille: u32,
    /// The request takes effect, then 500 is returned (ambiguous).
    pub server_error_after_effect_permille: u32,
    /// The request takes effect, then `HttpError::Timeout` is returned (ambiguous).
    pub timeout_after_effect_permille: u32,
}

/// DATEV-side faults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatevFaults {
    /// Applies to every DATEV request (token endpoint included).
    pub transport: TransportFaults,
    /// An EXTF or DXSO job takes `slow_job_extra_ms` longer.
    pub slow_job_permille: u32,
    /// Extra processing time of a slow job.
    pub slow_job_extra_ms: u64,
    /// A valid EXTF file still fails (1008837 "Try again", datev.md §4.1).
    pub job_failure_permille: u32,
    /// A valid EXTF file is rejected as an invalid file (1008833).
    pub reject_file_permille: u32,
    /// On an API call, the user's grant is revoked first (all its tokens die; 401 follows).
    pub token_revocation_permille: u32,
    /// A DXSO job ends in status 4 (partially processed).
    pub dxso_partial_permille: u32,
    /// A DXSO job ends in status 3 (critical errors).
    pub dxso_critical_permille: u32,
}

/// Twilio-side faults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioFaults {
    /// Applies to every REST request.
    pub transport: TransportFaults,
    /// An SMS ends `undelivered` (30003, handset unreachable).
    pub sms_undelivered_permille: u32,
    /// An SMS ends `failed` (30008, unknown error) before reaching the carrier.
    pub sms_failed_permille: u32,
    /// A call ends `no-answer`.
    pub call_no_answer_permille: u32,
    /// A call ends `busy`.
    pub call_busy_permille: u32,
    /// A call ends `failed`.
    pub call_failed_permille: u32,
    /// A status callback is delivered twice (same idempotency token, as a Twilio retry).
    pub callback_duplicate_permille: u32,
    /// Each callback is delayed by a random 0..=jitter ms, so later statuses can arrive before
    /// earlier ones (twilio.md §7.4).
    pub callback_jitter_ms: u64,
}

/// All fault knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// DATEV.
    pub datev: DatevFaults,
    /// Twilio.
    pub twilio: TwilioFaults,
}
