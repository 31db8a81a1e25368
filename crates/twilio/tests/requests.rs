//! Request-level tests: the exact bytes the client sends (method, URL, headers, form body in
//! order) through a recording `HttpClient`, and how it reads Twilio's answers.

mod common;

use common::*;
use connector::{HttpError, HttpResponse, Method};
use twilio::{
    CallEvent, CallFilter, CallbackUrl, Disposition, InputReason, Language, MessageFilter,
    MessageSid, MessageStatus, NewCall, NewMessage, RetryAfter, SmsSender, TwilioClient,
    TwilioError, Twiml, UtcDate, VerificationStatus, VerifyCode, VerifyOutcome,
};

const SM: &str = "SMa1b2c3d4e5f60718293a4b5c6d7e8f90";
const CA: &str = "CAa1b2c3d4e5f60718293a4b5c6d7e8f90";
const VE: &str = "VEa1b2c3d4e5f60718293a4b5c6d7e8f90";
const HOOK: &str = "https://connector.example.com/twilio/status";

fn message_json(status: &str, body: &str, created: &str) -> String {
    serde_json::json!({
        "account_sid": ACCOUNT, "api_version": "2010-04-01", "body": body,
        "date_created": created, "date_sent": null, "date_updated": created,
        "direction": "outbound-api", "error_code": null, "error_message": null,
        "from": null, "messaging_service_sid": MG, "num_media": "0", "num_segments": "0",
        "price": null, "price_unit": null, "sid": SM, "status": status, "to": TO,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{SM}.json")
    })
    .to_string()
}

fn call_json(status: &str) -> String {
    serde_json::json!({
        "sid": CA, "account_sid": ACCOUNT, "to": TO, "from": FROM, "status": status,
        "direction": "outbound-api", "duration": null, "start_time": null, "end_time": null,
        "date_created": "Fri, 01 Mar 2024 10:00:00 +0000", "answered_by": null
    })
    .to_string()
}

fn verification_json(status: &str, valid: bool) -> String {
    serde_json::json!({
        "sid": VE, "service_sid": VA, "account_sid": ACCOUNT, "to": TO, "channel": "sms",
        "status": status, "valid": valid, "date_created": "2024-03-01T10:00:00Z",
        "date_updated": "2024-03-01T10:00:00Z"
    })
    .to_string()
}

fn error_json(code: u32, status: u16, message: &str) -> String {
    format!(
        r#"{{"code": {code}, "message": "{message}", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
    )
}

#[test]
fn create_message_through_a_messaging_service() {
    let http = Recording::answering([Recording::json(201, &message_json("accepted", "x", ""))]);
    let client = TwilioClient::new(&http, config());
    let msg = NewMessage::new(
        e164("0151 23456789"),
        "Stapel 42: fehlgeschlagen (Konto 1200 € & Co)",
    )
    .status_callback(CallbackUrl::parse(HOOK, "cb").unwrap())
    .validity_period_secs(3600);
    let m = client.create_message(&msg).unwrap();
    assert_eq!((m.sid.as_str(), &m.status), (SM, &MessageStatus::Accepted));

    let reqs = http.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(req.header_value("Authorization"), Some(BASIC));
    assert_eq!(
        req.header_value("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header_value("Accept"), Some("application/json"));
    assert_eq!(
        std::str::from_utf8(&req.body).unwrap(),
        format!(
            "To=%2B4915123456789&MessagingServiceSid={MG}&Body=Stapel+42%3A+fehlgeschlagen+%28Konto+1200+%E2%82%AC+%26+Co%29\
             &StatusCallback=https%3A%2F%2Fconnector.example.com%2Ftwilio%2Fstatus&ValidityPeriod=3600"
        )
    );
    golden("message_create_service.txt", &dump(req));
    // Never JSON: the body decodes as a form, field by field, in order.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "To",
            "MessagingServiceSid",
            "Body",
            "StatusCallback",
            "ValidityPeriod"
        ]
    );
    assert_eq!(pairs[2].1, "Stapel 42: fehlgeschlagen (Konto 1200 € & Co)");
}

