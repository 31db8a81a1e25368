//! The DATEV client against the in-process simulator (`crates/sim`): connect flow, token expiry
//! while polling, refresh rotation, one refresher, re-consent, EXTF and DXSO jobs, faults.
//! Every test ends by checking that each API request carried a bearer token and
//! `X-DATEV-Client-Id`, both in what left the client and in what the simulator recorded.

mod common;

use common::{Interleave, leaks};
use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Method, Secret};
use datev::backoff::{PollDecision, PollPolicy, next_poll};
use datev::{
    AccessToken, AccountingMonth, CallbackParams, ClientAuthStyle, ClientCredentials, ClientsQuery,
    ConnectError, Connected, ConnectionState, DatevApi, DatevAuth, DatevClientId, DatevConfig,
    DxsoFile, DxsoFilename, DxsoImportType, DxsoJobParams, DxsoJobStatus, Endpoints, Environment,
    ExtfFilename, ExtfJob, ExtfJobId, ExtfUpload, HeaderText, JobProgress, Keyring, OAuthClientId,
    OAuthConfig, Operation, Ports, RedirectUri, RefreshOutcome, Retryability, TokenError,
};
use sim::{Api, Consent, InMemory, Shared, Sim, SimConfig, Unreachable, Window};
use std::sync::{Arc, Mutex};

/// 2024-03-01T10:00:00Z.
const T0: u64 = 1_709_287_200_000;
const SIM_CLIENT_ID: &str = "ml-connector-sim";
const SIM_SECRET: &str = "sim-client-secret";
const REDIRECT: &str = "https://ml-connector.example/datev/callback";
const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

type TestSim = Sim<InMemory, Shared<ManualClock>, Unreachable>;

/// Passes requests to the simulator and keeps every request and answer (tests read tokens
/// out of the answers; nothing is printed).
struct Tap<'a> {
    inner: &'a dyn HttpClient,
    log: Mutex<Vec<(HttpRequest, Result<HttpResponse, HttpError>)>>,
}

impl<'a> Tap<'a> {
    fn new(inner: &'a dyn HttpClient) -> Self {
        Self {
            inner,
            log: Mutex::new(Vec::new()),
        }
    }

    fn log(&self) -> Vec<(HttpRequest, Result<HttpResponse, HttpError>)> {
        self.log.lock().unwrap().clone()
    }

    /// Token endpoint requests so far, by grant type.
    fn token_requests(&self, grant: &str) -> usize {
        let needle = format!("grant_type={grant}");
        self.log()
            .iter()
            .filter(|(r, _)| r.url.ends_with("/token") && r.body.starts_with(needle.as_bytes()))
            .count()
    }

    /// The `field` of every successful token response, oldest first.
    fn issued(&self, field: &str) -> Vec<String> {
        self.log()
            .iter()
            .filter(|(r, _)| r.url.ends_with("/token"))
            .filter_map(|(_, a)| a.as_ref().ok().filter(|a| a.status == 200))
            .map(|a| {
                let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
                v[field].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

impl HttpClient for Tap<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let answer = self.inner.send(req.clone());
        self.log.lock().unwrap().push((req, answer.clone()));
        answer
    }
}

struct World {
    clock: Arc<ManualClock>,
    sim: TestSim,
    store: MemoryStore,
    rng: SeededRng,
    ring: Keyring,
    config: DatevConfig,
}

impl World {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut SimConfig)) -> Self {
        let mut cfg = SimConfig {
            seed: 11,
            ..SimConfig::default()
        };
        adjust(&mut cfg);
        let clock = Arc::new(ManualClock::at(T0));
        let sim = Sim::new(
            cfg,
            InMemory::new(),
            Shared(Arc::clone(&clock)),
            Unreachable,
        );
        let oauth = OAuthConfig::new(
            OAuthClientId::parse(SIM_CLIENT_ID).unwrap(),
            ClientCredentials::Confidential {
                secret: Secret::new(SIM_SECRET),
                style: ClientAuthStyle::Basic,
            },
            RedirectUri::parse(REDIRECT).unwrap(),
        );
        Self {
            clock,
            sim,
            store: MemoryStore::new(),
            rng: SeededRng::new(99),
            ring: Keyring::parse(KEY).unwrap(),
            config: DatevConfig::new(Endpoints::for_environment(Environment::Sandbox), oauth),
        }
    }

