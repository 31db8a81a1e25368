//! Small adapters for driving the simulator from tests and hosts.

use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, KeyValue, StoreError};
use std::sync::{Arc, Mutex};

/// Shares one port implementation between the simulator and the test (e.g. a
/// `ManualClock` the test advances while the simulator reads it).
#[derive(Debug)]
pub struct Shared<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl<T: Clock + ?Sized> Clock for Shared<T> {
    fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }
}

impl<T: HttpClient + ?Sized> HttpClient for Shared<T> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.send(req)
    }
}

impl<T: KeyValue + ?Sized> KeyValue for Shared<T> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.0.increment(key, delta)
    }
}

/// What [`Recorder`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status with an empty body.
    Status(u16),
    /// A transport error.
    Error(HttpError),
}

/// An outbound port that records every request (callbacks, for assertions) and answers with
/// a programmable sequence (then a default).
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<RecorderInner>,
}

#[derive(Debug)]
struct RecorderInner {
    requests: Vec<HttpRequest>,
    script: std::collections::VecDeque<Answer>,
    default: Answer,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::answering(Answer::Status(204))
    }
}

impl Recorder {
    /// A recorder answering 204 to everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder answering `default` to everything not scripted.
    pub fn answering(default: Answer) -> Self {
        Self {
            inner: Mutex::new(RecorderInner {
                requests: Vec::new(),
                script: std::collections::VecDeque::new(),
                default,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().script.extend(answers);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.lock().requests.clone()
    }

    /// Forgets recorded requests.
    pub fn clear(&self) {
        self.lock().requests.clear();
    }
}

impl HttpClient for Recorder {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut inner = self.lock();
        inner.requests.push(req);
        let answer = inner
            .script
            .pop_front()
            .unwrap_or_else(|| inner.default.clone());
        match answer {
            Answer::Status(s) => Ok(HttpResponse::new(s, Vec::new())),
            Answer::Error(e) => Err(e),
        }
    }
}

/// An outbound port that reaches nothing (every request fails to connect).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unreachable;

impl HttpClient for Unreachable {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        Err(HttpError::Connect(format!("no route to {}", req.url)))
    }
}
