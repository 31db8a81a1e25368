//! The test world: the api and the poller on one in-memory store, against the in-process DATEV
//! simulator, on a manual clock.
#![allow(dead_code)]

pub mod native_extf;

use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::outbox::OutboxItem;
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use datev::Ports;
use flows::api::{Api, ApiRequest, ApiSettings, Body};
use flows::config::{self, DatevSetup};
use flows::poller::{Poller, PollerConfig, TickError, TickReport};
use serde_json::{Value, json};
use sim::{Api as SimApi, InMemory, Shared, Sim, SimConfig, Unreachable};
use std::sync::{Arc, Mutex};

pub use native_extf::NativeExtf;

/// 2024-03-01T10:00:00Z.
pub const T0: u64 = 1_709_287_200_000;
pub const ADMIN: &str = "admin-token-0123456789abcdef";
pub const CLIENT: &str = "29098-55003";
pub const BASE: &str = "http://127.0.0.1:3000";
pub const SIM_CLIENT_ID: &str = "ml-connector-sim";
pub const TWILIO_SECRET: &str = "sim-api-key-secret";
pub const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const ANNA: &str = "+4915112345678";
pub const BEN: &str = "+4915187654321";
pub const CARL: &str = "+4917612345678";

pub type TestSim = Sim<InMemory, Shared<ManualClock>, Unreachable>;

/// Passes requests on and keeps them, with their answers; can inject answers for matching
/// requests (after the simulator handled them, or instead of sending them).
pub struct Tap {
    inner: Arc<dyn HttpClient + Send + Sync>,
    log: Mutex<Vec<(HttpRequest, Result<HttpResponse, HttpError>)>>,
    #[allow(clippy::type_complexity)]
    pub inject: Mutex<Vec<Injection>>,
}

/// One scripted fault: for the `nth` (from 0) request whose `METHOD url` contains `needle`.
pub struct Injection {
    pub needle: String,
    pub nth: usize,
    pub seen: usize,
    /// Pass the request to the simulator first (the effect happens), then answer with this.
    pub after_effect: bool,
    pub answer: Result<HttpResponse, HttpError>,
}

impl Tap {
    pub fn new(inner: Arc<dyn HttpClient + Send + Sync>) -> Self {
        Self {
            inner,
            log: Mutex::new(Vec::new()),
            inject: Mutex::new(Vec::new()),
        }
    }

    pub fn log(&self) -> Vec<(HttpRequest, Result<HttpResponse, HttpError>)> {
        self.log.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.log().into_iter().map(|(r, _)| r).collect()
    }