    fn ports<'a>(&'a self, http: &'a dyn HttpClient) -> Ports<'a> {
        Ports {
            store: &self.store,
            http,
            clock: &*self.clock,
            rng: &self.rng,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }
}

fn client() -> DatevClientId {
    DatevClientId::parse("29098-55003").unwrap()
}

/// Plays the browser: follows the authorization URL to the simulator's redirect and returns
/// the callback query.
fn authorize(http: &dyn HttpClient, url: &str) -> String {
    let resp = http.send(HttpRequest::new(Method::Get, url)).unwrap();
    assert_eq!(resp.status, 302, "{}", String::from_utf8_lossy(&resp.body));
    let location = resp.header_value("Location").unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    location.split_once('?').unwrap().1.to_owned()
}

fn connect(w: &World, http: &dyn HttpClient) -> Result<Connected, ConnectError> {
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(http));
    let attempt = auth.begin_connect(&client())?;
    let query = authorize(http, &attempt.url);
    auth.complete_connect(&CallbackParams::from_query(&query)?)
}

/// A minimal valid Buchungsstapel for 29098-55003 (header as in datev.md §1.4, one booking),
/// UTF-8 with BOM (datev.md §1.2).
/// A one-booking Buchungsstapel the simulator's EXTF check accepts: Formatversion 13 rows carry
/// all 125 fields (datev.md §1.5), and field 114 (Festschreibung) repeats the header's 0, since
/// an empty one means locked.
fn extf_file() -> Vec<u8> {
    const COLUMNS: usize = 125;
    let names = "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;\
                 Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1";
    let mut row = vec![""; COLUMNS];
    let given = [
        "119,00",
        "\"S\"",
        "\"EUR\"",
        "",
        "",
        "",
        "10000",
        "8400",
        "\"\"",
        "1502",
        "\"RE-2024-17\"",
    ];
    row[..given.len()].copy_from_slice(&given);
    row[114 - 1] = "0";
    let names = format!("{names}{}\r\n", ";".repeat(COLUMNS - 11));
    let mut f = b"\xEF\xBB\xBF".to_vec();
    f.extend_from_slice(
        concat!(
            "\"EXTF\";700;21;\"Buchungsstapel\";13;20240301100000000;;\"RE\";\"\";\"\";29098;55003;20240101;4;",
            "20240201;20240229;\"Rechnungsausgang 02/2024\";\"\";1;0;0;\"EUR\";;\"\";;;\"03\";;;\"\";\"\"\r\n",
        )
        .as_bytes(),
    );
    f.extend_from_slice(names.as_bytes());
    f.extend_from_slice(format!("{}\r\n", row.join(";")).as_bytes());
    f
}

fn upload() -> ExtfUpload {
    let mut u = ExtfUpload::new(
        ExtfFilename::parse("EXTF_RE_202402_1.csv").unwrap(),
        extf_file(),
    )
    .unwrap();
    u.reference_id = Some(HeaderText::reference_id("batch-0001").unwrap());
    u
}

const API_HOSTS: [&str; 3] = [
    "https://accounting-extf-files.api.datev.de/",
    "https://accounting-clients.api.datev.de/",
    "https://accounting-dxso-jobs.api.datev.de/",
];

