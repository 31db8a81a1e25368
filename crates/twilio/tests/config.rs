//! Configuration from raw settings: defaults, sender choice, and errors naming the setting.

mod common;

use common::*;
use twilio::{
    BaseUrl, ConfigError, NumberParser, PhoneNumberReason, SmsSender, TwilioConfig, TwilioSettings,
    UrlReason,
};

fn settings() -> TwilioSettings {
    TwilioSettings {
        account_sid: ACCOUNT.into(),
        api_key_sid: KEY_SID.into(),
        api_key_secret: connector::Secret::new(KEY_SECRET),
        messaging_service_sid: Some(MG.into()),
        verify_service_sid: Some(VA.into()),
        ..TwilioSettings::default()
    }
}

fn parse(s: &TwilioSettings) -> Result<TwilioConfig, ConfigError> {
    TwilioConfig::from_settings(s, &NumberParser::default())
}

#[test]
fn defaults_to_twilio_hosts_and_messaging_service() {
    let cfg = parse(&settings()).unwrap();
    assert_eq!(cfg.api_base_url, BaseUrl::twilio_api());
    assert_eq!(cfg.verify_base_url.as_str(), "https://verify.twilio.com");
    assert!(matches!(&cfg.sms_sender, SmsSender::MessagingService(mg) if mg.as_str() == MG));
    assert_eq!(cfg.call_from(), None);
    assert_eq!(
        cfg.verify_service_sid.as_ref().map(|v| v.as_str()),
        Some(VA)
    );
}

#[test]
fn from_number_is_sender_and_caller_id() {
    let s = TwilioSettings {
        messaging_service_sid: None,
        from_number: Some("030 901820".into()),
        ..settings()
    };
    let cfg = parse(&s).unwrap();
    assert_eq!(cfg.sms_sender, SmsSender::From(e164(FROM)));
    assert_eq!(cfg.call_from(), Some(&e164(FROM)));
    // With a Messaging Service, a From number still serves as caller ID; an explicit voice
    // number wins over it.
    let s = TwilioSettings {
        from_number: Some(FROM.into()),
        ..settings()
    };
    assert_eq!(parse(&s).unwrap().call_from(), Some(&e164(FROM)));
    let s = TwilioSettings {
        from_number: Some(FROM.into()),
        voice_from_number: Some(TO.into()),
        ..settings()
    };
    assert_eq!(parse(&s).unwrap().call_from(), Some(&e164(TO)));
}

#[test]
fn deserialises_from_spin_variables_shape() {
    let json = format!(
        r#"{{"account_sid":"{ACCOUNT}","api_key_sid":"{KEY_SID}","api_key_secret":"{KEY_SECRET}",
            "api_base_url":"http://127.0.0.1:3000/sandbox/twilio","from_number":"+4930901820",
            "verify_service_sid":""}}"#
    );
    let s: TwilioSettings = serde_json::from_str(&json).unwrap();
    let cfg = parse(&s).unwrap();
    assert_eq!(
        cfg.api_base_url.as_str(),
        "http://127.0.0.1:3000/sandbox/twilio"
    );
    assert_eq!(cfg.api_key_secret.expose(), KEY_SECRET);
    assert_eq!(cfg.verify_service_sid, None, "empty counts as absent");
}

#[test]
fn errors_name_the_setting() {
    let cases: Vec<(TwilioSettings, &str)> = vec![
        (
            TwilioSettings {
                account_sid: "AC123".into(),
                ..settings()
            },
            "twilio_account_sid: expected AC followed by 32 hexadecimal digits",
        ),
        (
            TwilioSettings {
                api_key_sid: ACCOUNT.into(),
                ..settings()
            },
            "twilio_api_key_sid: expected SK followed by 32 hexadecimal digits",
        ),
        (
            TwilioSettings {
                api_key_secret: connector::Secret::new(""),
                ..settings()
            },
            "twilio_api_key_secret: required setting is missing",
        ),
        (
            TwilioSettings {
                messaging_service_sid: Some("MG1".into()),
                ..settings()
            },
            "twilio_messaging_service_sid: expected MG followed by 32 hexadecimal digits",
        ),
        (
            TwilioSettings {
                messaging_service_sid: None,
                from_number: None,
                ..settings()
            },
            "twilio_messaging_service_sid or twilio_from_number: required setting is missing",
        ),
        (
            TwilioSettings {
                messaging_service_sid: None,
                from_number: Some("0151 2345678".into()),
                ..settings()
            },
            "twilio_from_number: phone number is not a valid number for its country",
        ),
        (
            TwilioSettings {
                voice_from_number: Some("call me".into()),
                ..settings()
            },
            "twilio_voice_from_number: phone number contains the character 'c'",
        ),
        (
            TwilioSettings {
                verify_service_sid: Some("VA".into()),
                ..settings()
            },
            "twilio_verify_service_sid: expected VA followed by 32 hexadecimal digits",
        ),
        (
            TwilioSettings {
                api_base_url: Some("http://api.twilio.com".into()),
                ..settings()
            },
            "twilio_api_base_url: URL must start with https:// (http:// only for a local development host)",
        ),
        (
            TwilioSettings {
                verify_base_url: Some("https://user:pw@verify.twilio.com".into()),
                ..settings()
            },
            "twilio_verify_base_url: URL must not contain a user name or password",
        ),
    ];
    for (s, want) in cases {
        assert_eq!(parse(&s).unwrap_err().to_string(), want);
    }
    // The variants carry the structured reason too.
    let err = parse(&TwilioSettings {
        messaging_service_sid: None,
        from_number: Some("+999 1".into()),
        ..settings()
    })
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::Phone(ref p) if p.field == "twilio_from_number" && p.reason == PhoneNumberReason::InvalidCountryCode),
        "{err:?}"
    );
    let err = parse(&TwilioSettings {
        api_base_url: Some("ftp://x".into()),
        ..settings()
    })
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::Url(ref u) if u.reason == UrlReason::Scheme),
        "{err:?}"
    );
}
