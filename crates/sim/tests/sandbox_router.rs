//! The sandbox's HTTP surface, natively: state in a key-value store, one simulator instance per
//! request (as Spin instantiates per request), callbacks rewritten to the internal address.

mod common;
use common::*;
use connector::memory::{ManualClock, MemoryStore};
use connector::{HttpRequest, HttpResponse, Method};
use sim::sandbox::{self, Rewrite, SandboxSettings};
use sim::{InKeyValue, Recorder, Shared, Sim, SimConfig};
use std::sync::Arc;

const PUBLIC: &str = "https://connector.example.org";
const BASE: &str = "http://127.0.0.1:3000";

struct Host {
    kv: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    hooks: Arc<Recorder>,
    enabled: bool,
}

impl Host {
    fn new(enabled: bool) -> Self {
        Self {
            kv: Arc::new(MemoryStore::new()),
            clock: Arc::new(ManualClock::at(T0)),
            hooks: Arc::new(Recorder::new()),
            enabled,
        }
    }
    fn config() -> SimConfig {
        let mut cfg = SimConfig {
            keep_upload_bytes: false,
            record_limit: 200,
            ..SimConfig::default()
        };
        cfg.twilio.inbound_sms_url = Some(format!("{PUBLIC}/twilio/inbound"));
        cfg
    }
    /// One request, one fresh simulator over the shared store (like a fresh Spin instance).
    fn call(&self, req: HttpRequest) -> HttpResponse {
        let sim = Sim::new(
            Self::config(),
            InKeyValue::new(Shared(Arc::clone(&self.kv)), "sandbox:state"),
            Shared(Arc::clone(&self.clock)),
            Rewrite::new(
                PUBLIC,
                "http://webhook.spin.internal",
                Shared(Arc::clone(&self.hooks)),
            ),
        );
        sandbox::handle(
            &sim,
            &SandboxSettings {
                enabled: self.enabled,
            },
            req,
        )
    }
}

#[test]
fn disabled_sandbox_answers_404_everywhere() {
    let h = Host::new(false);
    for (m, path) in [
        (Method::Get, "/sandbox"),
        (Method::Get, "/sandbox/phone"),
        (Method::Post, "/sandbox/phone/reply"),
        (Method::Get, "/sandbox/datev/api/token"),
        (
            Method::Post,
            "/sandbox/twilio/api/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        ),
    ] {
        let resp = h.call(HttpRequest::new(m, format!("{BASE}{path}")));
        assert_eq!(
            (resp.status, text(&resp).as_str()),
            (404, "not found"),
            "{path}"
        );
    }
    assert!(h.kv.keys().is_empty());
}

#[test]
fn oauth_sms_and_reply_through_the_sandbox() {
    let h = Host::new(true);
    // OAuth through the sandbox paths; state survives between instances.
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", "ml-connector-sim"),
        ("redirect_uri", REDIRECT),
        ("scope", SCOPES),
        ("state", STATE),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .replace(
        AUTHORIZE,
        &format!("{BASE}/sandbox/datev/login/openidsandbox/authorize"),
    );
    let resp = h.call(HttpRequest::new(Method::Get, url));
    assert_eq!(resp.status, 302);
    let code = param(
        &location_query(resp.header_value("location").unwrap()),
        "code",
    )
    .unwrap()
    .to_owned();
    let mut token = token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    token.url = format!("{BASE}/sandbox/datev/api/token");
    let resp = h.call(token);
    assert_eq!(resp.status, 200);
    let access = body_json(&resp)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut upload = extf_upload(&access, "29098-55003", sample_extf());
    upload.url = format!(
        "{BASE}/sandbox/datev/extf-files/platform-sandbox/v3/clients/29098-55003/extf-files/import"
    );
    let resp = h.call(upload);
    assert_eq!(resp.status, 202);
    h.clock.advance_ms(3_000);
    let job_url = format!(
        "{BASE}/sandbox/datev/extf-files/platform-sandbox/v3{}",
        resp.header_value("location").unwrap()
    );
    assert_eq!(
        body_json(&h.call(datev(Method::Get, &job_url, &access)))["result"],
        "succeeded"
    );
    // SMS with a callback to the public URL.
    let mut sms = twilio_post(
        &messages_url(),
        &[
            ("To", "+4917612345678"),
            ("From", "+15005550006"),
            ("Body", "Stapel gebucht"),
            ("StatusCallback", &format!("{PUBLIC}/twilio/status")),
        ],
    );
    sms.url = format!("{BASE}/sandbox/twilio/api/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    assert_eq!(h.call(sms).status, 201);
    h.clock.advance_ms(3_000);
    let page = h.call(HttpRequest::new(
        Method::Get,
        format!("{BASE}/sandbox/phone"),
    ));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header_value("content-type"),
        Some("text/html;charset=utf-8")
    );
    let html = text(&page);
    assert!(html.contains("<td>SMS</td><td>+15005550006</td><td>+4917612345678</td><td><pre>Stapel gebucht</pre></td>"), "{html}");
    // Callbacks went to the webhook inside Spin, signed for the public URL.
    let hooks = h.hooks.requests();
    assert_eq!(hooks.len(), 3);
    assert!(
        hooks
            .iter()
            .all(|r| r.url == "http://webhook.spin.internal/twilio/status")
    );
    let p = form_of(&hooks[2]);
    let sig = hooks[2].header_value("x-twilio-signature").unwrap();
    assert_eq!(
        signature::validate_form(AUTH_TOKEN, &format!("{PUBLIC}/twilio/status"), &p, sig),
        Ok(())
    );
    // The approver replies from the page.
    let reply = HttpRequest::new(Method::Post, format!("{BASE}/sandbox/phone/reply"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("From", "+4917612345678"),
            ("Body", "YES 4711"),
        ]));
    let resp = h.call(reply);
    assert_eq!(
        (resp.status, resp.header_value("location")),
        (303, Some("/sandbox/phone"))
    );
    let inbound = h.hooks.requests().pop().unwrap();
    assert_eq!(inbound.url, "http://webhook.spin.internal/twilio/inbound");
    let p = form_of(&inbound);
    assert_eq!(param(&p, "Body"), Some("YES 4711"));
    let sig = inbound.header_value("x-twilio-signature").unwrap();
    assert_eq!(
        signature::validate_form(AUTH_TOKEN, &format!("{PUBLIC}/twilio/inbound"), &p, sig),
        Ok(())
    );
    let log = body_json(&h.call(HttpRequest::new(
        Method::Get,
        format!("{BASE}/sandbox/phone.json"),
    )));
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[1]["kind"], "reply");
}

