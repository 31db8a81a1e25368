//! Seeded, knob-driven faults on both sides.

mod common;
use common::*;
use connector::{HttpError, HttpRequest, Method};
use sim::{Faults, SimConfig, Window};

const TO: &str = "+4917612345678";

fn sms(w: &World, hook: Option<&str>) -> Result<connector::HttpResponse, HttpError> {
    let mut pairs = vec![("To", TO), ("From", "+15005550006"), ("Body", "Alarm")];
    if let Some(h) = hook {
        pairs.push(("StatusCallback", h));
    }
    connector::HttpClient::send(&w.sim, twilio_post(&messages_url(), &pairs))
}

fn faults(f: impl FnOnce(&mut Faults)) -> SimConfig {
    let mut cfg = SimConfig::default();
    f(&mut cfg.faults);
    cfg
}

fn message_count(w: &World) -> usize {
    w.sim.snapshot().unwrap().twilio.messages.len()
}

#[test]
fn connect_errors_have_no_effect() {
    let w = world_with(faults(|f| f.twilio.transport.connect_error_permille = 1000));
    assert!(matches!(sms(&w, None), Err(HttpError::Connect(_))));
    assert_eq!(message_count(&w), 0);
    let r = w.sim.records().unwrap();
    assert_eq!(
        (r[0].status, r[0].fault.as_deref()),
        (None, Some("connect error"))
    );
}

#[test]
fn timeouts_happen_after_the_effect() {
    let w = world_with(faults(|f| {
        f.twilio.transport.timeout_after_effect_permille = 1000
    }));
    assert_eq!(sms(&w, None), Err(HttpError::Timeout));
    // Ambiguous: the message was created and is listed for reconciliation.
    assert_eq!(message_count(&w), 1);
    w.sim.set_faults(Faults::default()).unwrap();
    let list = body_json(&w.send(twilio_get(&format!(
        "{}?To=%2B4917612345678",
        messages_url()
    ))));
    assert_eq!(list["messages"].as_array().unwrap().len(), 1);
}

#[test]
fn server_errors_before_and_after_the_effect() {
    let w = world_with(faults(|f| f.twilio.transport.unavailable_permille = 1000));
    let resp = sms(&w, None).unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(body_json(&resp)["code"], 20503);
    assert_eq!(message_count(&w), 0);
    let w = world_with(faults(|f| {
        f.twilio.transport.server_error_after_effect_permille = 1000
    }));
    let resp = sms(&w, None).unwrap();
    assert_eq!(resp.status, 500);
    assert_eq!(body_json(&resp)["code"], 20500);
    assert_eq!(message_count(&w), 1);
}

#[test]
fn rate_limit_storm_window() {
    let w = world_with(faults(|f| {
        f.twilio.transport.rate_limit_storm = Some(Window {
            from_ms: T0 + 1_000,
            until_ms: T0 + 5_000,
        })
    }));
    assert_eq!(sms(&w, None).unwrap().status, 201);
    w.advance(1_000);
    for _ in 0..3 {
        let resp = sms(&w, None).unwrap();
        assert_eq!(resp.status, 429);
        assert_eq!(body_json(&resp)["code"], 20429);
    }
    w.advance(4_000);
    assert_eq!(sms(&w, None).unwrap().status, 201);
    assert_eq!(message_count(&w), 2);
}

#[test]
fn datev_transport_faults_use_datev_shapes() {
    let w = world_with(faults(|f| f.datev.transport.rate_limit_permille = 1000));
    let resp = w.send(token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
    ]));
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header_value("retry-after"), Some("5"));
    assert_eq!(body_json(&resp)["httpCode"], "429");
    let w = world();
    let token = w.access_token();
    w.sim
        .set_faults(faults(|f| f.datev.transport.unavailable_permille = 1000).faults)
        .unwrap();
    let resp = w.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55003/extf-files/jobs"),
        &token,
    ));
    assert_eq!(resp.status, 503);
    assert_eq!(keys(&body_json(&resp)), ["request_id", "status", "title"]);
    let resp = w.send(datev(Method::Get, &format!("{DXSO}/clients"), &token));
    assert_eq!((resp.status, resp.body.len()), (503, 0));
}