#[test]
fn create_message_from_a_number() {
    let http = Recording::answering([Recording::json(201, &message_json("queued", "Hallo", ""))]);
    let mut cfg = config();
    cfg.sms_sender = SmsSender::From(e164(FROM));
    let client = TwilioClient::new(&http, cfg);
    client
        .create_message(&NewMessage::new(e164(TO), "Hallo"))
        .unwrap();
    let req = &http.requests()[0];
    assert_eq!(
        std::str::from_utf8(&req.body).unwrap(),
        "To=%2B4915123456789&From=%2B4930901820&Body=Hallo"
    );
    golden("message_create_from.txt", &dump(req));
}

#[test]
fn fetch_and_list_messages() {
    let page0 = serde_json::json!({
        "messages": [serde_json::from_str::<serde_json::Value>(&message_json("delivered", "a", "Fri, 01 Mar 2024 10:00:00 +0000")).unwrap()],
        "next_page_uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B4915123456789&PageSize=1&Page=1&PageToken=PASM1"),
        "page": 0, "page_size": 1, "uri": "/x", "first_page_uri": "/x", "previous_page_uri": null, "start": 0, "end": 0
    });
    let page1 =
        serde_json::json!({ "messages": [], "next_page_uri": null, "page": 1, "page_size": 1 });
    let http = Recording::answering([
        Recording::json(200, &message_json("sent", "a", "")),
        Recording::json(200, &page0.to_string()),
        Recording::json(200, &page1.to_string()),
    ]);
    let client = TwilioClient::new(&http, config());
    let sid = MessageSid::parse(SM, "sid").unwrap();
    assert_eq!(
        client.fetch_message(&sid).unwrap().status,
        MessageStatus::Sent
    );
    let filter = MessageFilter {
        to: Some(e164(TO)),
        from: Some(e164(FROM)),
        date_sent_on_or_after: Some(UtcDate::from_unix_ms(1_709_287_200_000)),
        page_size: Some(1),
    };
    let p0 = client.list_messages(&filter).unwrap();
    assert_eq!((p0.items.len(), p0.page, p0.page_size), (1, 0, 1));
    assert_eq!(p0.items[0].status, MessageStatus::Delivered);
    let p1 = client.next_messages(&p0).unwrap().unwrap();
    assert!(p1.items.is_empty());
    assert_eq!(client.next_messages(&p1).unwrap(), None);

    let reqs = http.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[0].url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{SM}.json")
    );
    assert_eq!(
        reqs[1].url,
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B4915123456789&From=%2B4930901820&DateSent%3E=2024-03-01&PageSize=1"
        )
    );
    assert_eq!(
        reqs[2].url,
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B4915123456789&PageSize=1&Page=1&PageToken=PASM1"
        )
    );
    for r in &reqs {
        assert_eq!(r.method, Method::Get);
        assert!(r.body.is_empty());
        assert_eq!(r.header_value("Content-Type"), None);
        assert_eq!(r.header_value("Authorization"), Some(BASIC));
    }
    golden("message_fetch.txt", &dump(&reqs[0]));
    golden("message_list.txt", &dump(&reqs[1]));
}

#[test]
fn foreign_page_links_are_not_followed() {
    let http = Recording::answering([]);
    let client = TwilioClient::new(&http, config());
    for uri in [
        "https://evil.example/2010-04-01/Accounts/x/Messages.json".to_owned(),
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json?Page=1".to_owned(),
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json?Page=1"),
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.jsonx"),
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json?Page=1 x"),
    ] {
        let page = twilio::Page {
            items: Vec::new(),
            next_page_uri: Some(uri.clone()),
            page: 0,
            page_size: 50,
        };
        assert_eq!(
            client.next_messages(&page).unwrap_err(),
            TwilioError::InvalidInput {
                field: "next_page_uri",
                reason: InputReason::ForeignPageUri
            },
            "{uri}"
        );
    }
    assert!(http.requests().is_empty());
}

