//! The approval gate natively against the simulator: Verify codes through `api`, releases by SMS
//! reply and `delivered` callback and expiry through the `datev-poller` tick, the Verify start
//! through the `twilio-sender` tick.

mod common;

use common::*;
use connector::KeyValue as _;
use connector::audit::AuditEntry;
use connector::inbound::{
    self, DedupKey, InboundEvent, InboundSms, MessageStatusEvent, Sid, Slot, Status,
};
use connector::outbox::{Channel, OutboxState};
use serde_json::{Value, json};
use std::sync::Arc;

const ALMA: &str = "+4915199990000";
const STRANGER: &str = "+4915100000001";

struct ClockSleep(Arc<connector::memory::ManualClock>);

impl sender::Sleep for ClockSleep {
    fn sleep_ms(&self, ms: u64) {
        self.0.advance_ms(ms);
    }
}

fn world(sms_reply: bool, delivered: bool) -> World {
    let w = World::new().connected();
    let body = json!({
        "name": "Musterholz GmbH",
        "finance_contacts": [{"name": "Anna", "phone": ANNA}],
        "controller": {"name": "Carl", "phone": CARL},
        "approver": {"name": "Alma", "phone": "0151 99990000"},
        "risk": {"threshold_cents": 20_000},
        "release": {"sms_reply": sms_reply, "delivered_callback": delivered, "hold_ttl_ms": 3_600_000}
    });
    let r = w.admin(
        "PUT",
        &format!("/clients/{CLIENT}"),
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w
}

/// One `twilio-sender` tick (sends the Verify start and SMS of the outbox).
fn send(w: &World) -> sender::TickReport {
    let twilio = w.api_settings.twilio.clone().unwrap();
    let sleep = ClockSleep(Arc::clone(&w.clock));
    let ports = sender::Ports {
        store: &w.store,
        http: &w.tap,
        clock: &*w.clock,
        rng: &w.rng,
        sleep: &sleep,
    };
    let config = sender::SenderConfig {
        request_slot_ms: 0,
        ..sender::SenderConfig::default()
    };
    w.clock.advance_ms(10_000);
    let report = sender::Sender::new(ports, twilio, config)
        .tick(w.now() / 1000)
        .unwrap();
    // Let the simulated phones receive what was sent.
    w.clock.advance_ms(10_000);
    w.sim.tick().unwrap();
    report
}

fn held(w: &World) -> u64 {
    let id = w.create_batch(&bookings_batch("Zahllauf 03", 2));
    assert_eq!(w.batch(id)["state"], "held");
    id
}

fn post(w: &World, path: &str, body: &Value) -> (u16, Value) {
    let r = w.admin(
        "POST",
        path,
        "application/json",
        body.to_string().as_bytes(),
    );
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn approve(w: &World, id: u64, code: &str) -> (u16, Value) {
    post(w, &format!("/batches/{id}/approve"), &json!({"code": code}))
}

fn code(w: &World) -> String {
    w.sim
        .verify_code(ALMA)
        .unwrap()
        .expect("a live verification")
}

fn wrong(code: &str) -> String {
    let n: u64 = code.parse().unwrap();
    format!(
        "{:0width$}",
        (n + 1) % 10u64.pow(code.len() as u32),
        width = code.len()
    )
}

/// Every audit entry, in the order written.
fn audit(w: &World) -> Vec<AuditEntry> {
    let mut entries: Vec<((String, u64), AuditEntry)> = w
        .store
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with("audit:"))
        .map(|(k, v)| {
            let mut parts = k.split(':').skip(1);
            let day = parts.next().unwrap().to_owned();
            let seq = parts.next().unwrap().parse().unwrap();
            ((day, seq), serde_json::from_slice(&v).unwrap())
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, e)| e).collect()
}

fn audit_of(w: &World, action: &str) -> Vec<AuditEntry> {
    audit(w)
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

fn inbound_sms(w: &World, sid_n: u32, from: &str, body: &str) -> u64 {
    let sid = format!("SM{sid_n:032x}");
    let event = InboundEvent::InboundSms(InboundSms {
        message_sid: Sid::parse(&sid, &["SM", "MM"], "MessageSid").unwrap(),
        from: from.into(),
        to: "+15005550006".into(),
        body: body.into(),
        num_media: Some(0),
        account_sid: None,
    });
    let dedup = event.natural_key();
    match inbound::enqueue(&w.store, &dedup, event, w.now()).unwrap() {
        inbound::Enqueued::Queued { slot } => slot,
        other => panic!("{other:?}"),
    }
}

fn delivered(w: &World, sid: &str, token: Option<&str>) {
    let event = InboundEvent::MessageStatus(MessageStatusEvent {
        message_sid: Sid::parse(sid, &["SM", "MM"], "MessageSid").unwrap(),
        status: Status::parse("delivered", "MessageStatus").unwrap(),
        error_code: None,
        from: None,
        to: None,
        account_sid: None,
    });
    let dedup = match token {
        Some(t) => DedupKey::token(t).unwrap(),
        None => event.natural_key(),
    };
    inbound::enqueue(&w.store, &dedup, event, w.now()).unwrap();
}

#[test]
fn a_held_batch_gets_a_verify_code_a_wrong_code_is_refused_and_the_right_one_approves_it() {
    let w = world(false, false);
    let id = held(&w);
    // Verify only (the policy allows no event release), queued for the sender.
    let items = w.outbox();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].channel, Channel::Verify);
    assert_eq!(items[0].to.as_str(), ALMA);
    assert_eq!(audit_of(&w, "approval.hold").len(), 1);
    let report = send(&w);
    assert_eq!(report.verifications, 1);
    let item = &w.outbox()[0];
    assert_eq!(item.state, OutboxState::Delivered);
    assert!(item.twilio_sid.as_deref().unwrap().starts_with("VE"));
    let code = code(&w);

    let (status, body) = approve(&w, id, &wrong(&code));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["outcome"], "wrong_code");
    assert_eq!(body["attempts_left"], 4);
    assert_eq!(w.batch(id)["state"], "held");
    let (status, body) = approve(&w, id, &wrong(&code));
    assert_eq!((status, body["attempts_left"].as_i64()), (403, Some(3)));

    let (status, body) = approve(&w, id, &code);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "approved");
    assert_eq!(body["batch"]["state"], "approved");
    // Scheduled for the poller exactly as an unheld batch: the next tick submits it.
    let r = w.ticks(1);
    assert_eq!(r.submitted, 1);
    assert_eq!(w.batch(id)["state"], "submitted");

    // The same (now used) code again, and any code: already decided, Twilio not asked.
    let checks = w.tap.count(connector::Method::Post, "VerificationCheck");
    let (status, body) = approve(&w, id, &code);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["outcome"], "already_decided");
    assert_eq!(body["state"], "submitted");
    assert_eq!(
        w.tap.count(connector::Method::Post, "VerificationCheck"),
        checks
    );

    let decisions = audit_of(&w, "approval.approve");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].correlation["via"], "verify_code");
    // No code in the audit trail, nor in any stored value.
    for (k, v) in w.store.dump() {
        let text = String::from_utf8_lossy(&v);
        assert!(!text.contains(&format!("\"{code}\"")), "{k}: {text}");
    }
    let refused = audit_of(&w, "api.batch-approve");
    assert_eq!(refused.len(), 4);
}

