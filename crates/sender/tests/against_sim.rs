//! The sender tick against the Twilio simulator, in-process: real request bytes, simulated time,
//! callbacks through the inbound queue, and the simulator's phone log as the ground truth of
//! what reached a handset.

mod common;

use base64::Engine as _;
use common::*;
use connector::audit::{Actor, Outcome};
use connector::inbound::{
    self, CallStatusEvent, DedupKey as EventKey, InboundEvent, MessageStatusEvent, Sid, Status,
};
use connector::outbox::{AlertResult, DedupKey, OutboxState};
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, KeyValue, Method};
use sender::journal;
use sim::{PhoneKind, SimConfig, TransportFaults, TwilioFaults, Window};
use std::path::PathBuf;

/// Compares `actual` with `tests/golden/<name>`; `BLESS=1` rewrites the file instead.
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("create golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    assert_eq!(
        actual, expected,
        "golden file {name} differs (BLESS=1 regenerates it)"
    );
}

/// Method, URL, headers (Authorization checked separately) and body, as text.
fn describe(req: &HttpRequest) -> String {
    let mut s = format!("{} {}\n", req.method, req.url);
    for (name, value) in &req.headers {
        let v = if name.eq_ignore_ascii_case("authorization") {
            "[asserted separately]"
        } else {
            value
        };
        s.push_str(&format!("{name}: {v}\n"));
    }
    s.push('\n');
    s.push_str(&String::from_utf8_lossy(&req.body));
    s
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY_SID}:{KEY_SECRET}"))
    )
}

const JOB: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const TO: &str = "+4917612345678";

#[test]
fn sms_and_call_go_out_as_exact_form_bodies_with_basic_auth() {
    let w = World::new();
    w.save_client(Some(CONTROLLER));
    let sms = sms(JOB, TO, AlertResult::Failed, w.now());
    let call = call(JOB, CONTROLLER, w.now());
    w.enqueue(&sms);
    w.enqueue(&call);
    let report = w.tick();
    assert_eq!((report.sms_sent, report.calls_placed), (1, 1));

    let reqs = w.sent_requests();
    assert_eq!(reqs.len(), 2);
    golden("sms_create.txt", &describe(&reqs[0]));
    golden("call_create.txt", &describe(&reqs[1]));
    for r in &reqs {
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.header_value("Authorization"), Some(basic().as_str()));
        assert_eq!(
            r.header_value("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(!r.body.starts_with(b"{"), "JSON body sent");
    }
    // The simulator authenticated both with the API key and saw no JSON.
    let records = w.sim.records().unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.principal, format!("key:{KEY_SID}"));
        assert_eq!(r.status, Some(201));
        assert!(
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .all(|(_, v)| v == "application/x-www-form-urlencoded"),
            "{:?}",
            r.headers
        );
    }

    // Recorded: SID, state, SID index, audit (masked number, no body).
    let item = w.item(&sms.dedup_key);
    assert_eq!(item.state, OutboxState::Sent);
    assert_eq!(item.attempts, 1);
    let sid = item.twilio_sid.clone().unwrap();
    assert!(sid.starts_with("SM"), "{sid}");
    assert_eq!(
        journal::item_of_sid(&*w.store, &sid)
            .unwrap()
            .unwrap()
            .dedup_key,
        sms.dedup_key
    );
    let sends = w.audit_actions("twilio-sender.send");
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].subject, format!("outbox:sms-{JOB}-+49176*****678"));
    assert_eq!(sends[0].outcome, Outcome::Ok);
    assert_eq!(sends[0].correlation["to"], "+49176*****678");
    assert_eq!(sends[0].correlation["sid"], sid);
    assert_eq!(sends[0].correlation["datev_job"], JOB);
    assert_eq!(sends[1].subject, format!("outbox:call-{JOB}"));
    let audit = serde_json::to_string(&w.audit()).unwrap();
    assert!(
        !audit.contains(TO) && !audit.contains(CONTROLLER),
        "{audit}"
    );
    assert!(
        !audit.contains("Invalid EXTF-header"),
        "no body text in the audit"
    );
    assert!(!w.store_text().contains(KEY_SECRET));

    // The callbacks arrive; the next tick reads them: both delivered.
    w.advance(40_000);
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 1);
    assert_eq!(w.phone_log(PhoneKind::Call).len(), 1);
    w.advance(TICK_MS);
    let report = w.tick();
    assert_eq!(report.statuses_applied, 2, "{report:?}");
    assert_eq!(w.item(&sms.dedup_key).state, OutboxState::Delivered);
    assert_eq!(w.item(&call.dedup_key).state, OutboxState::Delivered);
    let statuses = w.audit_actions("twilio-sender.status");
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].correlation["from"], "sent");
    assert_eq!(statuses[0].correlation["to_state"], "delivered");
}