/// Every API request carried `Authorization: Bearer …` and `X-DATEV-Client-Id`, as sent and as
/// the simulator recorded it (the simulator records the principal, never the token). Returns
/// how many API requests there were.
fn assert_api_requests_authenticated(w: &World, tap: &Tap<'_>) -> usize {
    let sent: Vec<HttpRequest> = tap
        .log()
        .into_iter()
        .map(|(r, _)| r)
        .filter(|r| API_HOSTS.iter().any(|h| r.url.starts_with(h)))
        .collect();
    for r in &sent {
        let bearer = r.header_value("Authorization").unwrap_or("");
        assert!(
            bearer.starts_with("Bearer ") && bearer.len() > 7,
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
    let records: Vec<_> = w
        .sim
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| matches!(r.api, Api::DatevExtf | Api::DatevClients | Api::DatevDxso))
        .collect();
    assert_eq!(
        records.len(),
        sent.len(),
        "the simulator saw every API request"
    );
    for r in &records {
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("X-DATEV-Client-Id") && v == SIM_CLIENT_ID),
            "{} {}",
            r.method,
            r.path
        );
        // A request stopped by an injected transport fault before the API handled it was never
        // authenticated, so it has no principal.
        let handled = r
            .fault
            .as_deref()
            .is_none_or(|f| f.ends_with("after effect"));
        if !handled {
            assert_eq!(r.principal, "", "{} {}", r.method, r.path);
            continue;
        }
        assert!(
            r.principal == format!("client:{SIM_CLIENT_ID}")
                || r.principal == "expired, revoked or unknown bearer token",
            "{} {}: {}",
            r.method,
            r.path,
            r.principal
        );
    }
    sent.len()
}

#[test]
fn connect_good_then_list_clients() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    let connected = connect(&w, &tap).unwrap();
    assert_eq!(connected.client, client());
    assert_eq!(connected.expires_at_ms, T0 + 900_000);
    assert_eq!(
        connected.scope.as_deref(),
        Some(
            "openid offline_access datev:accounting:extf-files-import datev:accounting:clients accounting:clients:read accounting:dxso-jobs"
        )
    );
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::Connected { since_ms: T0 }
    );
    let token = auth.access_token(&client()).unwrap();
    let api = DatevApi::new(&w.config, w.ports(&tap));
    let page = api.list_clients(&token, &ClientsQuery::default()).unwrap();
    let ids: Vec<String> = page.clients.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, ["29098-55003", "29098-55004", "455148-3"]);
    assert!(page.clients[0].has_buchungsdatenservice());
    assert!(!page.clients[2].has_buchungsdatenservice());
    let only = api
        .list_clients(
            &token,
            &ClientsQuery {
                only: Some(client()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(only.clients.len(), 1);
    assert_eq!(only.clients[0].client_id().unwrap(), client());
    // No token in the raw store.
    for t in tap
        .issued("access_token")
        .into_iter()
        .chain(tap.issued("refresh_token"))
    {
        assert_eq!(leaks(&w.store, &t), Vec::<String>::new());
    }
    assert_eq!(assert_api_requests_authenticated(&w, &tap), 2);
}

#[test]
fn connect_denied() {
    let w = World::with(|c| c.datev.consent = Consent::Deny);
    let tap = Tap::new(&w.sim);
    match connect(&w, &tap) {
        Err(ConnectError::ConsentDenied { client: c, .. }) => assert_eq!(c, client()),
        other => panic!("{other:?}"),
    }
    assert_eq!(tap.token_requests("authorization_code"), 0);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::NotConnected
    );
    assert_eq!(auth.access_token(&client()), Err(TokenError::NotConnected));
}

#[test]
fn connect_bad_state_then_the_genuine_callback_still_works() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let attempt = auth.begin_connect(&client()).unwrap();
    let query = authorize(&tap, &attempt.url);
    let mut forged = CallbackParams::from_query(&query).unwrap();
    let mut state = forged.state.clone().unwrap();
    state.replace_range(0..1, if state.starts_with('A') { "B" } else { "A" });
    forged.state = Some(state);
    assert_eq!(
        auth.complete_connect(&forged),
        Err(ConnectError::UnknownState)
    );
    assert_eq!(tap.token_requests("authorization_code"), 0);
    let genuine = CallbackParams::from_query(&query).unwrap();
    assert_eq!(auth.complete_connect(&genuine).unwrap().client, client());
}

