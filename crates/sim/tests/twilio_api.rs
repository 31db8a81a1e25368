//! Contract tests: Twilio Messages, Calls, Verify, callbacks, rate limit (twilio.md).

mod common;
use common::*;
use connector::{HttpRequest, HttpResponse, Method};
use serde_json::{Value, json};
use sim::{CallbackKind, PhoneKind, SimConfig};

const TO: &str = "+4917612345678";
const FROM: &str = "+15005550006";
const HOOK: &str = "https://ml-connector.example/twilio/status";

fn twilio_error(resp: &HttpResponse, status: u16, code: u32) -> Value {
    assert_eq!(resp.status, status, "{}", text(resp));
    assert_eq!(resp.header_value("content-type"), Some("application/json"));
    let body = body_json(resp);
    assert_eq!(keys(&body), ["code", "message", "more_info", "status"]);
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    body
}

fn send_sms(w: &World, extra: &[(&str, &str)]) -> HttpResponse {
    let mut pairs: Vec<(&str, &str)> = [("To", TO), ("From", FROM), ("Body", "Stapel 42 gebucht.")]
        .into_iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .collect();
    pairs.extend_from_slice(extra);
    w.send(twilio_post(&messages_url(), &pairs))
}

#[test]
fn basic_auth_with_api_key_or_account_token() {
    let w = world();
    assert_eq!(send_sms(&w, &[]).status, 201);
    let req = HttpRequest::new(Method::Post, messages_url())
        .header("Authorization", basic(ACCOUNT, AUTH_TOKEN))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[("To", TO), ("From", FROM), ("Body", "x")]));
    assert_eq!(w.send(req.clone()).status, 201);
    let mut bad = req.clone();
    bad.headers.retain(|(n, _)| n != "Authorization");
    let resp = w.send(bad.clone());
    let body = twilio_error(&resp, 401, 20003);
    assert_eq!(body["message"], "Authenticate");
    assert_eq!(
        resp.header_value("www-authenticate"),
        Some("Basic realm=\"Twilio API\"")
    );
    twilio_error(
        &w.send(bad.header("Authorization", basic(KEY_SID, "wrong"))),
        401,
        20003,
    );
    // A key cannot act on another account's path.
    let mut other = req;
    other.url = other
        .url
        .replace(ACCOUNT, "AC11111111111111111111111111111111");
    other.headers.retain(|(n, _)| n != "Authorization");
    twilio_error(
        &w.send(other.header("Authorization", basic(KEY_SID, KEY_SECRET))),
        401,
        20003,
    );
    let records = w.sim.records().unwrap();
    assert_eq!(records[0].principal, format!("key:{KEY_SID}"));
    assert_eq!(records[1].principal, format!("account:{ACCOUNT}"));
}