    /// Every `field` of every successful token response.
    pub fn issued(&self, field: &str) -> Vec<String> {
        self.log()
            .iter()
            .filter(|(r, _)| r.url.ends_with("/token"))
            .filter_map(|(_, a)| a.as_ref().ok().filter(|a| a.status == 200))
            .filter_map(|a| {
                serde_json::from_slice::<Value>(&a.body).ok()?[field]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    pub fn count(&self, method: Method, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.url.contains(needle))
            .count()
    }

    pub fn fail(
        &self,
        needle: &str,
        nth: usize,
        after_effect: bool,
        answer: Result<HttpResponse, HttpError>,
    ) {
        self.inject.lock().unwrap().push(Injection {
            needle: needle.into(),
            nth,
            seen: 0,
            after_effect,
            answer,
        });
    }
}

impl HttpClient for Tap {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let line = format!("{} {}", req.method, req.url);
        let mut injected = None;
        for inj in self.inject.lock().unwrap().iter_mut() {
            if line.contains(&inj.needle) {
                if inj.seen == inj.nth {
                    injected = Some((inj.after_effect, inj.answer.clone()));
                }
                inj.seen += 1;
            }
        }
        let answer = match injected {
            Some((true, answer)) => {
                let _ = self.inner.send(req.clone());
                answer
            }
            Some((false, answer)) => answer,
            None => self.inner.send(req.clone()),
        };
        self.log.lock().unwrap().push((req, answer.clone()));
        answer
    }
}

pub struct World {
    pub clock: Arc<ManualClock>,
    pub sim: Arc<TestSim>,
    pub tap: Tap,
    pub store: MemoryStore,
    pub rng: SeededRng,
    pub setup: DatevSetup,
    pub api_settings: ApiSettings,
    pub poller: PollerConfig,
    pub extf: NativeExtf,
}

pub fn variables() -> Vec<(&'static str, String)> {
    vec![
        ("datev_client_id", SIM_CLIENT_ID.into()),
        ("datev_client_secret", "sim-client-secret".into()),
        ("datev_redirect_uri", format!("{BASE}/datev/callback")),
        (
            "datev_authorize_url",
            format!("{BASE}/sandbox/datev/login/openidsandbox/authorize"),
        ),
        ("datev_token_url", format!("{BASE}/sandbox/datev/api/token")),
        (
            "datev_extf_files_url",
            format!("{BASE}/sandbox/datev/extf-files/platform-sandbox/v3"),
        ),
        (
            "datev_accounting_clients_url",
            format!("{BASE}/sandbox/datev/clients/platform-sandbox/v2"),
        ),
        (
            "datev_dxso_jobs_url",
            format!("{BASE}/sandbox/datev/dxso-jobs/platform-sandbox/v2"),
        ),
        ("datev_token_keys", KEYS.into()),
        ("admin_token", ADMIN.into()),
        (
            "twilio_account_sid",
            "AC00000000000000000000000000000000".into(),
        ),
        (
            "twilio_api_key_sid",
            "SK00000000000000000000000000000000".into(),
        ),
        ("twilio_api_key_secret", TWILIO_SECRET.into()),
        ("twilio_api_base_url", format!("{BASE}/sandbox/twilio/api")),
        (
            "twilio_verify_base_url",
            format!("{BASE}/sandbox/twilio/verify"),
        ),
        ("twilio_from_number", "+15005550006".into()),
        (
            "twilio_verify_service_sid",
            "VA00000000000000000000000000000000".into(),
        ),
    ]
}

impl World {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut SimConfig)) -> Self {
        let mut cfg = SimConfig {
            seed: 5,
            ..SimConfig::default()
        };
        adjust(&mut cfg);
        let clock = Arc::new(ManualClock::at(T0));
        let sim = Arc::new(Sim::new(
            cfg,
            InMemory::new(),
            Shared(Arc::clone(&clock)),
            Unreachable,
        ));
        let vars = variables();
        let lookup = move |name: &'static str| -> Result<Option<String>, String> {
            Ok(vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone()))
        };
        let setup = config::datev(&lookup).unwrap();
        let poller = config::poller(&lookup).unwrap();
        // Nothing stored yet: the variables decide, as in a fresh deployment.
        let twilio = flows::credentials::twilio_config(&MemoryStore::new(), &lookup);
        let api_settings = ApiSettings {
            schedule: poller.schedule,
            twilio,
            ..ApiSettings::new(config::admin_token(&lookup), config::datev(&lookup))
        };
        Self {
            clock,
            tap: Tap::new(sim.clone()),
            sim,
            store: MemoryStore::new(),
            rng: SeededRng::new(77),
            setup,
            api_settings,
            poller,
            extf: NativeExtf,
        }
    }

    pub fn ports(&self) -> Ports<'_> {
        Ports {
            store: &self.store,
            http: &self.tap,
            clock: &*self.clock,
            rng: &self.rng,
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn api(&self) -> Api<'_> {
        Api::new(&self.api_settings, self.ports(), &self.extf)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let req = ApiRequest {
            method: method.into(),
            path_with_query: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Body::Complete(body.to_vec()),
        };
        self.api().handle(&req)
    }

    pub fn admin(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
        let auth = format!("Bearer {ADMIN}");
        self.request(
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", content_type)],
            body,
        )
    }

    /// The browser side of the connect flow: `/datev/connect` → DATEV (simulated user) → the
    /// callback. Returns the callback's answer and the query DATEV redirected with.
    pub fn connect(&self) -> (HttpResponse, String) {
        let start = self.admin(
            "GET",
            &format!("/datev/connect?client={CLIENT}"),
            "text/plain",
            b"",
        );
        assert_eq!(
            start.status,
            302,
            "{}",
            String::from_utf8_lossy(&start.body)
        );
        let url = start.header_value("Location").unwrap().to_owned();
        let consent = self.tap.send(HttpRequest::new(Method::Get, url)).unwrap();
        assert_eq!(consent.status, 302);
        let back = consent.header_value("Location").unwrap().to_owned();
        let query = back.split_once('?').unwrap().1.to_owned();
        let answer = self.request("GET", &format!("/datev/callback?{query}"), &[], b"");
        (answer, query)
    }

    pub fn connected(self) -> Self {
        let (answer, _) = self.connect();
        assert_eq!(
            answer.header_value("Location"),
            Some(format!("/datev/result?outcome=connected&client={CLIENT}").as_str())
        );
        self
    }

    pub fn configure(&self, threshold_cents: Option<u64>) {
        let body = json!({
            "name": "Musterholz GmbH",
            "language": "de",
            "finance_contacts": [
                {"name": "Anna", "phone": "0151 12345678"},
                {"name": "Ben", "phone": "+49 151 87654321", "language": "en"}
            ],
            "controller": {"name": "Carl", "phone": "0176 12345678"},
            "risk": {"threshold_cents": threshold_cents}
        });
        let r = self.admin(
            "PUT",
            &format!("/clients/{CLIENT}"),
            "application/json",
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    pub fn ready(self) -> Self {
        let w = self.connected();
        w.configure(Some(10_000_000));
        w
    }

    pub fn post_batch(&self, body: &Value) -> HttpResponse {
        self.admin(
            "POST",
            "/batches",
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    pub fn create_batch(&self, body: &Value) -> u64 {
        let r = self.post_batch(body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
            .as_u64()
            .unwrap()
    }

    pub fn batch(&self, id: u64) -> Value {
        let r = self.admin("GET", &format!("/batches/{id}"), "text/plain", b"");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    }

    pub fn poller(&self) -> Poller<'_> {
        Poller::new(&self.poller, &self.setup, self.ports())
    }

    /// One tick at the current time.
    pub fn tick(&self) -> Result<TickReport, TickError> {
        self.poller().tick(self.now() / 1000)
    }

    /// Ticks every 5 s of simulated time, `n` times; panics on a tick error.
    pub fn ticks(&self, n: usize) -> TickReport {
        let mut total = TickReport::default();
        for _ in 0..n {
            self.clock.advance_ms(5_000);
            let r = self.tick().unwrap();
            add(&mut total, &r);
        }
        total
    }

    pub fn raw(&self, key: &str) -> Vec<u8> {
        use connector::KeyValue as _;
        self.store
            .get(key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is not stored"))
    }

    pub fn outbox(&self) -> Vec<OutboxItem> {
        self.store
            .dump()
            .into_iter()
            .filter(|(k, _)| k.starts_with("outbox:"))
            .map(|(_, v)| serde_json::from_slice(&v).unwrap())
            .collect()
    }

    pub fn outbox_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .outbox()
            .iter()
            .map(|i| i.dedup_key.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// The simulator's records of one DATEV API.
    pub fn records(&self, api: SimApi) -> Vec<sim::CallRecord> {
        self.sim
            .records()
            .unwrap()
            .into_iter()
            .filter(|r| r.api == api)
            .collect()
    }

    pub fn imports(&self) -> usize {
        self.records(SimApi::DatevExtf)
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }

    /// Every API request carried a bearer token and `X-DATEV-Client-Id`, as sent and as the
    /// simulator recorded it. Returns how many there were.
    pub fn assert_api_requests_authenticated(&self) -> usize {
        let api_paths = [
            "/sandbox/datev/extf-files/",
            "/sandbox/datev/clients/",
            "/sandbox/datev/dxso-jobs/",
        ];
        let sent: Vec<HttpRequest> = self
            .tap
            .requests()
            .into_iter()
            .filter(|r| api_paths.iter().any(|p| r.url.contains(p)))
            .collect();
        for r in &sent {
            let bearer = r.header_value("Authorization").unwrap_or("");
            assert!(
                bearer.starts_with("Bearer ") && bearer.len() > 20,
                "{} {}",
                r.method,
                r.url
            );
            assert_eq!(
                r.header_value("X-DATEV-Client-Id"),
                Some(SIM_CLIENT_ID),
                "{} {}",
                r.method,
                r.url
            );
        }
        let records: Vec<sim::CallRecord> = self
            .sim
            .records()
            .unwrap()
            .into_iter()
            .filter(|r| {
                matches!(
                    r.api,
                    SimApi::DatevExtf | SimApi::DatevClients | SimApi::DatevDxso
                )
            })
            .collect();
        for r in &records {
            assert!(
                r.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("X-DATEV-Client-Id") && v == SIM_CLIENT_ID),
                "{} {}",
                r.method,
                r.path
            );
            let handled = r
                .fault
                .as_deref()
                .is_none_or(|f| f.ends_with("after effect"));
            if handled {
                assert!(
                    r.principal == format!("client:{SIM_CLIENT_ID}")
                        || r.principal == "expired, revoked or unknown bearer token",
                    "{} {}: {}",
                    r.method,
                    r.path,
                    r.principal
                );
            }
        }
        sent.len()
    }

    /// No token the simulator issued appears anywhere in the raw store (any 8-byte window).
    pub fn assert_no_plaintext_tokens(&self) {
        let tokens: Vec<String> = self
            .tap
            .issued("access_token")
            .into_iter()
            .chain(self.tap.issued("refresh_token"))
            .collect();
        assert!(!tokens.is_empty());
        let dump = self.store.dump();
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
}

pub fn add(total: &mut TickReport, r: &TickReport) {
    total.lease |= r.lease;
    let (t, x) = (&mut total.releases, &r.releases);
    t.applied += x.applied;
    t.duplicates += x.duplicates;
    t.failed += x.failed;
    t.decided += x.decided;
    t.replies += x.replies;
    t.expired += x.expired;
    total.refreshed += r.refreshed;
    total.submitted += r.submitted;
    total.submit_retries += r.submit_retries;
    total.refused += r.refused;
    total.polls += r.polls;
    total.finished += r.finished;
    total.alerts += r.alerts;
    total.audit_failures += r.audit_failures;
}

/// A valid bookings batch for 29098-55003 (SKR03, February 2024), `n` bookings of 119.00 EUR.
pub fn bookings_batch(reference: &str, n: usize) -> Value {
    let bookings: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "amount_cents": 11_900,
                "side": "soll",
                "account": 10000,
                "contra_account": 8400,
                "document_date": "2024-02-15",
                "document_field1": format!("RE-2024-{}", 17 + i),
                "text": "Ausgangsrechnung"
            })
        })
        .collect();
    json!({
        "client": CLIENT,
        "reference": reference,
        "kind": "bookings",
        "header": {
            "origin": "RE",
            "fiscal_year_start": "2024-01-01",
            "account_length": 4,
            "period_from": "2024-02-01",
            "period_to": "2024-02-29",
            "label": "Rechnungsausgang 02 2024",
            "chart_of_accounts": "03"
        },
        "bookings": bookings
    })
}

/// A valid DXSO batch: one outgoing invoice with a PDF image.
pub fn dxso_batch(reference: &str) -> Value {
    use base64::Engine as _;
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 invoice AR-2024-0001");
    json!({
        "client": CLIENT,
        "reference": reference,
        "kind": "dxso",
        "header": {
            "fiscal_year_start": "2024-01-01",
            "account_length": 4,
            "period_from": "2024-02-01",
            "period_to": "2024-02-29"
        },
        "documents": [{
            "kind": "accounts_receivable",
            "datafile": "AR-2024-0001.xml",
            "accounting_month": "2024-02",
            "folder_name": "Ausgangsrechnungen",
            "partner_name": "Kunde GmbH",
            "images": ["AR-2024-0001.pdf"],
            "bookings": [{
                "amount_cents": 11_900,
                "side": "soll",
                "account": 10000,
                "contra_account": 8400,
                "document_date": "2024-02-15",
                "document_field1": "AR-2024-0001",
                "text": "Rechnung"
            }]
        }],
        "options": {"generator_info": "ml-connector"},
        "attachments": [{"name": "AR-2024-0001.pdf", "content_base64": pdf}]
    })
}
