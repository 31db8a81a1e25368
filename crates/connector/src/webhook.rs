//! The Twilio webhook, host-independent: verify ▸ deduplicate ▸ enqueue ▸ answer, and audit
//! every request (`ARCHITECTURE.md` flow 5; issue 3 part 3).
//!
//! The `webhook` component only reads the request, the two variables and the body (capped), and
//! hands them to [`Webhook::handle`] together with the ports; signature checks go through the
//! [`SignatureCheck`] port, which the component implements over the imported
//! `ml-connector:twilio-signature/validate@0.1.0` interface.
//!
//! # Order of checks, and the answer to each
//! | check | answer |
//! |---|---|
//! | `public_base_url` is not an `https://` base URL, or the Auth Token is missing | 500, operator-facing message; nothing validated |
//! | path is not `/twilio/status` or `/twilio/inbound` | 404 |
//! | method is not `POST` | 405 |
//! | `X-Forwarded-Proto` (or `Forwarded: proto=`) says anything but `https` | 403 |
//! | `Content-Length` or the body read exceeds [`MAX_BODY_BYTES`] | 413 |
//! | media type neither `application/x-www-form-urlencoded` nor `application/json` | 415 |
//! | form body not decodable ([`crate::form`]) | 400 naming the pair |
//! | signature missing, malformed or wrong (URL = `public_base_url` + path and query as received, `twilio.md` §8.4) | 403, generic body |
//! | JSON body not an object; a required parameter missing or invalid | 400 naming the field |
//! | store error | 503 (`Retry-After`), Twilio retries with `rp=5xx` |
//! | accepted, or a duplicate | 200: empty for `/twilio/status`, empty `<Response/>` TwiML for `/twilio/inbound` |
//!
//! Every one of these leaves one audit entry ([`crate::audit`]), written after the outcome is
//! known. If that append fails the answer stays the same (the event is already queued, or the
//! request was rejected anyway) and the entry goes to stderr, which Spin keeps in its logs.
//!
//! # Store writes per request
//! - accepted new event: 5 = enqueue 3 (`increment` slot, `set` record, `increment` claim;
//!   [`crate::inbound`]) + audit 2 (`increment` day sequence, `set` entry);
//! - duplicate: 2 (audit only; the claim is checked with a read);
//!   a duplicate that loses a concurrent race: 6 (its slot is tombstoned);
//! - rejected: 2 (audit only).
//!
//! Why not 4: an event needs a slot (`increment`), the record at the slot (`set`) and a marker
//! keyed by the event (the claim, `increment`), and the audit entry needs its own slot and value.
//! The only saving left would be sharing one sequence between queue and audit, which would make
//! the queue a sparse view of every component's audit traffic; not worth one write.

use crate::audit::{self, Actor, AuditEntry, Outcome};
use crate::form::{self, FormError};
use crate::inbound::{
    self, CallStatusEvent, DedupKey, Enqueued, FieldError, FieldProblem, InboundEvent, InboundSms,
    MAX_ADDRESS_LEN, MessageStatusEvent, QueueError, Sid, Status,
};
use crate::ports::{Clock, HttpResponse, KeyValue};
use crate::secret::Secret;

/// Largest request body accepted (issue 3: "say 64 KiB"). Twilio's callbacks are a few hundred
/// bytes; an SMS body is at most 1600 characters.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Message and call status callbacks.
pub const STATUS_PATH: &str = "/twilio/status";
/// Inbound SMS.
pub const INBOUND_PATH: &str = "/twilio/inbound";
/// An empty Messaging TwiML response: no reply SMS (`twilio.md` §5.2).
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// Variable holding the public base URL.
pub const VAR_PUBLIC_BASE_URL: &str = "public_base_url";
/// Variable holding the Twilio Auth Token.
pub const VAR_AUTH_TOKEN: &str = "twilio_auth_token";

