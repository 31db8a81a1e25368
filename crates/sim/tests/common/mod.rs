//! Shared helpers for the simulator's contract tests.
#![allow(dead_code)]

use base64::Engine as _;
use connector::memory::ManualClock;
use connector::{HttpClient, HttpRequest, HttpResponse, Method};
use serde_json::Value;
use sim::{InMemory, Recorder, Shared, Sim, SimConfig};
use std::sync::Arc;

/// 2024-03-01T10:00:00Z.
pub const T0: u64 = 1_709_287_200_000;

pub const AUTHORIZE: &str = "https://login.datev.de/openidsandbox/authorize";
pub const TOKEN: &str = "https://sandbox-api.datev.de/token";
pub const REVOKE: &str = "https://sandbox-api.datev.de/revoke";
pub const EXTF: &str = "https://accounting-extf-files.api.datev.de/platform-sandbox/v3";
pub const CLIENTS: &str = "https://accounting-clients.api.datev.de/platform-sandbox/v2";
pub const DXSO: &str = "https://accounting-dxso-jobs.api.datev.de/platform-sandbox/v2";
pub const ACCOUNT: &str = "AC00000000000000000000000000000000";
pub const KEY_SID: &str = "SK00000000000000000000000000000000";
pub const KEY_SECRET: &str = "sim-api-key-secret";
pub const AUTH_TOKEN: &str = "sim-auth-token";
pub const SERVICE: &str = "VA00000000000000000000000000000000";
pub const REDIRECT: &str = "https://ml-connector.example/datev/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const STATE: &str = "state-0123456789abcdef";
pub const SCOPES: &str = "openid offline_access datev:accounting:extf-files-import datev:accounting:clients accounting:clients:read accounting:dxso-jobs";

pub fn messages_url() -> String {
    format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
}
pub fn calls_url() -> String {
    format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
}
pub fn verify_url(rest: &str) -> String {
    format!("https://verify.twilio.com/v2/Services/{SERVICE}/{rest}")
}

pub type TestSim = Sim<InMemory, Shared<ManualClock>, Shared<Recorder>>;

pub struct World {
    pub sim: TestSim,
    pub clock: Arc<ManualClock>,
    pub hooks: Arc<Recorder>,
}

pub fn world() -> World {
    world_with(SimConfig::default())
}

pub fn world_with(cfg: SimConfig) -> World {
    let clock = Arc::new(ManualClock::at(T0));
    let hooks = Arc::new(Recorder::new());
    let sim = Sim::new(
        cfg,
        InMemory::new(),
        Shared(Arc::clone(&clock)),
        Shared(Arc::clone(&hooks)),
    );
    World { sim, clock, hooks }
}

impl World {
    pub fn send(&self, req: HttpRequest) -> HttpResponse {
        self.sim.send(req).expect("simulator answered")
    }
    pub fn advance(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }
    pub fn now(&self) -> u64 {
        use connector::Clock;
        self.clock.now_ms()
    }

    /// Authorize + code exchange; returns the token response.
    pub fn login(&self, scope: &str) -> Value {
        let code = self.authorize_code(scope);
        let resp = self.send(token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]));
        assert_eq!(resp.status, 200, "{}", text(&resp));
        body_json(&resp)
    }

    pub fn authorize_code(&self, scope: &str) -> String {
        let resp = self.send(HttpRequest::new(
            Method::Get,
            authorize_url(&[
                ("response_type", "code"),
                ("client_id", "ml-connector-sim"),
                ("redirect_uri", REDIRECT),
                ("scope", scope),
                ("state", STATE),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("enableWindowsSso", "true"),
            ]),
        ));
        assert_eq!(resp.status, 302);
        let location = resp.header_value("location").expect("Location").to_owned();
        let q = location_query(&location);
        assert_eq!(param(&q, "state"), Some(STATE));
        param(&q, "code").expect("code").to_owned()
    }

    /// An access token with every scope.
    pub fn access_token(&self) -> String {
        self.login(SCOPES)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

pub fn authorize_url(pairs: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    format!(
        "{AUTHORIZE}?{}",
        serde_urlencoded::to_string(owned).unwrap()
    )
}

pub fn location_query(location: &str) -> Vec<(String, String)> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str(q).unwrap()
}

pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    serde_urlencoded::to_string(owned).unwrap().into_bytes()
}

pub fn token_request(pairs: &[(&str, &str)]) -> HttpRequest {
    HttpRequest::new(Method::Post, TOKEN)
        .header(
            "Authorization",
            basic("ml-connector-sim", "sim-client-secret"),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
}

/// A DATEV API request with bearer and client id.
pub fn datev(method: Method, url: &str, token: &str) -> HttpRequest {
    HttpRequest::new(method, url)
        .header("Authorization", format!("Bearer {token}"))
        .header("X-DATEV-Client-Id", "ml-connector-sim")
        .header("Accept", "application/json")
}

/// A Twilio form POST with the API key.
pub fn twilio_post(url: &str, pairs: &[(&str, &str)]) -> HttpRequest {
    HttpRequest::new(Method::Post, url)
        .header("Authorization", basic(KEY_SID, KEY_SECRET))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
}

pub fn twilio_get(url: &str) -> HttpRequest {
    HttpRequest::new(Method::Get, url).header("Authorization", basic(KEY_SID, KEY_SECRET))
}

pub fn body_json(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(resp)))
}

pub fn text(resp: &HttpResponse) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// DATEV's sample Buchungsstapel (consultant 29098, client 55003) as DATEV's API wants it:
/// CR LF, Windows-1252, without the two rows whose fields are not paired (52 rows).
pub fn sample_extf() -> Vec<u8> {
    include_bytes!("../data/EXTF_valid.csv").to_vec()
}

/// `bytes` with the first occurrence of `from` replaced by `to`.
pub fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    match bytes.windows(from.len()).position(|w| w == from) {
        Some(i) => [&bytes[..i], to, &bytes[i + from.len()..]].concat(),
        None => bytes.to_vec(),
    }
}

pub fn extf_upload(token: &str, client: &str, file: Vec<u8>) -> HttpRequest {
    datev(
        Method::Post,
        &format!("{EXTF}/clients/{client}/extf-files/import"),
        token,
    )
    .header("Content-Type", "application/octet-stream")
    .header("Filename", "EXTF_Buchungsstapel_2024.csv")
    .header("Reference-Id", "batch-42")
    .body(file)
}

/// Keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

/// Form parameters of a recorded callback request.
pub fn form_of(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).unwrap()
}
