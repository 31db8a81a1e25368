//! End to end in the embedded Spin host, DATEV and Twilio simulated in-process (issue 8, "Done
//! when"): a regional firm's payment batch over the threshold is held; the approver gets a
//! Verify SMS; a wrong code is refused; the right code approves it; the job is submitted, fails,
//! and the finance contacts get an SMS and the controller a call; a second batch is released by
//! the approver's SMS reply; an SMS from another number releases nothing; every step is in the
//! audit trail and no secret appears in it.
//!
//! The simulator's own callbacks (the approver's SMS reply, signed by the simulated Twilio) are
//! caught by a mailbox and handed to the app's `webhook` exactly as sent, so the whole path
//! `webhook` (signature, dedup, queue) → `datev-poller` (release) → DATEV is the built code.
//!
//! Build first: `cargo build --release --target wasm32-wasip2 -p api -p datev-poller -p
//! twilio-sender -p webhook`, and the library components (`cargo build --release --target
//! wasm32-unknown-unknown -p extf -p signature && cargo xtask componentize extf && cargo xtask
//! componentize signature`).

use crate::datev_common;

use connector::audit::AuditEntry;
use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use datev_common::{ADMIN, CLIENT, LISTENER, SystemClock, admin, bookings_batch, json_body, send};
use integration_tests::SpinApp;
use serde_json::{Value, json};
use sim::{InMemory, PhoneKind, Sim, SimConfig};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const PUBLIC: &str = "https://ml-connector.example.com";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token-0123456789";
const KEY_SECRET: &str = "sim-api-key-secret";
const DATEV_SECRET: &str = "sim-client-secret";
const TOKEN_KEYS: &str = "e2e:ZTJlLXRva2VuLWtleS1ub3QtZm9yLXJlYWwtdXNlLTA=";
const ALMA: &str = "+4915199990000";
const STRANGER: &str = "+4915100000001";

/// The simulator's outbound: every callback it sends is kept (and answered 200) for the test to
/// hand to the app.
#[derive(Default)]
struct Mailbox(Mutex<Vec<HttpRequest>>);

impl HttpClient for Mailbox {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(req);
        Ok(HttpResponse::new(200, Vec::new()))
    }
}

/// The simulator's handle on the shared mailbox.
struct ToMailbox(Arc<Mailbox>);

impl HttpClient for ToMailbox {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.send(req)
    }
}

type E2eSim = Sim<InMemory, SystemClock, ToMailbox>;