#[test]
fn a_429_storm_at_concurrency_one_delivers_every_alert_once_with_backoff_in_simulated_time() {
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(1);
    let w = World::with(cfg, false, 7);
    w.transport_faults(TransportFaults {
        rate_limit_storm: Some(Window {
            from_ms: T0,
            until_ms: T0 + 25_000,
        }),
        ..TransportFaults::default()
    });
    let numbers = numbers(20);
    let keys: Vec<DedupKey> = numbers
        .iter()
        .map(|n| {
            let item = sms(JOB, n, AlertResult::Failed, w.now());
            w.enqueue(&item);
            item.dedup_key
        })
        .collect();
    let reports = w.run(&keys, 60);
    for k in &keys {
        assert_eq!(w.item(k).state, OutboxState::Delivered, "{k}");
    }
    // Every alert reached its phone exactly once.
    let mut to: Vec<String> = w
        .phone_log(PhoneKind::Sms)
        .into_iter()
        .map(|e| e.to)
        .collect();
    to.sort();
    assert_eq!(to, numbers);
    let rate_limited: u64 = reports.iter().map(|r| r.rate_limited).sum();
    let waited: u64 = reports.iter().map(|r| r.waited_ms).sum();
    let records = w.sim.records().unwrap();
    let answered_429 = records.iter().filter(|r| r.status == Some(429)).count() as u64;
    assert!(rate_limited >= 1, "the storm was met");
    assert_eq!(rate_limited, answered_429);
    assert_eq!(
        records.iter().filter(|r| r.status == Some(201)).count(),
        20,
        "one create per alert"
    );
    // Backoff is visible in simulated time: the first tick waited for the gate, and no create
    // succeeded inside the storm.
    assert!(waited > 0, "{reports:?}");
    assert!(
        records
            .iter()
            .filter(|r| r.status == Some(201))
            .all(|r| r.at_ms >= T0 + 25_000)
    );
    assert_eq!(
        w.audit_actions("twilio-sender.rate_limited").len() as u64,
        rate_limited
    );
    // The whole tick slowed down: after a 429 the next request waited for the gate.
    let first = &reports[0];
    assert!(first.rate_limited >= 1 && first.deferred >= 1, "{first:?}");
}

#[test]
fn concurrency_limit_one_without_a_storm_paces_and_delivers_once() {
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(1);
    let w = World::with(cfg, false, 3);
    let keys: Vec<DedupKey> = numbers(10)
        .iter()
        .map(|n| {
            let item = sms(JOB, n, AlertResult::Succeeded, w.now());
            w.enqueue(&item);
            item.dedup_key
        })
        .collect();
    let reports = w.run(&keys, 20);
    assert!(
        keys.iter()
            .all(|k| w.item(k).state == OutboxState::Delivered)
    );
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 10);
    // Each request holds the simulator's single slot for 250 ms of simulated time; with S = 0
    // the sender meets the limit and backs off.
    assert!(reports.iter().map(|r| r.rate_limited).sum::<u64>() > 0);
}

#[test]
fn request_slot_paces_without_meeting_the_limit() {
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(1);
    let mut w = World::with(cfg, false, 3);
    w.config.request_slot_ms = 250; // the simulator's request time
    let keys: Vec<DedupKey> = numbers(10)
        .iter()
        .map(|n| {
            let item = sms(JOB, n, AlertResult::Succeeded, w.now());
            w.enqueue(&item);
            item.dedup_key
        })
        .collect();
    let report = w.tick();
    assert_eq!(report.sms_sent, 10);
    assert_eq!(report.rate_limited, 0);
    assert_eq!(report.waited_ms, 9 * 250);
    let _ = w.run(&keys, 5);
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 10);
}