#[test]
fn message_create_returns_the_resource() {
    let w = world();
    let resp = send_sms(&w, &[("StatusCallback", HOOK)]);
    assert_eq!(resp.status, 201);
    let m = body_json(&resp);
    let sid = m["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34);
    assert_eq!(
        m,
        json!({
            "account_sid": ACCOUNT,
            "api_version": "2010-04-01",
            "body": "Stapel 42 gebucht.",
            "date_created": "Fri, 01 Mar 2024 10:00:00 +0000",
            "date_sent": null,
            "date_updated": "Fri, 01 Mar 2024 10:00:00 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": FROM,
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json")},
            "to": TO,
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"),
        })
    );
    let fetched = w.send(twilio_get(&format!(
        "https://api.twilio.com{}",
        m["uri"].as_str().unwrap()
    )));
    assert_eq!(body_json(&fetched)["sid"], sid);
}

#[test]
fn message_validation_errors() {
    let w = world();
    let cases: &[(&[(&str, &str)], u32)] = &[
        (&[("From", FROM), ("Body", "x")], 21604),
        (
            &[("To", "017612345678"), ("From", FROM), ("Body", "x")],
            21211,
        ),
        (
            &[("To", "+49 176 1234"), ("From", FROM), ("Body", "x")],
            21211,
        ),
        (&[("To", TO), ("Body", "x")], 21603),
        (&[("To", TO), ("From", FROM)], 21602),
        (
            &[
                ("To", TO),
                ("From", FROM),
                ("Body", "x"),
                ("StatusCallback", "https://bad_host.example/cb"),
            ],
            21609,
        ),
    ];
    for (pairs, code) in cases {
        twilio_error(&w.send(twilio_post(&messages_url(), pairs)), 400, *code);
    }
    let long = "a".repeat(1601);
    twilio_error(
        &w.send(twilio_post(
            &messages_url(),
            &[("To", TO), ("From", FROM), ("Body", &long)],
        )),
        400,
        21617,
    );
    let body = twilio_error(
        &w.send(twilio_post(
            &messages_url(),
            &[("To", "12345"), ("From", FROM), ("Body", "x")],
        )),
        400,
        21211,
    );
    assert_eq!(
        body["message"],
        "The 'To' number 12345 is not a valid phone number."
    );
    // Owned numbers enforce From.
    let mut cfg = SimConfig::default();
    cfg.twilio.phone_numbers = vec![FROM.into()];
    let w2 = world_with(cfg);
    twilio_error(
        &w2.send(twilio_post(
            &messages_url(),
            &[("To", TO), ("From", "+15005550007"), ("Body", "x")],
        )),
        400,
        21606,
    );
    assert_eq!(
        w2.send(twilio_post(
            &messages_url(),
            &[
                ("To", TO),
                ("MessagingServiceSid", "MG00000000000000000000000000000000"),
                ("Body", "x")
            ]
        ))
        .status,
        201
    );
}

#[test]
fn json_bodies_are_ignored_as_twilio_does() {
    let w = world();
    let req = HttpRequest::new(Method::Post, messages_url())
        .header("Authorization", basic(KEY_SID, KEY_SECRET))
        .header("Content-Type", "application/json")
        .body(json!({"To": TO, "From": FROM, "Body": "x"}).to_string());
    twilio_error(&w.send(req.clone()), 400, 21604);
    let mut calls = req.clone();
    calls.url = calls_url();
    twilio_error(&w.send(calls), 400, 21201);
    let mut verify = req;
    verify.url = verify_url("Verifications");
    twilio_error(&w.send(verify), 400, 60200);
}

#[test]
fn message_status_progression_and_signed_callbacks() {
    let w = world();
    let sid = body_json(&send_sms(&w, &[("StatusCallback", HOOK)]))["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    w.advance(100);
    assert!(w.sim.tick().unwrap().len() == 1);
    w.advance(900);
    w.sim.tick().unwrap();
    assert!(w.sim.phone_log().unwrap().is_empty());
    w.advance(2_000);
    let deliveries = w.sim.tick().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, "delivered");
    assert_eq!(deliveries[0].response_status, Some(204));
    let hooks = w.hooks.requests();
    let statuses: Vec<String> = hooks
        .iter()
        .map(|r| param(&form_of(r), "MessageStatus").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["sending", "sent", "delivered"]);
    let last = &hooks[2];
    assert_eq!(last.method, Method::Post);
    assert_eq!(last.url, HOOK);
    assert_eq!(
        last.header_value("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(last.header_value("user-agent"), Some("TwilioProxy/1.1"));
    assert!(last.header_value("i-twilio-idempotency-token").is_some());
    let params = form_of(last);
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "AccountSid",
            "ApiVersion",
            "From",
            "MessageSid",
            "MessageStatus",
            "SmsSid",
            "SmsStatus",
            "To",
            "RawDlrDoneDate"
        ]
    );
    assert_eq!(param(&params, "MessageSid"), Some(sid.as_str()));
    assert_eq!(param(&params, "RawDlrDoneDate"), Some("2403011000"));
    let sig = last.header_value("x-twilio-signature").unwrap();
    assert_eq!(sig, sim::sign(AUTH_TOKEN, HOOK, &params));
    assert_eq!(
        signature::validate_form(AUTH_TOKEN, HOOK, &params, sig),
        Ok(())
    );
    // The resource moved on too, and the phone got it.
    let m = body_json(&w.send(twilio_get(&format!(
        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"
    ))));
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["date_sent"], "Fri, 01 Mar 2024 10:00:01 +0000");
    let log = w.sim.phone_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].kind, log[0].to.as_str(), log[0].text.as_str()),
        (PhoneKind::Sms, TO, "Stapel 42 gebucht.")
    );
}

