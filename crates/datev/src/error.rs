//! The one error type of every DATEV HTTP exchange: DATEV's error body kept (secrets removed),
//! `Retry-After`, and a retry classification.

use connector::{HttpError, Method};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The DATEV operation a request belongs to. Names are the OpenAPI `operationId`s where the
/// spec has one (extf-files 3.0.1, accounting-clients 2.0); dxso-jobs 2.1.7 has none, so those
/// use method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Token request with `grant_type=authorization_code` (RFC 6749 §4.1.3).
    TokenExchange,
    /// Token request with `grant_type=refresh_token` (RFC 6749 §6).
    TokenRefresh,
    /// `importExtfFile` — `POST /clients/{client-id}/extf-files/import`.
    ImportExtfFile,
    /// `getJob` — `GET /clients/{client-id}/extf-files/jobs/{job-id}`.
    GetExtfJob,
    /// `getJobs` — `GET /clients/{client-id}/extf-files/jobs`.
    GetExtfJobs,
    /// `getClients` — `GET /clients` of accounting-clients.
    GetClients,
    /// dxso-jobs `POST /clients/{client-id}/dxso-jobs`.
    CreateDxsoJob,
    /// dxso-jobs `POST /clients/{client-id}/dxso-jobs/{job-id}/files`.
    UploadDxsoFile,
    /// dxso-jobs `PUT /clients/{client-id}/dxso-jobs/{job-id}` with `{"ready":"true"}`.
    StartDxsoJob,
    /// dxso-jobs `GET /clients/{client-id}/dxso-jobs/{job-id}`.
    GetDxsoJob,
    /// dxso-jobs `GET /clients/{client-id}/dxso-jobs/{job-id}/protocol-entries`.
    GetDxsoProtocol,
    /// dxso-jobs `DELETE /clients/{client-id}/dxso-jobs/{job-id}`.
    DeleteDxsoJob,
}

impl Operation {
    /// The HTTP method.
    pub fn method(self) -> Method {
        match self {
            Operation::TokenExchange
            | Operation::TokenRefresh
            | Operation::ImportExtfFile
            | Operation::CreateDxsoJob
            | Operation::UploadDxsoFile => Method::Post,
            Operation::StartDxsoJob => Method::Put,
            Operation::DeleteDxsoJob => Method::Delete,
            Operation::GetExtfJob
            | Operation::GetExtfJobs
            | Operation::GetClients
            | Operation::GetDxsoJob
            | Operation::GetDxsoProtocol => Method::Get,
        }
    }

    /// True when repeating the request cannot create a second effect (RFC 9110 §9.2.2). The
    /// POSTs are not: an upload could create a second job, a refresh consumes the rotating
    /// refresh token (datev.md §5.4).
    pub fn is_idempotent(self) -> bool {
        self.method() != Method::Post
    }

