//! The operator routes of issue 8 natively, against the in-process simulator: the audit trail
//! (paged, filtered), replay of failed downstream calls (Twilio send, DATEV submit), stored
//! credentials, the connection check, and a scan proving no audit entry carries a secret.

mod common;

use common::*;
use connector::audit::{self, Actor, AuditEntry, Outcome};
use connector::client_config::{self, ClientId};
use connector::outbox;
use connector::{Clock, HttpResponse, Secret};
use flows::api::AdminSettings;
use flows::credentials::TwilioVariables;
use flows::{Api, ApiRequest, Body};
use sender::{Ports as SenderPorts, Sender, SenderConfig, Sleep};
use serde_json::{Value, json};
use sim::{Faults, PhoneKind, TransportFaults, TwilioFaults};
use std::sync::Arc;

const ACCOUNT: &str = "AC00000000000000000000000000000000";
const KEY_SID: &str = "SK00000000000000000000000000000000";
const KEY_SECRET: &str = "sim-api-key-secret";
const SERVICE: &str = "VA00000000000000000000000000000000";
const TWILIO_API: &str = "http://127.0.0.1:3000/sandbox/twilio/api";
const TWILIO_VERIFY: &str = "http://127.0.0.1:3000/sandbox/twilio/verify";

fn twilio_vars() -> TwilioVariables {
    TwilioVariables {
        account_sid: Some(ACCOUNT.into()),
        api_key_sid: Some(KEY_SID.into()),
        api_key_secret: Some(Secret::new(KEY_SECRET)),
        api_base_url: Some(TWILIO_API.into()),
        verify_base_url: Some(TWILIO_VERIFY.into()),
        verify_service_sid: Some(SERVICE.into()),
        from_number: Some("+15005550006".into()),
        messaging_service_sid: None,
        voice_from_number: None,
    }
}

fn admin_settings(w: &World) -> AdminSettings {
    AdminSettings {
        keyring: Ok(w.setup.keyring.clone()),
        twilio: Ok(twilio_vars()),
        poller: w.poller.clone(),
    }
}

/// Sends one admin request through an api with the operator routes enabled.
fn op(w: &World, admin: &AdminSettings, method: &str, path: &str, body: &Value) -> HttpResponse {
    let req = ApiRequest {
        method: method.into(),
        path_with_query: path.into(),
        headers: vec![
            ("Authorization".into(), format!("Bearer {ADMIN}")),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: Body::Complete(if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        }),
    };
    Api::new(&w.api_settings, w.ports(), &w.extf)
        .with_admin(admin)
        .handle(&req)
}

fn body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