#[test]
fn signer_matches_twilios_published_example() {
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(
        sim::sign(
            "12345",
            "https://example.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "L/OH5YylLD5NRKLltdqwSvS0BnU="
    );
}

#[test]
fn messaging_service_starts_accepted_with_zero_segments() {
    let w = world();
    let resp = w.send(twilio_post(
        &messages_url(),
        &[
            ("To", TO),
            ("MessagingServiceSid", "MG00000000000000000000000000000000"),
            ("Body", "x"),
            ("StatusCallback", HOOK),
        ],
    ));
    let m = body_json(&resp);
    assert_eq!(
        (m["status"].as_str(), m["num_segments"].as_str()),
        (Some("accepted"), Some("0"))
    );
    w.advance(50);
    w.sim.tick().unwrap();
    let first = &w.hooks.requests()[0];
    let p = form_of(first);
    assert_eq!(param(&p, "MessageStatus"), Some("queued"));
    assert_eq!(
        param(&p, "MessagingServiceSid"),
        Some("MG00000000000000000000000000000000")
    );
}

#[test]
fn message_list_filters_and_rejected_attempts() {
    let w = world();
    send_sms(&w, &[]);
    w.advance(86_400_000);
    send_sms(&w, &[("To", "+4917699999999")]);
    twilio_error(&send_sms(&w, &[("To", "0176")]), 400, 21211);
    let all = body_json(&w.send(twilio_get(&messages_url())));
    let list = all["messages"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    // Newest first; the rejected attempt is listed as failed with its code.
    assert_eq!(list[0]["to"], "0176");
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["error_code"], 21211);
    assert_eq!(all["page"], 0);
    assert_eq!(all["next_page_uri"], Value::Null);
    let to = body_json(&w.send(twilio_get(&format!(
        "{}?To=%2B4917612345678",
        messages_url()
    ))));
    assert_eq!(to["messages"].as_array().unwrap().len(), 1);
    let since = body_json(&w.send(twilio_get(&format!(
        "{}?DateSent%3E=2024-03-02",
        messages_url()
    ))));
    assert_eq!(since["messages"].as_array().unwrap().len(), 2);
    let page = body_json(&w.send(twilio_get(&format!("{}?PageSize=2", messages_url()))));
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    let next = page["next_page_uri"].as_str().unwrap();
    assert_eq!(
        next,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json?PageSize=2&Page=1")
    );
    let second = body_json(&w.send(twilio_get(&format!("https://api.twilio.com{next}"))));
    assert_eq!(second["messages"].as_array().unwrap().len(), 1);
    assert_eq!(second["start"], 2);
}

#[test]
fn xml_paths_and_unknown_resources() {
    let w = world();
    let resp = w.send(twilio_get(&format!(
        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages"
    )));
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header_value("content-type"), Some("application/xml"));
    assert!(text(&resp).contains("<Code>20404</Code>"));
    let resp = w.send(twilio_get(&format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/SMffffffffffffffffffffffffffffffff.json")));
    twilio_error(&resp, 404, 20404);
}

#[test]
fn calls_progress_with_requested_events_and_sequence_numbers() {
    let w = world();
    let twiml = "<Response><Say voice=\"Polly.Vicki\" language=\"de-DE\">Stapel 42 fehlgeschlagen.</Say></Response>";
    let hook = "https://ml-connector.example:8443/twilio/status";
    let resp = w.send(twilio_post(
        &calls_url(),
        &[
            ("To", TO),
            ("From", FROM),
            ("Twiml", twiml),
            ("StatusCallback", hook),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ],
    ));
    assert_eq!(resp.status, 201);
    let c = body_json(&resp);
    let sid = c["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("CA"));
    assert_eq!(c["status"], "queued");
    assert_eq!(c["duration"], Value::Null);
    w.advance(21_000);
    let deliveries = w.sim.tick().unwrap();
    let statuses: Vec<&str> = deliveries.iter().map(|d| d.status.as_str()).collect();
    assert_eq!(statuses, ["initiated", "in-progress", "completed"]);
    let hooks = w.hooks.requests();
    let seqs: Vec<String> = hooks
        .iter()
        .map(|r| param(&form_of(r), "SequenceNumber").unwrap().to_owned())
        .collect();
    assert_eq!(seqs, ["0", "1", "2"]);
    let done = form_of(&hooks[2]);
    assert_eq!(param(&done, "CallStatus"), Some("completed"));
    assert_eq!(param(&done, "CallDuration"), Some("15"));
    assert_eq!(param(&done, "Duration"), Some("1"));
    // Delivered to the URL with its port; signed without it (voice over HTTPS, twilio.md §8.4).
    assert_eq!(hooks[2].url, hook);
    let unsigned_port = "https://ml-connector.example/twilio/status";
    assert_eq!(
        hooks[2].header_value("x-twilio-signature").unwrap(),
        sim::sign(AUTH_TOKEN, unsigned_port, &done)
    );
    assert_eq!(deliveries[2].kind, CallbackKind::CallStatus);
    let log = w.sim.phone_log().unwrap();
    assert_eq!(
        (log[0].kind, log[0].text.as_str()),
        (PhoneKind::Call, twiml)
    );
    let c = body_json(&w.send(twilio_get(&format!(
        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json"
    ))));
    assert_eq!(
        (c["status"].as_str(), c["duration"].as_str()),
        (Some("completed"), Some("15"))
    );
    let list = body_json(&w.send(twilio_get(&format!("{}?Status=completed", calls_url()))));
    assert_eq!(list["calls"].as_array().unwrap().len(), 1);
}

#[test]
fn call_errors_and_cancel() {
    let w = world();
    let cases: &[(&[(&str, &str)], u32)] = &[
        (&[("From", FROM), ("Twiml", "<Response/>")], 21201),
        (
            &[("To", "0176"), ("From", FROM), ("Twiml", "<Response/>")],
            21211,
        ),
        (&[("To", TO), ("Twiml", "<Response/>")], 21213),
        (&[("To", TO), ("From", FROM)], 21205),
        (
            &[
                ("To", TO),
                ("From", FROM),
                ("Twiml", "<Response/>"),
                ("StatusCallbackEvent", "bogus"),
            ],
            21626,
        ),
    ];
    for (pairs, code) in cases {
        twilio_error(&w.send(twilio_post(&calls_url(), pairs)), 400, *code);
    }
    let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(4000));
    twilio_error(
        &w.send(twilio_post(
            &calls_url(),
            &[("To", TO), ("From", FROM), ("Twiml", &long)],
        )),
        400,
        21205,
    );
    let c = body_json(&w.send(twilio_post(
        &calls_url(),
        &[
            ("To", TO),
            ("From", FROM),
            ("Url", "https://x.example/twiml"),
            ("StatusCallback", HOOK),
        ],
    )));
    let url = format!("https://api.twilio.com{}", c["uri"].as_str().unwrap());
    let canceled = w.send(twilio_post(&url, &[("Status", "canceled")]));
    assert_eq!(body_json(&canceled)["status"], "canceled");
    w.advance(60_000);
    w.sim.tick().unwrap();
    assert!(w.sim.phone_log().unwrap().is_empty());
    let hooks = w.hooks.requests();
    assert_eq!(hooks.len(), 1);
    assert_eq!(param(&form_of(&hooks[0]), "CallStatus"), Some("canceled"));
    twilio_error(
        &w.send(twilio_post(&url, &[("Status", "canceled")])),
        400,
        21220,
    );
}

#[test]
fn verify_start_check_and_404_after_approval() {
    let w = world();
    let resp = w.send(twilio_post(
        &verify_url("Verifications"),
        &[("To", TO), ("Channel", "sms")],
    ));
    assert_eq!(resp.status, 201);
    let v = body_json(&resp);
    assert_eq!(
        keys(&v),
        [
            "account_sid",
            "amount",
            "channel",
            "date_created",
            "date_updated",
            "lookup",
            "payee",
            "send_code_attempts",
            "service_sid",
            "sid",
            "sna",
            "status",
            "to",
            "url",
            "valid"
        ]
    );
    assert_eq!(v["status"], "pending");
    assert_eq!(v["valid"], false);
    assert_eq!(v["date_created"], "2024-03-01T10:00:00Z");
    let vsid = v["sid"].as_str().unwrap().to_owned();
    assert!(vsid.starts_with("VE"));
    // The approver's phone shows the code.
    let log = w.sim.phone_log().unwrap();
    assert_eq!(log[0].kind, PhoneKind::VerifySms);
    let code = w.sim.verify_code(TO).unwrap().unwrap();
    assert_eq!(
        log[0].text,
        format!("Your ml-connector verification code is: {code}")
    );
    assert_eq!(code.len(), 6);
    let wrong = w.send(twilio_post(
        &verify_url("VerificationCheck"),
        &[("To", TO), ("Code", "000000x")],
    ));
    assert_eq!(wrong.status, 200);
    assert_eq!(
        (
            body_json(&wrong)["status"].as_str(),
            body_json(&wrong)["valid"].as_bool()
        ),
        (Some("pending"), Some(false))
    );
    let fetched = w.send(twilio_get(&verify_url(&format!("Verifications/{vsid}"))));
    assert_eq!(body_json(&fetched)["status"], "pending");
    let ok = w.send(twilio_post(
        &verify_url("VerificationCheck"),
        &[("VerificationSid", &vsid), ("Code", &code)],
    ));
    assert_eq!(ok.status, 200);
    let ok = body_json(&ok);
    assert_eq!(
        keys(&ok),
        [
            "account_sid",
            "amount",
            "channel",
            "date_created",
            "date_updated",
            "payee",
            "service_sid",
            "sid",
            "sna_attempts_error_codes",
            "status",
            "to",
            "valid"
        ]
    );
    assert_eq!(
        (ok["status"].as_str(), ok["valid"].as_bool()),
        (Some("approved"), Some(true))
    );
    // Approved verifications are gone.
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", &code)],
        )),
        404,
        20404,
    );
    twilio_error(
        &w.send(twilio_get(&verify_url(&format!("Verifications/{vsid}")))),
        404,
        20404,
    );
}

