//! The client against the Twilio simulator (`crates/sim`), in-process: real request and response
//! bytes, simulated time, the phone log as ground truth of what reached a handset.

use connector::memory::{ManualClock, SeededRng};
use connector::{Clock, Method};
use sim::{
    Faults, InMemory, PhoneKind, Recorder, Shared, Sim, SimConfig, TransportFaults, TwilioFaults,
    Window,
};
use std::sync::Arc;
use twilio::{
    AccountSid, ApiKeySid, Backoff, BaseUrl, CallEvent, CallStatus, CallbackUrl, Disposition, E164,
    Language, MessageStatus, MessagingServiceSid, NewCall, NewMessage, SmsSender, TwilioClient,
    TwilioConfig, TwilioError, Twiml, VerifyCode, VerifyOutcome, VerifyServiceSid,
};

/// 2024-03-01T10:00:00Z.
const T0: u64 = 1_709_287_200_000;
// The simulator's default account (sim::TwilioConfig::default()).
const ACCOUNT: &str = "AC00000000000000000000000000000000";
const KEY_SID: &str = "SK00000000000000000000000000000000";
const KEY_SECRET: &str = "sim-api-key-secret";
const SERVICE: &str = "VA00000000000000000000000000000000";
const MG: &str = "MG00000000000000000000000000000000";
const FROM: &str = "+15005550006";
const HOOK: &str = "https://ml-connector.example/twilio/status";

type TestSim = Sim<InMemory, Shared<ManualClock>, Shared<Recorder>>;

struct World {
    sim: TestSim,
    clock: Arc<ManualClock>,
}

impl World {
    fn new() -> Self {
        Self::with(SimConfig::default())
    }

    fn with(cfg: SimConfig) -> Self {
        let clock = Arc::new(ManualClock::at(T0));
        let sim = Sim::new(
            cfg,
            InMemory::new(),
            Shared(Arc::clone(&clock)),
            Shared(Arc::new(Recorder::new())),
        );
        Self { sim, clock }
    }

    fn client(&self) -> TwilioClient<'_> {
        TwilioClient::new(&self.sim, config(SmsSender::From(number(FROM))))
    }

    fn service_client(&self) -> TwilioClient<'_> {
        let mg = MessagingServiceSid::parse(MG, "mg").expect("sid");
        TwilioClient::new(&self.sim, config(SmsSender::MessagingService(mg)))
    }

    /// Lets simulated time pass and applies what fell due.
    fn advance(&self, ms: u64) {
        self.clock.advance_ms(ms);
        self.sim.tick().expect("tick");
    }

    fn phone(&self, kind: PhoneKind) -> Vec<sim::PhoneEntry> {
        let log = self.sim.phone_log().expect("phone log");
        log.into_iter().filter(|e| e.kind == kind).collect()
    }

    fn faults(&self, transport: TransportFaults) {
        let faults = Faults {
            twilio: TwilioFaults {
                transport,
                ..TwilioFaults::default()
            },
            ..Faults::default()
        };
        self.sim.set_faults(faults).expect("set faults");
    }
}

fn number(s: &str) -> E164 {
    E164::parse(s, "test").expect("valid test number")
}

fn config(sms_sender: SmsSender) -> TwilioConfig {
    TwilioConfig {
        account_sid: AccountSid::parse(ACCOUNT, "a").expect("sid"),
        api_key_sid: ApiKeySid::parse(KEY_SID, "k").expect("sid"),
        api_key_secret: connector::Secret::new(KEY_SECRET),
        api_base_url: BaseUrl::twilio_api(),
        verify_base_url: BaseUrl::twilio_verify(),
        sms_sender,
        voice_from: Some(number(FROM)),
        verify_service_sid: Some(VerifyServiceSid::parse(SERVICE, "v").expect("sid")),
    }
}

fn to() -> E164 {
    number("0176 12345678")
}