#[test]
fn a_5xx_before_any_effect_is_reconciled_then_sent_once() {
    let w = World::new();
    w.transport_faults(TransportFaults {
        unavailable_permille: 1000,
        ..TransportFaults::default()
    });
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    let r = w.tick();
    assert_eq!((r.sms_sent, r.ambiguous), (0, 1));
    let state = w.item(&item.dedup_key);
    assert_eq!(state.state, OutboxState::Sending);
    assert!(state.last_error.as_deref().unwrap().contains("HTTP 503"));
    w.transport_faults(TransportFaults::default());
    let _ = w.run(std::slice::from_ref(&item.dedup_key), 10);
    let done = w.item(&item.dedup_key);
    assert_eq!(done.state, OutboxState::Delivered);
    assert_eq!(done.attempts, 2);
    let sms = w.phone_log(PhoneKind::Sms);
    assert_eq!(sms.len(), 1);
    assert_eq!(Some(sms[0].sid.clone()), done.twilio_sid);
    let reconciles = w.audit_actions("twilio-sender.reconcile");
    assert_eq!(reconciles.len(), 1);
    assert_eq!(reconciles[0].correlation["found"], "nothing went out");
    let retries = w.audit_actions("twilio-sender.retry");
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].correlation["ambiguous"], "true");
}

#[test]
fn a_5xx_after_the_effect_is_reconciled_and_not_resent() {
    let w = World::new();
    w.transport_faults(TransportFaults {
        server_error_after_effect_permille: 1000,
        ..TransportFaults::default()
    });
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    assert_eq!(w.tick().ambiguous, 1);
    w.transport_faults(TransportFaults::default());
    let reports = w.run(std::slice::from_ref(&item.dedup_key), 10);
    assert_eq!(reports.iter().map(|r| r.reconciled_sent).sum::<u64>(), 1);
    let done = w.item(&item.dedup_key);
    assert_eq!(done.state, OutboxState::Delivered);
    assert_eq!(done.attempts, 1);
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 1);
    let creates = w
        .sim
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(creates, 1);
}

#[test]
fn an_ambiguous_timeout_puts_exactly_one_message_on_the_phone() {
    let w = World::new();
    w.transport_faults(TransportFaults {
        timeout_after_effect_permille: 1000,
        ..TransportFaults::default()
    });
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    let r = w.tick();
    assert_eq!(r.ambiguous, 1);
    // The timed-out create did go through; the phone gets it.
    w.advance(5_000);
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 1);
    // Still timing out: the reconciliation's list is a GET, which times out too and is retried.
    w.advance(TICK_MS);
    let r = w.tick();
    assert_eq!((r.reconciled_sent, r.sms_sent), (0, 0));
    w.transport_faults(TransportFaults::default());
    let _ = w.run(std::slice::from_ref(&item.dedup_key), 20);
    let done = w.item(&item.dedup_key);
    assert_eq!(done.state, OutboxState::Delivered);
    let sms = w.phone_log(PhoneKind::Sms);
    assert_eq!(sms.len(), 1, "exactly one message on the phone");
    assert_eq!(Some(sms[0].sid.clone()), done.twilio_sid);
    assert_eq!(
        w.sim
            .records()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1,
        "never resent"
    );
}

#[test]
fn an_ambiguous_call_is_matched_by_its_time_window_not_by_a_later_call_to_the_same_number() {
    let w = World::new();
    let first = call("job-a", CONTROLLER, w.now());
    w.enqueue(&first);
    // 503 before any effect: the first call was never placed.
    w.transport_faults(TransportFaults {
        unavailable_permille: 1000,
        ..TransportFaults::default()
    });
    assert_eq!(w.tick().ambiguous, 1);
    w.transport_faults(TransportFaults::default());
    // Meanwhile a call for another job goes to the same controller.
    let second = call("job-b", CONTROLLER, w.now());
    w.advance(1_000);
    w.enqueue(&second);
    w.advance(TICK_MS);
    let _ = w.run(&[first.dedup_key.clone(), second.dedup_key.clone()], 20);
    let (a, b) = (w.item(&first.dedup_key), w.item(&second.dedup_key));
    assert_eq!(
        (a.state, b.state),
        (OutboxState::Delivered, OutboxState::Delivered)
    );
    assert_ne!(
        a.twilio_sid, b.twilio_sid,
        "job-a was not taken for job-b's call"
    );
    assert_eq!(w.phone_log(PhoneKind::Call).len(), 2);
}