#[test]
fn verify_max_attempts_expiry_and_resends() {
    let w = world();
    let start = || {
        w.send(twilio_post(
            &verify_url("Verifications"),
            &[("To", TO), ("Channel", "sms")],
        ))
    };
    let first = body_json(&start());
    for _ in 0..5 {
        let r = w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", "0000")],
        ));
        assert_eq!(body_json(&r)["status"], "pending");
    }
    let code = w.sim.verify_code(TO).unwrap().unwrap();
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", &code)],
        )),
        429,
        60202,
    );
    // A resend in the window: same verification, same code.
    let again = body_json(&start());
    assert_eq!(again["sid"], first["sid"]);
    assert_eq!(again["send_code_attempts"].as_array().unwrap().len(), 2);
    for _ in 0..3 {
        assert_eq!(start().status, 201);
    }
    twilio_error(&start(), 429, 60203);
    // Ten minutes later it has expired: 404, and a new start is a new verification.
    w.advance(600_000);
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", &code)],
        )),
        404,
        20404,
    );
    let fresh = body_json(&start());
    assert_ne!(fresh["sid"], first["sid"]);
}

#[test]
fn verify_errors_and_calls() {
    let w = world();
    let e = twilio_error(
        &w.send(twilio_post(
            &verify_url("Verifications"),
            &[("To", "4917612345678"), ("Channel", "sms")],
        )),
        400,
        60200,
    );
    assert_eq!(e["message"], "Invalid parameter: To");
    let e = twilio_error(
        &w.send(twilio_post(
            &verify_url("Verifications"),
            &[("To", TO), ("Channel", "pigeon")],
        )),
        400,
        60200,
    );
    assert_eq!(e["message"], "Invalid parameter: Channel");
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("Code", "1234")],
        )),
        400,
        60221,
    );
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", "1234")],
        )),
        404,
        20404,
    );
    let other = w.send(twilio_post(
        "https://verify.twilio.com/v2/Services/VAffffffffffffffffffffffffffffffff/Verifications",
        &[("To", TO), ("Channel", "sms")],
    ));
    twilio_error(&other, 404, 20404);
    let call = body_json(&w.send(twilio_post(
        &verify_url("Verifications"),
        &[("To", TO), ("Channel", "call"), ("CustomCode", "4711")],
    )));
    assert_eq!(call["channel"], "call");
    let log = w.sim.phone_log().unwrap();
    assert_eq!(
        (log[0].kind, log[0].text.as_str()),
        (
            PhoneKind::VerifyCall,
            "Your ml-connector verification code is 4 7 1 1"
        )
    );
    let canceled = w.send(twilio_post(
        &verify_url(&format!("Verifications/{}", call["sid"].as_str().unwrap())),
        &[("Status", "canceled")],
    ));
    assert_eq!(body_json(&canceled)["status"], "canceled");
    twilio_error(
        &w.send(twilio_post(
            &verify_url("VerificationCheck"),
            &[("To", TO), ("Code", "4711")],
        )),
        404,
        20404,
    );
    let unauth = HttpRequest::new(Method::Post, verify_url("Verifications"));
    twilio_error(&w.send(unauth), 401, 20003);
}

