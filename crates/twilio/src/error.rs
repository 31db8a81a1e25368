//! Errors of the Twilio client and their classification for retries.
//!
//! Twilio's error body is `{"code", "message", "more_info", "status"}` (twilio.md §2.3,
//! <https://www.twilio.com/docs/usage/twilios-response>); some newer APIs answer with RFC 9457
//! problem details instead (twilio.md §1.2), so both shapes are read. Classification follows
//! twilio.md §9, §10 and §13.

use crate::time::parse_http_date;
use connector::{HttpError, HttpResponse, Method};
use std::fmt;

/// Twilio error codes the client or its callers act on (twilio.md §10,
/// <https://www.twilio.com/docs/api/errors>). Twilio advises against hard logic on codes; these
/// are the documented ones whose handling differs.
pub mod codes {
    /// 401: authentication failed (wrong key, test/live mix, other region).
    pub const AUTHENTICATION_FAILED: u32 = 20003;
    /// 404: not found; in Verify the verification was approved, expired, canceled or used up.
    pub const NOT_FOUND: u32 = 20404;
    /// 429: too many concurrent requests; the request was not processed.
    pub const TOO_MANY_REQUESTS: u32 = 20429;
    /// 400: invalid `To` number.
    pub const INVALID_TO: u32 = 21211;
    /// 400: invalid `From` number.
    pub const INVALID_FROM: u32 = 21212;
    /// 400: geo permission for the destination region not enabled.
    pub const GEO_PERMISSION: u32 = 21408;
    /// 400: the `From` number cannot send to this destination.
    pub const FROM_CANNOT_SEND: u32 = 21606;
    /// 400: the recipient replied STOP; final until they send START.
    pub const OPTED_OUT: u32 = 21610;
    /// 400: the sender's queue is full; retry later.
    pub const QUEUE_FULL: u32 = 21611;
    /// 400: `To` is not a mobile number; consider a call.
    pub const NOT_MOBILE: u32 = 21614;
    /// 400: `To` is a landline.
    pub const LANDLINE: u32 = 21635;
    /// 400: Verify invalid parameter.
    pub const VERIFY_INVALID_PARAMETER: u32 = 60200;
    /// 429: Verify check attempts used up (5).
    pub const VERIFY_MAX_CHECK_ATTEMPTS: u32 = 60202;
    /// 429: Verify send attempts used up (more than 5 sends).
    pub const VERIFY_MAX_SEND_ATTEMPTS: u32 = 60203;
    /// 403: Verify SMS to a landline.
    pub const VERIFY_LANDLINE: u32 = 60205;
    /// 429: Verify concurrent requests to one number.
    pub const VERIFY_CONCURRENT_REQUESTS: u32 = 60212;
    /// 400: Verify check without `To` or `VerificationSid`.
    pub const VERIFY_CHECK_WITHOUT_TARGET: u32 = 60221;
}

/// A `Retry-After` header value (RFC 9110 §10.2.3): a delay in seconds or an HTTP-date.
/// Twilio documents it only on Verify's 429 (twilio.md §9); it is honoured wherever present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Seconds(u64),
    /// `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`, as seconds since the Unix epoch.
    At(i64),
}

impl RetryAfter {
    /// Parses a header value; `None` for anything that is neither form.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            // More digits than fit in u64 is still "a very long time".
            return Some(Self::Seconds(v.parse().unwrap_or(u64::MAX)));
        }
        parse_http_date(v).map(Self::At)
    }

    /// The wait in milliseconds from `now_ms` (a date in the past means no wait).
    pub fn delay_ms(&self, now_ms: u64) -> u64 {
        match *self {
            Self::Seconds(s) => s.saturating_mul(1000),
            Self::At(at) => {
                let at_ms = at.max(0).unsigned_abs().saturating_mul(1000);
                at_ms.saturating_sub(now_ms)
            }
        }
    }
}

/// What a caller should do after an error (twilio.md §9, §10, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing was done by Twilio; send the same request again after a backoff.
    Retry,
    /// Twilio may have acted (a create that timed out, a transport failure after sending, a 5xx
    /// to a POST): look the resource up (list Messages/Calls, twilio.md §13) and resend only if
    /// nothing went out.
    Reconcile,
    /// Retrying the same request will not help (bad input, opted out, configuration).
    Final,
}

/// An error answer from Twilio, with its code, message and documentation link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Method of the request that got this answer.
    pub method: Method,
    /// HTTP status.
    pub status: u16,
    /// Twilio error code (`21211`, …), when the body had one.
    pub code: Option<u32>,
    /// Twilio's message, or a description of the unreadable body.
    pub message: String,
    /// `https://www.twilio.com/docs/errors/<code>`, when given.
    pub more_info: Option<String>,
    /// The parsed `Retry-After` header, when present and valid.
    pub retry_after: Option<RetryAfter>,
}