#[test]
fn five_wrong_codes_use_up_the_checks_and_a_new_code_after_expiry_approves() {
    let w = world(false, false);
    let id = held(&w);
    send(&w);
    let code = code(&w);
    for left in (0..5).rev() {
        let (status, body) = approve(&w, id, &wrong(&code));
        assert_eq!((status, body["attempts_left"].as_i64()), (403, Some(left)));
    }
    let (status, body) = approve(&w, id, &code);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["outcome"], "max_attempts");
    assert_eq!(w.batch(id)["state"], "held");
    // After Verify's ten minutes the verification is gone; a new one gets a new code.
    w.clock.advance_ms(11 * 60_000);
    let (status, body) = approve(&w, id, &code);
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["outcome"], "verification_gone");
    let (status, body) = post(&w, &format!("/batches/{id}/verify"), &json!({}));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "code_sent");
    assert_eq!(body["attempts_left"], 5);
    let fresh = self::code(&w);
    let (status, body) = approve(&w, id, &fresh);
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.batch(id)["state"], "approved");
}

#[test]
fn verify_restarts_respect_verifys_send_limit() {
    let w = world(false, false);
    let id = held(&w);
    send(&w);
    // The sender's start was send 1 of 5; four restarts resend the same code.
    for _ in 0..4 {
        let (status, body) = post(&w, &format!("/batches/{id}/verify"), &json!({}));
        assert_eq!(status, 202, "{body}");
    }
    let r = w.admin(
        "POST",
        &format!("/batches/{id}/verify"),
        "application/json",
        b"{}",
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header_value("Retry-After"), Some("600"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["outcome"], "too_many_sends");
    // The code already sent still works.
    let (status, _) = approve(&w, id, &code(&w));
    assert_eq!(status, 200);
}

#[test]
fn reject_cancels_and_later_decisions_change_nothing() {
    let w = world(false, false);
    let id = held(&w);
    send(&w);
    let (status, body) = post(&w, &format!("/batches/{id}/reject"), &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["batch"]["state"], "cancelled");
    let (status, body) = post(&w, &format!("/batches/{id}/reject"), &json!({}));
    assert_eq!(
        (status, body["outcome"].as_str()),
        (409, Some("already_decided"))
    );
    let (status, body) = approve(&w, id, &code(&w));
    assert_eq!((status, body["state"].as_str()), (409, Some("cancelled")));
    let (status, body) = post(&w, &format!("/batches/{id}/verify"), &json!({}));
    assert_eq!(
        (status, body["outcome"].as_str()),
        (409, Some("already_decided"))
    );
    assert_eq!(w.ticks(1).submitted, 0);
    let (status, _) = approve(&w, 999, "123456");
    assert_eq!(status, 404);
    let (status, body) = approve(&w, id, "12");
    // A decided batch answers that first, whatever the code.
    assert_eq!(status, 409, "{body}");
}

#[test]
fn a_bad_code_is_refused_naming_the_field() {
    let w = world(false, false);
    let id = held(&w);
    let (status, body) = approve(&w, id, "12");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "code");
    let r = w.admin(
        "POST",
        &format!("/batches/{id}/approve"),
        "application/json",
        b"{",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn the_approvers_sms_reply_releases_and_the_batch_is_submitted_in_the_same_tick() {
    let w = world(true, false);
    let id = held(&w);
    // Verify and the approval request SMS.
    let mut keys: Vec<String> = w.outbox().iter().map(|i| i.dedup_key.to_string()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("sms-approval{id}-{ALMA}"),
            format!("verify-batch{id}")
        ]
    );
    send(&w);
    let request = w
        .sim
        .phone_log()
        .unwrap()
        .into_iter()
        .find(|e| e.to == ALMA && e.text.contains("YES"))
        .expect("approval request on the phone");
    assert!(
        request.text.ends_with(&format!(
            "Antworten Sie YES {id} zum Freigeben oder NO {id} zum Ablehnen."
        )),
        "{}",
        request.text
    );
    inbound_sms(&w, 1, ALMA, &format!("  yes\t{id} "));
    let r = w.ticks(1);
    assert_eq!(r.releases.decided, 1);
    assert_eq!(r.submitted, 1);
    assert_eq!(w.batch(id)["state"], "submitted");
    let d = audit_of(&w, "approval.approve");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].correlation["via"], "sms_reply");
}

