//! Test doubles and fixtures shared by the integration tests.
#![allow(dead_code)]

use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Secret};
use datev::{
    ClientAuthStyle, ClientCredentials, DatevClientId, DatevConfig, Endpoints, Environment,
    Keyring, OAuthClientId, OAuthConfig, Ports, RedirectUri,
};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Mutex;

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-value";
pub const REDIRECT: &str = "https://connector.example/datev/callback";
/// 32 bytes 0x00..0x1f and 0x1f..0x00, standard base64.
pub const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const K2: &str = "HxwdHhscGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";
/// 2026-01-01T00:00:00Z.
pub const T0: u64 = 1_767_225_600_000;

pub type Handler<'a> = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + 'a>;

/// An `HttpClient` that records every request and answers through a handler.
pub struct Scripted<'a> {
    handler: Handler<'a>,
    log: Mutex<Vec<HttpRequest>>,
}

impl<'a> Scripted<'a> {
    pub fn new(handler: impl Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + 'a) -> Self {
        Self {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Answers with the given responses in order; panics (test failure) when they run out.
    pub fn queue(responses: Vec<Result<HttpResponse, HttpError>>) -> Self {
        let q = Mutex::new(responses.into_iter());
        Self::new(move |req| {
            q.lock()
                .unwrap()
                .next()
                .unwrap_or_else(|| panic!("unexpected request {} {}", req.method, req.url))
        })
    }

    /// Fails every request (the test expects none).
    pub fn none() -> Self {
        Self::new(|req| panic!("unexpected request {} {}", req.method, req.url))
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl HttpClient for Scripted<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.log.lock().unwrap().push(req.clone());
        (self.handler)(&req)
    }
}

/// An `HttpClient` that runs `during` while a request is "in flight", then passes it on: two
/// callers interleaved deterministically on one thread.
pub struct Interleave<'a> {
    pub inner: &'a dyn HttpClient,
    pub during: Box<dyn Fn() + 'a>,
}

impl HttpClient for Interleave<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        (self.during)();
        self.inner.send(req)
    }
}

/// A token endpoint double: the n-th successful answer carries `AT<n>…` / `RT<n>…`,
/// `expires_in` 900. It accepts only the newest refresh token (rotation).
pub struct TokenServer {
    issued: Cell<u32>,
    live_refresh: Mutex<Option<String>>,
}

impl TokenServer {
    pub fn new() -> Self {
        Self {
            issued: Cell::new(0),
            live_refresh: Mutex::new(None),
        }
    }

    pub fn access(n: u32) -> String {
        format!("AT{n}x9QvL2mKw7RpZs4Tb")
    }

    pub fn refresh(n: u32) -> String {
        format!("RT{n}y8PuK1nJv6QoYr3Sa")
    }

    pub fn issued(&self) -> u32 {
        self.issued.get()
    }

    pub fn answer(&self, req: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() == Some("refresh_token") {
            let presented = get("refresh_token");
            let mut live = self.live_refresh.lock().unwrap();
            if presented.is_none() || *live != presented {
                return Ok(json(
                    400,
                    r#"{"error":"invalid_grant","error_description":"refresh token is invalid"}"#,
                ));
            }
            *live = None;
        }
        let n = self.issued.get() + 1;
        self.issued.set(n);
        *self.live_refresh.lock().unwrap() = Some(Self::refresh(n));
        Ok(json(
            200,
            &format!(
                r#"{{"access_token":"{}","token_type":"Bearer","expires_in":900,"refresh_token":"{}","scope":"openid datev:accounting:extf-files-import"}}"#,
                Self::access(n),
                Self::refresh(n)
            ),
        ))
    }

    /// Makes the current refresh token unknown (revoked / expired).
    pub fn revoke(&self) {
        *self.live_refresh.lock().unwrap() = None;
    }
}

pub fn json(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .header("Content-Type", "application/json;charset=utf-8")
}

pub fn config(credentials: ClientCredentials) -> DatevConfig {
    let oauth = OAuthConfig::new(
        OAuthClientId::parse(CLIENT_ID).unwrap(),
        credentials,
        RedirectUri::parse(REDIRECT).unwrap(),
    );
    DatevConfig::new(Endpoints::for_environment(Environment::Sandbox), oauth)
}

pub fn basic() -> ClientCredentials {
    ClientCredentials::Confidential {
        secret: Secret::new(CLIENT_SECRET),
        style: ClientAuthStyle::Basic,
    }
}

pub fn client() -> DatevClientId {
    DatevClientId::parse("455148-1").unwrap()
}

/// Store, clock, randomness and keys of one test.
pub struct World {
    pub store: MemoryStore,
    pub clock: ManualClock,
    pub rng: SeededRng,
    pub ring: Keyring,
    pub config: DatevConfig,
}

impl World {
    pub fn new() -> Self {
        Self::with(basic())
    }

    pub fn with(credentials: ClientCredentials) -> Self {
        Self {
            store: MemoryStore::new(),
            clock: ManualClock::at(T0),
            rng: SeededRng::new(2026),
            ring: Keyring::parse(&format!("k1:{K1}")).unwrap(),
            config: config(credentials),
        }
    }

    pub fn ports<'a>(&'a self, http: &'a dyn HttpClient) -> Ports<'a> {
        Ports {
            store: &self.store,
            http,
            clock: &self.clock,
            rng: &self.rng,
        }
    }
}

/// Renders a request as text for golden files: method and URL, headers, blank line, body.
/// Each `(secret, placeholder)` is replaced, so no credential lands in a snapshot while the
/// comparison stays exact.
pub fn render(req: &HttpRequest, substitutions: &[(&str, &str)]) -> String {
    let mut out = format!("{} {}\n", req.method, req.url);
    for (n, v) in &req.headers {
        out.push_str(&format!("{n}: {v}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&req.body));
    out.push('\n');
    for (secret, placeholder) in substitutions {
        out = out.replace(secret, placeholder);
    }
    out
}

/// Compares `actual` with `tests/golden/<name>`; `BLESS=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} missing ({e}); run with BLESS=1",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "golden file {} differs (BLESS=1 regenerates)",
        path.display()
    );
}

/// Every 8-character window of `secret` that occurs anywhere in the raw store.
pub fn leaks(store: &MemoryStore, secret: &str) -> Vec<String> {
    let dump = store.dump();
    let mut found = Vec::new();
    let bytes = secret.as_bytes();
    for w in bytes.windows(8.min(bytes.len())) {
        for (k, v) in &dump {
            if k.as_bytes().windows(w.len()).any(|x| x == w) || v.windows(w.len()).any(|x| x == w) {
                found.push(format!("{} in {k}", String::from_utf8_lossy(w)));
            }
        }
    }
    found
}