fn ids(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

struct ClockSleep(Arc<connector::memory::ManualClock>);

impl Sleep for ClockSleep {
    fn sleep_ms(&self, ms: u64) {
        self.0.advance_ms(ms);
    }
}

/// One `twilio-sender` tick 10 s later, with the effective (stored or variable) credentials.
fn sender_tick(w: &World, admin: &AdminSettings) -> sender::TickReport {
    w.clock.advance_ms(10_000);
    let settings = flows::credentials::effective_twilio(
        &w.store,
        admin.keyring.as_ref(),
        admin.twilio.as_ref().unwrap(),
    )
    .unwrap();
    let twilio = sender::config::twilio_config(&settings).unwrap();
    let config = SenderConfig {
        max_attempts: 1,
        request_slot_ms: 0,
        status_check_after_ms: 1_000,
        max_status_checks: 1,
        ..SenderConfig::default()
    };
    let sleep = ClockSleep(Arc::clone(&w.clock));
    let ports = SenderPorts {
        store: &w.store,
        http: &w.tap,
        clock: &*w.clock,
        rng: &w.rng,
        sleep: &sleep,
    };
    Sender::new(ports, twilio, config)
        .tick(w.clock.now_secs())
        .unwrap()
}

/// EXTF uploads the simulator processed (faulted requests excluded).
fn accepted_uploads(w: &World) -> usize {
    w.records(sim::Api::DatevExtf)
        .iter()
        .filter(|r| r.method == "POST" && r.fault.is_none())
        .count()
}

/// SMS that reached `number`'s handset in the simulator.
fn sms_to(w: &World, number: &str) -> usize {
    w.sim
        .phone_log()
        .unwrap()
        .iter()
        .filter(|p| p.kind == PhoneKind::Sms && p.to == number)
        .count()
}

#[test]
fn audit_listing_is_paged_by_cursor_and_filtered() {
    let w = World::new().ready();
    let admin = admin_settings(&w);
    let day1 = w.now() - 86_400_000;
    for (i, subject) in ["batch:7", "job:J-1", "batch:8"].iter().enumerate() {
        let e = AuditEntry::new(
            day1 + i as u64,
            Actor::Component {
                name: "datev-poller".into(),
            },
            "datev-poller.submit",
            *subject,
            Outcome::Ok,
        )
        .with("batch", if *subject == "job:J-1" { "7" } else { "x" });
        audit::append(&w.store, &e).unwrap();
    }
    // Two days, oldest first, two per page; the cursor continues exactly after the last key read.
    let from = day1 - 1;
    let p1 = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?from={from}&limit=2"),
        &Value::Null,
    ));
    assert_eq!(ids(&p1), ["20240229-1", "20240229-2"]);
    let c1 = p1["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(c1, "20240229-2");
    let p2 = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?from={from}&limit=2&cursor={c1}"),
        &Value::Null,
    ));
    assert_eq!(ids(&p2)[0], "20240229-3");
    // Filters: batch matches the subject or the correlation id; datev_job the subject.
    let b7 = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?from={from}&batch=7"),
        &Value::Null,
    ));
    assert_eq!(ids(&b7), ["20240229-1", "20240229-2"]);
    let job = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?from={from}&datev_job=J-1"),
        &Value::Null,
    ));
    assert_eq!(ids(&job), ["20240229-2"]);
    let subj = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?from=2024-02-29&to=2024-02-29T23:59:59Z&subject=batch:8",
        &Value::Null,
    ));
    assert_eq!(ids(&subj), ["20240229-3"]);
    assert_eq!(subj["next_cursor"], Value::Null);
    // Today's entries are the api's own (connect, client config, the listings above).
    let today = body(&op(&w, &admin, "GET", "/audit?action=api", &Value::Null));
    assert!(ids(&today).iter().all(|id| id.starts_with("20240301-")));
    assert!(today["entries"].as_array().unwrap().len() >= 3);
    // One entry.
    let one = op(&w, &admin, "GET", "/audit/20240229-2", &Value::Null);
    assert_eq!(one.status, 200);
    assert_eq!(body(&one)["subject"], "job:J-1");
    assert_eq!(
        op(&w, &admin, "GET", "/audit/20240229-99", &Value::Null).status,
        404
    );
    assert_eq!(
        op(&w, &admin, "GET", "/audit/nonsense", &Value::Null).status,
        404
    );
    // Bad parameters name the field.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("from=yesterday", "from"),
        ("to=2024-02-30", "to"),
        ("from=2024-01-01&to=2024-03-01", "from"),
        ("cursor=x", "cursor"),
    ] {
        let r = op(&w, &admin, "GET", &format!("/audit?{query}"), &Value::Null);
        assert_eq!(
            (r.status, body(&r)["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
    // Without the bearer token: 401.
    let req = ApiRequest {
        method: "GET".into(),
        path_with_query: "/audit".into(),
        headers: vec![],
        body: Body::Complete(Vec::new()),
    };
    assert_eq!(
        Api::new(&w.api_settings, w.ports(), &w.extf)
            .with_admin(&admin)
            .handle(&req)
            .status,
        401
    );
}

#[test]
fn a_listing_reads_at_most_the_scan_budget() {
    let w = World::new();
    let admin = admin_settings(&w);
    for i in 0..(flows::api::admin::SCAN_BUDGET + 20) {
        let e = AuditEntry::new(
            w.now() - 1000 + (i % 500),
            Actor::Twilio,
            "webhook.status",
            "message:x",
            Outcome::Ok,
        );
        audit::append(&w.store, &e).unwrap();
    }
    let reads_before = w.store.writes();
    let p = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?subject=nothing-matches",
        &Value::Null,
    ));
    assert_eq!(p["entries"].as_array().unwrap().len(), 0);
    assert_eq!(p["scanned"], flows::api::admin::SCAN_BUDGET);
    assert_eq!(
        p["next_cursor"],
        format!("20240301-{}", flows::api::admin::SCAN_BUDGET)
    );
    // The listing itself writes only its own audit entry.
    assert_eq!(w.store.writes() - reads_before, 2);
    let rest = body(&op(
        &w,
        &admin,
        "GET",
        &format!(
            "/audit?subject=nothing-matches&cursor={}",
            p["next_cursor"].as_str().unwrap()
        ),
        &Value::Null,
    ));
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[test]
fn credentials_are_stored_sealed_shown_masked_and_audited_without_values() {
    let w = World::new();
    let admin = admin_settings(&w);
    let secret = "brand-new-key-secret-0123456789ab";
    let put = op(
        &w,
        &admin,
        "PUT",
        "/settings/twilio",
        &json!({
            "account_sid": ACCOUNT,
            "api_key_sid": "SK11111111111111111111111111111111",
            "api_key_secret": secret,
            "from_number": "0151 12345678",
        }),
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let view = body(&put);
    assert_eq!(
        view["twilio"]["api_key_sid"],
        json!({"value": "SK…1111", "source": "store"})
    );
    assert_eq!(
        view["twilio"]["api_key_secret"],
        json!({"value": "********", "source": "store"})
    );
    assert_eq!(
        view["twilio"]["from_number"],
        json!({"value": "+49151*****678", "source": "store"})
    );
    assert_eq!(
        view["twilio"]["verify_service_sid"],
        json!({"value": "VA…0000", "source": "variable"})
    );
    assert_eq!(view["datev"]["client_id"]["source"], "variable");
    let raw = String::from_utf8(w.raw("settings:twilio")).unwrap();
    assert!(!raw.contains(secret) && !raw.contains("SK1111") && raw.contains("XChaCha20-Poly1305"));
    // DATEV: stored and then used by the poller's setup.
    let put = op(
        &w,
        &admin,
        "PUT",
        "/settings/datev",
        &json!({"client_id": "stored-app", "client_secret": "stored-datev-secret"}),
    );
    assert_eq!(put.status, 200);
    assert_eq!(
        body(&put)["datev"]["client_id"],
        json!({"value": "st…-app", "source": "store"})
    );
    let mut setup = w.setup.clone();
    assert!(flows::credentials::apply_datev(&w.store, &mut setup).unwrap());
    assert_eq!(setup.config.oauth.client_id.as_str(), "stored-app");
    // GET never returns a value.
    let get = op(&w, &admin, "GET", "/settings", &Value::Null);
    let text = String::from_utf8_lossy(&get.body).into_owned();
    assert!(
        !text.contains(secret)
            && !text.contains("stored-datev-secret")
            && !text.contains(KEY_SECRET),
        "{text}"
    );
    // Every bad input names its field, never echoing a secret.
    for (b, field) in [
        (
            json!({"api_key_sid": KEY_SID, "api_key_secret": "x"}),
            "account_sid",
        ),
        (
            json!({"account_sid": "AC1", "api_key_sid": KEY_SID, "api_key_secret": "x"}),
            "account_sid",
        ),
        (
            json!({"account_sid": ACCOUNT, "api_key_sid": KEY_SID, "api_key_secret": "with blank"}),
            "api_key_secret",
        ),
        (
            json!({"account_sid": ACCOUNT, "api_key_sid": KEY_SID, "api_key_secret": "x", "from_number": "12"}),
            "from_number",
        ),
        (
            json!({"account_sid": ACCOUNT, "api_key_sid": KEY_SID, "api_key_secret": "x", "verify_service_sid": "VA1"}),
            "verify_service_sid",
        ),
    ] {
        let r = op(&w, &admin, "PUT", "/settings/twilio", &b);
        assert_eq!(
            (r.status, body(&r)["field"].as_str()),
            (422, Some(field)),
            "{b}"
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("with blank"));
    }
    let r = op(
        &w,
        &admin,
        "PUT",
        "/settings/twilio",
        &json!({"account_sid": ACCOUNT, "secret": "x"}),
    );
    assert_eq!(r.status, 422);
    assert!(
        body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `secret`"),
        "{}",
        body(&r)
    );
    let r = op(
        &w,
        &admin,
        "PUT",
        "/settings/datev",
        &json!({"client_secret": "s"}),
    );
    assert_eq!(
        (r.status, body(&r)["field"].as_str()),
        (422, Some("client_id"))
    );
    // The change is audited with the field names only.
    let page = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?action=api.settings-change",
        &Value::Null,
    ));
    let first = &page["entries"][0];
    assert_eq!(first["subject"], "settings:twilio");
    assert_eq!(first["outcome"]["result"], "ok");
    assert_eq!(
        first["correlation"]["fields"],
        "account_sid,api_key_sid,api_key_secret,from_number"
    );
    assert_no_secrets(&w, &[secret, "stored-datev-secret", KEY_SECRET, ADMIN]);
}

#[test]
fn ping_is_ok_and_names_each_misconfiguration() {
    let w = World::new();
    let admin = admin_settings(&w);
    let ping = |w: &World| body(&op(w, &admin, "POST", "/settings/ping", &Value::Null));
    // No DATEV consent yet; Twilio fine.
    let p = ping(&w);
    assert_eq!(p["datev"]["status"], "no_consent", "{p}");
    assert_eq!(p["twilio"]["status"], "ok", "{p}");
    assert_eq!(
        p["twilio"]["checked"],
        json!(["GET Account", "GET Verify service"])
    );
    assert_eq!(p["ok"], false);
    let w = w.ready();
    let p = ping(&w);
    assert_eq!(
        (p["ok"].as_bool(), p["datev"]["status"].as_str()),
        (Some(true), Some("ok")),
        "{p}"
    );
    assert!(p["datev"]["latency_ms"].is_u64() && p["twilio"]["latency_ms"].is_u64());
    // A wrong API key secret (stored credentials win over the variables).
    let put = |b: Value| op(&w, &admin, "PUT", "/settings/twilio", &b).status;
    assert_eq!(
        put(
            json!({"account_sid": ACCOUNT, "api_key_sid": KEY_SID, "api_key_secret": "wrong-secret"})
        ),
        200
    );
    let p = ping(&w);
    assert_eq!(p["twilio"]["status"], "bad_credentials", "{p}");
    assert!(
        p["twilio"]["reason"].as_str().unwrap().contains("20003"),
        "{p}"
    );
    // An unknown Verify service.
    assert_eq!(
        put(
            json!({"account_sid": ACCOUNT, "api_key_sid": KEY_SID, "api_key_secret": KEY_SECRET, "verify_service_sid": "VA11111111111111111111111111111111"})
        ),
        200
    );
    let p = ping(&w);
    assert_eq!(p["twilio"]["status"], "unknown_verify_service", "{p}");
    assert!(
        p["twilio"]["reason"].as_str().unwrap().contains("VA…1111"),
        "{p}"
    );
    // A DATEV grant revoked at DATEV: the 401 leads to a refresh that gets invalid_grant.
    assert!(w.sim.revoke_datev_grants().unwrap() > 0);
    let p = ping(&w);
    assert_eq!(p["datev"]["status"], "grant_revoked", "{p}");
    assert!(
        p["datev"]["reason"]
            .as_str()
            .unwrap()
            .contains("/datev/connect?client=29098-55003")
    );
    // An unknown client given explicitly.
    let p = body(&op(
        &w,
        &admin,
        "POST",
        "/settings/ping?client=1001-1",
        &Value::Null,
    ));
    assert_eq!(p["datev"]["status"], "no_consent", "{p}");
    let r = op(
        &w,
        &admin,
        "POST",
        "/settings/ping?client=abc",
        &Value::Null,
    );
    assert_eq!(
        (r.status, body(&r)["field"].as_str()),
        (422, Some("client"))
    );
    // Twilio unreachable.
    w.sim
        .set_faults(Faults {
            twilio: TwilioFaults {
                transport: TransportFaults {
                    connect_error_permille: 1000,
                    ..TransportFaults::default()
                },
                ..TwilioFaults::default()
            },
            ..Faults::default()
        })
        .unwrap();
    let p = ping(&w);
    assert_eq!(p["twilio"]["status"], "unreachable", "{p}");
    // Every ping is audited with the per-side status.
    let page = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?action=api.ping",
        &Value::Null,
    ));
    let statuses: Vec<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"]["result"] == "ok")
        .map(|e| {
            format!(
                "{}/{}",
                e["correlation"]["datev"].as_str().unwrap(),
                e["correlation"]["twilio"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "no_consent/ok",
            "ok/ok",
            "ok/bad_credentials",
            "ok/unknown_verify_service",
            "grant_revoked/unknown_verify_service",
            "no_consent/unknown_verify_service",
            "grant_revoked/unreachable"
        ]
    );
}

fn give_up_entry(w: &World, admin: &AdminSettings) -> String {
    let page = body(&op(
        w,
        admin,
        "GET",
        "/audit?action=twilio-sender.give_up",
        &Value::Null,
    ));
    let ids = ids(&page);
    assert_eq!(ids.len(), 1, "{page}");
    ids[0].clone()
}

#[test]
fn replay_of_a_failed_sms_after_the_fault_clears_delivers_exactly_one() {
    let w = World::new().ready();
    let admin = admin_settings(&w);
    let config = client_config::load(&w.store, &ClientId::parse(CLIENT).unwrap())
        .unwrap()
        .unwrap();
    let item = flows::alerts::for_reconsent(&config, w.now(), w.now()).unwrap();
    outbox::enqueue(&w.store, &w.poller.schedule, &item, w.now()).unwrap();
    // Twilio unreachable: the send fails and is given up (max_attempts 1).
    let down = Faults {
        twilio: TwilioFaults {
            transport: TransportFaults {
                connect_error_permille: 1000,
                ..TransportFaults::default()
            },
            ..TwilioFaults::default()
        },
        ..Faults::default()
    };
    w.sim.set_faults(down).unwrap();
    let r = sender_tick(&w, &admin);
    assert_eq!((r.sms_sent, r.given_up), (0, 1));
    let entry = give_up_entry(&w, &admin);
    assert_eq!(sms_to(&w, CARL), 0);
    w.sim.set_faults(Faults::default()).unwrap();
    let r1 = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r1.status, 202, "{}", String::from_utf8_lossy(&r1.body));
    assert_eq!(body(&r1)["state"], "pending");
    // A second replay before the tick: the alert is pending, refused.
    let r2 = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r2.status, 409);
    assert!(
        body(&r2)["reason"]
            .as_str()
            .unwrap()
            .contains("is pending, only a failed alert can be replayed"),
        "{}",
        body(&r2)
    );
    let r = sender_tick(&w, &admin);
    assert_eq!(r.sms_sent, 1);
    // Replaying again after the send: refused with the state; still one SMS after more ticks.
    let r3 = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r3.status, 409);
    let reason = body(&r3)["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("is sent") || reason.contains("is delivered"),
        "{reason}"
    );
    sender_tick(&w, &admin);
    sender_tick(&w, &admin);
    w.sim.tick().unwrap();
    assert_eq!(sms_to(&w, CARL), 1, "{:?}", w.sim.phone_log().unwrap());
    // Replaying a successful entry (the replay's own audit entry) is refused with the reason.
    let page = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?action=twilio-sender.replay",
        &Value::Null,
    ));
    let ok_id = ids(&page)[0].clone();
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{ok_id}/replay"),
        &Value::Null,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        body(&r)["reason"],
        "the entry records a successful action (outcome ok); there is nothing to replay"
    );
    assert_no_secrets(&w, &[KEY_SECRET, ADMIN, ANNA, BEN, CARL]);
}

