//! The built `sandbox` component in the embedded Spin host: a full OAuth + EXTF job + SMS +
//! Verify + reply exchange over HTTP, callbacks delivered out of the component, state in the
//! key-value store; and 404 everywhere outside sandbox mode.
//!
//! Needs `target/wasm32-wasip2/release/sandbox.wasm` (`cargo build --release --target
//! wasm32-wasip2 -p sandbox`, which `scripts/test.sh` runs first).

use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use integration_tests::SpinApp;
use std::sync::{Arc, Mutex};

const BASE: &str = "http://127.0.0.1:3000";
const ACCOUNT: &str = "AC00000000000000000000000000000000";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://ml-connector.localhost/datev/callback";
const PHONE: &str = "+4917612345678";

/// The webhook side: records what the sandbox delivers.
#[derive(Default)]
struct Hooks(Mutex<Vec<HttpRequest>>);

impl HttpClient for Hooks {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(req);
        Ok(HttpResponse::new(204, Vec::new()))
    }
}

impl Hooks {
    fn requests(&self) -> Vec<HttpRequest> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn text(resp: &HttpResponse) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// The string value of `"key":"…"` in a JSON text (tokens, sids and results hold no escapes).
fn json_str(body: &str, key: &str) -> Option<String> {
    let start = body.find(&format!("\"{key}\":\""))? + key.len() + 4;
    Some(body[start..].split('"').next()?.to_owned())
}

fn query_value(url: &str, key: &str) -> Option<String> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

struct Sandbox {
    app: SpinApp,
    hooks: Arc<Hooks>,
}

impl Sandbox {
    fn new(enabled: bool) -> Sandbox {
        let mut app = SpinApp::workspace().expect("spin.toml loads");
        app.set_variable("sandbox_enabled", if enabled { "true" } else { "false" });
        // Deliver callbacks to the listener URL (here: the test's recorder) instead of chaining
        // into the webhook component, so this test depends on the sandbox alone.
        app.set_variable("sandbox_webhook_url", BASE);
        let hooks = Arc::new(Hooks::default());
        app.set_outbound(hooks.clone());
        Sandbox { app, hooks }
    }

    fn send(&self, req: HttpRequest) -> HttpResponse {
        self.app.http(req).expect("the sandbox answered")
    }

    fn get(&self, path: &str) -> HttpResponse {
        self.send(HttpRequest::new(Method::Get, format!("{BASE}{path}")))
    }

    fn skip(&self, ms: u64) {
        let resp = self.send(HttpRequest::new(
            Method::Post,
            format!("{BASE}/sandbox/clock?advance_ms={ms}"),
        ));
        assert_eq!(resp.status, 200, "{}", text(&resp));
    }

    fn twilio(&self, path: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        self.send(
            HttpRequest::new(Method::Post, format!("{BASE}/sandbox/twilio/{path}"))
                .header(
                    "Authorization",
                    basic(
                        "SK00000000000000000000000000000000",
                        "sandbox-api-key-secret",
                    ),
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(pairs)),
        )
    }