#[test]
fn sms_is_sent_with_a_form_body_and_api_key_auth() {
    let w = World::new();
    let client = w.client();
    let text = "Stapel 42 (Müller & Co): gebucht, 1.200 €";
    let msg = NewMessage::new(to(), text).status_callback(CallbackUrl::parse(HOOK, "cb").unwrap());
    let m = client.create_message(&msg).unwrap();
    assert_eq!(m.status, MessageStatus::Queued);
    assert_eq!(m.to, "+4917612345678");
    assert_eq!(m.body.as_deref(), Some(text));
    assert_eq!(m.from.as_deref(), Some(FROM));

    let records = w.sim.records().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.method.as_str(), r.status), ("POST", Some(201)));
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(r.principal, format!("key:{KEY_SID}"));

    assert!(w.phone(PhoneKind::Sms).is_empty(), "not delivered yet");
    w.advance(5_000);
    let sms = w.phone(PhoneKind::Sms);
    assert_eq!(sms.len(), 1);
    assert_eq!(
        (
            sms[0].to.as_str(),
            sms[0].text.as_str(),
            sms[0].sid.as_str()
        ),
        ("+4917612345678", text, m.sid.as_str())
    );
    assert_eq!(
        client.fetch_message(&m.sid).unwrap().status,
        MessageStatus::Delivered
    );
}

#[test]
fn sms_through_a_messaging_service() {
    let w = World::new();
    let m = w
        .service_client()
        .create_message(&NewMessage::new(to(), "Hallo"))
        .unwrap();
    assert_eq!(m.status, MessageStatus::Accepted);
    assert_eq!(m.messaging_service_sid.as_deref(), Some(MG));
    assert_eq!(m.num_segments, Some(0));
    w.advance(5_000);
    assert_eq!(w.phone(PhoneKind::Sms).len(), 1);
}

#[test]
fn every_post_is_form_encoded_never_json() {
    let w = World::new();
    let client = w.client();
    client.create_message(&NewMessage::new(to(), "a")).unwrap();
    client
        .create_call(&NewCall::new(
            to(),
            Twiml::say("b", Language::English).unwrap(),
        ))
        .unwrap();
    assert!(matches!(
        client.start_verification(&to(), None).unwrap(),
        VerifyOutcome::Pending(_)
    ));
    let records = w.sim.records().unwrap();
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r.method, "POST");
        let ct = r
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        assert_eq!(
            ct.map(|(_, v)| v.as_str()),
            Some("application/x-www-form-urlencoded"),
            "{r:?}"
        );
        assert!(matches!(r.status, Some(201)), "{r:?}");
    }
}

#[test]
fn call_speaks_escaped_twiml_in_the_contacts_language() {
    let w = World::new();
    let client = w.client();
    let twiml = Twiml::say(
        "Stapel 42 <Müller & Söhne> fehlgeschlagen.",
        Language::German,
    )
    .unwrap();
    let call = NewCall::new(to(), twiml.clone()).status_callback(
        CallbackUrl::parse(HOOK, "cb").unwrap(),
        &[CallEvent::Completed],
    );
    let c = client.create_call(&call).unwrap();
    assert_eq!(c.status, CallStatus::Queued);
    w.advance(10_000);
    let calls = w.phone(PhoneKind::Call);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].text, twiml.as_str());
    assert_eq!(
        calls[0].text,
        "<Response><Say language=\"de-DE\" voice=\"Polly.Vicki\">Stapel 42 &lt;Müller &amp; Söhne&gt; fehlgeschlagen.</Say></Response>"
    );
    assert_eq!(
        client.fetch_call(&c.sid).unwrap().status,
        CallStatus::InProgress
    );
    w.advance(20_000);
    assert_eq!(
        client.fetch_call(&c.sid).unwrap().status,
        CallStatus::Completed
    );
    let en = Twiml::say("Batch 42 failed.", Language::English).unwrap();
    client
        .create_call(&NewCall::new(number("+14158675309"), en))
        .unwrap();
    w.advance(10_000);
    let calls = w.phone(PhoneKind::Call);
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].text,
        "<Response><Say language=\"en-US\" voice=\"Polly.Joanna\">Batch 42 failed.</Say></Response>"
    );
}

#[test]
fn invalid_number_is_an_error_and_nothing_is_sent() {
    let w = World::new();
    let err = E164::parse("0151 2345678", "contacts[2].phone").unwrap_err();
    assert_eq!(
        err.to_string(),
        "contacts[2].phone: phone number is not a valid number for its country"
    );
    assert!(w.sim.records().unwrap().is_empty());
}

