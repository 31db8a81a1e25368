//! The built `webhook` component, composed with the built `signature` component as `spin.toml`
//! says, running in the embedded Spin host: exact status codes and key-value effects.
//!
//! Build both first (the build commands in spin.toml):
//! `cargo build --release --target wasm32-wasip2 -p webhook` and
//! `cargo build --release --target wasm32-unknown-unknown -p signature && cargo xtask componentize signature`.
//!
//! Requests are signed with the native `signature` library, which is the same code as the
//! signature component but linked natively, so a mismatch in the wiring (URL reconstruction,
//! parameter passing through the WIT interface) fails these tests.

use connector::audit::{AuditEntry, Outcome};
use connector::inbound::{self, InboundEvent, Slot};
use connector::time::Day;
use connector::{HttpRequest, HttpResponse, KeyValue, Method};
use integration_tests::{KvBackend, SpinApp};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const BASE: &str = "https://hooks.example.com";
const TOKEN: &str = "component-test-auth-token-0123456789";
const LISTENER: &str = "http://127.0.0.1:3000";
const SM: &str = "SM0123456789abcdef0123456789abcdef";
const SM2: &str = "SMfedcba9876543210fedcba9876543210";
const AC: &str = "AC0123456789abcdef0123456789abcdef";
const FORM: &str = "application/x-www-form-urlencoded";

fn app() -> SpinApp {
    let mut app = SpinApp::workspace().unwrap_or_else(|e| panic!("loading spin.toml: {e:#}"));
    app.set_variable("public_base_url", BASE);
    app.set_variable("twilio_auth_token", TOKEN);
    app
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn encode(params: &[(String, String)]) -> Vec<u8> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A form POST to the listener, signed for the public URL `BASE` + `path_with_query`.
fn signed(path_with_query: &str, params: &[(String, String)]) -> HttpRequest {
    let sig = signature::compute_signature(TOKEN, &format!("{BASE}{path_with_query}"), params);
    HttpRequest::new(Method::Post, format!("{LISTENER}{path_with_query}"))
        .header("Content-Type", FORM)
        .header("X-Twilio-Signature", sig)
        .body(encode(params))
}

fn delivered(sid: &str) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", AC),
        ("From", "+4930123456"),
        ("To", "+4915112345678"),
        ("MessageSid", sid),
        ("MessageStatus", "delivered"),
        ("SmsSid", sid),
        ("SmsStatus", "delivered"),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn send(app: &SpinApp, req: HttpRequest) -> HttpResponse {
    app.http(req)
        .unwrap_or_else(|e| panic!("{e:#}\nlogs:\n{}", app.logs().join("\n")))
}

fn text(resp: &HttpResponse) -> &str {
    std::str::from_utf8(&resp.body).expect("UTF-8 body")
}

/// Keys of the queue and its claims (`seq:inbound`, `inbound:<n>`, `claim:inbound:…`).
fn queue_keys(app: &SpinApp) -> Vec<String> {
    app.kv("default")
        .keys()
        .into_iter()
        .filter(|k| k.contains("inbound"))
        .collect()
}

/// Every audit entry of yesterday and today (UTC; the guest reads the same wall clock), in order,
/// read through the audit log's own paging.
fn audit(app: &SpinApp) -> Vec<AuditEntry> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let now_ms = u64::try_from(now_ms).expect("ms fit u64");
    let store = app.kv("default");
    let mut entries = Vec::new();
    for day in [
        Day::from_unix_ms(now_ms - 86_400_000),
        Day::from_unix_ms(now_ms),
    ] {
        let page = connector::audit::page(&*store, day, 0, 10_000).expect("audit page");
        entries.extend(page.entries.into_iter().map(|(_, e)| e));
    }
    let stored = store
        .keys()
        .iter()
        .filter(|k| k.starts_with("audit:"))
        .count();
    assert_eq!(
        entries.len(),
        stored,
        "every audit key is reachable by paging"
    );
    entries
}

fn assert_rejected(app: &SpinApp, resp: &HttpResponse, status: u16, body: &str) {
    assert_eq!((resp.status, text(resp)), (status, body));
    assert_eq!(queue_keys(app), Vec::<String>::new(), "nothing queued");
    let entries = audit(app);
    assert_eq!(entries.len(), 1, "one audit entry");
    let got = match &entries[0].outcome {
        Outcome::Rejected { status, .. } | Outcome::Failed { status, .. } => *status,
        other => panic!("{other:?}"),
    };
    assert_eq!(got, Some(status));
}

#[test]
fn webhook_imports_the_signature_interface_instead_of_linking_it() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/wasm32-wasip2/release/webhook.wasm"
    );
    let wasm = std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; build it: cargo build --release --target wasm32-wasip2 -p webhook")
    });
    let imports = integration_tests::component_imports(&wasm).expect("a component");
    assert!(
        imports
            .iter()
            .any(|i| i == "ml-connector:twilio-signature/validate@0.1.0"),
        "{imports:?}"
    );
    app()
        .prepare("webhook")
        .expect("composes with the signature component");
}