/// Twilio validates numbers more strictly than an E.164 shape check (twilio.md §11): this
/// stand-in answers 21211 for one number, exactly as Twilio's error body reads.
struct Strict<'a>(&'a TestSim, &'static str);

impl HttpClient for Strict<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let body = String::from_utf8_lossy(&req.body);
        let to = format!("To={}", self.1.replace('+', "%2B"));
        if req.method == Method::Post && body.starts_with(&to) {
            return Ok(HttpResponse::new(
                400,
                format!(
                    r#"{{"code": 21211, "message": "The 'To' number {} is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}}"#,
                    self.1
                ),
            ));
        }
        self.0.send(req)
    }
}

#[test]
fn an_invalid_number_is_a_clear_error_and_an_audit_entry_and_nothing_is_sent() {
    const BAD: &str = "+4900000000";
    let w = World::new();
    w.save_client(None);
    let item = sms(JOB, BAD, AlertResult::Succeeded, w.now());
    w.enqueue(&item);
    let strict = Strict(&w.sim, BAD);
    let sleep = SimSleep(std::sync::Arc::clone(&w.clock));
    let ports = sender::Ports {
        store: &*w.store,
        http: &strict,
        clock: &*w.clock,
        rng: &w.rng,
        sleep: &sleep,
    };
    let report = sender::Sender::new(ports, w.twilio.clone(), w.config.clone())
        .tick(w.clock.now_secs())
        .unwrap();
    assert_eq!((report.sms_sent, report.given_up), (0, 1));
    let failed = w.item(&item.dedup_key);
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some(
            "Twilio error 21211 (HTTP 400): The 'To' number +4900000000 is not a valid phone \
             number. (https://www.twilio.com/docs/errors/21211)"
        )
    );
    let give_up = w.audit_actions("twilio-sender.give_up");
    assert_eq!(give_up.len(), 1);
    assert_eq!(
        give_up[0].outcome,
        Outcome::Failed {
            status: None,
            reason: "Twilio error 21211 (HTTP 400): The 'To' number +490****000 is not a valid \
                     phone number. (https://www.twilio.com/docs/errors/21211)"
                .into()
        }
    );
    assert_eq!(give_up[0].correlation["error_code"], "21211");
    w.advance(60_000);
    assert!(w.phone_log(PhoneKind::Sms).is_empty());
    // A succeeded job's alert does not escalate.
    assert!(w.audit_actions("twilio-sender.escalate").is_empty());
}

#[test]
fn a_stored_number_that_is_not_e164_is_refused_before_anything_is_sent() {
    let w = World::new();
    let item = sms(JOB, TO, AlertResult::Succeeded, w.now());
    let mut json = serde_json::to_value(&item).unwrap();
    json["to"] = serde_json::Value::String("0176 12345678".into());
    let key = item.dedup_key.store_key();
    w.store.set(&key, json.to_string().as_bytes()).unwrap();
    connector::schedule::append(
        &*w.store,
        &w.schedule,
        connector::outbox::OUTBOX_SCHEDULE,
        &key,
        w.now(),
        w.now(),
    )
    .unwrap();
    let report = w.tick();
    assert_eq!((report.corrupt, report.sms_sent), (1, 0));
    let entries = w.audit_actions("twilio-sender.send");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].subject,
        format!("outbox:sms-{JOB}-+49176*****678")
    );
    let Outcome::Rejected { reason, .. } = &entries[0].outcome else {
        panic!("{:?}", entries[0].outcome)
    };
    assert!(
        reason.starts_with(
            "unreadable record, nothing sent: phone: must be an E.164 number: + and 8 to 15 digits"
        ),
        "{reason}"
    );
    assert!(w.sim.records().unwrap().is_empty());
}