#[test]
fn other_senders_unknown_and_decided_batches_and_duplicates_change_nothing_and_are_audited() {
    let w = world(true, false);
    let id = held(&w);
    let other = held(&w);
    inbound_sms(&w, 1, STRANGER, &format!("YES {id}"));
    inbound_sms(&w, 2, ALMA, "YES 999");
    let r = w.ticks(1);
    assert_eq!((r.releases.applied, r.releases.decided), (2, 0));
    assert_eq!(w.batch(id)["state"], "held");
    let reasons: Vec<String> = audit_of(&w, "approval.sms_reply")
        .iter()
        .map(|e| format!("{:?}", e.outcome))
        .collect();
    assert!(
        reasons[0].contains("not the batch's registered approver"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("unknown batch"), "{reasons:?}");
    // The stranger's number is masked in the audit trail.
    assert!(
        !serde_json::to_string(&audit(&w))
            .unwrap()
            .contains(STRANGER)
    );

    // NO first, then YES reordered after it: the first decision wins, once.
    inbound_sms(&w, 3, ALMA, &format!("NO {id}"));
    inbound_sms(&w, 4, ALMA, &format!("YES {id}"));
    // A redelivery of the NO with another idempotency token (queued twice).
    let event = InboundEvent::InboundSms(InboundSms {
        message_sid: Sid::parse(&format!("SM{:032x}", 3), &["SM", "MM"], "MessageSid").unwrap(),
        from: ALMA.into(),
        to: "+15005550006".into(),
        body: format!("NO {id}"),
        num_media: Some(0),
        account_sid: None,
    });
    inbound::enqueue(
        &w.store,
        &DedupKey::token("tok-redelivery").unwrap(),
        event,
        w.now(),
    )
    .unwrap();
    let r = w.ticks(1);
    assert_eq!(r.releases.decided, 1);
    assert_eq!(w.batch(id)["state"], "cancelled");
    assert_eq!(w.batch(other)["state"], "held");
    let rejects = audit_of(&w, "approval.reject");
    assert_eq!(rejects.len(), 2, "{rejects:#?}");
    assert_eq!(format!("{:?}", rejects[0].outcome), "Ok");
    assert_eq!(format!("{:?}", rejects[1].outcome), "Duplicate");
    let approves = audit_of(&w, "approval.approve");
    assert_eq!(approves.len(), 1);
    assert_eq!(format!("{:?}", approves[0].outcome), "Duplicate");
    assert_eq!(approves[0].correlation["state"], "cancelled");
    // Processed once: another tick applies nothing again.
    let r = w.ticks(2);
    assert_eq!(r.releases.applied, 0);
}

#[test]
fn an_unrecognized_reply_gets_one_explaining_sms_and_a_stranger_gets_none() {
    let w = world(true, false);
    let id = held(&w);
    send(&w);
    inbound_sms(&w, 7, ALMA, "ok, go ahead");
    // A second delivery of the same message with another token: applied again, one reply.
    let event = InboundEvent::InboundSms(InboundSms {
        message_sid: Sid::parse(&format!("SM{:032x}", 7), &["SM", "MM"], "MessageSid").unwrap(),
        from: ALMA.into(),
        to: "+15005550006".into(),
        body: "ok, go ahead".into(),
        num_media: Some(0),
        account_sid: None,
    });
    inbound::enqueue(&w.store, &DedupKey::token("again").unwrap(), event, w.now()).unwrap();
    inbound_sms(&w, 8, STRANGER, "hello?");
    let r = w.ticks(1);
    assert_eq!((r.releases.applied, r.releases.replies), (3, 1));
    assert_eq!(w.batch(id)["state"], "held");
    let replies: Vec<_> = w
        .outbox()
        .into_iter()
        .filter(|i| i.dedup_key.as_str().starts_with("sms-reply-"))
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].to.as_str(), ALMA);
    send(&w);
    let texts: Vec<String> = w
        .sim
        .phone_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.to == ALMA && e.text.contains("nicht erkannt"))
        .map(|e| e.text)
        .collect();
    assert_eq!(
        texts,
        vec![
            "ml-connector: Antwort nicht erkannt. Bitte antworten Sie mit YES <Stapelnummer> \
             zum Freigeben oder NO <Stapelnummer> zum Ablehnen, z. B. YES 4711."
        ]
    );
    assert!(
        !w.sim.phone_log().unwrap().iter().any(|e| e.to == STRANGER),
        "a stranger got an SMS"
    );
    // No SMS body in the audit trail.
    let all = serde_json::to_string(&audit(&w)).unwrap();
    assert!(!all.contains("go ahead") && !all.contains("hello?"));
}

