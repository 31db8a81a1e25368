//! [`connector::HttpClient`] over `wasi:http/outgoing-handler`, and conversions between Spin's
//! incoming/outgoing HTTP types and the connector's.
//!
//! Outbound requests use the WASI 0.2 resources directly with their blocking calls
//! (`blocking-write-and-flush`, `pollable.block`, `blocking-read`) rather than
//! `spin_sdk::http::send`, because only `outgoing-handler.handle` takes `request-options`, and the
//! timeouts are what lets [`HttpError::Timeout`] mean "sent, no answer" (`spin.md` §6;
//! WIT `wasi:http/types@0.2.0` `request-options`).

use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use std::time::Duration;
use wasi::io::streams::StreamError;

/// `blocking-write-and-flush` accepts at most 4096 bytes per call (WIT `wasi:io/streams@0.2.0`).
const WRITE_CHUNK: usize = 4096;
/// Read granularity for bodies.
const READ_CHUNK: u64 = 16 * 1024;
/// Cap on a buffered response body, so a misbehaving server cannot exhaust guest memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Outbound HTTP through Spin (subject to the component's `allowed_outbound_hosts`).
///
/// Timeouts are passed as `request-options`; a host that does not support one of them rejects the
/// option and the request is sent without it (Spin supports all three through wasmtime-wasi-http).
#[derive(Debug, Clone)]
pub struct SpinHttp {
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
}

impl Default for SpinHttp {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(20),
            between_bytes_timeout: Duration::from_secs(20),
        }
    }
}

impl SpinHttp {
    /// A client with the default timeouts (connect 5 s, first byte 20 s, between bytes 20 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the three timeouts.
    pub fn with_timeouts(connect: Duration, first_byte: Duration, between_bytes: Duration) -> Self {
        Self {
            connect_timeout: connect,
            first_byte_timeout: first_byte,
            between_bytes_timeout: between_bytes,
        }
    }

    fn options(&self) -> RequestOptions {
        let options = RequestOptions::new();
        // An unsupported option is an `Err(())`; the request then goes without it, as documented.
        let _ = options.set_connect_timeout(Some(nanos(self.connect_timeout)));
        let _ = options.set_first_byte_timeout(Some(nanos(self.first_byte_timeout)));
        let _ = options.set_between_bytes_timeout(Some(nanos(self.between_bytes_timeout)));
        options
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl HttpClient for SpinHttp {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let target = Target::parse(&req.url)?;
        let headers = build_fields(&req.headers)?;
        let outgoing = OutgoingRequest::new(headers);
        let not_sent = |what: &str| {
            HttpError::Connect(format!("request rejected by the host: invalid {what}"))
        };
        outgoing
            .set_method(&wasi_method(req.method))
            .map_err(|()| not_sent("method"))?;
        outgoing
            .set_scheme(Some(&target.scheme))
            .map_err(|()| not_sent("scheme"))?;
        outgoing
            .set_authority(Some(&target.authority))
            .map_err(|()| not_sent("authority"))?;
        outgoing
            .set_path_with_query(Some(&target.path_with_query))
            .map_err(|()| not_sent("path"))?;
        let body = outgoing.body().map_err(|()| not_sent("body"))?;

        let future = outgoing_handler::handle(outgoing, Some(self.options()))
            .map_err(|e| map_error_code(&e))?;

        // From here on the request may have left: body write failures are ambiguous.
        write_body(body, &req.body)?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(map_error_code(&code)),
            Some(Err(())) => return Err(HttpError::Transport("response already taken".into())),
            None => {
                return Err(HttpError::Transport(
                    "response not ready after block".into(),
                ));
            }
        };
        let status = response.status();
        let headers = fields_to_pairs(&response.headers());
        let incoming = response
            .consume()
            .map_err(|()| HttpError::Transport("response body already consumed".into()))?;
        let body = read_body(incoming, MAX_RESPONSE_BYTES).map_err(|e| match e {
            IncomingBodyError::TooLarge(limit) => {
                HttpError::Transport(format!("response body exceeds {limit} bytes"))
            }
            IncomingBodyError::Stream(msg) => HttpError::Transport(msg),
        })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    {
        let stream = body
            .write()
            .map_err(|()| HttpError::Transport("request body stream unavailable".into()))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Transport(format!("writing the request body: {e}")))?;
        }
        // The stream must be dropped before `finish` (WIT: child resource of the body).
    }
    OutgoingBody::finish(body, None).map_err(|e| map_error_code(&e))
}

/// Maps a `wasi:http` `error-code` onto the port's [`HttpError`], by whether the request can have
/// reached the server (WIT `wasi:http/types@0.2.0`, variant `error-code`):
/// - nothing left the guest or no connection was made (DNS, refused, connect timeout, TLS
///   handshake, invalid request) → [`HttpError::Connect`] (safe to retry);
/// - the host's policy refused it (`allowed_outbound_hosts`) → [`HttpError::Denied`];
/// - the request was sent and the answer did not come in time → [`HttpError::Timeout`];
/// - anything else after the request left → [`HttpError::Transport`] (ambiguous).
pub fn map_error_code(code: &ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied("allowed_outbound_hosts".into()),
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_) => HttpError::Connect(format!("{code:?}")),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => HttpError::Timeout,
        other => HttpError::Transport(format!("{other:?}")),
    }
}