/// Why the webhook refuses to serve at all. Messages are for the operator; they never contain a
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("variable {name} is not set")]
    Missing {
        /// Variable name.
        name: &'static str,
    },
    /// The variable provider failed.
    #[error("variable {name} could not be read: {reason}")]
    Unreadable {
        /// Variable name.
        name: &'static str,
        /// The provider's reason.
        reason: String,
    },
    /// `public_base_url` does not use `https`.
    #[error(
        "public_base_url must start with https:// (Twilio signs the public https URL, and callbacks \
         must not travel in clear); it uses {scheme:?}"
    )]
    NotHttps {
        /// The scheme found (or the whole prefix if there is none).
        scheme: String,
    },
    /// `public_base_url` is not a usable base URL.
    #[error("public_base_url is not a base URL: {0}")]
    InvalidBaseUrl(&'static str),
}

/// The configured public `https://` base URL, e.g. `https://hooks.example.com` or
/// `https://example.com/connector` when a proxy strips a prefix. No trailing slash, query,
/// fragment or userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl(String);

impl PublicBaseUrl {
    /// Validates the variable's value.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(ConfigError::NotHttps {
                scheme: "(none)".to_owned(),
            });
        };
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(ConfigError::NotHttps {
                scheme: scheme.chars().take(16).collect(),
            });
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::InvalidBaseUrl("contains whitespace"));
        }
        if rest.contains(['?', '#']) {
            return Err(ConfigError::InvalidBaseUrl("has a query or fragment"));
        }
        let host_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..host_end];
        if authority.contains('@') {
            return Err(ConfigError::InvalidBaseUrl("has userinfo"));
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err(ConfigError::InvalidBaseUrl("has no host"));
        }
        let port = match authority.rsplit_once(']') {
            Some((_, after_ipv6)) => after_ipv6.strip_prefix(':'),
            None => authority.split_once(':').map(|(_, p)| p),
        };
        if port.is_some_and(|p| {
            p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()
        }) {
            return Err(ConfigError::InvalidBaseUrl(
                "port is not a number up to 65535",
            ));
        }
        // Twilio signs the URL with the scheme as typed in its console; keep the text, minus one
        // trailing slash, so that base + "/twilio/status" has exactly one slash.
        Ok(Self(raw.strip_suffix('/').unwrap_or(raw).to_owned()))
    }

    /// The URL Twilio signed for a request with this path and query.
    pub fn url_for(&self, path_with_query: &str) -> String {
        format!("{}{path_with_query}", self.0)
    }

    /// The base URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything the webhook needs from configuration.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `public_base_url`.
    pub public_base_url: PublicBaseUrl,
    /// `twilio_auth_token`.
    pub auth_token: Secret,
}

impl WebhookConfig {
    /// Builds the configuration from what reading the two variables gave: `Ok(None)` is unset,
    /// `Err(reason)` a provider failure.
    pub fn from_variables(
        public_base_url: Result<Option<String>, String>,
        auth_token: Result<Option<String>, String>,
    ) -> Result<Self, ConfigError> {
        let base = required(VAR_PUBLIC_BASE_URL, public_base_url)?;
        let public_base_url = PublicBaseUrl::parse(&base)?;
        let auth_token = Secret::new(required(VAR_AUTH_TOKEN, auth_token)?);
        Ok(Self {
            public_base_url,
            auth_token,
        })
    }
}

fn required(
    name: &'static str,
    value: Result<Option<String>, String>,
) -> Result<String, ConfigError> {
    match value {
        Ok(Some(v)) if !v.is_empty() => Ok(v),
        Ok(_) => Err(ConfigError::Missing { name }),
        Err(reason) => Err(ConfigError::Unreadable { name, reason }),
    }
}

