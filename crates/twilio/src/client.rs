//! The Twilio REST client over the [`HttpClient`] port.
//!
//! Wire rules (twilio.md §1.1, §2.1, §2.2; <https://www.twilio.com/docs/usage/requests-to-twilio>):
//! HTTP Basic with the API Key SID and secret; the Account SID in every 2010-04-01 path; paths
//! ending in `.json` so the 2010 API answers JSON; every POST body
//! `application/x-www-form-urlencoded` with PascalCase names (never JSON: Twilio ignores a JSON
//! body and fails with 21602–21604); `Accept: application/json`.
//!
//! The client does one request per call and never retries by itself: pacing, backoff
//! ([`crate::Backoff`]) and reconciliation ([`TwilioClient::find_sent_messages`]) are the
//! caller's, who owns the outbox state that makes them safe.

use crate::config::{SmsSender, TwilioConfig};
use crate::e164::E164;
use crate::error::{ApiError, InputReason, TwilioError, codes};
use crate::resources::{
    Account, Call, CallList, Message, MessageList, Page, Verification, VerificationStatus,
    VerifyService,
};
use crate::sid::{CallSid, MessageSid};
use crate::time::UtcDate;
use crate::twiml::{Language, Twiml};
use crate::url::CallbackUrl;
use base64::Engine as _;
use connector::{HttpClient, HttpRequest, HttpResponse, Method};
use serde::de::DeserializeOwned;
use std::fmt;

/// Largest `Body` Twilio accepts, in characters (twilio.md §3.1).
pub const MAX_BODY_CHARS: usize = 1600;

const FORM: &str = "application/x-www-form-urlencoded";

/// A new SMS (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, twilio.md §3.1). The
/// sender comes from [`TwilioConfig::sms_sender`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// `To`.
    pub to: E164,
    /// `Body`: 1–1600 characters.
    pub body: String,
    /// `StatusCallback`: where Twilio posts status changes.
    pub status_callback: Option<CallbackUrl>,
    /// `ValidityPeriod`: seconds the message may wait in Twilio's queue, 1–36000 (twilio.md §3.1;
    /// an alert that would arrive hours late can be dropped with 30036 instead).
    pub validity_period_secs: Option<u32>,
}

impl NewMessage {
    /// An SMS without callback or validity period.
    pub fn new(to: E164, body: impl Into<String>) -> Self {
        Self {
            to,
            body: body.into(),
            status_callback: None,
            validity_period_secs: None,
        }
    }

    /// Sets `StatusCallback`.
    pub fn status_callback(mut self, url: CallbackUrl) -> Self {
        self.status_callback = Some(url);
        self
    }

    /// Sets `ValidityPeriod`.
    pub fn validity_period_secs(mut self, secs: u32) -> Self {
        self.validity_period_secs = Some(secs);
        self
    }
}

/// Filters of `GET …/Messages.json` (twilio.md §3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// `To`.
    pub to: Option<E164>,
    /// `From`.
    pub from: Option<E164>,
    /// `DateSent>`: sent on or after this GMT day.
    pub date_sent_on_or_after: Option<UtcDate>,
    /// `PageSize`, 1–1000 (Twilio's default is 50).
    pub page_size: Option<u32>,
}

/// Events of a call that trigger its `StatusCallback` (twilio.md §4.1; default: completed only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEvent {
    /// `initiated`.
    Initiated,
    /// `ringing`.
    Ringing,
    /// `answered`.
    Answered,
    /// `completed`.
    Completed,
}

impl CallEvent {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Completed => "completed",
        }
    }
}

/// A new call speaking inline TwiML (`POST /2010-04-01/Accounts/{AccountSid}/Calls.json`,
/// twilio.md §4.1). `From` is [`TwilioConfig::call_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// `To`.
    pub to: E164,
    /// `Twiml`.
    pub twiml: Twiml,
    /// `StatusCallback`.
    pub status_callback: Option<CallbackUrl>,
    /// `StatusCallbackEvent`, one repeated parameter per event (ignored without a callback).
    pub status_callback_events: Vec<CallEvent>,
    /// `Timeout`: ring seconds, 1–600 (Twilio's default is 60).
    pub timeout_secs: Option<u32>,
}