#[test]
fn connect_failures_give_up_after_the_limit_escalate_once_and_replay_sends_exactly_one() {
    let w = World::new();
    w.save_client(Some(CONTROLLER));
    w.transport_faults(TransportFaults {
        connect_error_permille: 1000,
        ..TransportFaults::default()
    });
    let a = sms(JOB, TO, AlertResult::Failed, w.now());
    let b = sms(JOB, "+4917612345679", AlertResult::Failed, w.now());
    w.enqueue(&a);
    w.enqueue(&b);
    // Five failed attempts with backoff (5 s base, doubling) take a few minutes.
    let _ = w.run(&[a.dedup_key.clone(), b.dedup_key.clone()], 200);
    let failed = w.item(&a.dedup_key);
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(failed.attempts, 5);
    assert!(
        failed.last_error.as_deref().unwrap().starts_with(
            "gave up after 5 failed attempts; last error: POST request to Twilio failed: \
             connection failed before the request was sent"
        ),
        "{:?}",
        failed.last_error
    );
    assert_eq!(w.audit_actions("twilio-sender.retry").len(), 8);
    assert_eq!(w.audit_actions("twilio-sender.give_up").len(), 2);
    // Both undelivered failure alerts escalate; one call is enqueued, the second finds it.
    let esc = w.audit_actions("twilio-sender.escalate");
    assert_eq!(esc.len(), 2);
    assert_eq!(esc[0].outcome, Outcome::Ok);
    assert_eq!(esc[1].outcome, Outcome::Duplicate);
    let call_key = DedupKey::job_call(JOB);
    assert_eq!(w.item(&call_key).to.as_str(), CONTROLLER);

    // The fault clears; the call goes out; a replay of one SMS sends exactly one message.
    w.transport_faults(TransportFaults::default());
    let _ = w.run(std::slice::from_ref(&call_key), 10);
    assert_eq!(w.item(&call_key).state, OutboxState::Delivered);
    assert_eq!(w.phone_log(PhoneKind::Call).len(), 1);
    sender::replay(
        &*w.store,
        &w.schedule,
        &a.dedup_key,
        w.now(),
        Actor::Operator { id: "ops".into() },
    )
    .unwrap();
    assert!(matches!(
        sender::replay(
            &*w.store,
            &w.schedule,
            &call_key,
            w.now(),
            Actor::Operator { id: "ops".into() }
        ),
        Err(sender::ReplayError::NotFailed {
            state: "delivered",
            ..
        })
    ));
    let _ = w.run(std::slice::from_ref(&a.dedup_key), 10);
    let replayed = w.item(&a.dedup_key);
    assert_eq!(replayed.state, OutboxState::Delivered);
    assert_eq!(replayed.attempts, 6);
    let sms_log = w.phone_log(PhoneKind::Sms);
    assert_eq!(sms_log.len(), 1);
    assert_eq!(sms_log[0].to, TO);
    // Replaying again is refused: it went out.
    assert!(matches!(
        sender::replay(
            &*w.store,
            &w.schedule,
            &a.dedup_key,
            w.now(),
            Actor::Operator { id: "ops".into() }
        ),
        Err(sender::ReplayError::NotFailed {
            state: "delivered",
            ..
        })
    ));
    assert_eq!(w.audit_actions("twilio-sender.replay").len(), 1);
}

#[test]
fn undelivered_failure_alerts_escalate_to_one_call_even_when_the_call_exists() {
    let w = World::new();
    w.save_client(Some(CONTROLLER));
    w.twilio_faults(TwilioFaults {
        sms_undelivered_permille: 1000,
        ..TwilioFaults::default()
    });
    let numbers = numbers(3);
    let keys: Vec<DedupKey> = numbers
        .iter()
        .map(|n| {
            let item = sms(JOB, n, AlertResult::Failed, w.now());
            w.enqueue(&item);
            item.dedup_key
        })
        .collect();
    let _ = w.run(&keys, 20);
    for k in &keys {
        let item = w.item(k);
        assert_eq!(item.state, OutboxState::Failed);
        assert_eq!(
            item.last_error.as_deref(),
            Some("Twilio status undelivered (error 30003)")
        );
    }
    let call_key = DedupKey::job_call(JOB);
    let _ = w.run(std::slice::from_ref(&call_key), 20);
    assert_eq!(w.item(&call_key).state, OutboxState::Delivered);
    assert_eq!(
        w.phone_log(PhoneKind::Call).len(),
        1,
        "one call for three undelivered SMS"
    );
    let esc = w.audit_actions("twilio-sender.escalate");
    assert_eq!(
        esc.iter().map(|e| e.outcome.clone()).collect::<Vec<_>>(),
        [Outcome::Ok, Outcome::Duplicate, Outcome::Duplicate]
    );
    // A succeeded job's undelivered SMS does not call anyone.
    let ok = sms("job-ok", &numbers[0], AlertResult::Succeeded, w.now());
    w.enqueue(&ok);
    let _ = w.run(std::slice::from_ref(&ok.dedup_key), 20);
    assert_eq!(w.item(&ok.dedup_key).state, OutboxState::Failed);
    assert!(outbox_missing(&w, &DedupKey::job_call("job-ok")));
}