/// Why the signature port rejected a request; mirrors `signature-error` of
/// `ml-connector:twilio-signature/validate@0.1.0` (`wit/twilio-signature/signature.wit`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRejection {
    /// `X-Twilio-Signature` absent or empty.
    #[error("X-Twilio-Signature missing")]
    MissingSignature,
    /// Not Base64 of a 20-byte HMAC-SHA1.
    #[error("X-Twilio-Signature malformed")]
    MalformedSignature,
    /// No accepted form of the URL produced the signature.
    #[error("signature mismatch")]
    Mismatch,
    /// The URL handed to the validator is not absolute http(s) (a configuration fault).
    #[error("validation URL rejected: {0}")]
    InvalidUrl(String),
    /// A JSON request's URL has no `bodySHA256`.
    #[error("bodySHA256 query parameter missing")]
    MissingBodyHash,
    /// The body's SHA-256 differs from `bodySHA256`.
    #[error("body does not match bodySHA256")]
    BodyHashMismatch,
}

/// Validates `X-Twilio-Signature` (<https://www.twilio.com/docs/usage/security#validating-requests>).
pub trait SignatureCheck {
    /// A form-encoded request: `params` decoded, in received order.
    fn validate_form(
        &self,
        auth_token: &Secret,
        url: &str,
        params: &[(String, String)],
        signature: &str,
    ) -> Result<(), SignatureRejection>;

    /// A JSON-bodied request (`bodySHA256` in the URL, `twilio.md` §8.3).
    fn validate_json(
        &self,
        auth_token: &Secret,
        url: &str,
        body: &[u8],
        signature: &str,
    ) -> Result<(), SignatureRejection>;
}

/// The request body as the component read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body (at most [`MAX_BODY_BYTES`]).
    Complete(Vec<u8>),
    /// More than [`MAX_BODY_BYTES`] arrived (or were announced); reading stopped.
    TooLarge,
    /// The body stream failed.
    Unreadable(String),
}

/// One incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Method as received.
    pub method: String,
    /// Path and query exactly as received.
    pub path_with_query: String,
    /// Header fields (any case), repeated names kept.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: RequestBody,
}

impl WebhookRequest {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// True when `Content-Length` announces more than [`MAX_BODY_BYTES`], so the component can skip
/// reading the body and pass [`RequestBody::TooLarge`].
pub fn declared_too_large(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .any(|(_, v)| {
            v.trim()
                .parse::<u64>()
                .is_ok_and(|n| n > MAX_BODY_BYTES as u64)
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Status,
    Inbound,
}

impl Route {
    fn action(self) -> &'static str {
        match self {
            Route::Status => "webhook.status",
            Route::Inbound => "webhook.inbound",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Route::Status => STATUS_PATH,
            Route::Inbound => INBOUND_PATH,
        }
    }
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("refused to serve: {0}")]
    Refused(ConfigError),
    #[error("no such route")]
    NotFound,
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("forwarded over plain http")]
    PlainHttp,
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("body unreadable: {0}")]
    BodyUnreadable(String),
    #[error("request target is not printable ASCII")]
    BadTarget,
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Form(FormError),
    #[error("X-Twilio-Signature given more than once")]
    RepeatedSignature,
    #[error(transparent)]
    Signature(SignatureRejection),
    #[error("JSON body: {0}")]
    Json(String),
    #[error(transparent)]
    Field(FieldError),
    #[error("not stored: {0}")]
    Store(QueueError),
}

impl Rejection {
    fn status(&self) -> u16 {
        match self {
            Rejection::Refused(_) | Rejection::Signature(SignatureRejection::InvalidUrl(_)) => 500,
            Rejection::NotFound => 404,
            Rejection::MethodNotAllowed(_) => 405,
            Rejection::PlainHttp | Rejection::RepeatedSignature | Rejection::Signature(_) => 403,
            Rejection::TooLarge => 413,
            Rejection::UnsupportedMediaType(_) => 415,
            Rejection::BadTarget
            | Rejection::BodyUnreadable(_)
            | Rejection::Form(_)
            | Rejection::Json(_)
            | Rejection::Field(_) => 400,
            Rejection::Store(_) => 503,
        }
    }

    /// Our fault (configuration, store) rather than the caller's.
    fn is_failure(&self) -> bool {
        self.status() >= 500
    }