#[test]
fn connect_reused_code() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let attempt = auth.begin_connect(&client()).unwrap();
    let query = authorize(&tap, &attempt.url);
    let params = CallbackParams::from_query(&query).unwrap();
    auth.complete_connect(&params).unwrap();
    // The same callback again: the state is spent, DATEV is not asked.
    assert_eq!(
        auth.complete_connect(&params),
        Err(ConnectError::StateAlreadyUsed { client: client() })
    );
    assert_eq!(tap.token_requests("authorization_code"), 1);
    // The old code smuggled into a fresh attempt: DATEV refuses it and (RFC 6749 §4.1.2)
    // revokes what the code produced.
    let second = auth.begin_connect(&client()).unwrap();
    let smuggled = CallbackParams {
        state: Some(second.state.as_str().into()),
        ..params.clone()
    };
    match auth.complete_connect(&smuggled) {
        Err(ConnectError::TokenExchange { source, .. }) => {
            assert_eq!(source.oauth_error(), Some("invalid_grant"));
            assert!(
                source
                    .to_string()
                    .ends_with("invalid_grant Authorization code already used"),
                "{source}"
            );
            assert!(
                !source
                    .to_string()
                    .contains(params.code.as_ref().unwrap().expose())
            );
        }
        other => panic!("{other:?}"),
    }
    // The stored token is now dead at DATEV: the API says 401, the refresh says invalid_grant.
    let token = auth.access_token(&client()).unwrap();
    let api = DatevApi::new(&w.config, w.ports(&tap));
    let err = api
        .list_clients(&token, &ClientsQuery::default())
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    w.clock.advance_ms(790_000);
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::NeedsReconsent {
            since_ms: T0 + 790_000,
            newly_marked: true
        })
    );
    assert_api_requests_authenticated(&w, &tap);
}

/// Polls an EXTF job to its end with the backoff policy, fetching the token before every call
/// (refreshing when due). Returns the final job and the number of status calls.
fn poll_extf(
    w: &World,
    http: &dyn HttpClient,
    job: &ExtfJobId,
    retry_after_s: Option<u64>,
) -> (ExtfJob, u32) {
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(http));
    let api = DatevApi::new(&w.config, w.ports(http));
    let policy = PollPolicy::default();
    let submitted = w.now();
    let mut calls = 0;
    let mut retry_after = retry_after_s;
    loop {
        match next_poll(&policy, calls, submitted, w.now(), retry_after, w.rng_u64()) {
            PollDecision::Stuck { .. } => panic!("job stuck"),
            PollDecision::PollAt { at_ms } => w.clock.set_ms(at_ms),
        }
        let token = auth.access_token(&client()).unwrap();
        calls += 1;
        let status = api.extf_job(&token, &client(), job).unwrap();
        retry_after = None;
        if status.progress().is_terminal() {
            return (status, calls);
        }
    }
}

impl World {
    fn rng_u64(&self) -> u64 {
        use connector::Rng;
        self.rng.next_u64()
    }
}

#[test]
fn extf_job_succeeds_while_the_token_expires_mid_polling() {
    // The job takes 40 minutes: the 900 s access token expires twice meanwhile.
    let w = World::with(|c| c.datev.extf_processing_ms = 40 * 60_000);
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let api = DatevApi::new(&w.config, w.ports(&tap));
    let accepted = api
        .import_extf(&auth.access_token(&client()).unwrap(), &client(), &upload())
        .unwrap();
    assert_eq!(accepted.retry_after_s, Some(5));
    let (job, calls) = poll_extf(&w, &tap, &accepted.job_id, accepted.retry_after_s);
    assert_eq!(job.progress(), JobProgress::Succeeded, "{job:?}");
    assert_eq!(job.id, accepted.job_id.as_str());
    assert_eq!(job.number_of_accounting_records, Some(1));
    assert_eq!(job.reference_id.as_deref(), Some("batch-0001"));
    assert_eq!(job.label.as_deref(), Some("Rechnungsausgang 02/2024"));
    assert!(w.now() >= T0 + 40 * 60_000);
    println!(
        "40-minute EXTF job: {calls} status calls, {} refreshes",
        tap.token_requests("refresh_token")
    );
    // Refreshed before expiry each time: no API call was refused.
    assert!(
        tap.token_requests("refresh_token") >= 2,
        "{}",
        tap.token_requests("refresh_token")
    );
    assert!(
        tap.log()
            .iter()
            .all(|(_, a)| a.as_ref().map_or(true, |a| a.status != 401))
    );
    // Every access token DATEV issued was used only before its expiry (none reached 401), and
    // the raw store never held one.
    for t in tap
        .issued("access_token")
        .into_iter()
        .chain(tap.issued("refresh_token"))
    {
        assert_eq!(leaks(&w.store, &t), Vec::<String>::new());
    }
    assert_eq!(
        assert_api_requests_authenticated(&w, &tap),
        calls as usize + 1
    );
}