#[test]
fn a_reply_is_refused_where_the_policy_allows_only_the_code() {
    let w = world(false, false);
    let id = held(&w);
    inbound_sms(&w, 1, ALMA, &format!("YES {id}"));
    w.ticks(1);
    assert_eq!(w.batch(id)["state"], "held");
    let e = audit_of(&w, "approval.sms_reply");
    assert!(format!("{:?}", e[0].outcome).contains("does not allow SMS replies"));
}

#[test]
fn the_delivered_callback_of_the_approval_request_releases_where_allowed_once() {
    let w = world(false, true);
    let id = held(&w);
    send(&w);
    let request = w
        .outbox()
        .into_iter()
        .find(|i| i.dedup_key.as_str().starts_with("sms-approval"))
        .unwrap();
    let sid = request.twilio_sid.clone().unwrap();
    // Delivered twice (another token) and an unrelated delivered callback.
    delivered(&w, &sid, None);
    delivered(&w, &sid, Some("dup-token"));
    delivered(&w, &format!("SM{:032x}", 99), None);
    let r = w.ticks(1);
    assert_eq!(r.releases.decided, 1);
    assert_eq!(r.submitted, 1);
    assert_eq!(w.batch(id)["state"], "submitted");
    let approves = audit_of(&w, "approval.approve");
    assert_eq!(approves.len(), 2);
    assert_eq!(approves[0].correlation["via"], "delivered_callback");
    assert_eq!(format!("{:?}", approves[1].outcome), "Duplicate");
}