#[test]
fn reconciliation_finds_the_message_by_body_and_time() {
    // Two pages: one match, one older duplicate text, one other text.
    let m = |body: &str, created: &str, sid: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&message_json("queued", body, created)).unwrap();
        v["sid"] = sid.into();
        v
    };
    let p0 = serde_json::json!({
        "messages": [m("Stapel 42 fehlgeschlagen", "Fri, 01 Mar 2024 10:00:05 +0000", "SM00000000000000000000000000000001"),
                     m("anderer Text", "Fri, 01 Mar 2024 10:00:04 +0000", "SM00000000000000000000000000000002")],
        "next_page_uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B4915123456789&PageSize=100&Page=1&PageToken=PA2"),
        "page": 0, "page_size": 100
    });
    let p1 = serde_json::json!({
        "messages": [m("Stapel 42 fehlgeschlagen", "Fri, 01 Mar 2024 09:00:00 +0000", "SM00000000000000000000000000000003")],
        "next_page_uri": null, "page": 1, "page_size": 100
    });
    let http = Recording::answering([
        Recording::json(200, &p0.to_string()),
        Recording::json(200, &p1.to_string()),
    ]);
    let client = TwilioClient::new(&http, config());
    // The attempt was made at 10:00:00.
    let found = client
        .find_sent_messages(&e164(TO), "Stapel 42 fehlgeschlagen", 1_709_287_200, 5)
        .unwrap();
    let sids: Vec<&str> = found.iter().map(|m| m.sid.as_str()).collect();
    assert_eq!(sids, ["SM00000000000000000000000000000001"]);
    let reqs = http.requests();
    assert_eq!(reqs.len(), 2);
    // Messaging Service configured: filter by To only, no DateSent (queued messages may lack it).
    assert_eq!(
        reqs[0].url,
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B4915123456789&PageSize=100"
        )
    );
    // max_pages bounds the walk.
    let http = Recording::answering([Recording::json(200, &p0.to_string())]);
    let client = TwilioClient::new(&http, config());
    assert_eq!(
        client
            .find_sent_messages(&e164(TO), "Stapel 42 fehlgeschlagen", 0, 1)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(http.requests().len(), 1);
}

#[test]
fn create_call_with_inline_twiml() {
    let http = Recording::answering([Recording::json(201, &call_json("queued"))]);
    let client = TwilioClient::new(&http, config());
    let twiml = Twiml::say(
        "Stapel 42 für Müller & Söhne ist fehlgeschlagen.",
        Language::German,
    )
    .unwrap();
    let call = NewCall::new(e164(TO), twiml)
        .status_callback(
            CallbackUrl::parse(HOOK, "cb").unwrap(),
            &[CallEvent::Answered, CallEvent::Completed],
        )
        .timeout_secs(30);
    let c = client.create_call(&call).unwrap();
    assert_eq!(c.sid.as_str(), CA);
    assert_eq!(c.status, twilio::CallStatus::Queued);
    let req = &http.requests()[0];
    assert_eq!(
        req.url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    );
    assert_eq!(req.header_value("Authorization"), Some(BASIC));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap();
    let expected: Vec<(String, String)> = [
        ("To", TO),
        ("From", FROM),
        (
            "Twiml",
            "<Response><Say language=\"de-DE\" voice=\"Polly.Vicki\">Stapel 42 für Müller &amp; Söhne ist fehlgeschlagen.</Say></Response>",
        ),
        ("StatusCallback", HOOK),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "completed"),
        ("Timeout", "30"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, expected);
    golden("call_create.txt", &dump(req));
}

#[test]
fn calls_need_a_caller_id() {
    let http = Recording::answering([]);
    let mut cfg = config();
    cfg.voice_from = None; // Messaging Service only: no number to call from.
    let client = TwilioClient::new(&http, cfg);
    let call = NewCall::new(e164(TO), Twiml::say("x", Language::English).unwrap());
    assert_eq!(
        client.create_call(&call).unwrap_err(),
        TwilioError::InvalidInput {
            field: "twilio_voice_from_number",
            reason: InputReason::NotConfigured
        }
    );
    assert!(http.requests().is_empty());
}