#[test]
fn concurrency_limit_gives_429_20429_without_effect() {
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(2);
    let w = world_with(cfg);
    assert_eq!(send_sms(&w, &[]).status, 201);
    assert_eq!(send_sms(&w, &[]).status, 201);
    let limited = send_sms(&w, &[]);
    let body = twilio_error(&limited, 429, 20429);
    assert_eq!(body["message"], "Too Many Requests");
    assert_eq!(limited.header_value("retry-after"), None);
    let verify = w.send(twilio_post(
        &verify_url("Verifications"),
        &[("To", TO), ("Channel", "sms")],
    ));
    twilio_error(&verify, 429, 20429);
    assert_eq!(verify.header_value("retry-after"), Some("1"));
    assert_eq!(
        verify.header_value("twilio-reached-rate-limit"),
        Some("concurrency")
    );
    // Not processed: only two messages exist.
    assert_eq!(w.sim.snapshot().unwrap().twilio.messages.len(), 2);
    w.advance(250);
    assert_eq!(send_sms(&w, &[]).status, 201);
}

#[test]
fn inbound_sms_reaches_the_webhook_signed() {
    let mut cfg = SimConfig::default();
    cfg.twilio.phone_numbers = vec![FROM.into()];
    cfg.twilio.inbound_sms_url = Some("https://ml-connector.example/twilio/inbound".into());
    let w = world_with(cfg);
    let inbound = w.sim.inject_inbound_sms(TO, "YES 4711").unwrap();
    assert_eq!(inbound.deliveries.len(), 1);
    assert_eq!(inbound.deliveries[0].kind, CallbackKind::InboundSms);
    let req = &w.hooks.requests()[0];
    assert_eq!(req.url, "https://ml-connector.example/twilio/inbound");
    let p = form_of(req);
    assert_eq!(param(&p, "Body"), Some("YES 4711"));
    assert_eq!(param(&p, "From"), Some(TO));
    assert_eq!(param(&p, "To"), Some(FROM));
    assert_eq!(param(&p, "MessageSid"), Some(inbound.sid.as_str()));
    assert_eq!(param(&p, "SmsStatus"), Some("received"));
    let sig = req.header_value("x-twilio-signature").unwrap();
    assert_eq!(
        signature::validate_form(
            AUTH_TOKEN,
            "https://ml-connector.example/twilio/inbound",
            &p,
            sig
        ),
        Ok(())
    );
    let log = w.sim.phone_log().unwrap();
    assert_eq!(
        (log[0].kind, log[0].from.as_str(), log[0].text.as_str()),
        (PhoneKind::Reply, TO, "YES 4711")
    );
    assert!(matches!(
        w.sim.inject_inbound_sms("0176", "x"),
        Err(sim::SimError::Invalid { field: "from", .. })
    ));
    assert!(matches!(
        w.sim.inject_inbound_sms(TO, ""),
        Err(sim::SimError::Invalid { field: "body", .. })
    ));
}