#[test]
fn an_event_that_fails_is_kept_with_its_error_and_retried_after_its_backoff() {
    let w = world(true, false);
    let id = held(&w);
    // An unreadable client configuration makes applying the reply fail (not the store).
    w.store
        .set(&format!("client:{CLIENT}"), br#"{"version":1}"#)
        .unwrap();
    let slot = inbound_sms(&w, 1, ALMA, &format!("YES {id}"));
    let r = w.ticks(1);
    assert_eq!((r.releases.failed, r.releases.applied), (1, 0));
    let Slot::Event(record) = inbound::read_slot(&w.store, slot).unwrap() else {
        panic!()
    };
    assert_eq!(record.processing.attempts, 1);
    assert!(
        record
            .processing
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("client configuration: missing field `client`"),
        "{:?}",
        record.processing
    );
    let first_retry = record.processing.next_attempt_at_ms.unwrap();
    assert_eq!(first_retry, w.now() + 5_000);
    // The next tick comes when the backoff is over: tried again, the backoff doubled.
    let r = w.ticks(1);
    assert_eq!(r.releases.failed, 1);
    let Slot::Event(record) = inbound::read_slot(&w.store, slot).unwrap() else {
        panic!()
    };
    assert_eq!(record.processing.attempts, 2);
    assert_eq!(record.processing.next_attempt_at_ms, Some(w.now() + 10_000));
    // Repaired: applied once, never dropped.
    let r = w.admin(
        "PUT",
        &format!("/clients/{CLIENT}"),
        "application/json",
        json!({"name": "Musterholz GmbH", "approver": {"name": "Alma", "phone": ALMA},
               "risk": {"threshold_cents": 20_000}, "release": {"sms_reply": true, "hold_ttl_ms": 3_600_000}})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 200);
    let r = w.ticks(3);
    assert_eq!(r.releases.applied, 1);
    // Released, submitted and (the simulated DATEV is instant) processed.
    assert_eq!(w.batch(id)["state"], "succeeded");
    let failures = audit_of(&w, "approval.inbound");
    assert_eq!(failures.len(), 2);
}

#[test]
fn a_held_batch_expires_and_approver_and_controller_are_told_once() {
    let w = world(false, false);
    let id = held(&w);
    w.ticks(1);
    assert_eq!(w.batch(id)["state"], "held");
    w.clock.advance_ms(3_600_000 + 60_000);
    let r = w.ticks(1);
    assert_eq!(r.releases.expired, 1);
    assert_eq!(w.batch(id)["state"], "expired");
    let mut notices: Vec<String> = w
        .outbox()
        .iter()
        .filter(|i| i.dedup_key.as_str().starts_with("sms-expired"))
        .map(|i| i.to.to_string())
        .collect();
    notices.sort();
    assert_eq!(notices, vec![ALMA.to_owned(), CARL.to_owned()]);
    assert_eq!(w.ticks(3).releases.expired, 0);
    let (status, body) = approve(&w, id, "123456");
    assert_eq!((status, body["state"].as_str()), (409, Some("expired")));
    send(&w);
    let texts: Vec<String> = w
        .sim
        .phone_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.text.contains("Freigabefrist abgelaufen"))
        .map(|e| e.to)
        .collect();
    assert_eq!(texts.len(), 2);
}

