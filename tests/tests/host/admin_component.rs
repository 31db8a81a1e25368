//! The operator routes of the built `api` component (issue 8) in the embedded Spin host, with
//! the DATEV and Twilio simulator as its outbound HTTP: `GET /audit` and `GET /audit/{id}`,
//! `PUT /settings/twilio` (stored sealed), `POST /settings/ping` (ok, then a precise reason).
//!
//! Build first (the build commands in spin.toml): `cargo build --release --target wasm32-wasip2
//! -p api` and `cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask
//! componentize extf`.

use crate::datev_common;

use connector::{HttpRequest, Method};
use datev_common::*;
use serde_json::{Value, json};

const KEY_SECRET: &str = "sim-api-key-secret";

fn app_with_twilio() -> (integration_tests::SpinApp, std::sync::Arc<Outbound>) {
    let (mut app, sim) = app(|_| {});
    // The simulator's Twilio account (spin.toml's defaults are the sandbox's).
    app.set_variable("twilio_api_key_secret", KEY_SECRET);
    (app, sim)
}

#[test]
fn audit_trail_lists_pages_and_reads_entries() {
    let (app, sim) = app_with_twilio();
    assert_eq!(connect(&app, &sim).status, 303);
    configure(&app);
    let r = admin(&app, Method::Get, "/audit?limit=2", "text/plain", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let page = json_body(&r);
    let entries = page["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{page}");
    assert_eq!(entries[0]["action"], "api.connect");
    assert_eq!(entries[1]["action"], "api.callback");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("more entries")
        .to_owned();
    let r = admin(
        &app,
        Method::Get,
        &format!("/audit?cursor={cursor}&action=api.client-config"),
        "text/plain",
        b"",
    );
    let next = json_body(&r);
    let actions: Vec<&str> = next["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["api.client-config"]);
    let id = entries[0]["id"].as_str().unwrap();
    let one = admin(
        &app,
        Method::Get,
        &format!("/audit/{id}"),
        "text/plain",
        b"",
    );
    assert_eq!(one.status, 200);
    assert_eq!(json_body(&one)["subject"], "route:/datev/connect");
    let bad = admin(&app, Method::Get, "/audit?limit=0", "text/plain", b"");
    assert_eq!(
        (bad.status, json_body(&bad)["field"].as_str()),
        (422, Some("limit"))
    );
    let anonymous = send(
        &app,
        HttpRequest::new(Method::Get, format!("{LISTENER}/audit")),
    );
    assert_eq!(anonymous.status, 401);
}

#[test]
fn ping_reports_ok_then_the_precise_reason_and_settings_stay_sealed() {
    let (app, sim) = app_with_twilio();
    let ping = |app: &integration_tests::SpinApp| {
        let r = admin(app, Method::Post, "/settings/ping", "text/plain", b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        json_body(&r)
    };
    let p = ping(&app);
    assert_eq!(p["datev"]["status"], "no_consent", "{p}");
    assert_eq!(p["twilio"]["status"], "ok", "{p}");
    assert_eq!(connect(&app, &sim).status, 303);
    let p = ping(&app);
    assert_eq!(p["ok"], true, "{p}");
    // A wrong API key secret stored through the API: bad credentials, and never stored plain.
    let wrong = "wrong-secret-0123456789abcdef0123";
    let put = admin(
        &app,
        Method::Put,
        "/settings/twilio",
        "application/json",
        json!({
            "account_sid": "AC00000000000000000000000000000000",
            "api_key_sid": "SK00000000000000000000000000000000",
            "api_key_secret": wrong,
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(
        json_body(&put)["twilio"]["api_key_secret"],
        json!({"value": "********", "source": "store"})
    );
    let p = ping(&app);
    assert_eq!(p["twilio"]["status"], "bad_credentials", "{p}");
    assert_eq!(p["datev"]["status"], "ok", "{p}");
    let store = app.kv("default");
    let dump = store.dump();
    let raw = String::from_utf8_lossy(dump.get("settings:twilio").expect("stored")).into_owned();
    assert!(
        !raw.contains(wrong) && raw.contains("XChaCha20-Poly1305"),
        "{raw}"
    );
    for (key, value) in dump.iter().filter(|(k, _)| k.starts_with("audit:")) {
        let text = String::from_utf8_lossy(value);
        for secret in [wrong, KEY_SECRET, ADMIN, "sim-client-secret"] {
            assert!(!text.contains(secret), "{key}: {text}");
        }
    }
    let settings = admin(&app, Method::Get, "/settings", "text/plain", b"");
    let text: Value = json_body(&settings);
    assert!(!text.to_string().contains(wrong));
}

/// Credentials stored through the api component are what the twilio-sender component uses:
/// the variable holds a wrong secret, the stored one is right, and the alert goes out once.
#[test]
fn the_sender_component_uses_stored_twilio_credentials() {
    use connector::Clock;
    use connector::batch::BatchId;
    use connector::client_config::{ClientId, Language, PhoneNumber};
    use connector::outbox::{self, AlertResult, AlertText, Channel, DedupKey, OutboxItem};
    use connector::schedule::ScheduleConfig;

    let (mut app, sim) = app(|_| {});
    app.set_variable("twilio_api_key_secret", "wrong-variable-secret");
    app.set_variable("sender_request_slot_ms", "0");
    let put = admin(
        &app,
        Method::Put,
        "/settings/twilio",
        "application/json",
        json!({
            "account_sid": "AC00000000000000000000000000000000",
            "api_key_sid": "SK00000000000000000000000000000000",
            "api_key_secret": KEY_SECRET,
            "from_number": "+15005550006",
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let store = app.kv("default");
    let now = SystemClock.now_ms();
    let to = PhoneNumber::parse("+4915112345678", "to").unwrap();
    let item = OutboxItem::new(
        DedupKey::job_sms("job-1", &to),
        Channel::Sms,
        to,
        Language::De,
        AlertText {
            client: ClientId::parse(CLIENT).unwrap(),
            client_name: "Musterholz GmbH".into(),
            batch: BatchId::new(1),
            reference: Some("RE 1".into()),
            datev_job: Some("job-1".into()),
            result: AlertResult::Succeeded,
            reason: None,
        },
        now,
    );
    outbox::enqueue(&*store, &ScheduleConfig::default(), &item, now).unwrap();
    let result = app
        .cron("twilio-sender", now / 1000)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
    let sent = sim
        .sim
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json"))
        .map(|r| (r.status, r.principal))
        .collect::<Vec<_>>();
    assert_eq!(
        sent,
        [(
            Some(201),
            "key:SK00000000000000000000000000000000".to_owned()
        )],
        "{}",
        app.logs().join("\n")
    );
}

fn cron(app: &integration_tests::SpinApp, component: &str, timestamp: u64) {
    let result = app
        .cron(component, timestamp)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
}

/// Every entry `GET /audit` lists, following the cursor.
fn all_entries(app: &integration_tests::SpinApp, filter: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = admin(
            app,
            Method::Get,
            &format!("/audit?limit=200{filter}{cursor}"),
            "text/plain",
            b"",
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = json_body(&r);
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// A failed DATEV job through the built api, datev-poller and twilio-sender: every component's
/// actions are in the trail, the batch filter finds its history, and no entry carries a secret,
/// a token the simulator issued or a whole phone number.
#[test]
fn every_component_audits_and_no_entry_carries_a_secret() {
    let (mut app, sim) = app(|c| {
        c.faults.datev.job_failure_permille = 1000;
        c.twilio.sms_sending_ms = 0;
        c.twilio.sms_sent_ms = 0;
        c.twilio.sms_delivered_ms = 0;
    });
    app.set_variable("twilio_api_key_secret", KEY_SECRET);
    app.set_variable("sender_request_slot_ms", "0");
    assert_eq!(connect(&app, &sim).status, 303);
    configure(&app);
    let r = admin(
        &app,
        Method::Post,
        "/batches",
        "application/json",
        bookings_batch(2).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = json_body(&r)["id"].as_u64().unwrap();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for i in 0..6 {
        cron(&app, "datev-poller", t0 + 5 * i);
    }
    cron(&app, "twilio-sender", t0 + 60);
    let entries = all_entries(&app, "");
    let actions: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "api.connect",
        "api.callback",
        "api.batch-create",
        "datev-poller.submit",
        "datev-poller.result",
        "twilio-sender.send",
    ] {
        assert!(
            actions.iter().any(|a| a.starts_with(expected)),
            "{expected} missing from {actions:?}"
        );
    }
    let trail = all_entries(&app, &format!("&batch={id}"));
    assert!(
        trail
            .iter()
            .any(|e| e["action"] == "datev-poller.submit" && e["outcome"]["result"] == "ok"),
        "{trail:#?}"
    );
    let mut secrets: Vec<String> = sim.tokens();
    assert!(!secrets.is_empty());
    secrets.extend(
        [
            KEY_SECRET,
            ADMIN,
            "sim-client-secret",
            "c2FuZGJveC1rZXktbm90LWZvci1yZWFsLXVzZS0wMDA=",
            "+4915112345678",
            "+4915187654321",
            "+4917612345678",
            "Bearer ",
            "Basic ",
        ]
        .map(str::to_owned),
    );
    let store = app.kv("default");
    for (key, value) in store.dump().iter().filter(|(k, _)| k.starts_with("audit:")) {
        let text = String::from_utf8_lossy(value);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{key} carries a secret: {text}");
        }
    }
}