/// Twilio's messages are short; anything longer is not a Twilio error body.
const MAX_MESSAGE_CHARS: usize = 500;

impl ApiError {
    /// Reads a non-2xx response (both body shapes of twilio.md §1.2 / §2.3). Never fails: an
    /// unreadable body still gives the status, with a message saying so. The raw body is not
    /// copied into the message (a proxy's error page could echo request data).
    pub fn from_response(method: Method, resp: &HttpResponse) -> Self {
        let retry_after = resp.header_value("Retry-After").and_then(RetryAfter::parse);
        let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
        let obj = json.as_ref().and_then(serde_json::Value::as_object);
        let field_str = |k: &str| {
            obj.and_then(|o| o.get(k))
                .and_then(serde_json::Value::as_str)
        };
        let code = obj.and_then(|o| o.get("code")).and_then(|c| match c {
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let message = field_str("message")
            .or_else(|| field_str("detail"))
            .or_else(|| field_str("title"))
            .map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect())
            .unwrap_or_else(|| {
                if obj.is_some() {
                    "error body without a message".to_owned()
                } else {
                    format!(
                        "error body is not a JSON object ({} bytes)",
                        resp.body.len()
                    )
                }
            });
        let more_info = field_str("more_info")
            .or_else(|| field_str("type").filter(|t| t.starts_with("https://")))
            .map(str::to_owned);
        Self {
            method,
            status: resp.status,
            code,
            message,
            more_info,
            retry_after,
        }
    }

    /// How to proceed (twilio.md §10): 429/20429, 21611 (queue full) and 60212 (concurrent
    /// Verify requests) are retried; 60202/60203 (Verify attempts used up) are final although
    /// they come as 429; a 5xx is retried, after reconciling when it answered a POST (a create
    /// may have happened, §13); every other status is final (unknown 4xx on create: final and
    /// alert, §10).
    pub fn disposition(&self) -> Disposition {
        match self.code {
            Some(codes::VERIFY_MAX_CHECK_ATTEMPTS | codes::VERIFY_MAX_SEND_ATTEMPTS) => {
                return Disposition::Final;
            }
            Some(
                codes::TOO_MANY_REQUESTS | codes::QUEUE_FULL | codes::VERIFY_CONCURRENT_REQUESTS,
            ) => {
                return Disposition::Retry;
            }
            _ => {}
        }
        match self.status {
            429 => Disposition::Retry,
            500..=599 if self.method == Method::Post => Disposition::Reconcile,
            500..=599 => Disposition::Retry,
            _ => Disposition::Final,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "Twilio error {code} (HTTP {}): {}",
                self.status, self.message
            )?,
            None => write!(f, "Twilio error (HTTP {}): {}", self.status, self.message)?,
        }
        if let Some(link) = &self.more_info {
            write!(f, " ({link})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Why client-side input was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputReason {
    /// Empty where content is required.
    Empty,
    /// Longer than Twilio accepts.
    TooLong {
        /// The limit, in the unit Twilio counts (characters).
        max: usize,
        /// The actual length.
        actual: usize,
    },
    /// Outside the accepted numeric range.
    OutOfRange {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A character Twilio or XML cannot carry.
    InvalidCharacter(char),
    /// The configuration lacks what this call needs.
    NotConfigured,
    /// Not one of the accepted values.
    Unsupported,
    /// A paging link that does not point into this account's resources.
    ForeignPageUri,
}

impl fmt::Display for InputReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max, actual } => {
                write!(f, "is {actual} characters long, at most {max} allowed")
            }
            Self::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            Self::InvalidCharacter(c) => {
                write!(f, "contains the character {c:?}, which cannot be sent")
            }
            Self::NotConfigured => f.write_str("is not configured"),
            Self::Unsupported => f.write_str("is not a supported value"),
            Self::ForeignPageUri => f.write_str("does not point to this account's resources"),
        }
    }
}

/// Everything that can go wrong in a Twilio call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error status.
    #[error(transparent)]
    Api(ApiError),
    /// No answer arrived.
    #[error("{method} request to Twilio failed: {source}")]
    Http {
        /// Method of the failed request (a GET is always safe to repeat).
        method: Method,
        /// The transport failure.
        source: HttpError,
    },
    /// A success status with a body that is not the documented resource.
    #[error("unexpected {status} response from Twilio: {reason}")]
    UnexpectedResponse {
        /// Method of the request.
        method: Method,
        /// HTTP status.
        status: u16,
        /// What did not match.
        reason: String,
    },
    /// The form or query could not be encoded (`serde_urlencoded` refused it).
    #[error("request encoding failed: {0}")]
    Encode(String),
    /// Input refused before sending.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The offending field or setting.
        field: &'static str,
        /// Why.
        reason: InputReason,
    },
}