/// The simulator as the app's outbound HTTP, keeping every DATEV token it hands out.
struct Outbound {
    sim: E2eSim,
    mailbox: Arc<Mailbox>,
    tokens: Mutex<Vec<String>>,
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

impl Outbound {
    /// Hands every callback the simulator sent so far to the app's listener, unchanged (signed
    /// for `PUBLIC`, which the webhook checks against). Returns the webhook's answers.
    fn forward(&self, app: &SpinApp) -> Vec<u16> {
        let caught: Vec<HttpRequest> =
            std::mem::take(&mut *self.mailbox.0.lock().unwrap_or_else(|e| e.into_inner()));
        caught
            .into_iter()
            .map(|mut req| {
                let path = req.url.strip_prefix(PUBLIC).unwrap_or(&req.url).to_owned();
                req.url = format!("{LISTENER}{path}");
                send(app, req).status
            })
            .collect()
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cron(app: &SpinApp, component: &str, timestamp: u64) {
    let result = app
        .cron(component, timestamp)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
}

fn setup() -> (SpinApp, Arc<Outbound>) {
    let mut cfg = SimConfig {
        seed: 8,
        ..SimConfig::default()
    };
    cfg.datev.extf_processing_ms = 0;
    cfg.datev.dxso_processing_ms = 0;
    cfg.datev.retry_after_s = None;
    cfg.faults.datev.job_failure_permille = 1000;
    cfg.twilio.auth_token = sim::SecretString::new(AUTH_TOKEN);
    cfg.twilio.inbound_sms_url = Some(format!("{PUBLIC}/twilio/inbound"));
    // The simulated phones answer at once: the wall clock runs in this test.
    cfg.twilio.sms_sending_ms = 0;
    cfg.twilio.sms_sent_ms = 0;
    cfg.twilio.sms_delivered_ms = 0;
    cfg.twilio.call_initiated_ms = 0;
    cfg.twilio.call_ringing_ms = 0;
    cfg.twilio.call_answered_ms = 0;
    cfg.twilio.call_duration_s = 0;
    let mailbox = Arc::new(Mailbox::default());
    let out = Arc::new(Outbound {
        sim: Sim::new(
            cfg,
            InMemory::new(),
            SystemClock,
            ToMailbox(Arc::clone(&mailbox)),
        ),
        mailbox,
        tokens: Mutex::new(Vec::new()),
    });
    let mut app = SpinApp::workspace().unwrap_or_else(|e| panic!("loading spin.toml: {e:#}"));
    for (name, value) in [
        ("admin_token", ADMIN),
        ("public_base_url", PUBLIC),
        ("twilio_auth_token", AUTH_TOKEN),
        ("twilio_api_key_secret", KEY_SECRET),
        ("datev_client_id", "ml-connector-sim"),
        ("datev_client_secret", DATEV_SECRET),
        ("datev_token_keys", TOKEN_KEYS),
        ("datev_poll_base_ms", "1"),
        ("datev_poll_min_delay_ms", "0"),
        ("sender_request_slot_ms", "0"),
    ] {
        app.set_variable(name, value);
    }
    app.set_outbound(out.clone());
    (app, out)
}

fn connect(app: &SpinApp, out: &Outbound) {
    let start = admin(
        app,
        Method::Get,
        &format!("/datev/connect?client={CLIENT}"),
        "text/plain",
        b"",
    );
    assert_eq!(start.status, 302, "{}", app.logs().join("\n"));
    let url = start.header_value("Location").unwrap().to_owned();
    let consent = out.send(HttpRequest::new(Method::Get, url)).unwrap();
    let back = consent.header_value("Location").unwrap().to_owned();
    assert_eq!(send(app, HttpRequest::new(Method::Get, back)).status, 303);
}

fn post_json(app: &SpinApp, path: &str, body: &Value) -> (u16, Value) {
    let r = admin(
        app,
        Method::Post,
        path,
        "application/json",
        body.to_string().as_bytes(),
    );
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn state(app: &SpinApp, id: u64) -> String {
    let b = json_body(&admin(
        app,
        Method::Get,
        &format!("/batches/{id}"),
        "text/plain",
        b"",
    ));
    b["state"].as_str().unwrap().to_owned()
}

fn audit(app: &SpinApp) -> Vec<(String, AuditEntry)> {
    app.kv("default")
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with("audit:"))
        .map(|(k, v)| {
            let e: AuditEntry = serde_json::from_slice(&v)
                .unwrap_or_else(|e| panic!("{k}: {e}: {}", String::from_utf8_lossy(&v)));
            (k, e)
        })
        .collect()
}

#[test]
fn held_batch_verify_code_release_failure_alerts_sms_reply_release_and_a_clean_audit_trail() {
    let (app, out) = setup();
    let sim = &out.sim;
    connect(&app, &out);
    let config = json!({
        "name": "Musterholz GmbH",
        "finance_contacts": [{"name": "Anna", "phone": "0151 12345678"}, {"name": "Ben", "phone": "+49 151 87654321"}],
        "controller": {"name": "Carl", "phone": "0176 12345678"},
        "approver": {"name": "Alma", "phone": "0151 99990000"},
        "risk": {"threshold_cents": 20_000},
        "release": {"sms_reply": true, "hold_ttl_ms": 86_400_000}
    });
    let r = admin(
        &app,
        Method::Put,
        &format!("/clients/{CLIENT}"),
        "application/json",
        config.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // 1. Over the threshold (2 × 119.00 EUR ≥ 200.00 EUR): held.
    let (status, b) = post_json(&app, "/batches", &bookings_batch(2));
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["state"], "held");
    let first = b["id"].as_u64().unwrap();

    // 2. The sender starts the Verify check: the approver's phone gets the code.
    let t0 = now_s();
    cron(&app, "twilio-sender", t0);
    let log = sim.phone_log().unwrap();
    let verify: Vec<_> = log
        .iter()
        .filter(|e| e.kind == PhoneKind::VerifySms && e.to == ALMA)
        .collect();
    assert_eq!(verify.len(), 1, "{log:#?}");
    let code = sim.verify_code(ALMA).unwrap().expect("a live code");
    assert!(verify[0].text.ends_with(&code));

    // 3. A wrong code is refused; the right one approves.
    let wrong: String = code
        .chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect();
    let (status, body) = post_json(
        &app,
        &format!("/batches/{first}/approve"),
        &json!({"code": wrong}),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (body["outcome"].as_str(), body["attempts_left"].as_i64()),
        (Some("wrong_code"), Some(4))
    );
    assert_eq!(state(&app, first), "held");
    let (status, body) = post_json(
        &app,
        &format!("/batches/{first}/approve"),
        &json!({"code": code}),
    );
    assert_eq!(status, 200, "{body}\n{}", app.logs().join("\n"));
    assert_eq!(body["batch"]["state"], "approved");

    // 4. Submitted, fails; finance SMS and the controller's call.
    let mut s = String::new();
    for i in 0..10 {
        cron(&app, "datev-poller", t0 + 5 * (i + 1));
        s = state(&app, first);
        if s == "failed" {
            break;
        }
    }
    assert_eq!(s, "failed", "{}", app.logs().join("\n"));
    cron(&app, "twilio-sender", t0 + 60);
    sim.tick().unwrap();
    let log = sim.phone_log().unwrap();
    let mut sms: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == PhoneKind::Sms && e.text.contains("fehlgeschlagen"))
        .map(|e| e.to.as_str())
        .collect();
    sms.sort_unstable();
    assert_eq!(sms, ["+4915112345678", "+4915187654321"], "{log:#?}");
    let calls: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == PhoneKind::Call)
        .map(|e| e.to.as_str())
        .collect();
    assert_eq!(calls, ["+4917612345678"], "{log:#?}");