#[test]
fn callback_retries_follow_connection_overrides() {
    let w = world();
    w.hooks.script([
        sim::Answer::Error(connector::HttpError::Connect("refused".into())),
        sim::Answer::Status(500),
        sim::Answer::Status(500),
    ]);
    send_sms(
        &w,
        &[(
            "StatusCallback",
            "https://ml-connector.example/twilio/status#rc=2&rp=ct,5xx",
        )],
    );
    w.advance(100);
    let d = w.sim.tick().unwrap();
    let outcomes: Vec<(u32, Option<u16>)> =
        d.iter().map(|d| (d.attempt, d.response_status)).collect();
    assert_eq!(outcomes, [(1, None), (2, Some(500)), (3, Some(500))]);
    let reqs = w.hooks.requests();
    // The fragment is neither sent nor signed, and every retry carries the same token.
    assert!(
        reqs.iter()
            .all(|r| r.url == "https://ml-connector.example/twilio/status")
    );
    let tokens: Vec<_> = reqs
        .iter()
        .map(|r| {
            r.header_value("i-twilio-idempotency-token")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(tokens.windows(2).all(|p| p[0] == p[1]));
    let p = form_of(&reqs[0]);
    assert_eq!(
        reqs[0].header_value("x-twilio-signature").unwrap(),
        sim::sign(AUTH_TOKEN, "https://ml-connector.example/twilio/status", &p)
    );
}

#[test]
fn default_callback_policy_retries_once_on_connect_failure_only() {
    let w = world();
    send_sms(&w, &[("StatusCallback", HOOK)]);
    w.hooks.script([sim::Answer::Status(500)]);
    w.advance(100);
    assert_eq!(w.sim.tick().unwrap().len(), 1);
    w.hooks.script([
        sim::Answer::Error(connector::HttpError::Connect("refused".into())),
        sim::Answer::Error(connector::HttpError::Connect("refused".into())),
    ]);
    w.advance(900);
    let d = w.sim.tick().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        d[1].error.as_deref(),
        Some("connection failed before the request was sent: refused")
    );
}

/// The two harmless reads of the connection check (issue 8): fetch the account and fetch the
/// Verify service, each with the precise error of a misconfiguration.
#[test]
fn account_and_verify_service_fetch() {
    let w = world();
    let account = format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}.json");
    let resp = w.send(twilio_get(&account));
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let body = body_json(&resp);
    assert_eq!(body["sid"], ACCOUNT);
    assert_eq!(body["status"], "active");
    assert_eq!(body["type"], "Full");
    // Wrong key secret: 401/20003.
    let bad = HttpRequest::new(Method::Get, account.clone())
        .header("Authorization", basic(KEY_SID, "wrong-secret"));
    twilio_error(&w.send(bad), 401, 20003);
    // Another account's SID with this key: 401/20003.
    let other =
        "https://api.twilio.com/2010-04-01/Accounts/AC11111111111111111111111111111111.json";
    twilio_error(&w.send(twilio_get(other)), 401, 20003);
    // The Verify service.
    let service = format!("https://verify.twilio.com/v2/Services/{SERVICE}");
    let resp = w.send(twilio_get(&service));
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let body = body_json(&resp);
    assert_eq!(body["sid"], SERVICE);
    assert_eq!(body["account_sid"], ACCOUNT);
    assert_eq!(body["code_length"], 6);
    // An unknown service: 404/20404.
    let unknown = "https://verify.twilio.com/v2/Services/VA11111111111111111111111111111111";
    twilio_error(&w.send(twilio_get(unknown)), 404, 20404);
    // Writes to the service resource are not simulated.
    twilio_error(&w.send(twilio_post(&service, &[])), 405, 20004);
}
