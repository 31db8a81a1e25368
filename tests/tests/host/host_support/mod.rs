//! Shared helpers of the host tests: the probe fixture app and a recording outbound client.
//!
//! The probe components must be built first:
//! `cargo build --release --target wasm32-wasip2 -p probe -p probe-lib`.

#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use integration_tests::SpinApp;

/// `tests/fixtures/probe/spin.toml`.
pub fn probe_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/probe/spin.toml")
}

/// The probe app with its one required variable set.
pub fn probe_app() -> SpinApp {
    let mut app = SpinApp::load(probe_manifest()).expect("probe manifest loads");
    app.set_variable("token", "t0ken");
    app
}

/// `GET http://127.0.0.1:3000{path_and_query}`.
pub fn get(app: &SpinApp, path_and_query: &str) -> HttpResponse {
    app.http(HttpRequest::new(
        Method::Get,
        format!("http://127.0.0.1:3000{path_and_query}"),
    ))
    .unwrap_or_else(|e| {
        panic!(
            "GET {path_and_query}: {e:#}\nlogs:\n{}",
            app.logs().join("\n")
        )
    })
}

/// The body as UTF-8.
pub fn text(resp: &HttpResponse) -> String {
    String::from_utf8(resp.body.clone()).expect("probe answers UTF-8")
}

/// Percent-encodes a query value (enough for URLs).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How a [`Recorder`] answers.
pub type Answer = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + Send + Sync>;

/// An outbound client that records requests and answers from a script.
pub struct Recorder {
    pub seen: Mutex<Vec<HttpRequest>>,
    pub answer: Answer,
}

impl Recorder {
    /// Answers every request with `200 pong`.
    pub fn pong() -> Arc<Recorder> {
        Self::with(|_| Ok(HttpResponse::new(200, "pong").header("x-upstream", "yes")))
    }

    pub fn with(
        answer: impl Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + Send + Sync + 'static,
    ) -> Arc<Recorder> {
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    pub fn seen(&self) -> Vec<HttpRequest> {
        self.seen.lock().expect("recorder lock").clone()
    }
}

impl HttpClient for Recorder {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let answer = (self.answer)(&req);
        self.seen.lock().expect("recorder lock").push(req);
        answer
    }
}