    /// A stable name for logs and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::TokenExchange => "token (authorization_code)",
            Operation::TokenRefresh => "token (refresh_token)",
            Operation::ImportExtfFile => "importExtfFile",
            Operation::GetExtfJob => "getJob",
            Operation::GetExtfJobs => "getJobs",
            Operation::GetClients => "getClients",
            Operation::CreateDxsoJob => "POST dxso-jobs",
            Operation::UploadDxsoFile => "POST dxso-jobs/{job-id}/files",
            Operation::StartDxsoJob => "PUT dxso-jobs/{job-id}",
            Operation::GetDxsoJob => "GET dxso-jobs/{job-id}",
            Operation::GetDxsoProtocol => "GET dxso-jobs/{job-id}/protocol-entries",
            Operation::DeleteDxsoJob => "DELETE dxso-jobs/{job-id}",
        }
    }

    fn family(self) -> Family {
        match self {
            Operation::TokenExchange | Operation::TokenRefresh => Family::OAuth,
            Operation::CreateDxsoJob
            | Operation::UploadDxsoFile
            | Operation::StartDxsoJob
            | Operation::GetDxsoJob
            | Operation::GetDxsoProtocol
            | Operation::DeleteDxsoJob => Family::Dxso,
            Operation::ImportExtfFile
            | Operation::GetExtfJob
            | Operation::GetExtfJobs
            | Operation::GetClients => Family::Problem,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    OAuth,
    Dxso,
    Problem,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller may do after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryability {
    /// Nothing was done, or repeating is harmless: retry later (after `Retry-After` if given).
    Retryable,
    /// The request may have taken effect (timeout after sending a POST, 5xx other than 503 on
    /// a POST): reconcile before retrying, or a second job could appear (datev.md §3: "500: do
    /// not retry blindly").
    Ambiguous,
    /// Retrying the same request will fail the same way.
    Permanent,
}

/// `AffectedElement` of ProblemDetails / ValidationDetails (extf-files 3.0.1, clients 2.0).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AffectedElement {
    /// Name of the element, e.g. `client-id` or `DATEV Format Identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why it is wrong, e.g. `must be 'EXTF'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `ProblemDetails` of extf-files 3.0.1 and accounting-clients 2.0 (datev.md §3 "Error bodies").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// Problem type URI; carries DATEV's code as `http://www.datev.de/hilfe/<code>`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// Short summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The elements at fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_elements: Vec<AffectedElement>,
    /// DATEV's request id (quote it to DATEV support).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// HTTP status DATEV put in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
}

impl ProblemDetails {
    /// DATEV's numeric code from `type` (`…/hilfe/1008834` → `1008834`).
    pub fn code(&self) -> Option<&str> {
        datev_code(self.problem_type.as_deref())
    }
}

pub(crate) fn datev_code(problem_type: Option<&str>) -> Option<&str> {
    let last = problem_type?.rsplit('/').next()?;
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())).then_some(last)
}

/// `ErrorMessage` of dxso-jobs 2.1.7 (`{error, error_description, error_uri, request_id}`,
/// datev.md §3), which is also the shape of an OAuth token-endpoint error (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// DATEV code such as `#DCO01005`, or an RFC 6749 §5.2 code such as `invalid_grant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Technical name (`restapi.ScopeFault`) or human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Help link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// DATEV's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The API gateway's own error shape `{httpCode, httpMessage, moreInformation}` (datev.md §3,
/// S13).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayError {
    /// Status as the gateway reports it (a number or a string).
    #[serde(rename = "httpCode", default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<serde_json::Value>,
    /// Status text.
    #[serde(
        rename = "httpMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_message: Option<String>,
    /// Explanation.
    #[serde(
        rename = "moreInformation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub more_information: Option<String>,
}

/// DATEV's error body, decoded into the shape it has. Every string has had the secrets of the
/// request (token, refresh token, client secret, code, verifier) replaced by `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatevErrorBody {
    /// No body.
    Empty,
    /// extf-files / accounting-clients shape.
    ProblemDetails(ProblemDetails),
    /// dxso-jobs / OAuth shape.
    ErrorMessage(ErrorMessage),
    /// Gateway shape.
    Gateway(GatewayError),
    /// Anything else, as text (lossy UTF-8, at most [`MAX_TEXT_BODY`] characters).
    Text(String),
}

/// Longest raw text kept from an unrecognised error body.
pub const MAX_TEXT_BODY: usize = 1024;