#[test]
fn replay_of_a_failed_submit_uploads_once() {
    let w = World::new().ready();
    let admin = admin_settings(&w);
    let id = w.create_batch(&bookings_batch("Replay 1", 1));
    // DATEV answers 503 to the upload: a failed submit, retried later by backoff.
    w.sim
        .set_faults(Faults {
            datev: sim::DatevFaults {
                transport: TransportFaults {
                    unavailable_permille: 1000,
                    ..TransportFaults::default()
                },
                ..sim::DatevFaults::default()
            },
            ..Faults::default()
        })
        .unwrap();
    w.ticks(1);
    let page = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?action=datev-poller.submit&batch={id}"),
        &Value::Null,
    ));
    let failed: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"]["result"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{page}");
    let entry = failed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted_uploads(&w), 0);
    // Replay while DATEV is still down: 502 with the error, still nothing uploaded.
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["succeeded"], false);
    w.sim.set_faults(Faults::default()).unwrap();
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["state"], "submitted");
    assert_eq!(accepted_uploads(&w), 1);
    // Twice: refused, the batch is submitted; the next ticks upload nothing more.
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{entry}/replay"),
        &Value::Null,
    );
    assert_eq!(r.status, 409);
    assert!(
        body(&r)["reason"]
            .as_str()
            .unwrap()
            .contains("is submitted"),
        "{}",
        body(&r)
    );
    w.ticks(3);
    assert_eq!(accepted_uploads(&w), 1);
    // An entry that is no downstream call.
    let page = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?action=api.audit-replay",
        &Value::Null,
    ));
    let failed_replay = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"]["result"] != "ok")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{failed_replay}/replay"),
        &Value::Null,
    );
    assert_eq!((r.status, body(&r)["field"].as_str()), (422, Some("id")));
    assert_no_secrets(&w, &[ADMIN, "sim-client-secret"]);
}