    fn datev(&self, method: Method, path: &str, token: &str) -> HttpRequest {
        HttpRequest::new(method, format!("{BASE}/sandbox/datev/{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-DATEV-Client-Id", "ml-connector-sandbox")
    }
}

#[test]
fn oauth_extf_job_sms_verify_and_reply_through_the_component() {
    let s = Sandbox::new(true);

    // OAuth: authorize (PKCE S256) → code → token.
    let authorize = format!(
        "{BASE}/sandbox/datev/login/openidsandbox/authorize?response_type=code&client_id=ml-connector-sandbox&redirect_uri={}&scope={}&state=state-0123456789abcdef&code_challenge={CHALLENGE}&code_challenge_method=S256&enableWindowsSso=true",
        enc(REDIRECT),
        enc("openid offline_access datev:accounting:extf-files-import datev:accounting:clients"),
    );
    let resp = s.send(HttpRequest::new(Method::Get, authorize));
    assert_eq!(resp.status, 302, "{}", text(&resp));
    let location = resp.header_value("location").expect("Location").to_owned();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert_eq!(
        query_value(&location, "state").as_deref(),
        Some("state-0123456789abcdef")
    );
    let code = query_value(&location, "code").expect("code");
    let resp = s.send(
        HttpRequest::new(Method::Post, format!("{BASE}/sandbox/datev/api/token"))
            .header(
                "Authorization",
                basic("ml-connector-sandbox", "sandbox-datev-client-secret"),
            )
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])),
    );
    assert_eq!(resp.status, 200, "{}", text(&resp));
    assert_eq!(resp.header_value("cache-control"), Some("no-store"));
    let body = text(&resp);
    assert!(body.contains("\"expires_in\":900"), "{body}");
    let token = json_str(&body, "access_token").expect("access_token");

    // The API answers with a live token only.
    let clients = s.send(s.datev(Method::Get, "clients/platform-sandbox/v2/clients", &token));
    assert_eq!(clients.status, 200);
    assert_eq!(clients.header_value("total-items"), Some("3"));
    assert!(text(&clients).contains("\"id\":\"29098-55003\""));
    let unauthorized = s.send(s.datev(
        Method::Get,
        "clients/platform-sandbox/v2/clients",
        "not-a-token",
    ));
    assert_eq!(unauthorized.status, 401);
    assert!(text(&unauthorized).contains("\"httpCode\":\"401\""));

    // EXTF import: 202 + Location, pending, then succeeded once simulated time has passed.
    let file = include_bytes!("../../../crates/sim/tests/data/EXTF_valid.csv").to_vec();
    let resp = s.send(
        s.datev(
            Method::Post,
            "extf-files/platform-sandbox/v3/clients/29098-55003/extf-files/import",
            &token,
        )
        .header("Content-Type", "application/octet-stream")
        .header("Filename", "EXTF_Buchungsstapel.csv")
        .body(file),
    );
    assert_eq!(resp.status, 202, "{}", text(&resp));
    assert_eq!(resp.header_value("retry-after"), Some("5"));
    let job = resp.header_value("location").expect("Location").to_owned();
    assert!(
        job.starts_with("/clients/29098-55003/extf-files/jobs/"),
        "{job}"
    );
    let job_path = format!("extf-files/platform-sandbox/v3{job}");
    let pending = text(&s.send(s.datev(Method::Get, &job_path, &token)));
    assert_eq!(json_str(&pending, "result").as_deref(), Some("pending"));
    s.skip(3_000);
    let done = text(&s.send(s.datev(Method::Get, &job_path, &token)));
    assert_eq!(
        json_str(&done, "result").as_deref(),
        Some("succeeded"),
        "{done}"
    );
    assert!(done.contains("\"number_of_accounting_records\":52"));

    // SMS with a status callback to the public URL; callbacks leave the component signed.
    let resp = s.twilio(
        &format!("api/2010-04-01/Accounts/{ACCOUNT}/Messages.json"),
        &[
            ("To", PHONE),
            ("From", "+15005550006"),
            ("Body", "Stapel 42 gebucht."),
            (
                "StatusCallback",
                "https://ml-connector.localhost/twilio/status",
            ),
        ],
    );
    assert_eq!(resp.status, 201, "{}", text(&resp));
    let sid = json_str(&text(&resp), "sid").expect("sid");
    assert!(sid.starts_with("SM") && sid.len() == 34);
    s.skip(3_000);
    let hooks = s.hooks.requests();
    assert_eq!(hooks.len(), 3);
    for (hook, status) in hooks.iter().zip(["sending", "sent", "delivered"]) {
        assert_eq!(hook.url, format!("{BASE}/twilio/status"));
        assert_eq!(
            hook.header_value("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            hook.header_value("x-twilio-signature").map(str::len),
            Some(28)
        );
        let body = String::from_utf8_lossy(&hook.body).into_owned();
        assert!(body.contains(&format!("MessageStatus={status}")), "{body}");
        assert!(body.contains(&format!("MessageSid={sid}")));
    }

    // Verify: the code shows up on the phone page; checking it approves.
    let resp = s.twilio(
        "verify/v2/Services/VA00000000000000000000000000000000/Verifications",
        &[("To", PHONE), ("Channel", "sms")],
    );
    assert_eq!(resp.status, 201, "{}", text(&resp));
    let page = s.get("/sandbox/phone");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header_value("content-type"),
        Some("text/html;charset=utf-8")
    );
    let html = text(&page);
    assert!(html.contains("<pre>Stapel 42 gebucht.</pre>"), "{html}");
    let marker = "verification code is: ";
    let at = html
        .find(marker)
        .expect("verification SMS on the phone page")
        + marker.len();
    let code: String = html[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6);
    let resp = s.twilio(
        "verify/v2/Services/VA00000000000000000000000000000000/VerificationCheck",
        &[("To", PHONE), ("Code", &code)],
    );
    assert_eq!(
        json_str(&text(&resp), "status").as_deref(),
        Some("approved")
    );

    // The approver replies by SMS from the page's form.
    let resp = s.send(
        HttpRequest::new(Method::Post, format!("{BASE}/sandbox/phone/reply"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("From", PHONE), ("Body", "YES 4711")])),
    );
    assert_eq!(
        (resp.status, resp.header_value("location")),
        (303, Some("/sandbox/phone"))
    );
    let inbound = s.hooks.requests().pop().expect("inbound delivered");
    assert_eq!(inbound.url, format!("{BASE}/twilio/inbound"));
    let body = String::from_utf8_lossy(&inbound.body).into_owned();
    assert!(body.contains("Body=YES+4711"), "{body}");
    assert!(inbound.header_value("x-twilio-signature").is_some());

    // State lives in the key-value store.
    assert!(
        s.app
            .kv("default")
            .keys()
            .contains(&"sandbox:state".to_owned())
    );
}

#[test]
fn outside_sandbox_mode_every_route_is_404() {
    let s = Sandbox::new(false);
    for path in [
        "/sandbox",
        "/sandbox/phone",
        "/sandbox/datev/api/token",
        "/sandbox/twilio/api/2010-04-01/Accounts/x/Messages.json",
    ] {
        let resp = s.get(path);
        assert_eq!(resp.status, 404, "{path}");
    }
    let resp = s.send(
        HttpRequest::new(Method::Post, format!("{BASE}/sandbox/phone/reply"))
            .body(form(&[("From", PHONE), ("Body", "YES")])),
    );
    assert_eq!(resp.status, 404);
    assert!(s.app.kv("default").keys().is_empty());
    assert!(s.hooks.requests().is_empty());
}