impl DatevErrorBody {
    fn parse(family: Family, body: &[u8], secrets: &[&str]) -> Self {
        if body.iter().all(u8::is_ascii_whitespace) {
            return DatevErrorBody::Empty;
        }
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_slice::<serde_json::Value>(body)
        {
            let has = |k: &str| map.contains_key(k);
            let value = serde_json::Value::Object(map.clone());
            let parsed = if has("error") || has("error_description") || has("error_uri") {
                serde_json::from_value(value)
                    .ok()
                    .map(DatevErrorBody::ErrorMessage)
            } else if has("httpCode") || has("httpMessage") || has("moreInformation") {
                serde_json::from_value(value)
                    .ok()
                    .map(DatevErrorBody::Gateway)
            } else if has("type")
                || has("title")
                || has("detail")
                || has("affected_elements")
                || has("status")
            {
                serde_json::from_value(value)
                    .ok()
                    .map(DatevErrorBody::ProblemDetails)
            } else if has("request_id") && map.len() == 1 {
                // dxso-jobs answers some 403/404 with only `{request_id}` (datev.md §3).
                match family {
                    Family::Problem => serde_json::from_value(value)
                        .ok()
                        .map(DatevErrorBody::ProblemDetails),
                    Family::Dxso | Family::OAuth => serde_json::from_value(value)
                        .ok()
                        .map(DatevErrorBody::ErrorMessage),
                }
            } else {
                None
            };
            if let Some(p) = parsed {
                return p.redacted(secrets);
            }
        }
        let text = String::from_utf8_lossy(body);
        let text: String = text.chars().take(MAX_TEXT_BODY).collect();
        DatevErrorBody::Text(redact(&text, secrets))
    }

    fn redacted(self, secrets: &[&str]) -> Self {
        let r = |s: Option<String>| s.map(|s| redact(&s, secrets));
        match self {
            DatevErrorBody::ProblemDetails(p) => DatevErrorBody::ProblemDetails(ProblemDetails {
                problem_type: r(p.problem_type),
                title: r(p.title),
                detail: r(p.detail),
                affected_elements: p
                    .affected_elements
                    .into_iter()
                    .map(|e| AffectedElement {
                        name: r(e.name),
                        reason: r(e.reason),
                    })
                    .collect(),
                request_id: r(p.request_id),
                status: p.status,
            }),
            DatevErrorBody::ErrorMessage(m) => DatevErrorBody::ErrorMessage(ErrorMessage {
                error: r(m.error),
                error_description: r(m.error_description),
                error_uri: r(m.error_uri),
                request_id: r(m.request_id),
            }),
            DatevErrorBody::Gateway(g) => DatevErrorBody::Gateway(GatewayError {
                http_code: g.http_code.map(|v| match v {
                    serde_json::Value::String(s) => serde_json::Value::String(redact(&s, secrets)),
                    other => other,
                }),
                http_message: r(g.http_message),
                more_information: r(g.more_information),
            }),
            other => other,
        }
    }

    /// DATEV's code: the ProblemDetails number, or the ErrorMessage `error`.
    pub fn code(&self) -> Option<&str> {
        match self {
            DatevErrorBody::ProblemDetails(p) => p.code(),
            DatevErrorBody::ErrorMessage(m) => m.error.as_deref(),
            _ => None,
        }
    }

    fn summary(&self) -> String {
        match self {
            DatevErrorBody::Empty => String::new(),
            DatevErrorBody::ProblemDetails(p) => {
                let mut parts: Vec<&str> = Vec::new();
                parts.extend(p.code());
                parts.extend(p.title.as_deref());
                parts.extend(p.detail.as_deref());
                parts.join(" ")
            }
            DatevErrorBody::ErrorMessage(m) => {
                let mut parts: Vec<&str> = Vec::new();
                parts.extend(m.error.as_deref());
                parts.extend(m.error_description.as_deref());
                parts.join(" ")
            }
            DatevErrorBody::Gateway(g) => {
                let mut parts: Vec<&str> = Vec::new();
                parts.extend(g.http_message.as_deref());
                parts.extend(g.more_information.as_deref());
                parts.join(" ")
            }
            DatevErrorBody::Text(t) => t.chars().take(200).collect(),
        }
    }
}

/// Replaces every occurrence of each secret (4 characters or longer) by `[redacted]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(*s) {
            out = out.replace(*s, "[redacted]");
        }
    }
    out
}