/// Scans every audit entry in the store for secrets: the given values, the token keys, every
/// DATEV access and refresh token the simulator issued, and anything that looks like a bearer
/// or Basic credential.
fn assert_no_secrets(w: &World, extra: &[&str]) {
    let mut needles: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    needles.extend(w.tap.issued("access_token"));
    needles.extend(w.tap.issued("refresh_token"));
    needles.push(KEYS.split_once(':').unwrap().1.to_owned());
    needles.push("Bearer ".into());
    needles.push("Basic ".into());
    let entries: Vec<(String, String)> = w
        .store
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with("audit:"))
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect();
    assert!(!entries.is_empty());
    for (key, text) in &entries {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{key} carries a secret: {text}");
        }
    }
}

#[test]
fn client_numbers_are_normalized_to_e164_and_errors_name_the_field() {
    let w = World::new();
    let put = |b: Value| {
        w.admin(
            "PUT",
            &format!("/clients/{CLIENT}"),
            "application/json",
            b.to_string().as_bytes(),
        )
    };
    let ok = put(json!({
        "name": "Musterholz GmbH",
        "finance_contacts": [{"name": "Anna", "phone": "0151 12345678"}, {"name": "Ben", "phone": "+49 (151) 876-54321"}],
        "controller": {"name": "Carl", "phone": "00491761 2345678"},
        "approver": {"name": "Dora", "phone": "+1 415 555 2671"},
    }));
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let c = body(&ok);
    assert_eq!(c["finance_contacts"][0]["phone"], ANNA);
    assert_eq!(c["finance_contacts"][1]["phone"], BEN);
    assert_eq!(c["controller"]["phone"], CARL);
    assert_eq!(c["approver"]["phone"], "+14155552671");
    for (b, field) in [
        (
            json!({"name": "X", "finance_contacts": [{"name": "A", "phone": "12"}]}),
            "finance_contacts[0].phone",
        ),
        (
            json!({"name": "X", "finance_contacts": [{"name": "A", "phone": ANNA}, {"name": "B", "phone": "0151 12345678"}]}),
            "finance_contacts[1].phone",
        ),
        (
            json!({"name": "X", "controller": {"name": "C", "phone": "not a number"}}),
            "controller.phone",
        ),
        (
            json!({"name": "X", "approver": {"name": "D", "phone": "+49 0"}}),
            "approver.phone",
        ),
        (
            json!({"name": "X", "approver": {"name": " ", "phone": ANNA}}),
            "approver.name",
        ),
        (
            json!({"name": "X", "finance_contacts": [{"name": "A\u{7}", "phone": ANNA}]}),
            "finance_contacts[0].name",
        ),
        (json!({"name": ""}), "name"),
    ] {
        let r = put(b.clone());
        assert_eq!(
            (r.status, body(&r)["field"].as_str()),
            (422, Some(field)),
            "{b}: {}",
            body(&r)
        );
    }
}