#[test]
fn refresh_rotates_and_the_old_refresh_token_is_dead() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    w.clock.advance_ms(781_000);
    assert_eq!(
        auth.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Refreshed {
            expires_at_ms: T0 + 781_000 + 900_000
        }
    );
    let refresh_tokens = tap.issued("refresh_token");
    assert_eq!(refresh_tokens.len(), 2);
    assert_ne!(refresh_tokens[0], refresh_tokens[1]);
    // The old refresh token presented directly: DATEV (the simulator) refuses it.
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{SIM_CLIENT_ID}:{SIM_SECRET}"))
    };
    let replay = tap
        .send(
            HttpRequest::new(Method::Post, "https://sandbox-api.datev.de/token")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Authorization", format!("Basic {basic}"))
                .body(format!(
                    "grant_type=refresh_token&refresh_token={}",
                    refresh_tokens[0]
                )),
        )
        .unwrap();
    assert_eq!(replay.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&replay.body).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // The stored (new) pair keeps working: the next refresh succeeds again.
    w.clock.advance_ms(800_000);
    assert!(matches!(
        auth.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Refreshed { .. }
    ));
    let token = auth.access_token(&client()).unwrap();
    assert_eq!(token.secret().expose(), tap.issued("access_token")[2]);
    DatevApi::new(&w.config, w.ports(&tap))
        .list_clients(&token, &ClientsQuery::default())
        .unwrap();
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn two_concurrent_refreshers_make_one_refresh_at_the_simulator() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    w.clock.advance_ms(800_000);
    let b = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let seen_by_b = Mutex::new(Vec::new());
    let a_http = Interleave {
        inner: &tap,
        during: Box::new(|| seen_by_b.lock().unwrap().push(b.refresh_if_due(&client()))),
    };
    let a = DatevAuth::new(&w.config, &w.ring, w.ports(&a_http));
    assert!(matches!(
        a.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Refreshed { .. }
    ));
    assert_eq!(
        *seen_by_b.lock().unwrap(),
        vec![Ok(RefreshOutcome::HeldByOther {
            expires_at_ms: T0 + 900_000
        })]
    );
    assert_eq!(tap.token_requests("refresh_token"), 1);
    // Both now use the rotated token, which DATEV accepts.
    let token = b.access_token(&client()).unwrap();
    assert_eq!(token.secret().expose(), tap.issued("access_token")[1]);
    DatevApi::new(&w.config, w.ports(&tap))
        .list_clients(&token, &ClientsQuery::default())
        .unwrap();
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn revoked_consent_becomes_needs_reconsent_once() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    assert_eq!(w.sim.revoke_datev_grants().unwrap(), 1);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let api = DatevApi::new(&w.config, w.ports(&tap));
    // The still-fresh token is refused by the API (401), which the caller sees as such.
    let err = api
        .list_clients(
            &auth.access_token(&client()).unwrap(),
            &ClientsQuery::default(),
        )
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(err.retryability(), Retryability::Permanent);
    w.clock.advance_ms(800_000);
    let marked = T0 + 800_000;
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::NeedsReconsent {
            since_ms: marked,
            newly_marked: true
        })
    );
    let refreshes = tap.token_requests("refresh_token");
    assert_eq!(refreshes, 1);
    for _ in 0..3 {
        w.clock.advance_ms(60_000);
        assert_eq!(
            auth.access_token(&client()),
            Err(TokenError::NeedsReconsent {
                since_ms: marked,
                newly_marked: false
            })
        );
    }
    assert_eq!(
        tap.token_requests("refresh_token"),
        refreshes,
        "no loop against DATEV"
    );
    // Consent again heals it.
    connect(&w, &tap).unwrap();
    let token = auth.access_token(&client()).unwrap();
    api.list_clients(&token, &ClientsQuery::default()).unwrap();
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn a_401_triggers_an_immediate_refresh_which_detects_the_dead_grant() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let api = DatevApi::new(&w.config, w.ports(&tap));
    // A 401 on a live grant (simulated by a token the API does not know): the refresh gives a
    // new token that works.
    let token = auth.access_token(&client()).unwrap();
    let stale = AccessToken::new(
        Secret::new("stale-token-not-issued-by-datev"),
        token.expires_at_ms(),
    );
    let err = api
        .list_clients(&stale, &ClientsQuery::default())
        .unwrap_err();
    assert!(err.is_unauthorized());
    // The stored token is not the rejected one: it is returned without a refresh.
    assert_eq!(
        auth.refresh_after_unauthorized(&client(), &stale).unwrap(),
        token
    );
    assert_eq!(tap.token_requests("refresh_token"), 0);
    // Now the real token is rejected (consent withdrawn at DATEV): refreshed at once, which
    // finds the grant dead.
    w.sim.revoke_datev_grants().unwrap();
    let err = api
        .list_clients(&token, &ClientsQuery::default())
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        auth.refresh_after_unauthorized(&client(), &token),
        Err(TokenError::NeedsReconsent {
            since_ms: T0,
            newly_marked: true
        })
    );
    assert_eq!(tap.token_requests("refresh_token"), 1);
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn a_401_with_a_live_grant_refreshes_and_the_new_token_works() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let first = auth.access_token(&client()).unwrap();
    let second = auth.refresh_after_unauthorized(&client(), &first).unwrap();
    assert_ne!(first, second);
    assert_eq!(tap.token_requests("refresh_token"), 1);
    assert_eq!(second.expires_at_ms(), T0 + 900_000);
    DatevApi::new(&w.config, w.ports(&tap))
        .list_clients(&second, &ClientsQuery::default())
        .unwrap();
    // Within the same lease windows a second forced refresh is not possible: the new token is
    // not the rejected one anyway, so it is simply returned.
    assert_eq!(
        auth.refresh_after_unauthorized(&client(), &first).unwrap(),
        second
    );
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn extf_job_fails_with_validation_details() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&tap));
    let api = DatevApi::new(&w.config, w.ports(&tap));
    // The header says 29098-55003; uploaded for 29098-55004.
    let other = DatevClientId::parse("29098-55004").unwrap();
    let token = auth.access_token(&client()).unwrap();
    let accepted = api.import_extf(&token, &other, &upload()).unwrap();
    let job = api.extf_job(&token, &other, &accepted.job_id).unwrap();
    assert_eq!(job.progress(), JobProgress::Pending);
    w.clock.advance_ms(3_000);
    let job = api.extf_job(&token, &other, &accepted.job_id).unwrap();
    assert_eq!(job.progress(), JobProgress::Failed);
    let details = job.validation_details.unwrap();
    assert_eq!(details.code(), Some("1008834"));
    assert_eq!(details.title.as_deref(), Some("Invalid EXTF-header"));
    assert_eq!(details.affected_elements.len(), 1);
    assert_eq!(details.affected_elements[0].name.as_deref(), Some("Client"));
    assert_eq!(
        details.affected_elements[0].reason.as_deref(),
        Some("client-number in the header not matching the upload request (12)")
    );
    assert_api_requests_authenticated(&w, &tap);
}