/// An error from one DATEV exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// DATEV answered with a status the operation does not expect.
    #[error("{operation}: DATEV answered HTTP {status}{}", summary_suffix(body))]
    Status {
        /// The operation.
        operation: Operation,
        /// HTTP status.
        status: u16,
        /// DATEV's body, decoded and redacted (boxed: it is large and errors travel by value).
        body: Box<DatevErrorBody>,
        /// `Retry-After` in seconds (RFC 9110 §10.2.3), if present and readable.
        retry_after_s: Option<u64>,
    },
    /// No response arrived.
    #[error("{operation}: {source}")]
    Transport {
        /// The operation.
        operation: Operation,
        /// What the transport reported.
        source: HttpError,
    },
    /// The request could not be built; nothing was sent.
    #[error("{operation}: request not sent: {source}")]
    InvalidRequest {
        /// The operation.
        operation: Operation,
        /// What is wrong.
        source: crate::InvalidInput,
    },
    /// A success status with a body or header that does not match the OpenAPI description.
    #[error("{operation}: unexpected response (HTTP {status}): {reason}")]
    UnexpectedResponse {
        /// The operation.
        operation: Operation,
        /// HTTP status.
        status: u16,
        /// What did not match.
        reason: String,
    },
}

fn summary_suffix(body: &DatevErrorBody) -> String {
    let s = body.summary();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl ApiError {
    /// Builds the error for an unexpected status, decoding and redacting the body.
    pub(crate) fn from_response(
        operation: Operation,
        resp: &connector::HttpResponse,
        now_ms: u64,
        secrets: &[&str],
    ) -> Self {
        ApiError::Status {
            operation,
            status: resp.status,
            body: Box::new(DatevErrorBody::parse(
                operation.family(),
                &resp.body,
                secrets,
            )),
            retry_after_s: resp
                .header_value("Retry-After")
                .and_then(|v| parse_retry_after(v, now_ms)),
        }
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        match self {
            ApiError::Status { operation, .. }
            | ApiError::Transport { operation, .. }
            | ApiError::InvalidRequest { operation, .. }
            | ApiError::UnexpectedResponse { operation, .. } => *operation,
        }
    }

    /// HTTP status, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            ApiError::Transport { .. } | ApiError::InvalidRequest { .. } => None,
        }
    }

    /// `Retry-After` in seconds, when DATEV sent one.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            ApiError::Status { retry_after_s, .. } => *retry_after_s,
            _ => None,
        }
    }

    /// DATEV's body, when a response arrived with one.
    pub fn body(&self) -> Option<&DatevErrorBody> {
        match self {
            ApiError::Status { body, .. } => Some(body.as_ref()),
            _ => None,
        }
    }

    /// The RFC 6749 §5.2 `error` code of a token-endpoint failure (e.g. `invalid_grant`).
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            ApiError::Status {
                operation: Operation::TokenExchange | Operation::TokenRefresh,
                body,
                ..
            } => match body.as_ref() {
                DatevErrorBody::ErrorMessage(m) => m.error.as_deref(),
                _ => None,
            },
            _ => None,
        }
    }

    /// True for 401: the access token (or `X-DATEV-Client-Id`) was not accepted.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Retry classification: 429, 503 and connect failures are retryable; other 5xx and
    /// timeouts are retryable for idempotent operations and ambiguous for POSTs (datev.md §3,
    /// §6); everything else is permanent.
    pub fn retryability(&self) -> Retryability {
        let idempotent = self.operation().is_idempotent();
        let unless_post = if idempotent {
            Retryability::Retryable
        } else {
            Retryability::Ambiguous
        };
        match self {
            ApiError::Status { status, .. } => match *status {
                408 | 429 | 503 => Retryability::Retryable,
                500..=599 => unless_post,
                _ => Retryability::Permanent,
            },
            ApiError::Transport { source, .. } => match source {
                HttpError::Connect(_) => Retryability::Retryable,
                HttpError::Denied(_) => Retryability::Permanent,
                HttpError::Timeout | HttpError::Transport(_) => unless_post,
            },
            ApiError::InvalidRequest { .. } => Retryability::Permanent,
            ApiError::UnexpectedResponse { .. } => {
                if idempotent {
                    Retryability::Permanent
                } else {
                    Retryability::Ambiguous
                }
            }
        }
    }
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): `delay-seconds`, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) turned into seconds from `now_ms`
/// (0 when already past). The obsolete RFC 850 and asctime date forms are not read.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(v.parse::<u64>().unwrap_or(u64::MAX));
    }
    let at = parse_imf_fixdate(v)?;
    Some(at.saturating_sub(now_ms / 1000))
}

