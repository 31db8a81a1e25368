//! Twilio REST client for ml-connector: Messages, Calls and Verify v2 over the
//! [`connector::HttpClient`] port, plus what every caller of them needs — E.164 numbers, SMS
//! encoding and segments, TwiML `<Say>`, typed errors with a retry classification, and backoff.
//!
//! Host-independent: no Spin, no wasmtime, no clock or randomness of its own (those come in as
//! [`connector::Clock`] / [`connector::Rng`] values), so it runs natively in tests and inside the
//! `twilio-sender` component. Facts and sources: `shared/reference/twilio.md`; section numbers
//! (§n) in the docs refer to it.
//!
//! ```text
//! TwilioConfig::from_settings ─▶ TwilioClient::new(&http, config)
//!     create_message / fetch_message / list_messages / find_sent_messages   (§3, §13)
//!     create_call / fetch_call / list_calls                                  (§4, §5)
//!     start_verification / check_verification ─▶ VerifyOutcome              (§6)
//! errors: TwilioError::disposition() ─▶ Retry | Reconcile | Final            (§9, §10, §13)
//! ```

pub mod backoff;
pub mod client;
pub mod config;
pub mod e164;
pub mod error;
pub mod resources;
pub mod sid;
pub mod sms;
pub mod time;
pub mod twiml;
pub mod url;

pub use backoff::{Backoff, BackoffError};
pub use client::{
    CallEvent, CallFilter, MAX_BODY_CHARS, MessageFilter, NewCall, NewMessage, TwilioClient,
    VerifyCode, VerifyOutcome,
};
pub use config::{ConfigError, SmsSender, TwilioConfig, TwilioSettings};
pub use e164::{E164, NumberParser, PhoneNumberError, PhoneNumberReason, Region};
pub use error::{ApiError, Disposition, InputReason, RetryAfter, TwilioError, codes};
pub use resources::{
    Account, Call, CallStatus, Message, MessageStatus, Page, Verification, VerificationStatus,
    VerifyService,
};
pub use sid::{
    AccountSid, ApiKeySid, CallSid, MessageSid, MessagingServiceSid, SidError, VerificationSid,
    VerifyServiceSid,
};
pub use sms::{
    Encoding, Fitted, SegmentInfo, fit_to_segments, is_gsm7, segments, to_gsm7_lookalikes,
};
pub use time::UtcDate;
pub use twiml::{Language, MAX_TWIML_CHARS, Say, Twiml, Voice};
pub use url::{BaseUrl, CallbackUrl, UrlError, UrlReason};