#[test]
fn dxso_job_runs_to_processed_and_partially_processed() {
    for (partial, expected) in [
        (0, DxsoJobStatus::Processed),
        (1000, DxsoJobStatus::PartiallyProcessed),
    ] {
        let w = World::with(|c| c.faults.datev.dxso_partial_permille = partial);
        let tap = Tap::new(&w.sim);
        connect(&w, &tap).unwrap();
        let token: AccessToken = DatevAuth::new(&w.config, &w.ring, w.ports(&tap))
            .access_token(&client())
            .unwrap();
        let api = DatevApi::new(&w.config, w.ports(&tap));
        let params = DxsoJobParams {
            import_type: DxsoImportType::AccountsReceivableLedger,
            accounting_month: AccountingMonth::parse("2024-02").unwrap(),
        };
        let job = api
            .create_dxso_job(&token, &client(), Some(&params))
            .unwrap();
        assert_eq!(job.account_length, Some(4));
        assert_eq!(
            job.ledger_folder_names,
            vec!["Ausgangsrechnungen".to_owned()]
        );
        assert_eq!(
            api.dxso_job_status(&token, &client(), &job.job_id)
                .unwrap()
                .status,
            DxsoJobStatus::Open
        );
        for name in ["document.xml", "AR-2024-0001.xml"] {
            let file = DxsoFile::from_extension(
                DxsoFilename::parse(name).unwrap(),
                b"<archive/>".to_vec(),
            )
            .unwrap();
            api.upload_dxso_file(&token, &client(), &job.job_id, &file)
                .unwrap();
        }
        api.start_dxso_job(&token, &client(), &job.job_id).unwrap();
        let running = api.dxso_job_status(&token, &client(), &job.job_id).unwrap();
        assert_eq!(
            (running.status, running.status.progress()),
            (DxsoJobStatus::Processing, JobProgress::Running)
        );
        w.clock.advance_ms(5_000);
        let done = api.dxso_job_status(&token, &client(), &job.job_id).unwrap();
        assert_eq!(done.status, expected);
        assert!(done.status.progress().is_terminal());
        let protocol = api.dxso_protocol(&token, &client(), &job.job_id).unwrap();
        assert!(!protocol.is_empty());
        assert_eq!(protocol[0].filename.as_deref(), Some("document.xml"));
        // A finalized job cannot be deleted: DATEV's ErrorMessage comes back typed.
        let err = api
            .delete_dxso_job(&token, &client(), &job.job_id)
            .unwrap_err();
        assert_eq!(
            err.body().and_then(datev::DatevErrorBody::code),
            Some("#DCO01007")
        );
        assert_eq!(assert_api_requests_authenticated(&w, &tap), 9);
    }
}

