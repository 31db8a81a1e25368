//! Same seed, same requests at the same simulated times → the same run.

mod common;
use common::*;
use connector::{HttpClient, Method};
use sim::{CallRecord, Delivery, PhoneEntry, SimConfig};

struct Run {
    phone: Vec<PhoneEntry>,
    records: Vec<CallRecord>,
    deliveries: Vec<Delivery>,
    hook_bodies: Vec<(String, Vec<u8>, Option<String>)>,
    responses: Vec<(u16, Vec<u8>)>,
}

fn scenario(seed: u64) -> Run {
    let mut cfg = SimConfig {
        seed,
        ..SimConfig::default()
    };
    cfg.twilio.inbound_sms_url = Some("https://ml-connector.example/twilio/inbound".into());
    cfg.twilio.max_concurrency = Some(3);
    cfg.faults.twilio.callback_jitter_ms = 2_000;
    cfg.faults.twilio.callback_duplicate_permille = 300;
    cfg.faults.twilio.sms_undelivered_permille = 200;
    cfg.faults.twilio.transport.unavailable_permille = 100;
    cfg.faults.datev.transport.timeout_after_effect_permille = 100;
    let w = world_with(cfg);
    let mut responses = Vec::new();
    let mut keep = |r: Result<connector::HttpResponse, connector::HttpError>| match r {
        Ok(resp) => responses.push((resp.status, resp.body)),
        Err(e) => responses.push((0, e.to_string().into_bytes())),
    };
    let token = w.access_token();
    for i in 0..4 {
        keep(
            w.sim
                .send(extf_upload(&token, "29098-55003", sample_extf())),
        );
        w.advance(700 * i + 100);
    }
    w.advance(5_000);
    keep(w.sim.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55003/extf-files/jobs"),
        &token,
    )));
    for (i, to) in [
        "+4917611111111",
        "+4917622222222",
        "+4917633333333",
        "+4917644444444",
        "+4917655555555",
    ]
    .iter()
    .enumerate()
    {
        keep(w.sim.send(twilio_post(
            &messages_url(),
            &[
                ("To", to),
                ("From", "+15005550006"),
                ("Body", "Stapel fertig"),
                (
                    "StatusCallback",
                    "https://ml-connector.example/twilio/status",
                ),
            ],
        )));
        w.advance(50 * i as u64);
    }
    keep(w.sim.send(twilio_post(
        &calls_url(),
        &[
            ("To", "+4917699999999"),
            ("From", "+15005550006"),
            ("Twiml", "<Response><Say>Fehler</Say></Response>"),
            (
                "StatusCallback",
                "https://ml-connector.example/twilio/status",
            ),
            ("StatusCallbackEvent", "ringing"),
        ],
    )));
    keep(w.sim.send(twilio_post(
        &verify_url("Verifications"),
        &[("To", "+4917688888888"), ("Channel", "sms")],
    )));
    w.advance(30_000);
    w.sim.tick().unwrap();
    let code = w
        .sim
        .verify_code("+4917688888888")
        .unwrap()
        .unwrap_or_default();
    keep(w.sim.send(twilio_post(
        &verify_url("VerificationCheck"),
        &[("To", "+4917688888888"), ("Code", &code)],
    )));
    w.sim
        .inject_inbound_sms("+4917611111111", "YES 4711")
        .unwrap();
    Run {
        phone: w.sim.phone_log().unwrap(),
        records: w.sim.records().unwrap(),
        deliveries: w.sim.deliveries().unwrap(),
        hook_bodies: w
            .hooks
            .requests()
            .into_iter()
            .map(|r| {
                (
                    r.url.clone(),
                    r.body.clone(),
                    r.header_value("x-twilio-signature").map(str::to_owned),
                )
            })
            .collect(),
        responses,
    }
}

#[test]
fn same_seed_same_run() {
    let a = scenario(42);
    let b = scenario(42);
    assert_eq!(
        (a.phone.len(), a.deliveries.len(), a.records.len()),
        (6, 13, 15)
    );
    assert_eq!(a.phone, b.phone);
    assert_eq!(a.records, b.records);
    assert_eq!(a.deliveries, b.deliveries);
    assert_eq!(a.hook_bodies, b.hook_bodies);
    assert_eq!(a.responses, b.responses);
}

#[test]
fn another_seed_another_run() {
    let a = scenario(42);
    let c = scenario(43);
    let sids = |r: &Run| r.phone.iter().map(|e| e.sid.clone()).collect::<Vec<_>>();
    assert_ne!(sids(&a), sids(&c));
}