impl TwilioError {
    pub(crate) fn input(field: &'static str, reason: InputReason) -> Self {
        Self::InvalidInput { field, reason }
    }

    /// How to proceed after this error:
    /// - `Connect` (nothing reached Twilio) → [`Disposition::Retry`];
    /// - `Timeout` / `Transport` after a POST → [`Disposition::Reconcile`] (after a GET: retry);
    /// - `Denied` (host policy) and invalid input → [`Disposition::Final`];
    /// - a 2xx to a POST with an unreadable body → [`Disposition::Reconcile`]: the resource
    ///   exists but its SID is unknown;
    /// - Twilio error answers per [`ApiError::disposition`].
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::Api(e) => e.disposition(),
            Self::Http {
                source: HttpError::Connect(_),
                ..
            } => Disposition::Retry,
            Self::Http {
                source: HttpError::Denied(_),
                ..
            } => Disposition::Final,
            Self::Http {
                method: Method::Get,
                ..
            } => Disposition::Retry,
            Self::Http { .. } => Disposition::Reconcile,
            Self::UnexpectedResponse {
                method: Method::Post,
                ..
            } => Disposition::Reconcile,
            Self::UnexpectedResponse { .. } | Self::InvalidInput { .. } | Self::Encode(_) => {
                Disposition::Final
            }
        }
    }

    /// True when a later attempt may succeed: [`Disposition::Retry`] or, after reconciling,
    /// [`Disposition::Reconcile`]. 429/20429, 5xx and connect failures are retryable.
    pub fn is_retryable(&self) -> bool {
        self.disposition() != Disposition::Final
    }

    /// True when Twilio may have acted on the request, so a blind resend risks a duplicate
    /// (twilio.md §13). Timeouts and transport failures of a POST, and a 5xx to a POST.
    pub fn is_ambiguous(&self) -> bool {
        self.disposition() == Disposition::Reconcile
    }

    /// The Twilio error code, if Twilio sent one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Api(e) => e.code,
            _ => None,
        }
    }

    /// The HTTP status, if Twilio answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Self::Api(e) => e.retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(method: Method, status: u16, body: &str) -> TwilioError {
        TwilioError::Api(ApiError::from_response(
            method,
            &HttpResponse::new(status, body),
        ))
    }

    fn body(code: u32, status: u16) -> String {
        format!(
            r#"{{"code": {code}, "message": "m", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
        )
    }

    #[test]
    fn parses_the_documented_error_bodies_exactly() {
        // twilio.md §2.3, both examples verbatim.
        let e = ApiError::from_response(
            Method::Post,
            &HttpResponse::new(
                400,
                r#"{"code": 60200, "message": "Invalid parameter: To", "more_info": "https://www.twilio.com/docs/errors/60200", "status": 400}"#,
            ),
        );
        assert_eq!(
            e,
            ApiError {
                method: Method::Post,
                status: 400,
                code: Some(60200),
                message: "Invalid parameter: To".into(),
                more_info: Some("https://www.twilio.com/docs/errors/60200".into()),
                retry_after: None,
            }
        );
        assert_eq!(
            e.to_string(),
            "Twilio error 60200 (HTTP 400): Invalid parameter: To (https://www.twilio.com/docs/errors/60200)"
        );
        let resp = HttpResponse::new(
            429,
            r#"{"code": 20429, "message": "Too many requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#,
        )
        .header("Retry-After", "7")
        .header("Twilio-Reached-Rate-Limit", "SERVICE");
        let e = ApiError::from_response(Method::Post, &resp);
        assert_eq!(e.code, Some(20429));
        assert_eq!(e.message, "Too many requests");
        assert_eq!(e.retry_after, Some(RetryAfter::Seconds(7)));
        assert_eq!(e.disposition(), Disposition::Retry);
    }

    #[test]
    fn parses_generic_404_problem_details_and_junk() {
        // The docs' generic 404 has only status and message.
        let e = ApiError::from_response(
            Method::Get,
            &HttpResponse::new(
                404,
                r#"{"status": 404, "message": "The requested resource /x was not found"}"#,
            ),
        );
        assert_eq!((e.code, e.more_info.as_deref()), (None, None));
        assert_eq!(e.message, "The requested resource /x was not found");
        assert_eq!(
            e.to_string(),
            "Twilio error (HTTP 404): The requested resource /x was not found"
        );

        // RFC 9457 shape, as in twilio-java's RestStandardException fixture (twilio.md §1.2).
        let e = ApiError::from_response(
            Method::Get,
            &HttpResponse::new(
                403,
                r#"{"type": "https://www.twilio.com/docs/errors/20003", "title": "Authentication Error", "status": 403, "detail": "Invalid credentials", "instance": "/x", "code": 20003, "errors": []}"#,
            ),
        );
        assert_eq!(e.code, Some(20003));
        assert_eq!(e.message, "Invalid credentials");
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/20003")
        );

        let e = ApiError::from_response(
            Method::Get,
            &HttpResponse::new(502, "<html>Bad Gateway</html>"),
        );
        assert_eq!(e.code, None);
        assert_eq!(e.message, "error body is not a JSON object (24 bytes)");
        let e = ApiError::from_response(Method::Get, &HttpResponse::new(500, "{}"));
        assert_eq!(e.message, "error body without a message");
    }

    #[test]
    fn classification_table() {
        use Disposition::*;
        let cases: &[(Method, u16, Option<u32>, Disposition)] = &[
            (Method::Post, 429, Some(20429), Retry),
            (Method::Get, 429, Some(20429), Retry),
            (Method::Post, 429, None, Retry),
            (Method::Post, 400, Some(21611), Retry), // queue full: retry later
            (Method::Post, 429, Some(60212), Retry), // concurrent Verify requests
            (Method::Post, 429, Some(60202), Final), // max check attempts
            (Method::Post, 429, Some(60203), Final), // max send attempts
            (Method::Post, 500, None, Reconcile),
            (Method::Post, 503, Some(20500), Reconcile),
            (Method::Get, 500, None, Retry),
            (Method::Get, 503, None, Retry),
            (Method::Post, 400, Some(21211), Final), // invalid To
            (Method::Post, 400, Some(21610), Final), // opted out (STOP)
            (Method::Post, 400, Some(21408), Final), // geo permission
            (Method::Post, 400, Some(21614), Final), // not a mobile
            (Method::Post, 401, Some(20003), Final),
            (Method::Get, 404, Some(20404), Final),
            (Method::Post, 403, Some(60205), Final),
            (Method::Post, 400, Some(99999), Final), // unknown 4xx on create: final + alert
            (Method::Post, 302, None, Final),
        ];
        for &(method, status, code, want) in cases {
            let e = match code {
                Some(c) => api(method, status, &body(c, status)),
                None => api(method, status, "{}"),
            };
            assert_eq!(e.disposition(), want, "{method} {status} {code:?}");
            assert_eq!(
                e.is_retryable(),
                want != Final,
                "{method} {status} {code:?}"
            );
            assert_eq!(
                e.is_ambiguous(),
                want == Reconcile,
                "{method} {status} {code:?}"
            );
            assert_eq!(e.code(), code);
            assert_eq!(e.status(), Some(status));
        }
        let http = |method, source| TwilioError::Http { method, source };
        assert_eq!(
            http(Method::Post, HttpError::Connect("refused".into())).disposition(),
            Retry
        );
        assert_eq!(
            http(Method::Post, HttpError::Timeout).disposition(),
            Reconcile
        );
        assert_eq!(
            http(Method::Post, HttpError::Transport("reset".into())).disposition(),
            Reconcile
        );
        assert_eq!(http(Method::Get, HttpError::Timeout).disposition(), Retry);
        assert_eq!(
            http(Method::Post, HttpError::Denied("host".into())).disposition(),
            Final
        );
        let unexpected = |method| TwilioError::UnexpectedResponse {
            method,
            status: 201,
            reason: "x".into(),
        };
        assert_eq!(unexpected(Method::Post).disposition(), Reconcile);
        assert_eq!(unexpected(Method::Get).disposition(), Final);
        assert_eq!(
            TwilioError::input("body", InputReason::Empty).disposition(),
            Final
        );
        assert_eq!(
            TwilioError::input("body", InputReason::Empty).to_string(),
            "body: must not be empty"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(RetryAfter::parse("120"), Some(RetryAfter::Seconds(120)));
        assert_eq!(RetryAfter::parse(" 0 "), Some(RetryAfter::Seconds(0)));
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Seconds(u64::MAX))
        );
        assert_eq!(
            RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(RetryAfter::At(784_111_777))
        );
        for junk in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(RetryAfter::parse(junk), None, "{junk:?}");
        }
        assert_eq!(RetryAfter::Seconds(7).delay_ms(123), 7_000);
        assert_eq!(RetryAfter::Seconds(u64::MAX).delay_ms(0), u64::MAX);
        assert_eq!(RetryAfter::At(784_111_777).delay_ms(784_111_770_500), 6_500);
        assert_eq!(RetryAfter::At(784_111_777).delay_ms(784_111_800_000), 0);
        // An unparseable header is ignored, not an error.
        let resp = HttpResponse::new(429, body(20429, 429)).header("retry-after", "later");
        assert_eq!(
            ApiError::from_response(Method::Post, &resp).retry_after,
            None
        );
    }
}