fn wasi_method(method: Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Delete => WasiMethod::Delete,
    }
}

/// Header names the guest may not set: Spin sets `host` from the URL and strips a guest's
/// (`spin.md` §6), and wasi-http refuses hop-by-hop fields. They are left out rather than failing
/// the whole request.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "te",
];

fn build_fields(headers: &[(String, String)]) -> Result<Fields, HttpError> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(n, _)| !FORBIDDEN_HEADERS.iter().any(|f| n.eq_ignore_ascii_case(f)))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone().into_bytes()))
        .collect();
    Fields::from_list(&list)
        .map_err(|e| HttpError::Connect(format!("request headers rejected by the host: {e:?}")))
}

fn fields_to_pairs(fields: &Fields) -> Vec<(String, String)> {
    fields
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect()
}

/// The parts of an absolute `http(s)://authority/path?query` URL that `wasi:http` wants.
struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, HttpError> {
        let invalid = |why: &str| HttpError::Connect(format!("invalid request URL: {why}"));
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(invalid("scheme must be http or https"));
        };
        // The fragment is never sent (RFC 9110 §4.2.1 / RFC 3986 §3.5).
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        if authority.contains('@') {
            return Err(invalid("userinfo is not allowed in the URL"));
        }
        let path_with_query = match tail.chars().next() {
            None => "/".to_owned(),
            Some('?') => format!("/{tail}"),
            Some(_) => tail.to_owned(),
        };
        Ok(Self {
            scheme,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

/// Why an incoming body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingBodyError {
    /// More than the given number of bytes arrived; reading stopped there.
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    /// The stream failed.
    #[error("body stream failed: {0}")]
    Stream(String),
}

/// The method, path and headers of an incoming request, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingParts {
    /// Method as on the wire (`POST`, `PATCH`, …).
    pub method: String,
    /// The request target's path and query exactly as received (no normalisation).
    pub path_with_query: String,
    /// Header fields in order, repeated names kept. Names are lowercase (wasi-http); a value
    /// that is not UTF-8 is converted lossily (no header this project reads may carry such bytes).
    pub headers: Vec<(String, String)>,
}

/// Reads method, path+query and headers of an incoming request.
pub fn from_incoming_request(req: &IncomingRequest) -> IncomingParts {
    let method = match req.method() {
        WasiMethod::Get => "GET".to_owned(),
        WasiMethod::Head => "HEAD".to_owned(),
        WasiMethod::Post => "POST".to_owned(),
        WasiMethod::Put => "PUT".to_owned(),
        WasiMethod::Delete => "DELETE".to_owned(),
        WasiMethod::Connect => "CONNECT".to_owned(),
        WasiMethod::Options => "OPTIONS".to_owned(),
        WasiMethod::Trace => "TRACE".to_owned(),
        WasiMethod::Patch => "PATCH".to_owned(),
        WasiMethod::Other(m) => m,
    };
    IncomingParts {
        method,
        path_with_query: req.path_with_query().unwrap_or_else(|| "/".to_owned()),
        headers: fields_to_pairs(&req.headers()),
    }
}

/// Reads an incoming request's body, stopping as soon as more than `limit` bytes have arrived
/// (so an oversized body is never buffered in full).
pub fn read_incoming_body(
    req: &IncomingRequest,
    limit: usize,
) -> Result<Vec<u8>, IncomingBodyError> {
    let body = req
        .consume()
        .map_err(|()| IncomingBodyError::Stream("request body already consumed".into()))?;
    read_body(body, limit)
}

fn read_body(body: IncomingBody, limit: usize) -> Result<Vec<u8>, IncomingBodyError> {
    let mut out = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| IncomingBodyError::Stream("body stream unavailable".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if out.len() + chunk.len() > limit {
                        return Err(IncomingBodyError::TooLarge(limit));
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(IncomingBodyError::Stream(e.to_string())),
            }
        }
    }
    // Trailers are not used by anything this project talks to; finishing releases the body.
    drop(IncomingBody::finish(body));
    Ok(out)
}

/// Converts a connector response into Spin's response type (for `#[http_component]` handlers).
pub fn to_spin_response(resp: HttpResponse) -> spin_sdk::http::Response {
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(resp.status);
    for (name, value) in resp.headers {
        builder.header(name, value);
    }
    builder.body(resp.body);
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (bool, String, String) {
        let t = Target::parse(url).expect("valid");
        (
            matches!(t.scheme, Scheme::Https),
            t.authority,
            t.path_with_query,
        )
    }

    #[test]
    fn url_split() {
        assert_eq!(
            parts("https://api.twilio.com/2010-04-01/x.json?a=1#f"),
            (
                true,
                "api.twilio.com".into(),
                "/2010-04-01/x.json?a=1".into()
            )
        );
        assert_eq!(
            parts("http://127.0.0.1:3000"),
            (false, "127.0.0.1:3000".into(), "/".into())
        );
        assert_eq!(parts("http://h?x=1"), (false, "h".into(), "/?x=1".into()));
        assert!(matches!(
            Target::parse("ftp://h/"),
            Err(HttpError::Connect(_))
        ));
        assert!(matches!(
            Target::parse("https:///x"),
            Err(HttpError::Connect(_))
        ));
        assert!(matches!(
            Target::parse("https://u:p@h/x"),
            Err(HttpError::Connect(_))
        ));
    }
}