/// Seconds since the epoch of an IMF-fixdate.
fn parse_imf_fixdate(v: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = v.get(5..)?;
    if v.get(3..5)? != ", " {
        return None;
    }
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.len() != 5 || parts[4] != "GMT" {
        return None;
    }
    let day: u64 = digits(parts[0], 2)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[1])? as u64 + 1;
    let year: u64 = digits(parts[2], 4)?;
    let hms: Vec<&str> = parts[3].split(':').collect();
    if hms.len() != 3 {
        return None;
    }
    let (h, m, s) = (digits(hms[0], 2)?, digits(hms[1], 2)?, digits(hms[2], 2)?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

fn digits(s: &str, n: usize) -> Option<u64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to the given civil date (H. Hinnant's algorithm), years ≥ 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::HttpResponse;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("5", 0), Some(5));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120));
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 §5.6.7 example).
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700_000),
            Some(77)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800_000),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Sat, 29 Feb 2020 12:00:00 GMT", 1_582_977_600_000 - 10_000),
            Some(10)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", 0), None);
    }

    #[test]
    fn problem_details_from_the_spec_example() {
        let body = br#"{"type":"http://www.datev.de/hilfe/1008835","title":"Invalid request URI path","detail":"Request-URI contains one or more invalid path segments","affected_elements":[{"name":"client-id","reason":"Path segment client-id is invalid"}],"request_id":"f11381c7-ba0e-4a3a-b2eb-fe4a6cc092c9","status":400}"#;
        let resp = HttpResponse::new(400, body.to_vec());
        let e = ApiError::from_response(Operation::GetExtfJob, &resp, 0, &[]);
        assert_eq!(e.body().and_then(DatevErrorBody::code), Some("1008835"));
        assert_eq!(e.retryability(), Retryability::Permanent);
        assert_eq!(
            e.to_string(),
            "getJob: DATEV answered HTTP 400: 1008835 Invalid request URI path Request-URI contains one or more invalid path segments"
        );
        match e.body() {
            Some(DatevErrorBody::ProblemDetails(p)) => {
                assert_eq!(p.affected_elements[0].name.as_deref(), Some("client-id"));
                assert_eq!(p.status, Some(400));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_message_and_gateway_and_text_shapes() {
        let dxso = br##"{"error":"#DCO01005","error_description":"restapi.ScopeFault","request_id":"r1"}"##;
        let e = ApiError::from_response(
            Operation::CreateDxsoJob,
            &HttpResponse::new(403, dxso.to_vec()),
            0,
            &[],
        );
        assert_eq!(e.body().and_then(DatevErrorBody::code), Some("#DCO01005"));
        let only_id = br#"{"request_id":"r2"}"#;
        let e = ApiError::from_response(
            Operation::GetDxsoJob,
            &HttpResponse::new(404, only_id.to_vec()),
            0,
            &[],
        );
        assert_eq!(
            e.body(),
            Some(&DatevErrorBody::ErrorMessage(ErrorMessage {
                request_id: Some("r2".into()),
                ..Default::default()
            }))
        );
        let gw = br#"{"httpCode":"401","httpMessage":"Unauthorized","moreInformation":"this offline access token is not authorized to access requested clients"}"#;
        let e = ApiError::from_response(
            Operation::GetClients,
            &HttpResponse::new(401, gw.to_vec()),
            0,
            &[],
        );
        assert!(matches!(e.body(), Some(DatevErrorBody::Gateway(_))));
        assert!(e.is_unauthorized());
        let e = ApiError::from_response(
            Operation::GetClients,
            &HttpResponse::new(502, b"<html>bad gateway</html>".to_vec()),
            0,
            &[],
        );
        assert_eq!(
            e.body(),
            Some(&DatevErrorBody::Text("<html>bad gateway</html>".into()))
        );
        let e = ApiError::from_response(
            Operation::GetClients,
            &HttpResponse::new(404, Vec::new()),
            0,
            &[],
        );
        assert_eq!(e.body(), Some(&DatevErrorBody::Empty));
        assert_eq!(e.to_string(), "getClients: DATEV answered HTTP 404");
    }

    #[test]
    fn secrets_are_removed_from_bodies() {
        let body = br#"{"error":"invalid_grant","error_description":"refresh token RT-very-secret-1 is expired"}"#;
        let e = ApiError::from_response(
            Operation::TokenRefresh,
            &HttpResponse::new(400, body.to_vec()),
            0,
            &["RT-very-secret-1"],
        );
        assert_eq!(e.oauth_error(), Some("invalid_grant"));
        assert!(!format!("{e} {e:?}").contains("RT-very-secret-1"));
        assert!(
            e.to_string()
                .contains("refresh token [redacted] is expired")
        );
        let e = ApiError::from_response(
            Operation::GetClients,
            &HttpResponse::new(500, b"echo Bearer AT-secret-xyz".to_vec()),
            0,
            &["AT-secret-xyz"],
        );
        assert_eq!(
            e.body(),
            Some(&DatevErrorBody::Text("echo Bearer [redacted]".into()))
        );
        let long = "x".repeat(5000);
        let e = ApiError::from_response(
            Operation::GetClients,
            &HttpResponse::new(500, long.into_bytes()),
            0,
            &[],
        );
        match e.body() {
            Some(DatevErrorBody::Text(t)) => assert_eq!(t.len(), MAX_TEXT_BODY),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_classification() {
        let st = |op, status| ApiError::Status {
            operation: op,
            status,
            body: Box::new(DatevErrorBody::Empty),
            retry_after_s: None,
        };
        assert_eq!(
            st(Operation::ImportExtfFile, 429).retryability(),
            Retryability::Retryable
        );
        assert_eq!(
            st(Operation::ImportExtfFile, 503).retryability(),
            Retryability::Retryable
        );
        assert_eq!(
            st(Operation::ImportExtfFile, 500).retryability(),
            Retryability::Ambiguous
        );
        assert_eq!(
            st(Operation::GetExtfJob, 500).retryability(),
            Retryability::Retryable
        );
        assert_eq!(
            st(Operation::GetExtfJob, 404).retryability(),
            Retryability::Permanent
        );
        let tr = |op, source| ApiError::Transport {
            operation: op,
            source,
        };
        assert_eq!(
            tr(
                Operation::ImportExtfFile,
                HttpError::Connect("refused".into())
            )
            .retryability(),
            Retryability::Retryable
        );
        assert_eq!(
            tr(Operation::ImportExtfFile, HttpError::Timeout).retryability(),
            Retryability::Ambiguous
        );
        assert_eq!(
            tr(Operation::TokenRefresh, HttpError::Timeout).retryability(),
            Retryability::Ambiguous
        );
        assert_eq!(
            tr(Operation::GetDxsoJob, HttpError::Timeout).retryability(),
            Retryability::Retryable
        );
        assert_eq!(
            tr(Operation::GetDxsoJob, HttpError::Denied("x".into())).retryability(),
            Retryability::Permanent
        );
        let un = |op| ApiError::UnexpectedResponse {
            operation: op,
            status: 202,
            reason: "no Location".into(),
        };
        assert_eq!(
            un(Operation::ImportExtfFile).retryability(),
            Retryability::Ambiguous
        );
        assert_eq!(
            un(Operation::GetExtfJob).retryability(),
            Retryability::Permanent
        );
        let resp = HttpResponse::new(429, Vec::new()).header("retry-after", "17");
        assert_eq!(
            ApiError::from_response(Operation::GetExtfJob, &resp, 0, &[]).retry_after_s(),
            Some(17)
        );
    }
}
