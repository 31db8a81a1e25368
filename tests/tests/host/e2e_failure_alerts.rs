//! End to end in the embedded Spin host, DATEV and Twilio simulated in-process: a batch posted
//! to `api` becomes a DATEV job (`datev-poller`) that fails, and `twilio-sender` gets an SMS to
//! each finance contact and a call to the controller onto the phones, each exactly once.
//!
//! Build first: `cargo build --release --target wasm32-wasip2 -p api -p datev-poller -p
//! twilio-sender` and the extf component (`cargo build --release --target wasm32-unknown-unknown
//! -p extf && cargo xtask componentize extf`).

use crate::datev_common;

use connector::Method;
use datev_common::*;
use sim::PhoneKind;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cron(app: &integration_tests::SpinApp, component: &str, timestamp: u64) {
    let result = app
        .cron(component, timestamp)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
}

#[test]
fn a_failed_datev_job_reaches_every_finance_contact_by_sms_and_the_controller_by_call_once() {
    let (mut app, sim) = app(|c| {
        c.faults.datev.job_failure_permille = 1000;
        // The simulated phones answer at once: the wall clock runs in this test.
        c.twilio.sms_sending_ms = 0;
        c.twilio.sms_sent_ms = 0;
        c.twilio.sms_delivered_ms = 0;
        c.twilio.call_initiated_ms = 0;
        c.twilio.call_ringing_ms = 0;
        c.twilio.call_answered_ms = 0;
        c.twilio.call_duration_s = 0;
    });
    app.set_variable("twilio_api_key_secret", "sim-api-key-secret");
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

    let t0 = now_s();
    let mut state = String::new();
    for i in 0..10 {
        cron(&app, "datev-poller", t0 + 5 * i);
        let b = json_body(&admin(
            &app,
            Method::Get,
            &format!("/batches/{id}"),
            "text/plain",
            b"",
        ));
        state = b["state"].as_str().unwrap().to_owned();
        if state == "failed" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(state, "failed", "{}", app.logs().join("\n"));

    // The sender's ticks, and a second instance firing the same tick.
    cron(&app, "twilio-sender", t0 + 60);
    cron(&app, "twilio-sender", t0 + 60);
    sim.sim.tick().unwrap();
    cron(&app, "twilio-sender", t0 + 70);
    sim.sim.tick().unwrap();

    let log = sim.sim.phone_log().unwrap();
    let mut sms: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == PhoneKind::Sms)
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
    // The SMS says what failed, in the contact's language (German by default).
    let text = &log.iter().find(|e| e.kind == PhoneKind::Sms).unwrap().text;
    assert!(
        text.starts_with("ml-connector: DATEV-Job ")
            && text.contains("für Musterholz GmbH (29098-55003), Stapel ")
            && text.contains("\"RE 02/2024\": fehlgeschlagen. Grund: "),
        "{text}"
    );
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("twilio-sender: tick") && l.contains("sms 2, calls 1")),
        "{}",
        app.logs().join("\n")
    );
}