#[test]
fn extf_upload_timeout_still_creates_the_job() {
    let w = world();
    let token = w.access_token();
    w.sim
        .set_faults(faults(|f| f.datev.transport.timeout_after_effect_permille = 1000).faults)
        .unwrap();
    let result =
        connector::HttpClient::send(&w.sim, extf_upload(&token, "29098-55003", sample_extf()));
    assert_eq!(result, Err(HttpError::Timeout));
    assert_eq!(w.sim.extf_jobs().unwrap().len(), 1);
}

fn job_after(w: &World, token: &str, wait_ms: u64) -> serde_json::Value {
    let resp = w.send(extf_upload(token, "29098-55003", sample_extf()));
    assert_eq!(resp.status, 202);
    let url = format!("{EXTF}{}", resp.header_value("location").unwrap());
    w.advance(wait_ms);
    body_json(&w.send(datev(Method::Get, &url, token)))
}

#[test]
fn job_failures_rejected_files_and_slow_jobs() {
    let w = world();
    let token = w.access_token();
    w.sim
        .set_faults(faults(|f| f.datev.job_failure_permille = 1000).faults)
        .unwrap();
    let job = job_after(&w, &token, 3_000);
    assert_eq!(job["result"], "failed");
    assert_eq!(
        job["validation_details"]["type"],
        "http://www.datev.de/hilfe/1008837"
    );
    assert_eq!(job["validation_details"]["title"], "Try again");
    w.sim
        .set_faults(faults(|f| f.datev.reject_file_permille = 1000).faults)
        .unwrap();
    let job = job_after(&w, &token, 3_000);
    assert_eq!(
        job["validation_details"]["type"],
        "http://www.datev.de/hilfe/1008833"
    );
    w.sim
        .set_faults(
            faults(|f| {
                f.datev.slow_job_permille = 1000;
                f.datev.slow_job_extra_ms = 60_000;
            })
            .faults,
        )
        .unwrap();
    assert_eq!(job_after(&w, &token, 3_000)["result"], "pending");
    w.advance(60_000);
    let list = body_json(&w.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55003/extf-files/jobs"),
        &token,
    )));
    assert_eq!(list[2]["result"], "succeeded");
}

#[test]
fn token_revocation_fault_gives_401_and_dead_refresh_token() {
    let w = world();
    let t = w.login(SCOPES);
    w.sim
        .set_faults(faults(|f| f.datev.token_revocation_permille = 1000).faults)
        .unwrap();
    let resp = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients"),
        t["access_token"].as_str().unwrap(),
    ));
    assert_eq!(resp.status, 401);
    let refresh = w.send(token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", t["refresh_token"].as_str().unwrap()),
    ]));
    assert_eq!(refresh.status, 400);
    assert_eq!(body_json(&refresh)["error"], "invalid_grant");
}

#[test]
fn dxso_partial_and_critical() {
    for (knob, status) in [(0u8, 4), (1, 3)] {
        let w = world_with(faults(|f| {
            if knob == 0 {
                f.datev.dxso_partial_permille = 1000;
            } else {
                f.datev.dxso_critical_permille = 1000;
            }
        }));
        let token = w.access_token();
        let job = body_json(&w.send(datev(
            Method::Post,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs"),
            &token,
        )));
        let id = job["id"].as_str().unwrap();
        let body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"document.xml\"\r\nContent-Type: text/xml\r\n\r\n<archive/>\r\n--b--\r\n";
        let up = w.send(
            datev(
                Method::Post,
                &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}/files"),
                &token,
            )
            .header("Content-Type", "multipart/form-data; boundary=b")
            .body(body.to_vec()),
        );
        assert_eq!(up.status, 201);
        let put = datev(
            Method::Put,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}"),
            &token,
        )
        .header("Content-Type", "application/merge-patch+json")
        .body(br#"{"ready":"true"}"#.to_vec());
        assert_eq!(w.send(put).status, 204);
        w.advance(5_000);
        let st = body_json(&w.send(datev(
            Method::Get,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}"),
            &token,
        )));
        assert_eq!(st["status"], status);
    }
}