impl NewCall {
    /// A call without callback, ringing for Twilio's default time.
    pub fn new(to: E164, twiml: Twiml) -> Self {
        Self {
            to,
            twiml,
            status_callback: None,
            status_callback_events: Vec::new(),
            timeout_secs: None,
        }
    }

    /// Sets `StatusCallback` and the events it should receive.
    pub fn status_callback(mut self, url: CallbackUrl, events: &[CallEvent]) -> Self {
        self.status_callback = Some(url);
        self.status_callback_events = events.to_vec();
        self
    }

    /// Sets `Timeout`.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.timeout_secs = Some(secs);
        self
    }
}

/// Filters of `GET …/Calls.json` (twilio.md §13).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// `To`.
    pub to: Option<E164>,
    /// `From`.
    pub from: Option<E164>,
    /// `StartTime>`: started on or after this GMT day.
    pub start_time_on_or_after: Option<UtcDate>,
    /// `PageSize`, 1–1000.
    pub page_size: Option<u32>,
}

/// A one-time code typed by the approver (Verify `Code`, 4–10 characters, twilio.md §6.3).
/// Prints as `[redacted]`: a code that is still valid must not land in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyCode(String);

impl VerifyCode {
    /// Trims surrounding whitespace and requires 4–10 ASCII letters or digits.
    pub fn parse(input: &str, field: &'static str) -> Result<Self, TwilioError> {
        let code = input.trim();
        if code.is_empty() {
            return Err(TwilioError::input(field, InputReason::Empty));
        }
        if let Some(c) = code.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(TwilioError::input(field, InputReason::InvalidCharacter(c)));
        }
        if !(4..=10).contains(&code.len()) {
            return Err(TwilioError::input(
                field,
                InputReason::OutOfRange { min: 4, max: 10 },
            ));
        }
        Ok(Self(code.to_owned()))
    }
}

impl fmt::Debug for VerifyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyCode([redacted])")
    }
}

/// The business outcome of a Verify start or check (twilio.md §6.3, §6.4). Transport failures,
/// rate limits that clear by themselves (20429, 60212) and configuration errors are
/// [`TwilioError`]s instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Check: the code was right (`status=approved`). Record it now: Twilio deletes the
    /// verification, and a repeated check gets [`VerifyOutcome::NotFound`].
    Approved(Verification),
    /// Start: the code was sent. Check: the code was wrong, attempts remain.
    Pending(Verification),
    /// Five checks used (60202, or `status=max_attempts_reached`): start a new verification
    /// after this one expires.
    MaxAttempts,
    /// Check only: 404 / 20404. The verification no longer exists: approved already, expired
    /// (10 min), canceled or used up; the caller decides from its own record of an approval.
    NotFound,
    /// Start only: more than five sends to this verification (60203). Check the code already
    /// sent, wait for expiry, or cancel.
    TooManyRequests,
    /// Any other status in a success answer (`canceled`, `expired`, `deleted`, `failed` or a
    /// future value).
    Other(Verification),
}

/// The Twilio client. One request per method call, through the injected [`HttpClient`].
pub struct TwilioClient<'a> {
    http: &'a dyn HttpClient,
    config: TwilioConfig,
    authorization: String,
}