fn outbox_missing(w: &World, key: &DedupKey) -> bool {
    connector::outbox::load(&*w.store, key).unwrap().is_none()
}

fn sid(s: &str) -> Sid {
    let prefixes: &'static [&'static str] = if s.starts_with("CA") {
        &["CA"]
    } else {
        &["SM", "MM"]
    };
    Sid::parse(s, prefixes, "sid").unwrap()
}

fn queue(w: &World, token: &str, event: InboundEvent) {
    inbound::enqueue(&*w.store, &EventKey::token(token).unwrap(), event, w.now()).unwrap();
}

fn message_event(s: &str, status: &str, code: Option<u32>) -> InboundEvent {
    InboundEvent::MessageStatus(MessageStatusEvent {
        message_sid: sid(s),
        status: Status::parse(status, "MessageStatus").unwrap(),
        error_code: code,
        from: None,
        to: None,
        account_sid: None,
    })
}

#[test]
fn duplicate_and_reordered_callbacks_change_nothing_twice() {
    let mut w = World::new();
    // Only the events queued below: the simulator's own callbacks go nowhere.
    w.config.status_callback = None;
    w.save_client(Some(CONTROLLER));
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    w.tick();
    let s = w.item(&item.dedup_key).twilio_sid.unwrap();
    // Delivered, then a late `sent`, a duplicate `delivered`, then `undelivered` (out of order),
    // and an event about a message the sender never sent.
    queue(&w, "t1", message_event(&s, "delivered", None));
    queue(&w, "t2", message_event(&s, "sent", None));
    queue(&w, "t3", message_event(&s, "delivered", None));
    queue(&w, "t4", message_event(&s, "undelivered", Some(30003)));
    queue(
        &w,
        "t5",
        message_event("SM0123456789abcdef0123456789abcdef", "delivered", None),
    );
    w.advance(TICK_MS);
    let r = w.tick();
    assert_eq!(
        (r.statuses_applied, r.statuses_unchanged, r.events_ignored),
        (1, 3, 1),
        "{r:?}"
    );
    assert_eq!(w.item(&item.dedup_key).state, OutboxState::Delivered);
    assert_eq!(w.audit_actions("twilio-sender.status").len(), 1);
    assert!(w.audit_actions("twilio-sender.escalate").is_empty());
    // Processed once: the next tick reads nothing again.
    w.advance(TICK_MS);
    let r = w.tick();
    assert_eq!(r.events_read, 0);
    // Call events move calls the same way; a final one is final.
    let call = call(JOB, CONTROLLER, w.now());
    w.enqueue(&call);
    w.advance(TICK_MS);
    w.tick();
    let c = w.item(&call.dedup_key).twilio_sid.unwrap();
    let call_event = |status: &str, seq: u64| {
        InboundEvent::CallStatus(CallStatusEvent {
            call_sid: sid(&c),
            status: Status::parse(status, "CallStatus").unwrap(),
            sequence_number: Some(seq),
            error_code: None,
            from: None,
            to: None,
            account_sid: None,
        })
    };
    queue(&w, "c1", call_event("no-answer", 3));
    queue(&w, "c2", call_event("ringing", 1));
    queue(&w, "c3", call_event("completed", 4));
    w.advance(TICK_MS);
    let r = w.tick();
    assert_eq!((r.statuses_applied, r.statuses_unchanged), (1, 2), "{r:?}");
    assert_eq!(w.item(&call.dedup_key).state, OutboxState::Failed);
}

#[test]
fn the_lease_keeps_a_second_instance_out_of_the_window() {
    let w = World::new();
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    w.store
        .increment(
            &connector::keys::lease("twilio-sender", w.now() / 10_000),
            1,
        )
        .unwrap();
    let r = w.tick();
    assert!(!r.lease);
    assert!(w.sim.records().unwrap().is_empty());
    w.advance(TICK_MS);
    assert_eq!(w.tick().sms_sent, 1);
}