#[test]
fn replay_of_a_failed_status_check_looks_the_status_up_again_without_resending() {
    let w = World::new().ready();
    let admin = admin_settings(&w);
    let config = client_config::load(&w.store, &ClientId::parse(CLIENT).unwrap())
        .unwrap()
        .unwrap();
    let item = flows::alerts::for_reconsent(&config, w.now(), w.now()).unwrap();
    outbox::enqueue(&w.store, &w.poller.schedule, &item, w.now()).unwrap();
    assert_eq!(sender_tick(&w, &admin).sms_sent, 1);
    // The status lookup cannot reach Twilio and the budget (1 lookup) runs out.
    w.sim
        .set_faults(Faults {
            twilio: TwilioFaults {
                transport: TransportFaults {
                    connect_error_permille: 1000,
                    ..TransportFaults::default()
                },
                ..TwilioFaults::default()
            },
            ..Faults::default()
        })
        .unwrap();
    assert_eq!(sender_tick(&w, &admin).status_checks, 1);
    w.sim.set_faults(Faults::default()).unwrap();
    let page = body(&op(
        &w,
        &admin,
        "GET",
        "/audit?action=twilio-sender.status",
        &Value::Null,
    ));
    let failed = ids(&page);
    assert_eq!(failed.len(), 1, "{page}");
    assert_eq!(page["entries"][0]["outcome"]["result"], "failed");
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{}/replay", failed[0]),
        &Value::Null,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["state"], "sent");
    let report = sender_tick(&w, &admin);
    assert_eq!((report.status_checks, report.sms_sent), (1, 0));
    let stored = w.outbox();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, outbox::OutboxState::Delivered);
    w.sim.tick().unwrap();
    assert_eq!(sms_to(&w, CARL), 1);
    // Delivered now: a second replay is refused with the state.
    let r = op(
        &w,
        &admin,
        "POST",
        &format!("/audit/{}/replay", failed[0]),
        &Value::Null,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        body(&r)["reason"],
        "outbox item outbox:sms-reconsent-29098-55003-1709287200000-+49176*****678 is delivered, only a sent alert without a final status can be checked again"
    );
}