#[test]
fn verify_start_wrong_code_right_code_then_404() {
    let w = World::new();
    let client = w.client();
    let started = client
        .start_verification(&to(), Some(Language::German))
        .unwrap();
    let VerifyOutcome::Pending(v) = started else {
        panic!("{started:?}")
    };
    assert_eq!(v.to, "+4917612345678");
    let code = w
        .sim
        .verify_code("+4917612345678")
        .unwrap()
        .expect("code on the phone");
    let sms = w.phone(PhoneKind::VerifySms);
    assert_eq!(sms.len(), 1);
    assert!(sms[0].text.ends_with(&code), "{}", sms[0].text);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let outcome = client
        .check_verification(&to(), &VerifyCode::parse(wrong, "code").unwrap())
        .unwrap();
    assert!(
        matches!(&outcome, VerifyOutcome::Pending(c) if c.valid == Some(false)),
        "{outcome:?}"
    );
    let right = VerifyCode::parse(&code, "code").unwrap();
    let outcome = client.check_verification(&to(), &right).unwrap();
    assert!(
        matches!(&outcome, VerifyOutcome::Approved(c) if c.valid == Some(true) && c.sid == v.sid),
        "{outcome:?}"
    );
    // Twilio deletes an approved verification: a repeated check (e.g. after a lost response)
    // is a 404.
    assert_eq!(
        client.check_verification(&to(), &right).unwrap(),
        VerifyOutcome::NotFound
    );
}

#[test]
fn verify_max_attempts() {
    let w = World::new();
    let client = w.client();
    client.start_verification(&to(), None).unwrap();
    let code = w.sim.verify_code("+4917612345678").unwrap().expect("code");
    let wrong =
        VerifyCode::parse(if code == "000000" { "111111" } else { "000000" }, "code").unwrap();
    for i in 0..5 {
        let o = client.check_verification(&to(), &wrong).unwrap();
        assert!(matches!(o, VerifyOutcome::Pending(_)), "check {i}: {o:?}");
    }
    assert_eq!(
        client.check_verification(&to(), &wrong).unwrap(),
        VerifyOutcome::MaxAttempts
    );
    // Even the right code is refused now, until the verification expires.
    let right = VerifyCode::parse(&code, "code").unwrap();
    assert_eq!(
        client.check_verification(&to(), &right).unwrap(),
        VerifyOutcome::MaxAttempts
    );
    w.advance(601_000);
    assert_eq!(
        client.check_verification(&to(), &right).unwrap(),
        VerifyOutcome::NotFound
    );
}

#[test]
fn verify_expiry_is_not_found() {
    let w = World::new();
    let client = w.client();
    client.start_verification(&to(), None).unwrap();
    let code = w.sim.verify_code("+4917612345678").unwrap().expect("code");
    w.advance(600_000);
    let right = VerifyCode::parse(&code, "code").unwrap();
    assert_eq!(
        client.check_verification(&to(), &right).unwrap(),
        VerifyOutcome::NotFound
    );
}

#[test]
fn verify_send_limit() {
    let w = World::new();
    let client = w.client();
    let mut codes = Vec::new();
    for i in 0..5 {
        let o = client
            .start_verification(&to(), Some(Language::English))
            .unwrap();
        assert!(matches!(o, VerifyOutcome::Pending(_)), "send {i}: {o:?}");
        codes.push(w.sim.verify_code("+4917612345678").unwrap());
    }
    // Resends within the window reuse the code.
    assert!(codes.windows(2).all(|p| p[0] == p[1]), "{codes:?}");
    assert_eq!(
        client.start_verification(&to(), None).unwrap(),
        VerifyOutcome::TooManyRequests
    );
    assert_eq!(w.phone(PhoneKind::VerifySms).len(), 5);
}

#[test]
fn unknown_verify_service_on_start_is_a_final_error() {
    // A 404 on a start (unknown service, or an unsupported Locale) is configuration, not
    // "approved already" as on a check.
    let w = World::new();
    let mut cfg = config(SmsSender::From(number(FROM)));
    cfg.verify_service_sid =
        Some(VerifyServiceSid::parse("VA11111111111111111111111111111111", "v").unwrap());
    let client = TwilioClient::new(&w.sim, cfg);
    let err = client.start_verification(&to(), None).unwrap_err();
    assert_eq!(
        (err.status(), err.code(), err.disposition()),
        (Some(404), Some(20404), Disposition::Final)
    );
}

