//! The ports: the only ways domain code reaches key-value storage, HTTP, time and randomness.

use std::fmt;

/// Error from the key-value port.
///
/// Per `ARCHITECTURE.md` a store error always means "not done, retry later", never success and
/// never "someone else has it" (`spin.md` §4.3: the cron plugin and the HTTP trigger share one
/// SQLite file, so any call can fail with `database is locked`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The component was not granted the store (`key_value_stores` in `spin.toml`).
    #[error("key-value store access denied")]
    AccessDenied,
    /// The label names no configured store.
    #[error("no such key-value store")]
    NoSuchStore,
    /// The store is full.
    #[error("key-value store is full")]
    TableFull,
    /// Any other backend failure (busy database, lost connection, malformed counter).
    #[error("key-value store error: {0}")]
    Other(String),
}

/// Key-value storage with Spin's semantics: no scans, no expiry, atomic `increment`.
///
/// Implemented over `fermyon:spin/key-value@2.0.0` plus `wasi:keyvalue/atomics@0.2.0-draft2`
/// in components and by [`crate::memory::MemoryStore`] in tests. Compare-and-swap is deliberately
/// absent: Spin does not make it safe on either backend (`spin.md` §4.3); coordinate through
/// [`KeyValue::increment`] instead (a claim is `increment(key, 1) == 1`).
pub trait KeyValue {
    /// Reads a value; `Ok(None)` when the key is absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a value (upsert).
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Deletes a key; deleting an absent key is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Atomically adds `delta` to the counter at `key` (absent counts as 0) and returns the new
    /// value. A counter key must never be written with [`KeyValue::set`]: the SQLite backend
    /// expects 8 little-endian bytes there and Redis a decimal string.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// Takes a claim: true for the single caller whose increment returned 1.
    fn claim(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.increment(key, 1)? == 1)
    }
}

impl<T: KeyValue + ?Sized> KeyValue for &T {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        (**self).increment(key, delta)
    }
}

/// HTTP method of an outbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outbound HTTP request, fully buffered.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL (`https://host/path?query`).
    pub url: String,
    /// Header fields in order; names as given (compare case-insensitively).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// First value of a header, compared case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

// Requests carry bearer tokens and Basic credentials: never print header values or bodies.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// One HTTP response, fully buffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status and body and no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// First value of a header, compared case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why an outbound request produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The host refused the destination (`allowed_outbound_hosts`).
    #[error("outbound request denied by host policy: {0}")]
    Denied(String),
    /// Nothing reached the server (DNS, connect, TLS): safe to retry.
    #[error("connection failed before the request was sent: {0}")]
    Connect(String),
    /// The request may have been processed but no answer came: retrying blindly risks a duplicate.
    #[error("request timed out after it was sent")]
    Timeout,
    /// Any other transport failure after the request left.
    #[error("transport error: {0}")]
    Transport(String),
}

impl HttpError {
    /// True when the server may have acted on the request (reconcile before retrying).
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, HttpError::Timeout | HttpError::Transport(_))
    }
}

/// Sends one request and waits for its response.
pub trait HttpClient {
    /// Sends `req`.
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError>;
}

impl<T: HttpClient + ?Sized> HttpClient for &T {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        (**self).send(req)
    }
}

/// Wall-clock time.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// Randomness. Production uses WASI `random` (a CSPRNG); tests use a seeded generator.
pub trait Rng {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
    /// A random `u64`.
    fn next_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }
}

impl<T: Rng + ?Sized> Rng for &T {
    fn fill(&self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}