    fn response(&self) -> HttpResponse {
        let status = self.status();
        let body = match self {
            Rejection::Refused(e) => format!("webhook refuses to serve: {e}\n"),
            Rejection::Signature(SignatureRejection::InvalidUrl(_)) => {
                "webhook refuses to serve: public_base_url does not form a valid URL\n".to_owned()
            }
            // Generic on purpose: a prober learns nothing about why.
            Rejection::PlainHttp | Rejection::RepeatedSignature | Rejection::Signature(_) => "forbidden\n".to_owned(),
            Rejection::NotFound => "not found\n".to_owned(),
            Rejection::MethodNotAllowed(_) => "method not allowed: use POST\n".to_owned(),
            Rejection::TooLarge => format!("payload too large: the limit is {MAX_BODY_BYTES} bytes\n"),
            Rejection::UnsupportedMediaType(_) => {
                "unsupported media type: use application/x-www-form-urlencoded or application/json\n".to_owned()
            }
            Rejection::Store(_) => "temporarily unavailable, retry\n".to_owned(),
            other => format!("bad request: {other}\n"),
        };
        let mut resp =
            HttpResponse::new(status, body).header("content-type", "text/plain; charset=utf-8");
        match self {
            Rejection::MethodNotAllowed(_) => resp = resp.header("allow", "POST"),
            Rejection::Store(_) => resp = resp.header("retry-after", "5"),
            _ => {}
        }
        resp
    }
}

enum Verdict {
    Accepted {
        route: Route,
        event: InboundEvent,
        dedup: DedupKey,
        result: Enqueued,
    },
    Rejected {
        route: Option<Route>,
        rejection: Rejection,
        verified: bool,
        claimed_sid: Option<Sid>,
    },
}

/// The webhook over its ports.
#[derive(Debug)]
pub struct Webhook<'a, S: ?Sized, C: ?Sized, V: ?Sized> {
    /// The key-value store (queue, claims, audit).
    pub store: &'a S,
    /// Time for records and audit entries.
    pub clock: &'a C,
    /// Signature validation.
    pub signatures: &'a V,
}

