//! Shared by the DATEV-side modules (`api_component`, `poller_component`, `admin_component`,
//! the `e2e_*`): the workspace app with the DATEV simulator as its outbound HTTP (real clock,
//! instant jobs), and the browser side of connect.
#![allow(dead_code)]

use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use integration_tests::SpinApp;
use serde_json::{Value, json};
use sim::{InMemory, Sim, SimConfig, Unreachable};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const LISTENER: &str = "http://127.0.0.1:3000";
pub const ADMIN: &str = "component-test-admin-token-0123456789";
pub const CLIENT: &str = "29098-55003";

/// The wall clock, as the guest sees it.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

pub type WallSim = Sim<InMemory, SystemClock, Unreachable>;

/// The simulator as the app's outbound HTTP, keeping the tokens it hands out (to prove they
/// are never stored in plain text).
pub struct Outbound {
    pub sim: WallSim,
    tokens: Mutex<Vec<String>>,
}

impl Outbound {
    /// Every access and refresh token issued so far.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl HttpClient for Outbound {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let is_token = req.url.ends_with("/token");
        let answer = self.sim.send(req)?;
        if is_token && answer.status == 200 {
            let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            for field in ["access_token", "refresh_token"] {
                if let Some(t) = v[field].as_str() {
                    tokens.push(t.to_owned());
                }
            }
        }
        Ok(answer)
    }
}

/// The app, with DATEV simulated in-process (jobs finish at once, no `Retry-After`) and polling
/// without waits, so every tick can finish what it starts.
pub fn app(adjust: impl FnOnce(&mut SimConfig)) -> (SpinApp, Arc<Outbound>) {
    let mut cfg = SimConfig {
        seed: 3,
        ..SimConfig::default()
    };
    cfg.datev.extf_processing_ms = 0;
    cfg.datev.dxso_processing_ms = 0;
    cfg.datev.retry_after_s = None;
    adjust(&mut cfg);
    let sim = Arc::new(Outbound {
        sim: Sim::new(cfg, InMemory::new(), SystemClock, Unreachable),
        tokens: Mutex::new(Vec::new()),
    });
    let mut app = SpinApp::workspace().unwrap_or_else(|e| panic!("loading spin.toml: {e:#}"));
    app.set_variable("admin_token", ADMIN);
    app.set_variable("datev_client_id", "ml-connector-sim");
    app.set_variable("datev_client_secret", "sim-client-secret");
    app.set_variable("datev_poll_base_ms", "1");
    app.set_variable("datev_poll_min_delay_ms", "0");
    app.set_outbound(sim.clone());
    (app, sim)
}

pub fn send(app: &SpinApp, req: HttpRequest) -> HttpResponse {
    app.http(req)
        .unwrap_or_else(|e| panic!("{e:#}\nlogs:\n{}", app.logs().join("\n")))
}

pub fn admin(
    app: &SpinApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> HttpResponse {
    send(
        app,
        HttpRequest::new(method, format!("{LISTENER}{path}"))
            .header("Authorization", format!("Bearer {ADMIN}"))
            .header("Content-Type", content_type)
            .body(body.to_vec()),
    )
}

pub fn json_body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

/// `/datev/connect` → the simulated DATEV login (the browser) → `/datev/callback`. Returns the
/// callback's answer and every token the simulator handed out so far is checked by the caller.
pub fn connect(app: &SpinApp, sim: &Outbound) -> HttpResponse {
    let start = admin(
        app,
        Method::Get,
        &format!("/datev/connect?client={CLIENT}"),
        "text/plain",
        b"",
    );
    assert_eq!(
        start.status,
        302,
        "{}\n{}",
        String::from_utf8_lossy(&start.body),
        app.logs().join("\n")
    );
    let url = start.header_value("Location").unwrap().to_owned();
    assert!(
        url.starts_with(&format!(
            "{LISTENER}/sandbox/datev/login/openidsandbox/authorize?"
        )),
        "{url}"
    );
    let consent = sim.send(HttpRequest::new(Method::Get, url)).unwrap();
    assert_eq!(consent.status, 302);
    let back = consent.header_value("Location").unwrap();
    assert!(
        back.starts_with(&format!("{LISTENER}/datev/callback?")),
        "{back}"
    );
    send(app, HttpRequest::new(Method::Get, back))
}

pub fn configure(app: &SpinApp) {
    let body = json!({
        "name": "Musterholz GmbH",
        "finance_contacts": [{"name": "Anna", "phone": "0151 12345678"}, {"name": "Ben", "phone": "+49 151 87654321"}],
        "controller": {"name": "Carl", "phone": "0176 12345678"},
        "risk": {"threshold_cents": 10_000_000}
    });
    let r = admin(
        app,
        Method::Put,
        &format!("/clients/{CLIENT}"),
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

pub fn bookings_batch(n: usize) -> Value {
    let bookings: Vec<Value> = (0..n)
        .map(|i| {
            json!({"amount_cents": 11_900, "side": "soll", "account": 10000, "contra_account": 8400,
                   "document_date": "2024-02-15", "document_field1": format!("RE-2024-{}", 17 + i), "text": "Ausgangsrechnung"})
        })
        .collect();
    json!({
        "client": CLIENT, "reference": "RE 02/2024", "kind": "bookings",
        "header": {"origin": "RE", "fiscal_year_start": "2024-01-01", "account_length": 4,
                   "period_from": "2024-02-01", "period_to": "2024-02-29", "chart_of_accounts": "03"},
        "bookings": bookings
    })
}

/// No 8-byte piece of any token the simulator issued is anywhere in the raw store.
pub fn assert_no_plaintext_tokens(app: &SpinApp, out: &Outbound) {
    let tokens = out.tokens();
    assert!(!tokens.is_empty(), "no token was issued");
    let store = app.kv("default");
    let dump = store.dump();
    for t in &tokens {
        for w in t.as_bytes().windows(8) {
            for (k, v) in &dump {
                assert!(
                    !k.as_bytes().windows(8).any(|x| x == w) && !v.windows(8).any(|x| x == w),
                    "a piece of a token is stored in plain text under {k}"
                );
            }
        }
    }
}