#[test]
fn an_attempt_claimed_elsewhere_is_not_sent_and_a_dead_claim_is_skipped_later() {
    let w = World::new();
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    // Another instance took attempt 1 and died before writing its journal.
    w.store
        .increment(&journal::attempt_claim(&item.dedup_key, 1), 1)
        .unwrap();
    let r = w.tick();
    assert_eq!((r.claimed_elsewhere, r.sms_sent), (1, 0));
    assert!(w.sim.records().unwrap().is_empty());
    // Still silent after two minutes: attempt 1 is skipped, attempt 2 goes out.
    let reports = w.run(std::slice::from_ref(&item.dedup_key), 30);
    assert_eq!(reports.iter().map(|r| r.sms_sent).sum::<u64>(), 1);
    let done = w.item(&item.dedup_key);
    assert_eq!((done.state, done.attempts), (OutboxState::Delivered, 2));
    assert_eq!(w.phone_log(PhoneKind::Sms).len(), 1);
    assert_eq!(w.audit_actions("twilio-sender.claim").len(), 1);
    // A live holder (its journal shows the attempt) is never skipped.
    let other = sms("job-2", TO, AlertResult::Failed, w.now());
    w.enqueue(&other);
    w.store
        .increment(&journal::attempt_claim(&other.dedup_key, 1), 1)
        .unwrap();
    journal::save(
        &*w.store,
        &other.dedup_key,
        &journal::SendJournal {
            version: 1,
            attempts: 1,
            open: Some(journal::OpenAttempt {
                number: 1,
                started_at_ms: w.now(),
                ended_at_ms: None,
            }),
            updated_at_ms: w.now(),
            ..journal::SendJournal::default()
        },
    )
    .unwrap();
    // The holder "crashed" mid-request: the open attempt is reconciled (nothing went out), then
    // attempt 2 is sent.
    let _ = w.run(std::slice::from_ref(&other.dedup_key), 30);
    let o = w.item(&other.dedup_key);
    assert_eq!((o.state, o.attempts), (OutboxState::Delivered, 2));
    assert_eq!(w.audit_actions("twilio-sender.claim").len(), 1);
}

#[test]
fn a_store_failure_at_any_write_neither_loses_nor_duplicates_an_alert() {
    // Cut the first tick after each of its writes (the store then fails every write until it
    // heals), then let the sender run on: every alert ends delivered, none twice.
    for cut in 0..40 {
        let w = World::new();
        w.save_client(Some(CONTROLLER));
        let a = sms(JOB, TO, AlertResult::Failed, w.now());
        let b = call(JOB, CONTROLLER, w.now());
        w.enqueue(&a);
        w.enqueue(&b);
        w.store.fail_after(cut);
        let first = w.try_tick();
        w.store.heal();
        let _ = w.run(&[a.dedup_key.clone(), b.dedup_key.clone()], 40);
        for k in [&a.dedup_key, &b.dedup_key] {
            assert_eq!(
                w.item(k).state,
                OutboxState::Delivered,
                "cut {cut}: {k} ({first:?})"
            );
        }
        assert_eq!(w.phone_log(PhoneKind::Sms).len(), 1, "cut {cut}");
        assert_eq!(w.phone_log(PhoneKind::Call).len(), 1, "cut {cut}");
    }
}

#[test]
fn a_sent_item_without_callbacks_is_looked_up() {
    // Callbacks go nowhere (e.g. a wrong public_base_url): the sender fetches the status.
    let mut w = World::new();
    w.config.status_callback = None;
    let item = sms(JOB, TO, AlertResult::Failed, w.now());
    w.enqueue(&item);
    w.tick();
    assert_eq!(w.item(&item.dedup_key).state, OutboxState::Sent);
    let reports = w.run(std::slice::from_ref(&item.dedup_key), 200);
    assert_eq!(reports.iter().map(|r| r.status_checks).sum::<u64>(), 1);
    assert_eq!(w.item(&item.dedup_key).state, OutboxState::Delivered);
    let st = w.audit_actions("twilio-sender.status");
    assert_eq!(st[0].correlation["source"], "status_check");
    // 15 minutes after the send.
    assert!(st[0].at_ms >= T0 + 15 * 60_000);
}