#[test]
fn wrong_key_is_a_final_authentication_error() {
    let w = World::new();
    let mut cfg = config(SmsSender::From(number(FROM)));
    cfg.api_key_secret = connector::Secret::new("wrong");
    let err = TwilioClient::new(&w.sim, cfg)
        .create_message(&NewMessage::new(to(), "x"))
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code(), err.disposition()),
        (Some(401), Some(20003), Disposition::Final)
    );
    assert_eq!(
        err.to_string(),
        "Twilio error 20003 (HTTP 401): Authenticate (https://www.twilio.com/docs/errors/20003)"
    );
}

/// Sends with backoff in simulated time until Twilio accepts or gives a non-retry answer;
/// returns the result and the number of attempts.
fn send_with_backoff(
    w: &World,
    client: &TwilioClient<'_>,
    msg: &NewMessage,
    rng: &SeededRng,
) -> (Result<twilio::Message, TwilioError>, u32) {
    let backoff = Backoff::new(100, 2_000).unwrap();
    let mut attempt = 0;
    loop {
        match client.create_message(msg) {
            Err(e) if e.disposition() == Disposition::Retry && attempt < 50 => {
                let delay = backoff.delay_after(attempt, &e, w.clock.now_ms(), rng);
                w.clock.advance_ms(delay.max(1));
                attempt += 1;
            }
            other => return (other, attempt + 1),
        }
    }
}

#[test]
fn rate_limit_storm_is_retried_with_backoff_in_simulated_time() {
    let w = World::new();
    w.faults(TransportFaults {
        rate_limit_storm: Some(Window {
            from_ms: T0,
            until_ms: T0 + 3_000,
        }),
        ..TransportFaults::default()
    });
    let client = w.client();
    let rng = SeededRng::new(7);
    let (result, attempts) =
        send_with_backoff(&w, &client, &NewMessage::new(to(), "nach dem Sturm"), &rng);
    let m = result.unwrap();
    assert!(attempts > 1, "the storm must have been hit");
    assert!(
        w.clock.now_ms() >= T0 + 3_000,
        "retried only after the storm"
    );
    let records = w.sim.records().unwrap();
    assert_eq!(records.len() as u32, attempts);
    assert!(
        records[..records.len() - 1]
            .iter()
            .all(|r| r.status == Some(429))
    );
    w.advance(5_000);
    let sms = w.phone(PhoneKind::Sms);
    assert_eq!(sms.len(), 1, "delivered exactly once");
    assert_eq!(sms[0].sid, m.sid.as_str());
}

#[test]
fn concurrency_limit_one_delivers_every_alert_once() {
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(1);
    let w = World::with(cfg);
    let client = w.client();
    let rng = SeededRng::new(11);
    let mut total_attempts = 0;
    for i in 0..10 {
        let (result, attempts) = send_with_backoff(
            &w,
            &client,
            &NewMessage::new(to(), format!("Alarm {i}")),
            &rng,
        );
        result.unwrap();
        total_attempts += attempts;
    }
    assert!(
        total_attempts > 10,
        "some sends must have met the limit ({total_attempts})"
    );
    let elapsed = w.clock.now_ms() - T0;
    assert!(
        elapsed >= 9 * 250 / 2,
        "backoff took simulated time: {elapsed} ms"
    );
    w.advance(5_000);
    let mut texts: Vec<String> = w
        .phone(PhoneKind::Sms)
        .into_iter()
        .map(|e| e.text)
        .collect();
    texts.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("Alarm {i}")).collect();
    want.sort();
    assert_eq!(texts, want);
}