#[test]
fn a_cursor_at_the_end_of_a_day_continues_with_the_next_day() {
    let w = World::new();
    let admin = admin_settings(&w);
    let feb28 = w.now() - 2 * 86_400_000;
    let budget = flows::api::admin::SCAN_BUDGET;
    for i in 0..budget {
        let e = AuditEntry::new(
            feb28 + i,
            Actor::Twilio,
            "webhook.status",
            "message:a",
            Outcome::Ok,
        );
        audit::append(&w.store, &e).unwrap();
    }
    for i in 0..3 {
        let e = AuditEntry::new(
            feb28 + 86_400_000 + i,
            Actor::Twilio,
            "webhook.status",
            "message:b",
            Outcome::Ok,
        );
        audit::append(&w.store, &e).unwrap();
    }
    let range = "from=2024-02-28&to=2024-02-29T23:59:59Z&subject=message:b";
    let p1 = body(&op(
        &w,
        &admin,
        "GET",
        &format!("/audit?{range}"),
        &Value::Null,
    ));
    assert_eq!(ids(&p1), Vec::<String>::new());
    assert_eq!(p1["next_cursor"], format!("20240228-{budget}"));
    let p2 = body(&op(
        &w,
        &admin,
        "GET",
        &format!(
            "/audit?{range}&cursor={}",
            p1["next_cursor"].as_str().unwrap()
        ),
        &Value::Null,
    ));
    assert_eq!(ids(&p2), ["20240229-1", "20240229-2", "20240229-3"]);
    assert_eq!(
        (p2["scanned"].as_u64(), &p2["next_cursor"]),
        (Some(3), &Value::Null)
    );
}
