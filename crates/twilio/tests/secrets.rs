//! No secret in `Debug`, `Display`, errors or recorded requests: the API key secret, its Basic
//! encoding and a Verify code must not show up in anything the client can print.

mod common;

use common::*;
use connector::{HttpError, HttpResponse};
use twilio::{
    ConfigError, NewMessage, NumberParser, TwilioClient, TwilioConfig, TwilioSettings, VerifyCode,
};

const CODE: &str = "918273";

fn assert_clean(what: &str, text: &str) {
    for needle in [KEY_SECRET, &BASIC["Basic ".len()..], CODE] {
        assert!(!text.contains(needle), "{what} leaks {needle:?}: {text}");
    }
}

#[test]
fn nothing_printable_contains_a_secret() {
    let settings = TwilioSettings {
        account_sid: ACCOUNT.into(),
        api_key_sid: KEY_SID.into(),
        api_key_secret: connector::Secret::new(KEY_SECRET),
        messaging_service_sid: Some(MG.into()),
        verify_service_sid: Some(VA.into()),
        ..TwilioSettings::default()
    };
    let cfg = TwilioConfig::from_settings(&settings, &NumberParser::default()).unwrap();
    assert_clean("settings", &format!("{settings:?}"));
    assert_clean("config", &format!("{cfg:?}"));

    let answers = vec![
        Ok(HttpResponse::new(
            401,
            r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#,
        )),
        Ok(HttpResponse::new(500, "oops")),
        Ok(HttpResponse::new(201, "not json")),
        Err(HttpError::Timeout),
        Err(HttpError::Transport("reset".into())),
        Err(HttpError::Connect("refused".into())),
        Err(HttpError::Denied("api.twilio.com".into())),
        Ok(HttpResponse::new(
            429,
            r#"{"code": 60202, "message": "Max check attempts reached", "status": 429}"#,
        )),
    ];
    let n = answers.len();
    let http = Recording::answering(answers);
    let client = TwilioClient::new(&http, cfg.clone());
    assert_clean("client", &format!("{client:?}"));
    let code = VerifyCode::parse(CODE, "code").unwrap();
    assert_clean("code", &format!("{code:?}"));
    let mut errors = Vec::new();
    for i in 0..n - 1 {
        if let Err(e) = client.create_message(&NewMessage::new(e164(TO), format!("m{i}"))) {
            errors.push(e);
        }
    }
    let outcome = client.check_verification(&e164(TO), &code);
    assert_clean("verify outcome", &format!("{outcome:?}"));
    assert_eq!(errors.len(), n - 1);
    for e in &errors {
        assert_clean("error Debug", &format!("{e:?}"));
        assert_clean("error Display", &e.to_string());
    }
    // The requests did carry the credentials and the code: the test would be void otherwise.
    let reqs = http.requests();
    assert_eq!(reqs[0].header_value("Authorization"), Some(BASIC));
    assert!(String::from_utf8_lossy(&reqs[n - 1].body).contains(CODE));
    for r in &reqs {
        assert_clean("request Debug", &format!("{r:?}"));
    }

    let bad = TwilioSettings {
        account_sid: "AC123".into(),
        ..settings
    };
    let err: ConfigError = TwilioConfig::from_settings(&bad, &NumberParser::default()).unwrap_err();
    assert_clean("config error", &format!("{err:?} {err}"));
}