#[test]
fn fetch_and_list_calls() {
    let list = serde_json::json!({ "calls": [serde_json::from_str::<serde_json::Value>(&call_json("completed")).unwrap()], "next_page_uri": null, "page": 0, "page_size": 50 });
    let http = Recording::answering([
        Recording::json(200, &call_json("ringing")),
        Recording::json(200, &list.to_string()),
    ]);
    let client = TwilioClient::new(&http, config());
    let sid = twilio::CallSid::parse(CA, "sid").unwrap();
    assert_eq!(
        client.fetch_call(&sid).unwrap().status,
        twilio::CallStatus::Ringing
    );
    let page = client
        .list_calls(&CallFilter {
            to: Some(e164(TO)),
            start_time_on_or_after: Some(UtcDate::from_unix_ms(1_709_287_200_000)),
            ..CallFilter::default()
        })
        .unwrap();
    assert_eq!(page.items[0].status, twilio::CallStatus::Completed);
    assert_eq!(client.next_calls(&page).unwrap(), None);
    let reqs = http.requests();
    assert_eq!(
        reqs[0].url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/{CA}.json")
    );
    assert_eq!(
        reqs[1].url,
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json?To=%2B4915123456789&StartTime%3E=2024-03-01"
        )
    );
}

#[test]
fn verify_requests() {
    let http = Recording::answering([
        Recording::json(201, &verification_json("pending", false)),
        Recording::json(200, &verification_json("approved", true)),
    ]);
    let client = TwilioClient::new(&http, config());
    let started = client
        .start_verification(&e164(TO), Some(Language::German))
        .unwrap();
    assert!(
        matches!(&started, VerifyOutcome::Pending(v) if v.status == VerificationStatus::Pending && v.sid.as_str() == VE)
    );
    let code = VerifyCode::parse(" 123456 ", "code").unwrap();
    let checked = client.check_verification(&e164(TO), &code).unwrap();
    assert!(matches!(&checked, VerifyOutcome::Approved(v) if v.valid == Some(true)));
    let reqs = http.requests();
    assert_eq!(
        reqs[0].url,
        format!("https://verify.twilio.com/v2/Services/{VA}/Verifications")
    );
    assert_eq!(
        std::str::from_utf8(&reqs[0].body).unwrap(),
        "To=%2B4915123456789&Channel=sms&Locale=de"
    );
    assert_eq!(
        reqs[1].url,
        format!("https://verify.twilio.com/v2/Services/{VA}/VerificationCheck")
    );
    assert_eq!(
        std::str::from_utf8(&reqs[1].body).unwrap(),
        "To=%2B4915123456789&Code=123456"
    );
    for r in &reqs {
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.header_value("Authorization"), Some(BASIC));
        assert_eq!(
            r.header_value("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
    }
    golden("verify_start.txt", &dump(&reqs[0]));
    golden("verify_check.txt", &dump(&reqs[1]));
}

#[test]
fn verify_outcome_mapping() {
    enum Want {
        Approved,
        Pending,
        MaxAttempts,
        NotFound,
        TooManyRequests,
        Other(&'static str),
        Err(Disposition, Option<u32>),
    }
    let check_cases: Vec<(Result<HttpResponse, HttpError>, Want)> = vec![
        (
            Recording::json(200, &verification_json("approved", true)),
            Want::Approved,
        ),
        (
            Recording::json(201, &verification_json("approved", true)),
            Want::Approved,
        ),
        (
            Recording::json(200, &verification_json("pending", false)),
            Want::Pending,
        ), // wrong code
        (
            Recording::json(200, &verification_json("max_attempts_reached", false)),
            Want::MaxAttempts,
        ),
        (
            Recording::json(429, &error_json(60202, 429, "Max check attempts reached")),
            Want::MaxAttempts,
        ),
        (
            Recording::json(
                404,
                &error_json(20404, 404, "The requested resource was not found"),
            ),
            Want::NotFound,
        ),
        (
            Recording::json(404, r#"{"status": 404, "message": "Not found"}"#),
            Want::NotFound,
        ),
        (
            Recording::json(200, &verification_json("canceled", false)),
            Want::Other("canceled"),
        ),
        (
            Recording::json(200, &verification_json("expired", false)),
            Want::Other("expired"),
        ),
        (
            Recording::json(200, &verification_json("brand-new", false)),
            Want::Other("brand-new"),
        ),
        (
            Recording::json(429, &error_json(20429, 429, "Too many requests")),
            Want::Err(Disposition::Retry, Some(20429)),
        ),
        (
            Recording::json(429, &error_json(60212, 429, "Too many concurrent requests")),
            Want::Err(Disposition::Retry, Some(60212)),
        ),
        (
            Recording::json(400, &error_json(60200, 400, "Invalid parameter: To")),
            Want::Err(Disposition::Final, Some(60200)),
        ),
        (
            Recording::json(503, "{}"),
            Want::Err(Disposition::Reconcile, None),
        ),
        (
            Err(HttpError::Timeout),
            Want::Err(Disposition::Reconcile, None),
        ),
    ];
    let start_cases: Vec<(Result<HttpResponse, HttpError>, Want)> = vec![
        (
            Recording::json(201, &verification_json("pending", false)),
            Want::Pending,
        ),
        (
            Recording::json(429, &error_json(60203, 429, "Max send attempts reached")),
            Want::TooManyRequests,
        ),
        // On a start, 404 means a wrong service or an unsupported Locale: configuration.
        (
            Recording::json(
                404,
                &error_json(20404, 404, "The requested resource was not found"),
            ),
            Want::Err(Disposition::Final, Some(20404)),
        ),
        (
            Recording::json(
                403,
                &error_json(60205, 403, "SMS is not supported by landline phone number"),
            ),
            Want::Err(Disposition::Final, Some(60205)),
        ),
        (
            Err(HttpError::Connect("refused".into())),
            Want::Err(Disposition::Retry, None),
        ),
    ];
    let code = VerifyCode::parse("123456", "code").unwrap();
    for (is_check, cases) in [(true, check_cases), (false, start_cases)] {
        for (i, (answer, want)) in cases.into_iter().enumerate() {
            let http = Recording::answering([answer]);
            let client = TwilioClient::new(&http, config());
            let got = if is_check {
                client.check_verification(&e164(TO), &code)
            } else {
                client.start_verification(&e164(TO), None)
            };
            let ctx = format!(
                "{} case {i}: {got:?}",
                if is_check { "check" } else { "start" }
            );
            match (want, got) {
                (Want::Approved, Ok(VerifyOutcome::Approved(_)))
                | (Want::Pending, Ok(VerifyOutcome::Pending(_)))
                | (Want::MaxAttempts, Ok(VerifyOutcome::MaxAttempts))
                | (Want::NotFound, Ok(VerifyOutcome::NotFound))
                | (Want::TooManyRequests, Ok(VerifyOutcome::TooManyRequests)) => {}
                (Want::Other(s), Ok(VerifyOutcome::Other(v))) => {
                    assert_eq!(v.status.as_str(), s, "{ctx}")
                }
                (Want::Err(d, code), Err(e)) => {
                    assert_eq!(e.disposition(), d, "{ctx}");
                    assert_eq!(e.code(), code, "{ctx}");
                }
                _ => panic!("unexpected outcome: {ctx}"),
            }
        }
    }
}

#[test]
fn verify_needs_a_service() {
    let http = Recording::answering([]);
    let mut cfg = config();
    cfg.verify_service_sid = None;
    let client = TwilioClient::new(&http, cfg);
    assert_eq!(
        client.start_verification(&e164(TO), None).unwrap_err(),
        TwilioError::InvalidInput {
            field: "twilio_verify_service_sid",
            reason: InputReason::NotConfigured
        }
    );
    assert!(http.requests().is_empty());
}

#[test]
fn verify_codes_are_validated() {
    for (input, reason) in [
        ("", InputReason::Empty),
        ("12 34", InputReason::InvalidCharacter(' ')),
        ("123", InputReason::OutOfRange { min: 4, max: 10 }),
        ("12345678901", InputReason::OutOfRange { min: 4, max: 10 }),
        ("12-34", InputReason::InvalidCharacter('-')),
    ] {
        assert_eq!(
            VerifyCode::parse(input, "code").unwrap_err(),
            TwilioError::InvalidInput {
                field: "code",
                reason
            },
            "{input:?}"
        );
    }
}

#[test]
fn errors_from_messages_are_typed_and_classified() {
    type Answer = Result<HttpResponse, HttpError>;
    let cases: Vec<(Answer, Disposition, Option<u32>, Option<u16>)> = vec![
        (
            Recording::json(
                400,
                &error_json(21211, 400, "The 'To' number is not a valid phone number."),
            ),
            Disposition::Final,
            Some(21211),
            Some(400),
        ),
        (
            Recording::json(
                400,
                &error_json(21610, 400, "Attempt to send to unsubscribed recipient"),
            ),
            Disposition::Final,
            Some(21610),
            Some(400),
        ),
        (
            Recording::json(
                400,
                &error_json(21408, 400, "Permission to send an SMS has not been enabled"),
            ),
            Disposition::Final,
            Some(21408),
            Some(400),
        ),
        (
            Recording::json(
                400,
                &error_json(21614, 400, "'To' number is not a valid mobile number"),
            ),
            Disposition::Final,
            Some(21614),
            Some(400),
        ),
        (
            Recording::json(401, &error_json(20003, 401, "Authenticate")),
            Disposition::Final,
            Some(20003),
            Some(401),
        ),
        (
            Recording::json(429, &error_json(20429, 429, "Too many requests")),
            Disposition::Retry,
            Some(20429),
            Some(429),
        ),
        (
            Recording::json(500, &error_json(20500, 500, "Internal Server Error")),
            Disposition::Reconcile,
            Some(20500),
            Some(500),
        ),
        (
            Recording::json(503, "<html>Service Unavailable</html>"),
            Disposition::Reconcile,
            None,
            Some(503),
        ),
        (
            Recording::json(201, "{\"sid\": 42}"),
            Disposition::Reconcile,
            None,
            Some(201),
        ),
        (Err(HttpError::Timeout), Disposition::Reconcile, None, None),
        (
            Err(HttpError::Transport("connection reset".into())),
            Disposition::Reconcile,
            None,
            None,
        ),
        (
            Err(HttpError::Connect("dns".into())),
            Disposition::Retry,
            None,
            None,
        ),
        (
            Err(HttpError::Denied("api.twilio.com".into())),
            Disposition::Final,
            None,
            None,
        ),
    ];
    for (i, (answer, disposition, code, status)) in cases.into_iter().enumerate() {
        let http = Recording::answering([answer]);
        let client = TwilioClient::new(&http, config());
        let err = client
            .create_message(&NewMessage::new(e164(TO), "x"))
            .unwrap_err();
        assert_eq!(
            (err.disposition(), err.code(), err.status()),
            (disposition, code, status),
            "case {i}: {err}"
        );
    }
    // The message and link survive into the error text.
    let http = Recording::answering([Recording::json(
        400,
        &error_json(21610, 400, "Attempt to send to unsubscribed recipient"),
    )]);
    let err = TwilioClient::new(&http, config())
        .create_message(&NewMessage::new(e164(TO), "x"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Twilio error 21610 (HTTP 400): Attempt to send to unsubscribed recipient (https://www.twilio.com/docs/errors/21610)"
    );
    // Retry-After is exposed.
    let http = Recording::answering([Ok(HttpResponse::new(
        429,
        error_json(20429, 429, "Too many requests"),
    )
    .header("Retry-After", "3"))]);
    let err = TwilioClient::new(&http, config())
        .create_message(&NewMessage::new(e164(TO), "x"))
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(RetryAfter::Seconds(3)));
    // A GET that timed out is safe to repeat.
    let http = Recording::answering([Err(HttpError::Timeout)]);
    let err = TwilioClient::new(&http, config())
        .fetch_message(&MessageSid::parse(SM, "s").unwrap())
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry);
}

#[test]
fn bad_input_is_refused_before_sending() {
    let http = Recording::answering([]);
    let client = TwilioClient::new(&http, config());
    let cases = [
        (
            NewMessage::new(e164(TO), ""),
            TwilioError::InvalidInput {
                field: "body",
                reason: InputReason::Empty,
            },
        ),
        (
            NewMessage::new(e164(TO), " \n "),
            TwilioError::InvalidInput {
                field: "body",
                reason: InputReason::Empty,
            },
        ),
        (
            NewMessage::new(e164(TO), "ä".repeat(1601)),
            TwilioError::InvalidInput {
                field: "body",
                reason: InputReason::TooLong {
                    max: 1600,
                    actual: 1601,
                },
            },
        ),
        (
            NewMessage::new(e164(TO), "x").validity_period_secs(0),
            TwilioError::InvalidInput {
                field: "validity_period_secs",
                reason: InputReason::OutOfRange {
                    min: 1,
                    max: 36_000,
                },
            },
        ),
        (
            NewMessage::new(e164(TO), "x").validity_period_secs(36_001),
            TwilioError::InvalidInput {
                field: "validity_period_secs",
                reason: InputReason::OutOfRange {
                    min: 1,
                    max: 36_000,
                },
            },
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(client.create_message(&msg).unwrap_err(), want);
    }
    assert_eq!(
        client
            .list_messages(&MessageFilter {
                page_size: Some(1001),
                ..MessageFilter::default()
            })
            .unwrap_err(),
        TwilioError::InvalidInput {
            field: "page_size",
            reason: InputReason::OutOfRange { min: 1, max: 1000 }
        }
    );
    let call = NewCall::new(e164(TO), Twiml::say("x", Language::German).unwrap()).timeout_secs(601);
    assert_eq!(
        client.create_call(&call).unwrap_err(),
        TwilioError::InvalidInput {
            field: "timeout_secs",
            reason: InputReason::OutOfRange { min: 1, max: 600 }
        }
    );
    // 1600 characters are fine.
    assert!(http.requests().is_empty());
    let http = Recording::answering([Recording::json(201, &message_json("accepted", "x", ""))]);
    assert!(
        TwilioClient::new(&http, config())
            .create_message(&NewMessage::new(e164(TO), "ä".repeat(1600)))
            .is_ok()
    );
}

#[test]
fn sandbox_base_urls_are_used_verbatim() {
    let http = Recording::answering([
        Recording::json(201, &message_json("accepted", "x", "")),
        Recording::json(201, &verification_json("pending", false)),
    ]);
    let mut cfg = config();
    cfg.api_base_url =
        twilio::BaseUrl::parse("http://127.0.0.1:3000/sandbox/twilio/api/", "u").unwrap();
    cfg.verify_base_url =
        twilio::BaseUrl::parse("http://127.0.0.1:3000/sandbox/twilio/verify", "u").unwrap();
    let client = TwilioClient::new(&http, cfg);
    client
        .create_message(&NewMessage::new(e164(TO), "x"))
        .unwrap();
    client.start_verification(&e164(TO), None).unwrap();
    let reqs = http.requests();
    assert_eq!(
        reqs[0].url,
        format!(
            "http://127.0.0.1:3000/sandbox/twilio/api/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        )
    );
    assert_eq!(
        reqs[1].url,
        format!("http://127.0.0.1:3000/sandbox/twilio/verify/v2/Services/{VA}/Verifications")
    );
}