impl<S: KeyValue + ?Sized, C: Clock + ?Sized, V: SignatureCheck + ?Sized> Webhook<'_, S, C, V> {
    /// Handles one request; never panics. See the module docs for the answers.
    pub fn handle(
        &self,
        config: Result<&WebhookConfig, &ConfigError>,
        req: &WebhookRequest,
    ) -> HttpResponse {
        let now = self.clock.now_ms();
        let verdict = self.decide(config, req, now);
        let peer = req.header_values("spin-client-addr").last().map(printable);
        let (entry, response) = match verdict {
            Verdict::Accepted {
                route,
                event,
                dedup,
                result,
            } => {
                let (outcome, slot) = match result {
                    Enqueued::Queued { slot } => (Outcome::Ok, Some(slot)),
                    Enqueued::Duplicate { released_slot } => (Outcome::Duplicate, released_slot),
                };
                let mut entry =
                    AuditEntry::new(now, Actor::Twilio, route.action(), event.subject(), outcome)
                        .with("dedup", dedup.audit_label());
                if let Some(slot) = slot {
                    entry = entry.with("slot", slot.to_string());
                }
                entry = match &event {
                    InboundEvent::MessageStatus(e) => entry.with("status", e.status.as_str()),
                    InboundEvent::CallStatus(e) => {
                        let entry = entry.with("status", e.status.as_str());
                        match e.sequence_number {
                            Some(n) => entry.with("sequence", n.to_string()),
                            None => entry,
                        }
                    }
                    InboundEvent::InboundSms(_) => entry,
                };
                (entry, accepted_response(route))
            }
            Verdict::Rejected {
                route,
                rejection,
                verified,
                claimed_sid,
            } => {
                let actor = if verified {
                    Actor::Twilio
                } else {
                    Actor::Unverified { peer }
                };
                let status = Some(rejection.status());
                let reason = printable(&rejection.to_string());
                let outcome = if rejection.is_failure() {
                    Outcome::Failed { status, reason }
                } else {
                    Outcome::Rejected { status, reason }
                };
                let (action, subject) = match route {
                    Some(r) => (r.action(), format!("route:{}", r.path())),
                    None => ("webhook.request", "route:unknown".to_owned()),
                };
                let mut entry = AuditEntry::new(now, actor, action, subject, outcome);
                if route.is_none() {
                    entry = entry.with("path", printable(path_of(&req.path_with_query)));
                }
                if let Some(sid) = claimed_sid {
                    entry = entry.with("claimed_sid", sid.as_str());
                }
                (entry, rejection.response())
            }
        };
        if let Err(e) = audit::append(self.store, &entry) {
            // Not silently dropped: the entry (no secrets, no bodies by construction) goes to the
            // component's log. The answer stays: see the module docs.
            let json = serde_json::to_string(&entry).unwrap_or_else(|_| format!("{entry:?}"));
            eprintln!("audit append failed ({e}); entry: {json}");
        }
        response
    }

    fn decide(
        &self,
        config: Result<&WebhookConfig, &ConfigError>,
        req: &WebhookRequest,
        now: u64,
    ) -> Verdict {
        let route = match path_of(&req.path_with_query) {
            STATUS_PATH => Some(Route::Status),
            INBOUND_PATH => Some(Route::Inbound),
            _ => None,
        };
        let reject = |rejection, verified, claimed_sid| Verdict::Rejected {
            route,
            rejection,
            verified,
            claimed_sid,
        };
        let config = match config {
            Ok(c) => c,
            Err(e) => return reject(Rejection::Refused(e.clone()), false, None),
        };
        let Some(route) = route else {
            return reject(Rejection::NotFound, false, None);
        };
        if req.method != "POST" {
            return reject(
                Rejection::MethodNotAllowed(printable(&req.method)),
                false,
                None,
            );
        }
        if says_plain_http(req) {
            return reject(Rejection::PlainHttp, false, None);
        }
        // The query goes into the signed URL verbatim; HTTP allows only visible ASCII there
        // (RFC 9112 §3.2), so anything else is the request's fault, not the configuration's.
        if !req.path_with_query.bytes().all(|b| b.is_ascii_graphic()) {
            return reject(Rejection::BadTarget, false, None);
        }
        let body = match &req.body {
            RequestBody::Complete(b)
                if b.len() <= MAX_BODY_BYTES && !declared_too_large(&req.headers) =>
            {
                b
            }
            RequestBody::Complete(_) | RequestBody::TooLarge => {
                return reject(Rejection::TooLarge, false, None);
            }
            RequestBody::Unreadable(why) => {
                return reject(Rejection::BodyUnreadable(why.clone()), false, None);
            }
        };
        let media = match media_type(req) {
            Ok(m) => m,
            Err(given) => {
                return reject(
                    Rejection::UnsupportedMediaType(printable(&given)),
                    false,
                    None,
                );
            }
        };
        let url = config.public_base_url.url_for(&req.path_with_query);
        let mut signatures = req.header_values("x-twilio-signature");
        let signature = signatures.next().unwrap_or_default();
        if signatures.next().is_some() {
            return reject(Rejection::RepeatedSignature, false, None);
        }
        let (params, checked) = match media {
            Media::Form => match form::parse_form(body) {
                Ok(params) => {
                    let checked =
                        self.signatures
                            .validate_form(&config.auth_token, &url, &params, signature);
                    (params, checked)
                }
                Err(e) => return reject(Rejection::Form(e), false, None),
            },
            Media::Json => {
                match self
                    .signatures
                    .validate_json(&config.auth_token, &url, body, signature)
                {
                    Ok(()) => match json_params(body) {
                        Ok(params) => (params, Ok(())),
                        Err(e) => return reject(e, true, None),
                    },
                    Err(e) => (Vec::new(), Err(e)),
                }
            }
        };
        if let Err(e) = checked {
            return reject(Rejection::Signature(e), false, claimed_sid(&params));
        }
        let event = match route {
            Route::Status => status_event(&params),
            Route::Inbound => inbound_sms(&params),
        };
        let event = match event {
            Ok(e) => e,
            Err(e) => return reject(Rejection::Field(e), true, claimed_sid(&params)),
        };
        let token = match one_header(req, "i-twilio-idempotency-token") {
            Ok(t) => t,
            Err(e) => return reject(Rejection::Field(e), true, claimed_sid(&params)),
        };
        let dedup = match token {
            Some(t) => match DedupKey::token(t) {
                Ok(k) => k,
                Err(e) => return reject(Rejection::Field(e), true, claimed_sid(&params)),
            },
            None => event.natural_key(),
        };
        match inbound::enqueue(self.store, &dedup, event.clone(), now) {
            Ok(result) => Verdict::Accepted {
                route,
                event,
                dedup,
                result,
            },
            Err(e) => reject(Rejection::Store(e), true, claimed_sid(&params)),
        }
    }
}