#[test]
fn reply_errors_name_the_field() {
    let h = Host::new(true);
    let reply = |pairs: &[(&str, &str)]| {
        h.call(
            HttpRequest::new(Method::Post, format!("{BASE}/sandbox/phone/reply"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_body(pairs)),
        )
    };
    let r = reply(&[("From", "0176"), ("Body", "YES")]);
    assert_eq!(
        (r.status, text(&r).as_str()),
        (400, "reply: from: \"0176\" is not an E.164 number")
    );
    let r = reply(&[("From", "+4917612345678")]);
    assert_eq!(
        (r.status, text(&r).as_str()),
        (400, "reply: body: must be 1 to 1600 characters")
    );
    let r = h.call(
        HttpRequest::new(Method::Post, format!("{BASE}/sandbox/phone/reply")).body(b"{}".to_vec()),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn faults_are_set_over_http_and_transport_faults_become_gateway_errors() {
    let h = Host::new(true);
    let faults =
        serde_json::json!({"twilio": {"transport": {"timeout_after_effect_permille": 1000}}});
    let put = HttpRequest::new(Method::Put, format!("{BASE}/sandbox/faults.json"))
        .body(faults.to_string());
    assert_eq!(h.call(put).status, 200);
    let got = body_json(&h.call(HttpRequest::new(
        Method::Get,
        format!("{BASE}/sandbox/faults.json"),
    )));
    assert_eq!(
        got["twilio"]["transport"]["timeout_after_effect_permille"],
        1000
    );
    let mut sms = twilio_post(
        &messages_url(),
        &[
            ("To", "+4917612345678"),
            ("From", "+15005550006"),
            ("Body", "x"),
        ],
    );
    sms.url = format!("{BASE}/sandbox/twilio/api/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    let resp = h.call(sms);
    assert_eq!(
        (resp.status, resp.header_value("x-sandbox-fault")),
        (504, Some("timeout"))
    );
    let bad =
        HttpRequest::new(Method::Put, format!("{BASE}/sandbox/faults.json")).body(b"[1]".to_vec());
    assert_eq!(h.call(bad).status, 400);
    let records = body_json(&h.call(HttpRequest::new(
        Method::Get,
        format!("{BASE}/sandbox/records.json"),
    )));
    assert_eq!(records[0]["fault"], "timeout after effect");
    assert_eq!(
        h.call(HttpRequest::new(
            Method::Get,
            format!("{BASE}/sandbox/nope")
        ))
        .status,
        404
    );
    assert_eq!(
        h.call(HttpRequest::new(Method::Get, format!("{BASE}/sandbox")))
            .status,
        200
    );
}

#[test]
fn phone_page_escapes_html() {
    let entry = sim::PhoneEntry {
        seq: 1,
        at_ms: T0,
        kind: sim::PhoneKind::Sms,
        from: "+1".into(),
        to: "+2".into(),
        text: "<script>alert(1)</script> & \"x\"".into(),
        sid: "SM1".into(),
    };
    let html = sandbox::phone_page(&[entry]);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
    assert!(!html.contains("<script>"));
    assert!(sandbox::phone_page(&[]).contains("No phone has received anything yet."));
}

#[test]
fn clock_skips_ahead_on_a_real_clock() {
    let h = Host::new(true);
    let mut sms = twilio_post(
        &messages_url(),
        &[
            ("To", "+4917612345678"),
            ("From", "+15005550006"),
            ("Body", "x"),
            ("StatusCallback", &format!("{PUBLIC}/twilio/status")),
        ],
    );
    sms.url = format!("{BASE}/sandbox/twilio/api/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    assert_eq!(h.call(sms).status, 201);
    let resp = h.call(HttpRequest::new(
        Method::Post,
        format!("{BASE}/sandbox/clock?advance_ms=3000"),
    ));
    assert_eq!(resp.status, 200);
    let body = body_json(&resp);
    assert_eq!(body["now"], "2024-03-01T10:00:03Z");
    assert_eq!(body["deliveries"], 3);
    assert_eq!(h.hooks.requests().len(), 3);
    for bad in [
        "",
        "?advance_ms=0",
        "?advance_ms=x",
        "?advance_ms=2592000001",
    ] {
        let r = h.call(HttpRequest::new(
            Method::Post,
            format!("{BASE}/sandbox/clock{bad}"),
        ));
        assert_eq!(
            (r.status, text(&r).as_str()),
            (
                400,
                "clock: advance_ms must be an integer from 1 to 2592000000"
            ),
            "{bad}"
        );
    }
}