    // 5. A second batch, held; the approval request SMS tells the approver how to answer.
    let (status, b) = post_json(&app, "/batches", &bookings_batch(3));
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["state"], "held");
    let second = b["id"].as_u64().unwrap();
    cron(&app, "twilio-sender", t0 + 70);
    sim.tick().unwrap();
    let request = sim
        .phone_log()
        .unwrap()
        .into_iter()
        .find(|e| {
            e.to == ALMA
                && e.kind == PhoneKind::Sms
                && e.text.contains(&format!("Stapel {second} "))
        })
        .expect("approval request SMS");
    assert!(
        request.text.contains(&format!("YES {second}")),
        "{}",
        request.text
    );
    out.forward(&app); // status callbacks of what was sent so far

    // 6. "YES <id>" from another number: through the webhook, processed, nothing released.
    sim.inject_inbound_sms(STRANGER, &format!("YES {second}"))
        .unwrap();
    assert_eq!(out.forward(&app), [200]);
    cron(&app, "datev-poller", t0 + 100);
    assert_eq!(state(&app, second), "held");

    // 7. The approver's reply releases it, and the same tick submits it.
    sim.inject_inbound_sms(ALMA, &format!("yes {second}"))
        .unwrap();
    assert_eq!(out.forward(&app), [200]);
    cron(&app, "datev-poller", t0 + 105);
    let s = state(&app, second);
    assert!(
        s == "submitted" || s == "failed",
        "{s}\n{}",
        app.logs().join("\n")
    );