#[test]
fn rate_limits_outages_and_timeouts_are_classified() {
    let w = World::new();
    let tap = Tap::new(&w.sim);
    connect(&w, &tap).unwrap();
    let token = DatevAuth::new(&w.config, &w.ring, w.ports(&tap))
        .access_token(&client())
        .unwrap();
    let api = DatevApi::new(&w.config, w.ports(&tap));
    let set = |f: &dyn Fn(&mut sim::Faults)| {
        let mut faults = sim::Faults::default();
        f(&mut faults);
        w.sim.set_faults(faults).unwrap();
    };

    set(&|f| {
        f.datev.transport.rate_limit_storm = Some(Window {
            from_ms: T0,
            until_ms: T0 + 60_000,
        })
    });
    let e = api.import_extf(&token, &client(), &upload()).unwrap_err();
    assert_eq!(
        (e.status(), e.retry_after_s(), e.retryability()),
        (Some(429), Some(5), Retryability::Retryable)
    );

    set(&|f| f.datev.transport.unavailable_permille = 1000);
    let e = api.import_extf(&token, &client(), &upload()).unwrap_err();
    assert_eq!(
        (e.status(), e.retryability()),
        (Some(503), Retryability::Retryable)
    );

    set(&|f| f.datev.transport.server_error_after_effect_permille = 1000);
    let e = api.import_extf(&token, &client(), &upload()).unwrap_err();
    assert_eq!(
        (e.status(), e.retryability()),
        (Some(500), Retryability::Ambiguous)
    );

    set(&|f| f.datev.transport.timeout_after_effect_permille = 1000);
    let e = api.import_extf(&token, &client(), &upload()).unwrap_err();
    assert_eq!(e.operation(), Operation::ImportExtfFile);
    assert_eq!(e.retryability(), Retryability::Ambiguous);
    // Ambiguous indeed: both "failed" uploads created jobs.
    assert_eq!(w.sim.extf_jobs().unwrap().len(), 2);

    set(&|f| f.datev.transport.connect_error_permille = 1000);
    let e = api.import_extf(&token, &client(), &upload()).unwrap_err();
    assert_eq!(e.retryability(), Retryability::Retryable);
    assert_eq!(w.sim.extf_jobs().unwrap().len(), 2);
    set(&|_| {});
    assert!(api.import_extf(&token, &client(), &upload()).is_ok());
    assert_eq!(assert_api_requests_authenticated(&w, &tap), 6);
}