#[test]
fn ambiguous_timeout_is_reconciled_not_resent() {
    let w = World::new();
    let client = w.client();
    w.faults(TransportFaults {
        timeout_after_effect_permille: 1000,
        ..TransportFaults::default()
    });
    let body = "Stapel 7 fehlgeschlagen: Konto 1200 gesperrt";
    let attempt_at = w.clock.now_secs() as i64;
    let err = client
        .create_message(&NewMessage::new(to(), body))
        .unwrap_err();
    assert_eq!(
        err,
        TwilioError::Http {
            method: Method::Post,
            source: connector::HttpError::Timeout
        }
    );
    assert!(err.is_ambiguous() && err.is_retryable());
    w.faults(TransportFaults::default());
    w.clock.advance_ms(1_000);
    let found = client
        .find_sent_messages(&to(), body, attempt_at, 3)
        .unwrap();
    assert_eq!(found.len(), 1, "the timed-out create did go through");
    assert_ne!(found[0].status, MessageStatus::Failed);
    // So nothing is resent; the phone gets exactly one message.
    w.advance(5_000);
    let sms = w.phone(PhoneKind::Sms);
    assert_eq!(sms.len(), 1);
    assert_eq!(
        (sms[0].text.as_str(), sms[0].sid.as_str()),
        (body, found[0].sid.as_str())
    );
}

#[test]
fn server_errors_are_reconciled_then_resent_only_if_nothing_went_out() {
    let w = World::new();
    let client = w.service_client();
    let body = "Stapel 9: DATEV-Job fehlgeschlagen";
    let at = w.clock.now_secs() as i64;

    // 503 before any effect: nothing went out, so a resend is right.
    w.faults(TransportFaults {
        unavailable_permille: 1000,
        ..TransportFaults::default()
    });
    let err = client
        .create_message(&NewMessage::new(to(), body))
        .unwrap_err();
    assert_eq!(
        (err.status(), err.disposition()),
        (Some(503), Disposition::Reconcile)
    );
    w.faults(TransportFaults::default());
    assert!(
        client
            .find_sent_messages(&to(), body, at, 3)
            .unwrap()
            .is_empty()
    );
    client.create_message(&NewMessage::new(to(), body)).unwrap();

    // 500 after the effect: the message exists, so no resend.
    let body2 = "Stapel 10: DATEV-Job fehlgeschlagen";
    w.faults(TransportFaults {
        server_error_after_effect_permille: 1000,
        ..TransportFaults::default()
    });
    let err = client
        .create_message(&NewMessage::new(to(), body2))
        .unwrap_err();
    assert_eq!(
        (err.status(), err.disposition()),
        (Some(500), Disposition::Reconcile)
    );
    w.faults(TransportFaults::default());
    assert_eq!(
        client
            .find_sent_messages(&to(), body2, at, 3)
            .unwrap()
            .len(),
        1
    );

    w.advance(5_000);
    let texts: Vec<String> = w
        .phone(PhoneKind::Sms)
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, [body, body2]);
}

#[test]
fn connect_failure_is_retryable_and_had_no_effect() {
    let w = World::new();
    let client = w.client();
    w.faults(TransportFaults {
        connect_error_permille: 1000,
        ..TransportFaults::default()
    });
    let err = client
        .create_message(&NewMessage::new(to(), "x"))
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry);
    w.faults(TransportFaults::default());
    assert!(
        client
            .find_sent_messages(&to(), "x", 0, 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn list_pages_are_followed() {
    let w = World::new();
    let client = w.client();
    for i in 0..5 {
        client
            .create_message(&NewMessage::new(to(), format!("m{i}")))
            .unwrap();
        w.advance(1_000);
    }
    let filter = twilio::MessageFilter {
        to: Some(to()),
        page_size: Some(2),
        ..Default::default()
    };
    let mut page = client.list_messages(&filter).unwrap();
    let mut bodies: Vec<String> = Vec::new();
    loop {
        bodies.extend(page.items.iter().filter_map(|m| m.body.clone()));
        match client.next_messages(&page).unwrap() {
            Some(next) => page = next,
            None => break,
        }
    }
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
    // DateSent> on a day before: all; on the day after: none.
    let day = |ms: u64| twilio::UtcDate::from_unix_ms(ms);
    let f = |d| twilio::MessageFilter {
        to: Some(to()),
        date_sent_on_or_after: Some(d),
        ..Default::default()
    };
    assert_eq!(client.list_messages(&f(day(T0))).unwrap().items.len(), 5);
    assert_eq!(
        client
            .list_messages(&f(day(T0 + 86_400_000)))
            .unwrap()
            .items
            .len(),
        0
    );
}
