//! A deterministic simulator of exactly the DATEV and Twilio API surface ml-connector uses.
//!
//! [`Sim`] implements [`connector::HttpClient`]: the connector's DATEV and Twilio clients talk
//! to it in-process with real request and response bytes (status, headers, JSON and form
//! bodies), and the `sandbox` component serves it over HTTP so `spin up` runs offline.
//! Simulated time comes from the caller's [`connector::Clock`]; every random choice (ids,
//! tokens, codes, faults) from a seed kept in the state, so the same seed and the same requests
//! at the same simulated times give the same run. The state lives behind [`StateStore`]:
//! [`InMemory`] for tests, [`InKeyValue`] over any [`connector::KeyValue`] for the sandbox.
//!
//! # Surface
//! DATEV (datev.md §3–§5): `GET …/authorize` (PKCE S256, redirect URI, state); `POST /token`
//! (authorization code with verifier check, refresh with rotation) and `POST /revoke`;
//! accounting-clients `GET /clients`, `GET /clients/{id}`; extf-files `POST …/import`,
//! `GET …/jobs`, `GET …/jobs/{id}`; dxso-jobs `GET /clients`, `GET /clients/{id}`, create, file
//! upload, finalize (`PUT`), `DELETE`, status, protocol entries. Twilio (twilio.md §1–§9):
//! Messages create/fetch/list, Calls create/fetch/list/update, Verify start/fetch/update/check,
//! signed status callbacks and inbound SMS, the concurrency limit.
//!
//! # Assumptions where the references are silent
//! - DATEV gateway 401 body: `{"httpCode":"401","httpMessage":"Unauthorized","moreInformation":…}`
//!   (the gateway shape of datev.md §3); "Invalid client id or secret" without a valid
//!   `X-DATEV-Client-Id` (S15), otherwise IBM API Connect's "Cannot pass the security checks…".
//! - Token endpoint errors follow RFC 6749 §5.2; `invalid_client` is 401 with
//!   `WWW-Authenticate: Basic realm="DATEV"`. Client credentials in the body are refused by
//!   default (S14), accepted with [`DatevConfig::accept_client_secret_post`]. A missing or
//!   wrong `code_verifier` is `invalid_grant`. A reused code also revokes the tokens issued
//!   from it (RFC 6749 §4.1.2). Codes live 600 s; `state` must be at least 16 characters.
//!   Refresh with a used token is `invalid_grant` but does not kill the newer token.
//!   `enableWindowsSso` is recorded, not enforced. The ID token is RS256-shaped but unsigned.
//! - Authorize answers at once for the simulated user (302 with `code` and `state`); an unknown
//!   `client_id` or unregistered redirect URI gets an HTML 400 instead of a redirect.
//! - EXTF: header fields 1–16 and the reserved fields are checked as the API documents; `""`
//!   counts as empty only in fields 24 and 30; Buchungsstapel accepts Formatversion 12 and 13;
//!   `.csv` in `Filename` is case-sensitive. Job fields from the header appear once the job is
//!   no longer pending. A client without Buchungsdatenservice gets a failed job (1008838).
//!   Then the whole file goes through the `extf` validator (components/extf); its errors fail
//!   the job as 1008833 "Invalid file" (or 1008834 when all are on the header line), at most
//!   20 `affected_elements` named `line L, field F (name)`: S7 documents no row-level code.
//! - DXSO: a job without `document.xml` ends in status 3; file names are sanitised, not
//!   rejected; a body on create needs `Content-Type: application/json` (else DCO01018); the
//!   finalize `PUT` needs `application/merge-patch+json`.
//! - DATEV 429 (no published limits): gateway shape with `Retry-After: 5`.
//! - Twilio: 20003 message "Authenticate"; credentials for another account's path get 401.
//!   Calls: missing `To` 21201, missing `From` 21213, invalid 21211/21212, unowned `From`
//!   21210, missing `Url`/`Twiml`/`ApplicationSid` or `Twiml` over 4000 characters 21205,
//!   unknown `StatusCallbackEvent` 21626, bad update 21218/21220. Messages: 21604, 21211,
//!   21603, 21212, 21606 (only when [`TwilioConfig::phone_numbers`] is set), 21602, 21617,
//!   21609 for a bad `StatusCallback`. Rejected creates appear in lists as `failed`.
//!   `DateSent` filters use `date_created` for messages not yet sent. Paths without `.json`
//!   get a 404 in XML. Only `sms` and `call` Verify channels are simulated; a check returns
//!   200; after 5 wrong checks every check is 429/60202 until expiry; a resend within the window
//!   reuses the code, the 6th send is 429/60203.
//! - Callbacks: duplicates keep the `I-Twilio-Idempotency-Token`; retries follow the URL's
//!   `#rc=…&rp=…` overrides (default one retry on connect failure), immediately; the
//!   fragment is never sent or signed; voice callbacks over HTTPS are signed without an
//!   explicit port. Callbacks are delivered when the simulator is next called (any request or
//!   [`Sim::tick`]) after their time.
//! - The concurrency limit counts a request as in flight for [`TwilioConfig::request_ms`] of
//!   simulated time; a 429 occupies no slot. Verify's 429 carries `Retry-After: 1`.
//! - [`InKeyValue`] does read-change-write without a lock: concurrent sandbox requests from
//!   several Spin instances can lose an update.
//! - A timeout fault returns [`connector::HttpError::Timeout`] after the request took effect;
//!   over the sandbox's HTTP it becomes a 504 with `X-Sandbox-Fault: timeout`.

mod config;
mod ctx;
mod datev;
mod engine;
pub mod extf_check;
mod rng;
pub mod sandbox;
mod sim;
mod state;
mod support;
pub mod time;
mod twilio;
pub mod util;

pub use config::{
    ApiKey, ClientSpec, Consent, DatevConfig, DatevFaults, Faults, SecretString, ServiceSpec,
    SimConfig, TransportFaults, TwilioConfig, TwilioFaults, VerifyServiceSpec, Window,
};
pub use rng::SimRng;
pub use sim::{Inbound, Sim, SimError, route};
pub use state::{
    AccessToken, AffectedElement, Api, AuthCode, Call, CallRecord, CallbackKind, DatevState,
    Delivery, DxsoFile, DxsoJob, Event, EventKind, ExtfHeaderInfo, ExtfJob, Grant, InKeyValue,
    InMemory, Message, PendingCallback, PhoneEntry, PhoneKind, RefreshToken, STATE_VERSION,
    SendAttempt, SimState, StateError, StateStore, TwilioState, ValidationDetails, Verification,
};
pub use support::{Answer, Recorder, Shared, Unreachable};

/// Signs callback parameters exactly as the simulator does (for tests that build their own
/// expectations): the `signature` crate's `compute_signature`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    signature::compute_signature(auth_token, url, params)
}