#[test]
fn signed_status_callback_is_accepted_and_queued_once() {
    let app = app();
    let resp = send(&app, signed("/twilio/status", &delivered(SM)));
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b""[..]));
    let store = app.kv("default");
    let claim = format!("claim:inbound:msg:{SM}:delivered");
    assert_eq!(
        queue_keys(&app),
        vec![
            claim.clone(),
            "inbound:1".to_owned(),
            "seq:inbound".to_owned()
        ]
    );
    assert_eq!(connector::keys::read_counter(&*store, &claim).unwrap(), 1);
    match inbound::read_slot(&*store, 1).unwrap() {
        Slot::Event(r) => {
            assert_eq!(r.dedup_key, format!("msg:{SM}:delivered"));
            match r.event {
                InboundEvent::MessageStatus(e) => {
                    assert_eq!(e.message_sid.as_str(), SM);
                    assert_eq!(e.status.as_str(), "delivered");
                    assert_eq!(e.to.as_deref(), Some("+4915112345678"));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    // Five writes: slot, record, claim, audit sequence, audit entry.
    assert_eq!(store.writes(), 5);
    let entries = audit(&app);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].subject.as_str(), &entries[0].outcome),
        (&*format!("message:{SM}"), &Outcome::Ok)
    );
}

#[test]
fn the_same_callback_twice_is_queued_once() {
    let app = app();
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM))).status,
        200
    );
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM))).status,
        200
    );
    let store = app.kv("default");
    assert_eq!(inbound::tail(&*store).unwrap(), 1);
    assert_eq!(queue_keys(&app).len(), 3);
    assert_eq!(store.writes(), 7);
    let outcomes: Vec<_> = audit(&app).into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Ok, Outcome::Duplicate]);
}

#[test]
fn redis_counters_work_the_same() {
    let mut app = app();
    app.set_kv_backend(KvBackend::Redis);
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM))).status,
        200
    );
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM))).status,
        200
    );
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM2))).status,
        200
    );
    let store = app.kv("default");
    assert_eq!(
        store.get("seq:inbound").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(inbound::tail(&*store).unwrap(), 2);
    assert_eq!(audit(&app).len(), 3);
}

#[test]
fn tampered_parameter_is_forbidden() {
    let app = app();
    let mut req = signed("/twilio/status", &delivered(SM));
    let mut tampered = delivered(SM);
    tampered[4].1 = "failed".into();
    req.body = encode(&tampered);
    assert_rejected(&app, &send(&app, req), 403, "forbidden\n");
    assert_eq!(
        audit(&app)[0].outcome,
        Outcome::Rejected {
            status: Some(403),
            reason: "signature mismatch".into()
        }
    );
}

#[test]
fn signature_over_the_listener_url_is_forbidden() {
    let app = app();
    let params = delivered(SM);
    let sig = signature::compute_signature(TOKEN, &format!("{LISTENER}/twilio/status"), &params);
    let req = HttpRequest::new(Method::Post, format!("{LISTENER}/twilio/status"))
        .header("Content-Type", FORM)
        .header("X-Twilio-Signature", sig)
        .body(encode(&params));
    assert_rejected(&app, &send(&app, req), 403, "forbidden\n");
}

#[test]
fn query_not_covered_by_the_signature_is_forbidden() {
    let app = app();
    let mut req = signed("/twilio/status", &delivered(SM));
    req.url = format!("{LISTENER}/twilio/status?item=sms-J1");
    assert_rejected(&app, &send(&app, req), 403, "forbidden\n");
}

#[test]
fn signed_query_is_kept_exactly() {
    let app = app();
    let resp = send(
        &app,
        signed("/twilio/status?item=sms-J1&x=%2B49", &delivered(SM)),
    );
    assert_eq!(resp.status, 200);
}

#[test]
fn missing_signature_header_is_forbidden() {
    let app = app();
    let mut req = signed("/twilio/status", &delivered(SM));
    req.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-twilio-signature"));
    assert_rejected(&app, &send(&app, req), 403, "forbidden\n");
}

#[test]
fn plain_http_forwarded_request_is_forbidden() {
    let app = app();
    let req = signed("/twilio/status", &delivered(SM)).header("X-Forwarded-Proto", "http");
    assert_rejected(&app, &send(&app, req), 403, "forbidden\n");
    assert_eq!(
        audit(&app)[0].outcome,
        Outcome::Rejected {
            status: Some(403),
            reason: "forwarded over plain http".into()
        }
    );
}

/// Body and hash computed independently with Python's `hashlib.sha256(body).hexdigest()`.
const JSON_BODY: &str = r#"{"MessageSid":"SM0123456789abcdef0123456789abcdef","MessageStatus":"read","To":"whatsapp:+4915112345678"}"#;
const JSON_SHA256: &str = "e193bd8d137e4662c0a3931ab0df6529fc014154829d19fc03708344aff718be";