#[test]
fn undelivered_and_failed_sms_never_reach_the_phone() {
    let w = world_with(faults(|f| f.twilio.sms_undelivered_permille = 1000));
    sms(&w, Some("https://hook.example/s")).unwrap();
    w.advance(3_000);
    let d = w.sim.tick().unwrap();
    let last = w.hooks.requests().pop().unwrap();
    let p = form_of(&last);
    assert_eq!(param(&p, "MessageStatus"), Some("undelivered"));
    assert_eq!(param(&p, "ErrorCode"), Some("30003"));
    assert_eq!(d.last().unwrap().status, "undelivered");
    assert!(w.sim.phone_log().unwrap().is_empty());
    let w = world_with(faults(|f| f.twilio.sms_failed_permille = 1000));
    let sid = body_json(&sms(&w, Some("https://hook.example/s")).unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    w.advance(3_000);
    w.sim.tick().unwrap();
    let statuses: Vec<String> = w
        .hooks
        .requests()
        .iter()
        .map(|r| param(&form_of(r), "MessageStatus").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["failed"]);
    let m = body_json(&w.send(twilio_get(&format!(
        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"
    ))));
    assert_eq!(
        (m["status"].as_str(), m["error_code"].as_u64()),
        (Some("failed"), Some(30008))
    );
}

#[test]
fn busy_no_answer_and_failed_calls() {
    for (set, status) in [(0, "busy"), (1, "no-answer"), (2, "failed")] {
        let w = world_with(faults(|f| match set {
            0 => f.twilio.call_busy_permille = 1000,
            1 => f.twilio.call_no_answer_permille = 1000,
            _ => f.twilio.call_failed_permille = 1000,
        }));
        let c = w.send(twilio_post(
            &calls_url(),
            &[
                ("To", TO),
                ("From", "+15005550006"),
                ("Twiml", "<Response/>"),
                ("StatusCallback", "https://hook.example/c"),
            ],
        ));
        assert_eq!(c.status, 201);
        w.advance(30_000);
        w.sim.tick().unwrap();
        let hooks = w.hooks.requests();
        assert_eq!(hooks.len(), 1, "{status}");
        let p = form_of(&hooks[0]);
        assert_eq!(param(&p, "CallStatus"), Some(status));
        assert_eq!(param(&p, "CallDuration"), Some("0"));
        assert!(w.sim.phone_log().unwrap().is_empty());
    }
}

#[test]
fn duplicate_and_reordered_callbacks() {
    let w = world_with(faults(|f| f.twilio.callback_duplicate_permille = 1000));
    sms(&w, Some("https://hook.example/s")).unwrap();
    w.advance(3_000);
    w.sim.tick().unwrap();
    let hooks = w.hooks.requests();
    assert_eq!(hooks.len(), 6);
    let token = |i: usize| {
        hooks[i]
            .header_value("i-twilio-idempotency-token")
            .unwrap()
            .to_owned()
    };
    assert_eq!(token(0), token(1));
    assert_ne!(token(1), token(2));
    assert_eq!(hooks[0].body, hooks[1].body);
    // With jitter larger than the gaps between statuses, arrival order differs from status order.
    let mut reordered = false;
    for seed in 0..20 {
        let mut cfg = faults(|f| f.twilio.callback_jitter_ms = 5_000);
        cfg.seed = seed;
        let w = world_with(cfg);
        sms(&w, Some("https://hook.example/s")).unwrap();
        w.advance(10_000);
        w.sim.tick().unwrap();
        let order: Vec<String> = w
            .hooks
            .requests()
            .iter()
            .map(|r| param(&form_of(r), "MessageStatus").unwrap().to_owned())
            .collect();
        assert_eq!(order.len(), 3);
        if order != ["sending", "sent", "delivered"] {
            reordered = true;
        }
    }
    assert!(reordered, "no seed reordered callbacks");
}

#[test]
fn random_rates_are_seeded() {
    let run = |seed: u64| {
        let mut cfg = faults(|f| f.twilio.transport.unavailable_permille = 500);
        cfg.seed = seed;
        let w = world_with(cfg);
        (0..40)
            .map(|_| sms(&w, None).unwrap().status)
            .collect::<Vec<u16>>()
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    let failures = a.iter().filter(|s| **s == 503).count();
    assert!((8..=32).contains(&failures), "{failures} of 40 at 50%");
}

#[test]
fn unknown_hosts_fail_to_connect() {
    let w = world();
    let r = connector::HttpClient::send(
        &w.sim,
        HttpRequest::new(Method::Get, "https://example.com/"),
    );
    assert!(matches!(r, Err(HttpError::Connect(_))));
}