    // 8. Every step is audited …
    let entries = audit(&app);
    let has = |action: &str, pred: &dyn Fn(&AuditEntry) -> bool| {
        entries.iter().any(|(_, e)| e.action == action && pred(e))
    };
    let batch_is = |id: u64| move |e: &AuditEntry| e.subject == format!("batch:{id}");
    assert!(has("approval.hold", &batch_is(first)));
    assert!(has("approval.hold", &batch_is(second)));
    assert!(has("twilio-sender.send", &|e| e
        .correlation
        .get("channel")
        .is_some_and(|c| c == "verify")));
    assert!(has("api.batch-approve", &|e| matches!(
        &e.outcome,
        connector::audit::Outcome::Rejected {
            status: Some(403),
            ..
        }
    )));
    assert!(has("approval.approve", &|e| e.subject
        == format!("batch:{first}")
        && e.correlation["via"] == "verify_code"));
    assert!(has("approval.sms_reply", &|e| matches!(
        &e.outcome,
        connector::audit::Outcome::Rejected { reason, .. } if reason.contains("not the batch's registered approver")
    )));
    assert!(has("approval.approve", &|e| e.subject
        == format!("batch:{second}")
        && e.correlation["via"] == "sms_reply"));
    assert!(has("webhook.inbound", &|e| e.outcome
        == connector::audit::Outcome::Ok));

    // … and no secret is in it: not the configured credentials, not a DATEV token, not the code,
    // not a whole phone number of the approver or the stranger.
    let mut secrets: Vec<String> = [ADMIN, AUTH_TOKEN, KEY_SECRET, DATEV_SECRET, TOKEN_KEYS]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    secrets.push(TOKEN_KEYS.split_once(':').unwrap().1.to_owned());
    secrets.extend(out.tokens.lock().unwrap().iter().cloned());
    assert!(secrets.len() > 6, "no DATEV token was issued");
    for (k, e) in &entries {
        let text = serde_json::to_string(e).unwrap();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{k} holds a secret: {text}");
            // No 12-character piece of a secret either.
            for w in s.as_bytes().windows(12) {
                assert!(
                    !text.as_bytes().windows(12).any(|x| x == w),
                    "{k} holds a piece of a secret: {text}"
                );
            }
        }
        assert!(
            !text.contains(&format!("\"{code}\"")),
            "{k} holds the code: {text}"
        );
        assert!(
            !text.contains(ALMA) && !text.contains(STRANGER),
            "{k}: {text}"
        );
    }
}

#[test]
fn the_delivered_callback_of_the_approval_request_releases_a_batch_where_the_policy_says_so() {
    let (app, out) = setup();
    let sim = &out.sim;
    connect(&app, &out);
    let config = json!({
        "name": "Musterholz GmbH",
        "finance_contacts": [{"name": "Anna", "phone": "0151 12345678"}],
        "controller": {"name": "Carl", "phone": "0176 12345678"},
        "approver": {"name": "Alma", "phone": "0151 99990000"},
        "risk": {"threshold_cents": 20_000},
        "release": {"delivered_callback": true, "hold_ttl_ms": 86_400_000}
    });
    let r = admin(
        &app,
        Method::Put,
        &format!("/clients/{CLIENT}"),
        "application/json",
        config.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    let (status, b) = post_json(&app, "/batches", &bookings_batch(2));
    assert_eq!((status, b["state"].as_str()), (201, Some("held")));
    let id = b["id"].as_u64().unwrap();
    let t0 = now_s();
    cron(&app, "twilio-sender", t0);
    sim.tick().unwrap();
    // Nothing released before Twilio reports the request delivered.
    cron(&app, "datev-poller", t0 + 5);
    assert_eq!(state(&app, id), "held");
    // The simulated Twilio's status callbacks (signed) through the webhook into the queue.
    let answers = out.forward(&app);
    assert!(
        !answers.is_empty() && answers.iter().all(|s| *s == 200),
        "{answers:?}\n{}",
        app.logs().join("\n")
    );
    cron(&app, "datev-poller", t0 + 10);
    let s = state(&app, id);
    assert!(
        s == "submitted" || s == "failed",
        "{s}\n{}",
        app.logs().join("\n")
    );
    let approvals: Vec<AuditEntry> = audit(&app)
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.action == "approval.approve")
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:#?}");
    assert_eq!(approvals[0].correlation["via"], "delivered_callback");
    assert_eq!(approvals[0].actor, connector::audit::Actor::Twilio);
}