#[test]
fn json_body_with_valid_body_sha256_is_accepted() {
    let app = app();
    let path = format!("/twilio/status?bodySHA256={JSON_SHA256}");
    let sig = signature::compute_signature(TOKEN, &format!("{BASE}{path}"), &[]);
    let req = HttpRequest::new(Method::Post, format!("{LISTENER}{path}"))
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", sig.clone())
        .body(JSON_BODY);
    assert_eq!(send(&app, req).status, 200);
    let store = app.kv("default");
    match inbound::read_slot(&*store, 1).unwrap() {
        Slot::Event(r) => assert_eq!(r.dedup_key, format!("msg:{SM}:read")),
        other => panic!("{other:?}"),
    }
    // The same signature and hash over a different body: rejected.
    let req = HttpRequest::new(Method::Post, format!("{LISTENER}{path}"))
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", sig)
        .body(JSON_BODY.replace("read", "sent"));
    assert_eq!(send(&app, req).status, 403);
    assert_eq!(inbound::tail(&*store).unwrap(), 1);
}

#[test]
fn http_public_base_url_makes_the_webhook_refuse() {
    let mut app = app();
    app.set_variable("public_base_url", "http://hooks.example.com");
    let resp = send(&app, signed("/twilio/status", &delivered(SM)));
    assert_rejected(
        &app,
        &resp,
        500,
        "webhook refuses to serve: public_base_url must start with https:// (Twilio signs the public \
         https URL, and callbacks must not travel in clear); it uses \"http\"\n",
    );
    assert!(matches!(
        audit(&app)[0].outcome,
        Outcome::Failed {
            status: Some(500),
            ..
        }
    ));
}

#[test]
fn oversized_body_is_413() {
    let app = app();
    let mut params = delivered(SM);
    params.push(("Padding".into(), "x".repeat(64 * 1024)));
    assert_rejected(
        &app,
        &send(&app, signed("/twilio/status", &params)),
        413,
        "payload too large: the limit is 65536 bytes\n",
    );
}

#[test]
fn wrong_content_type_is_415() {
    let app = app();
    let mut req = signed("/twilio/status", &delivered(SM));
    req.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    let req = req.header("Content-Type", "text/plain");
    assert_rejected(
        &app,
        &send(&app, req),
        415,
        "unsupported media type: use application/x-www-form-urlencoded or application/json\n",
    );
}

#[test]
fn malformed_form_is_400() {
    let app = app();
    let mut req = signed("/twilio/status", &delivered(SM));
    req.body = b"MessageSid=SM1&MessageStatus=%zz".to_vec();
    assert_rejected(
        &app,
        &send(&app, req),
        400,
        "bad request: form pair 2: invalid percent-escape\n",
    );
}

#[test]
fn inbound_sms_gets_empty_twiml() {
    let app = app();
    let params = pairs(&[
        ("AccountSid", AC),
        ("MessageSid", SM2),
        ("From", "+4915112345678"),
        ("To", "+4930123456"),
        ("Body", "YES 4711"),
        ("NumMedia", "0"),
    ]);
    let resp = send(&app, signed("/twilio/inbound", &params));
    assert_eq!(resp.status, 200);
    assert_eq!(
        text(&resp),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    assert_eq!(resp.header_value("content-type"), Some("text/xml"));
    let store = app.kv("default");
    match inbound::read_slot(&*store, 1).unwrap() {
        Slot::Event(r) => match r.event {
            InboundEvent::InboundSms(sms) => assert_eq!(sms.body, "YES 4711"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    for (key, value) in store.dump() {
        let value = String::from_utf8_lossy(&value);
        if key.starts_with("audit:") {
            assert!(!value.contains("YES"), "{key}: {value}");
        }
        assert!(!value.contains(TOKEN), "{key} holds the auth token");
    }
}

#[test]
fn unknown_route_under_twilio_is_404_and_audited() {
    let app = app();
    let resp = send(&app, signed("/twilio/other", &delivered(SM)));
    assert_rejected(&app, &resp, 404, "not found\n");
}

/// Throughput of the composed webhook in this host: new, correctly signed status callbacks
/// (each a fresh instance, signature check through the component import, 5 store writes).
/// Prints the figure; never asserts on time.
#[test]
fn throughput_of_signed_status_callbacks() {
    let app = app();
    // Warm up: compile and compose once.
    assert_eq!(
        send(&app, signed("/twilio/status", &delivered(SM))).status,
        200
    );
    let n: u32 = 300;
    let requests: Vec<HttpRequest> = (0..n)
        .map(|i| signed("/twilio/status", &delivered(&format!("SM{i:032x}"))))
        .collect();
    let start = Instant::now();
    for req in requests {
        assert_eq!(send(&app, req).status, 200);
    }
    let elapsed = start.elapsed();
    assert_eq!(
        inbound::tail(&*app.kv("default")).unwrap(),
        u64::from(n) + 1
    );
    println!(
        "webhook in the test host: {n} signed status callbacks in {:.2} s = {:.0} requests/s ({:.2} ms each)",
        elapsed.as_secs_f64(),
        f64::from(n) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / f64::from(n)
    );
}
