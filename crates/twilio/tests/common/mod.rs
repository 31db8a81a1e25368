//! Test doubles and fixtures shared by the request-level tests.
#![allow(dead_code)]

use connector::{HttpClient, HttpError, HttpRequest, HttpResponse};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use twilio::{
    AccountSid, ApiKeySid, BaseUrl, E164, MessagingServiceSid, SmsSender, TwilioConfig,
    VerifyServiceSid,
};

pub const ACCOUNT: &str = "AC5ef872f6da5a21de157d80997a64bd33";
pub const KEY_SID: &str = "SKb3e40cb5e4a1f1f6e0f2f9b7c1d5a0e2";
pub const KEY_SECRET: &str = "not-a-real-secret-7f3a9c";
/// `Basic base64("SKb3e4…:not-a-real-secret-7f3a9c")`, computed independently (RFC 7617 §2).
pub const BASIC: &str =
    "Basic U0tiM2U0MGNiNWU0YTFmMWY2ZTBmMmY5YjdjMWQ1YTBlMjpub3QtYS1yZWFsLXNlY3JldC03ZjNhOWM=";
pub const MG: &str = "MG9c2d6a1e0b4f4d8e8a7c3b2a1f0e9d8c";
pub const VA: &str = "VA3f1e2d4c5b6a79880716253443526170";
pub const TO: &str = "+4915123456789";
pub const FROM: &str = "+4930901820";

/// Records every request and answers from a script (a transport error once it runs dry, so a
/// test that sends more than it scripted fails on its assertions).
#[derive(Debug, Default)]
pub struct Recording {
    requests: Mutex<Vec<HttpRequest>>,
    answers: Mutex<VecDeque<Result<HttpResponse, HttpError>>>,
}

impl Recording {
    pub fn answering(answers: impl IntoIterator<Item = Result<HttpResponse, HttpError>>) -> Self {
        Self {
            requests: Mutex::default(),
            answers: Mutex::new(answers.into_iter().collect()),
        }
    }

    pub fn json(status: u16, body: &str) -> Result<HttpResponse, HttpError> {
        Ok(HttpResponse::new(status, body).header("Content-Type", "application/json"))
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl HttpClient for Recording {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(req);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or_else(|| Err(HttpError::Transport("no scripted answer".into())))
    }
}

pub fn e164(s: &str) -> E164 {
    E164::parse(s, "test").expect("test number is valid")
}

/// A configuration sending SMS through a Messaging Service, calls from [`FROM`].
pub fn config() -> TwilioConfig {
    TwilioConfig {
        account_sid: AccountSid::parse(ACCOUNT, "a").expect("sid"),
        api_key_sid: ApiKeySid::parse(KEY_SID, "k").expect("sid"),
        api_key_secret: connector::Secret::new(KEY_SECRET),
        api_base_url: BaseUrl::twilio_api(),
        verify_base_url: BaseUrl::twilio_verify(),
        sms_sender: SmsSender::MessagingService(MessagingServiceSid::parse(MG, "m").expect("sid")),
        voice_from: Some(e164(FROM)),
        verify_service_sid: Some(VerifyServiceSid::parse(VA, "v").expect("sid")),
    }
}

/// A request as text, with the Authorization value left out (it encodes the key secret and is
/// asserted separately against [`BASIC`]).
pub fn dump(req: &HttpRequest) -> String {
    let mut out = format!("{} {}\n", req.method, req.url);
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("authorization") {
            out.push_str(&format!("{name}: [asserted separately]\n"));
        } else {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    out.push('\n');
    out.push_str(std::str::from_utf8(&req.body).expect("form bodies are ASCII"));
    out.push('\n');
    out
}

/// Compares `actual` with `tests/golden/<name>`; `BLESS=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
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