impl fmt::Debug for TwilioClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Authorization value embeds the key secret: never print it.
        f.debug_struct("TwilioClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

enum VerifyOp {
    Start,
    Check,
}

impl<'a> TwilioClient<'a> {
    /// A client sending through `http` with `config`.
    pub fn new(http: &'a dyn HttpClient, config: TwilioConfig) -> Self {
        let credentials = format!(
            "{}:{}",
            config.api_key_sid.as_str(),
            config.api_key_secret.expose()
        );
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        Self {
            http,
            config,
            authorization,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    // ---- Messages (twilio.md §3) ----

    /// Creates an SMS. Form fields in this order: `To`, `From` or `MessagingServiceSid`, `Body`,
    /// `StatusCallback`, `ValidityPeriod` (<https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>).
    ///
    /// On an ambiguous error ([`TwilioError::is_ambiguous`]) the message may exist: reconcile
    /// with [`TwilioClient::find_sent_messages`] before sending again.
    pub fn create_message(&self, msg: &NewMessage) -> Result<Message, TwilioError> {
        let chars = msg.body.chars().count();
        if msg.body.trim().is_empty() {
            return Err(TwilioError::input("body", InputReason::Empty));
        }
        if chars > MAX_BODY_CHARS {
            return Err(TwilioError::input(
                "body",
                InputReason::TooLong {
                    max: MAX_BODY_CHARS,
                    actual: chars,
                },
            ));
        }
        let mut form: Vec<(&str, String)> = vec![("To", msg.to.to_string())];
        match &self.config.sms_sender {
            SmsSender::From(n) => form.push(("From", n.to_string())),
            SmsSender::MessagingService(mg) => form.push(("MessagingServiceSid", mg.to_string())),
        }
        form.push(("Body", msg.body.clone()));
        if let Some(cb) = &msg.status_callback {
            form.push(("StatusCallback", cb.to_string()));
        }
        if let Some(v) = msg.validity_period_secs {
            check_range("validity_period_secs", v, 1, 36_000)?;
            form.push(("ValidityPeriod", v.to_string()));
        }
        let url = self.api_url("Messages.json");
        self.decode(Method::Post, self.send(Method::Post, url, Some(&form))?)
    }

    /// Fetches a message (`GET …/Messages/{Sid}.json`, twilio.md §3.4).
    pub fn fetch_message(&self, sid: &MessageSid) -> Result<Message, TwilioError> {
        let url = self.api_url(&format!("Messages/{sid}.json"));
        self.decode(Method::Get, self.send(Method::Get, url, None)?)
    }

    /// Lists messages, newest first (`GET …/Messages.json` with `To`, `From`, `DateSent>`,
    /// `PageSize`; twilio.md §3.4). Follow [`Page::next_page_uri`] with
    /// [`TwilioClient::next_messages`].
    pub fn list_messages(&self, filter: &MessageFilter) -> Result<Page<Message>, TwilioError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(to) = &filter.to {
            query.push(("To", to.to_string()));
        }
        if let Some(from) = &filter.from {
            query.push(("From", from.to_string()));
        }
        if let Some(d) = &filter.date_sent_on_or_after {
            query.push(("DateSent>", d.to_string()));
        }
        if let Some(n) = filter.page_size {
            check_range("page_size", n, 1, 1000)?;
            query.push(("PageSize", n.to_string()));
        }
        let url = with_query(self.api_url("Messages.json"), &query)?;
        let list: MessageList = self.decode(Method::Get, self.send(Method::Get, url, None)?)?;
        Ok(Page {
            items: list.messages,
            next_page_uri: list.next_page_uri,
            page: list.page,
            page_size: list.page_size,
        })
    }

    /// The page after `page`, or `None` on the last page. The link is used as Twilio gave it
    /// (never built: twilio.md §2.4), appended to the configured API base, and must point into
    /// this account's Messages.
    pub fn next_messages(
        &self,
        page: &Page<Message>,
    ) -> Result<Option<Page<Message>>, TwilioError> {
        let Some(uri) = page.next_page_uri.as_deref() else {
            return Ok(None);
        };
        let url = self.page_url(uri, "Messages.json")?;
        let list: MessageList = self.decode(Method::Get, self.send(Method::Get, url, None)?)?;
        Ok(Some(Page {
            items: list.messages,
            next_page_uri: list.next_page_uri,
            page: list.page,
            page_size: list.page_size,
        }))
    }

    /// Reconciliation after an ambiguous create (twilio.md §13): the messages to `to` (and from
    /// the configured `From` number, if any) with exactly `body`, created at or after
    /// `not_before_unix` (seconds; messages without a readable `date_created` are included to
    /// be safe). Reads at most `max_pages` pages, newest first.
    ///
    /// No `DateSent>` filter is applied, because queued messages may have no `date_sent` yet
    /// (twilio.md §13, §14). Rejected create attempts also show up (as `failed` with an error
    /// code, twilio.md §3.4): the caller decides from the statuses whether anything went out.
    pub fn find_sent_messages(
        &self,
        to: &E164,
        body: &str,
        not_before_unix: i64,
        max_pages: u32,
    ) -> Result<Vec<Message>, TwilioError> {
        let from = match &self.config.sms_sender {
            SmsSender::From(n) => Some(n.clone()),
            SmsSender::MessagingService(_) => None,
        };
        let filter = MessageFilter {
            to: Some(to.clone()),
            from,
            date_sent_on_or_after: None,
            page_size: Some(100),
        };
        let mut found = Vec::new();
        let mut page = Some(self.list_messages(&filter)?);
        let mut read = 0;
        while let Some(p) = page {
            read += 1;
            let done = read >= max_pages || p.next_page_uri.is_none();
            found.extend(
                p.items
                    .iter()
                    .filter(|m| {
                        m.body.as_deref() == Some(body)
                            && m.date_created_unix().is_none_or(|t| t >= not_before_unix)
                    })
                    .cloned(),
            );
            page = if done { None } else { self.next_messages(&p)? };
        }
        Ok(found)
    }

    // ---- Calls (twilio.md §4) ----

    /// Places a call speaking inline TwiML. Form fields in this order: `To`, `From`, `Twiml`,
    /// `StatusCallback`, `StatusCallbackEvent` (repeated), `Timeout`
    /// (<https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource>).
    pub fn create_call(&self, call: &NewCall) -> Result<Call, TwilioError> {
        let from = self.config.call_from().ok_or(TwilioError::input(
            "twilio_voice_from_number",
            InputReason::NotConfigured,
        ))?;
        let mut form: Vec<(&str, String)> = vec![
            ("To", call.to.to_string()),
            ("From", from.to_string()),
            ("Twiml", call.twiml.as_str().to_owned()),
        ];
        if let Some(cb) = &call.status_callback {
            form.push(("StatusCallback", cb.to_string()));
            for e in &call.status_callback_events {
                form.push(("StatusCallbackEvent", e.as_str().to_owned()));
            }
        }
        if let Some(t) = call.timeout_secs {
            check_range("timeout_secs", t, 1, 600)?;
            form.push(("Timeout", t.to_string()));
        }
        let url = self.api_url("Calls.json");
        self.decode(Method::Post, self.send(Method::Post, url, Some(&form))?)
    }

    /// Fetches a call (`GET …/Calls/{Sid}.json`). Call reads are eventually consistent
    /// (twilio.md §4.2).
    pub fn fetch_call(&self, sid: &CallSid) -> Result<Call, TwilioError> {
        let url = self.api_url(&format!("Calls/{sid}.json"));
        self.decode(Method::Get, self.send(Method::Get, url, None)?)
    }

    /// Lists calls, newest first (`GET …/Calls.json` with `To`, `From`, `StartTime>`,
    /// `PageSize`; twilio.md §13), for reconciling an ambiguous call create.
    pub fn list_calls(&self, filter: &CallFilter) -> Result<Page<Call>, TwilioError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(to) = &filter.to {
            query.push(("To", to.to_string()));
        }
        if let Some(from) = &filter.from {
            query.push(("From", from.to_string()));
        }
        if let Some(d) = &filter.start_time_on_or_after {
            query.push(("StartTime>", d.to_string()));
        }
        if let Some(n) = filter.page_size {
            check_range("page_size", n, 1, 1000)?;
            query.push(("PageSize", n.to_string()));
        }
        let url = with_query(self.api_url("Calls.json"), &query)?;
        let list: CallList = self.decode(Method::Get, self.send(Method::Get, url, None)?)?;
        Ok(Page {
            items: list.calls,
            next_page_uri: list.next_page_uri,
            page: list.page,
            page_size: list.page_size,
        })
    }

    /// The page after `page`, or `None` on the last page (see [`TwilioClient::next_messages`]).
    pub fn next_calls(&self, page: &Page<Call>) -> Result<Option<Page<Call>>, TwilioError> {
        let Some(uri) = page.next_page_uri.as_deref() else {
            return Ok(None);
        };
        let url = self.page_url(uri, "Calls.json")?;
        let list: CallList = self.decode(Method::Get, self.send(Method::Get, url, None)?)?;
        Ok(Some(Page {
            items: list.calls,
            next_page_uri: list.next_page_uri,
            page: list.page,
            page_size: list.page_size,
        }))
    }

    // ---- read-only checks (connection test) ----

    /// Fetches the account the credentials belong to (`GET /2010-04-01/Accounts/{AC}.json`,
    /// <https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource>). Harmless: it
    /// reads one resource and proves the API key and its account match.
    pub fn fetch_account(&self) -> Result<Account, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            self.config.api_base_url.as_str(),
            self.config.account_sid
        );
        self.decode(Method::Get, self.send(Method::Get, url, None)?)
    }

    /// Fetches the configured Verify service (`GET {verify}/v2/Services/{VA}`,
    /// <https://www.twilio.com/docs/verify/api/service#fetch-a-service>).
    pub fn fetch_verify_service(&self) -> Result<VerifyService, TwilioError> {
        let url = self.verify_url("")?;
        let url = url.trim_end_matches('/').to_owned();
        self.decode(Method::Get, self.send(Method::Get, url, None)?)
    }

    // ---- Verify v2 (twilio.md §6) ----

    /// Sends a code by SMS (`POST {verify}/v2/Services/{VA}/Verifications` with `To`,
    /// `Channel=sms`, optional `Locale`; <https://www.twilio.com/docs/verify/api/verification>).
    /// Restarting within the validity window resends the same code and counts toward 60203
    /// (twilio.md §13).
    pub fn start_verification(
        &self,
        to: &E164,
        locale: Option<Language>,
    ) -> Result<VerifyOutcome, TwilioError> {
        let mut form: Vec<(&str, String)> =
            vec![("To", to.to_string()), ("Channel", "sms".to_owned())];
        if let Some(l) = locale {
            form.push(("Locale", l.verify_locale().to_owned()));
        }
        let url = self.verify_url("Verifications")?;
        let resp = self.send(Method::Post, url, Some(&form))?;
        self.verify_outcome(VerifyOp::Start, resp)
    }

    /// Checks a code (`POST {verify}/v2/Services/{VA}/VerificationCheck` with `To`, `Code`;
    /// <https://www.twilio.com/docs/verify/api/verification-check>).
    pub fn check_verification(
        &self,
        to: &E164,
        code: &VerifyCode,
    ) -> Result<VerifyOutcome, TwilioError> {
        let form: Vec<(&str, String)> = vec![("To", to.to_string()), ("Code", code.0.clone())];
        let url = self.verify_url("VerificationCheck")?;
        let resp = self.send(Method::Post, url, Some(&form))?;
        self.verify_outcome(VerifyOp::Check, resp)
    }

    fn verify_outcome(
        &self,
        op: VerifyOp,
        resp: HttpResponse,
    ) -> Result<VerifyOutcome, TwilioError> {
        if (200..300).contains(&resp.status) {
            let v: Verification = self.decode(Method::Post, resp)?;
            return Ok(match v.status {
                VerificationStatus::Approved => VerifyOutcome::Approved(v),
                VerificationStatus::Pending => VerifyOutcome::Pending(v),
                VerificationStatus::MaxAttemptsReached => VerifyOutcome::MaxAttempts,
                _ => VerifyOutcome::Other(v),
            });
        }
        let err = ApiError::from_response(Method::Post, &resp);
        match (op, err.status, err.code) {
            (_, _, Some(codes::VERIFY_MAX_CHECK_ATTEMPTS)) => Ok(VerifyOutcome::MaxAttempts),
            (_, _, Some(codes::VERIFY_MAX_SEND_ATTEMPTS)) => Ok(VerifyOutcome::TooManyRequests),
            // On a check a 404 means the verification is gone (twilio.md §6.3). On a start it
            // means a wrong service SID or an unsupported Locale: a configuration error.
            (VerifyOp::Check, 404, _) | (VerifyOp::Check, _, Some(codes::NOT_FOUND)) => {
                Ok(VerifyOutcome::NotFound)
            }
            _ => Err(TwilioError::Api(err)),
        }
    }

    // ---- plumbing ----

    fn api_url(&self, tail: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{tail}",
            self.config.api_base_url.as_str(),
            self.config.account_sid
        )
    }

    fn verify_url(&self, tail: &str) -> Result<String, TwilioError> {
        let va = self
            .config
            .verify_service_sid
            .as_ref()
            .ok_or(TwilioError::input(
                "twilio_verify_service_sid",
                InputReason::NotConfigured,
            ))?;
        Ok(format!(
            "{}/v2/Services/{va}/{tail}",
            self.config.verify_base_url.as_str()
        ))
    }

    fn page_url(&self, uri: &str, resource: &str) -> Result<String, TwilioError> {
        let prefix = format!(
            "/2010-04-01/Accounts/{}/{resource}",
            self.config.account_sid
        );
        let rest = uri.strip_prefix(&prefix).ok_or(TwilioError::input(
            "next_page_uri",
            InputReason::ForeignPageUri,
        ))?;
        if !(rest.is_empty() || rest.starts_with('?'))
            || uri.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(TwilioError::input(
                "next_page_uri",
                InputReason::ForeignPageUri,
            ));
        }
        Ok(format!("{}{uri}", self.config.api_base_url.as_str()))
    }

    fn send(
        &self,
        method: Method,
        url: String,
        form: Option<&[(&str, String)]>,
    ) -> Result<HttpResponse, TwilioError> {
        let mut req = HttpRequest::new(method, url)
            .header("Authorization", self.authorization.clone())
            .header("Accept", "application/json");
        if let Some(form) = form {
            let body = serde_urlencoded::to_string(form)
                .map_err(|e| TwilioError::Encode(e.to_string()))?;
            req = req.header("Content-Type", FORM).body(body);
        }
        self.http
            .send(req)
            .map_err(|source| TwilioError::Http { method, source })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: Method,
        resp: HttpResponse,
    ) -> Result<T, TwilioError> {
        if !(200..300).contains(&resp.status) {
            return Err(TwilioError::Api(ApiError::from_response(method, &resp)));
        }
        serde_json::from_slice(&resp.body).map_err(|e| TwilioError::UnexpectedResponse {
            method,
            status: resp.status,
            reason: format!("body is not the documented resource: {e}"),
        })
    }
}

fn check_range(field: &'static str, v: u32, min: u32, max: u32) -> Result<(), TwilioError> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(TwilioError::input(
            field,
            InputReason::OutOfRange {
                min: u64::from(min),
                max: u64::from(max),
            },
        ))
    }
}

fn with_query(url: String, query: &[(&str, String)]) -> Result<String, TwilioError> {
    if query.is_empty() {
        return Ok(url);
    }
    let q = serde_urlencoded::to_string(query).map_err(|e| TwilioError::Encode(e.to_string()))?;
    Ok(format!("{url}?{q}"))
}