fn accepted_response(route: Route) -> HttpResponse {
    match route {
        Route::Status => HttpResponse::new(200, Vec::new()),
        Route::Inbound => HttpResponse::new(200, EMPTY_TWIML).header("content-type", "text/xml"),
    }
}

fn path_of(path_with_query: &str) -> &str {
    path_with_query
        .split_once('?')
        .map_or(path_with_query, |(p, _)| p)
}

/// `X-Forwarded-Proto` (de-facto) or `Forwarded: proto=` (RFC 7239 §5.4) naming anything other
/// than `https` on any hop.
fn says_plain_http(req: &WebhookRequest) -> bool {
    let xfp = req
        .header_values("x-forwarded-proto")
        .flat_map(|v| v.split(','))
        .any(|p| !p.trim().eq_ignore_ascii_case("https"));
    let forwarded = req
        .header_values("forwarded")
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
        .any(|(_, v)| !v.trim().trim_matches('"').eq_ignore_ascii_case("https"));
    xfp || forwarded
}

enum Media {
    Form,
    Json,
}

/// The media type of `Content-Type` (RFC 9110 §8.3.1: type/subtype case-insensitive, parameters
/// after `;`). `Err` carries what was given.
fn media_type(req: &WebhookRequest) -> Result<Media, String> {
    let mut values = req.header_values("content-type");
    let Some(value) = values.next() else {
        return Err("(none)".to_owned());
    };
    if values.next().is_some() {
        return Err("(repeated)".to_owned());
    }
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(Media::Form)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Ok(Media::Json)
    } else {
        Err(value.to_owned())
    }
}