#[test]
fn a_replayed_creation_finishes_an_interrupted_hold() {
    let w = world(false, false);
    let body = bookings_batch("Zahllauf 03", 2).to_string();
    let post = || {
        let auth = format!("Bearer {ADMIN}");
        w.request(
            "POST",
            "/batches",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "zahllauf-03"),
            ],
            body.as_bytes(),
        )
    };
    let r = post();
    assert_eq!(r.status, 201);
    let id: u64 = serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
        .as_u64()
        .unwrap();
    // A crash before the Verify item, the start's last write.
    let key = format!("outbox:verify-batch{id}");
    w.store.delete(&key).unwrap();
    let r = post();
    assert_eq!(r.status, 200);
    assert_eq!(r.header_value("Idempotent-Replayed"), Some("true"));
    let item: connector::outbox::OutboxItem = serde_json::from_slice(&w.raw(&key)).unwrap();
    assert_eq!(item.channel, Channel::Verify);
    // A second replay changes nothing more.
    let writes = w.store.writes();
    assert_eq!(post().status, 200);
    assert_eq!(
        w.store.writes() - writes,
        2,
        "only the replay's own audit entry"
    );
}

#[test]
fn one_approver_many_held_batches_share_verifys_send_limit() {
    // Verify keys a verification by number, not by batch: the sixth start within ten minutes is
    // refused (60203) and that item ends failed with the reason; the code already sent is the
    // same for all of them and approves any one batch.
    let w = world(false, false);
    let ids: Vec<u64> = (0..6).map(|_| held(&w)).collect();
    let report = send(&w);
    assert_eq!((report.verifications, report.given_up), (5, 1));
    let failed: Vec<_> = w
        .outbox()
        .into_iter()
        .filter(|i| i.state == OutboxState::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("more than five sends to this verification (60203)"),
        "{:?}",
        failed[0].last_error
    );
    let code = code(&w);
    let (status, _) = approve(&w, ids[5], &code);
    assert_eq!(status, 200);
    // The verification is used: another batch needs a new code.
    let (status, body) = approve(&w, ids[0], &code);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (410, Some("verification_gone"))
    );
}

#[test]
fn twilio_down_or_unconfigured_changes_nothing_and_says_so() {
    let mut w = world(false, false);
    let id = held(&w);
    send(&w);
    w.tap.fail(
        "VerificationCheck",
        0,
        false,
        Err(connector::HttpError::Connect("refused".into())),
    );
    let r = w.admin(
        "POST",
        &format!("/batches/{id}/approve"),
        "application/json",
        json!({"code": code(&w)}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.header_value("Retry-After"), Some("30"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["outcome"], "twilio_unavailable");
    assert_eq!(w.batch(id)["state"], "held");
    let last = audit_of(&w, "api.batch-approve").pop().unwrap();
    assert!(
        matches!(
            &last.outcome,
            connector::audit::Outcome::Failed {
                status: Some(502),
                ..
            }
        ),
        "{last:?}"
    );
    // The code still works once Twilio answers again.
    let (status, _) = approve(&w, id, &code(&w));
    assert_eq!(status, 200);

    let id = held(&w);
    w.api_settings.twilio = Err("twilio_api_key_secret: required setting is missing".into());
    let (status, body) = approve(&w, id, "123456");
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "Twilio Verify is not configured: twilio_api_key_secret: required setting is missing"
    );
}

#[test]
fn an_orphaned_copy_of_an_applied_event_is_passed_over_without_a_second_effect() {
    let w = world(true, false);
    let id = held(&w);
    let slot = inbound_sms(&w, 1, ALMA, &format!("YES {id}"));
    // A webhook request stored a second copy under the same dedup key and failed before its
    // claim (`connector::inbound` docs): the copy sits in the next slot.
    let Slot::Event(mut copy) = inbound::read_slot(&w.store, slot).unwrap() else {
        panic!()
    };
    let next = w.store.increment("seq:inbound", 1).unwrap() as u64;
    copy.slot = next;
    w.store
        .set(
            &format!("inbound:{next}"),
            &serde_json::to_vec(&inbound::QueueEntry::Event(copy)).unwrap(),
        )
        .unwrap();
    let r = w.ticks(1);
    assert_eq!(
        (
            r.releases.applied,
            r.releases.duplicates,
            r.releases.decided
        ),
        (1, 1, 1)
    );
    assert_eq!(audit_of(&w, "approval.approve").len(), 1);
}