fn one_header<'a>(
    req: &'a WebhookRequest,
    name: &'static str,
) -> Result<Option<&'a str>, FieldError> {
    let mut values = req.header_values(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(FieldError {
            field: "I-Twilio-Idempotency-Token",
            problem: FieldProblem::Repeated,
        });
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// A JSON body's top-level members as parameters: strings as they are, numbers and booleans as
/// their JSON text, `null` as absent, arrays and objects as their JSON text (so a known field
/// holding one fails its own validation, naming the field).
fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Rejection::Json(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(Rejection::Json("not a JSON object".to_owned()));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

/// Text safe to put into an audit entry or a log line: printable ASCII only, at most 100 chars.
fn printable(s: &str) -> String {
    s.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The SID a rejected request claims to be about, if it is well-formed (it is unverified, so it
/// is recorded as `claimed_sid`, never as the subject).
fn claimed_sid(params: &[(String, String)]) -> Option<Sid> {
    ["MessageSid", "CallSid"].iter().find_map(|name| {
        let value = params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())?;
        Sid::parse(value, &["SM", "MM", "CA"], name).ok()
    })
}

/// Access to callback parameters by name.
struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    /// The value of `name`; empty counts as absent; given twice is an error.
    fn one(&self, name: &'static str) -> Result<Option<&'a str>, FieldError> {
        let mut values = self
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(FieldError {
                field: name,
                problem: FieldProblem::Repeated,
            });
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    fn required(&self, name: &'static str) -> Result<&'a str, FieldError> {
        self.one(name)?.ok_or(FieldError {
            field: name,
            problem: FieldProblem::Missing,
        })
    }

    fn sid(
        &self,
        name: &'static str,
        prefixes: &'static [&'static str],
    ) -> Result<Sid, FieldError> {
        Sid::parse(self.required(name)?, prefixes, name)
    }

    fn optional_sid(
        &self,
        name: &'static str,
        prefixes: &'static [&'static str],
    ) -> Result<Option<Sid>, FieldError> {
        self.one(name)?
            .map(|v| Sid::parse(v, prefixes, name))
            .transpose()
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, FieldError> {
        self.one(name)?
            .map(|v| {
                // `FromStr` for integers accepts a leading `+`; Twilio never sends one.
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse().ok()
                } else {
                    None
                }
                .ok_or(FieldError {
                    field: name,
                    problem: FieldProblem::NotANumber,
                })
            })
            .transpose()
    }

    fn address(&self, name: &'static str) -> Result<Option<String>, FieldError> {
        match self.one(name)? {
            Some(v) if v.chars().count() > MAX_ADDRESS_LEN => Err(FieldError {
                field: name,
                problem: FieldProblem::TooLong(MAX_ADDRESS_LEN),
            }),
            other => Ok(other.map(str::to_owned)),
        }
    }
}

const MESSAGE_SID: &[&str] = &["SM", "MM"];
const CALL_SID: &[&str] = &["CA"];
const ACCOUNT_SID: &[&str] = &["AC"];

/// Reads a status callback: a message one when `MessageStatus` (or the legacy `SmsStatus`) is
/// present, else a call one (`CallStatus`). Unknown parameters are ignored (`twilio.md` §7).
pub fn status_event(params: &[(String, String)]) -> Result<InboundEvent, FieldError> {
    let p = Params(params);
    let message_status = match p.one("MessageStatus")? {
        Some(s) => Some(("MessageStatus", s)),
        None => p.one("SmsStatus")?.map(|s| ("SmsStatus", s)),
    };
    if let Some((field, status)) = message_status {
        return Ok(InboundEvent::MessageStatus(MessageStatusEvent {
            message_sid: p.sid("MessageSid", MESSAGE_SID)?,
            status: Status::parse(status, field)?,
            error_code: p.number("ErrorCode")?,
            from: p.address("From")?,
            to: p.address("To")?,
            account_sid: p.optional_sid("AccountSid", ACCOUNT_SID)?,
        }));
    }
    if let Some(status) = p.one("CallStatus")? {
        return Ok(InboundEvent::CallStatus(CallStatusEvent {
            call_sid: p.sid("CallSid", CALL_SID)?,
            status: Status::parse(status, "CallStatus")?,
            sequence_number: p.number("SequenceNumber")?,
            error_code: p.number("ErrorCode")?,
            from: p.address("From")?,
            to: p.address("To")?,
            account_sid: p.optional_sid("AccountSid", ACCOUNT_SID)?,
        }));
    }
    let missing = if p.one("CallSid")?.is_some() {
        "CallStatus"
    } else {
        "MessageStatus"
    };
    Err(FieldError {
        field: missing,
        problem: FieldProblem::Missing,
    })
}

/// Reads an inbound SMS (`MessageSid`, `From`, `To` required; `Body` may be empty).
pub fn inbound_sms(params: &[(String, String)]) -> Result<InboundEvent, FieldError> {
    let p = Params(params);
    Ok(InboundEvent::InboundSms(InboundSms {
        message_sid: p.sid("MessageSid", MESSAGE_SID)?,
        from: p.address("From")?.ok_or(FieldError {
            field: "From",
            problem: FieldProblem::Missing,
        })?,
        to: p.address("To")?.ok_or(FieldError {
            field: "To",
            problem: FieldProblem::Missing,
        })?,
        body: p.one("Body")?.unwrap_or_default().to_owned(),
        num_media: p.number("NumMedia")?,
        account_sid: p.optional_sid("AccountSid", ACCOUNT_SID)?,
    }))
}
