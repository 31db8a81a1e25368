//! Client configuration: credentials, hosts and senders, validated once at the boundary.
//!
//! Authentication is HTTP Basic with an API Key SID and secret; the Account SID goes into the
//! path (twilio.md §1.1, <https://www.twilio.com/docs/iam/api-keys>). The Auth Token is not part
//! of this configuration: the REST client never uses it (webhook signatures, which do, are the
//! `signature` component's business).

use crate::e164::{E164, NumberParser, PhoneNumberError};
use crate::sid::{AccountSid, ApiKeySid, MessagingServiceSid, SidError, VerifyServiceSid};
use crate::url::{BaseUrl, UrlError};
use connector::Secret;
use serde::Deserialize;

/// Who sends SMS: a Messaging Service (Twilio picks a number from its pool) or one number
/// (twilio.md §3.1: a create needs `From` or `MessagingServiceSid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSender {
    /// `MessagingServiceSid=MG…`.
    MessagingService(MessagingServiceSid),
    /// `From=+…`, a Twilio number.
    From(E164),
}

/// Everything the client needs. Build it with [`TwilioConfig::from_settings`] from raw
/// settings, or field by field from already validated parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioConfig {
    /// `AC…`, in every 2010-04-01 path.
    pub account_sid: AccountSid,
    /// `SK…`, the Basic-auth user.
    pub api_key_sid: ApiKeySid,
    /// The API key secret, the Basic-auth password. Prints as `[redacted]`.
    pub api_key_secret: Secret,
    /// Base of Messages and Calls, `https://api.twilio.com` in production.
    pub api_base_url: BaseUrl,
    /// Base of Verify v2, `https://verify.twilio.com` in production.
    pub verify_base_url: BaseUrl,
    /// Sender of SMS.
    pub sms_sender: SmsSender,
    /// Caller ID of voice calls (`From`, a Twilio number or verified caller ID, twilio.md §4.1).
    /// When absent, the SMS `From` number is used; with a Messaging Service and no voice number,
    /// calls are refused with a configuration error.
    pub voice_from: Option<E164>,
    /// `VA…`; Verify calls are refused with a configuration error when absent.
    pub verify_service_sid: Option<VerifyServiceSid>,
}

impl TwilioConfig {
    /// The caller ID for calls: [`TwilioConfig::voice_from`], else the SMS `From` number.
    pub fn call_from(&self) -> Option<&E164> {
        self.voice_from.as_ref().or(match &self.sms_sender {
            SmsSender::From(n) => Some(n),
            SmsSender::MessagingService(_) => None,
        })
    }

    /// Validates raw settings (as read from Spin variables). Errors name the setting, e.g.
    /// `twilio_account_sid`.
    pub fn from_settings(s: &TwilioSettings, numbers: &NumberParser) -> Result<Self, ConfigError> {
        let secret = s.api_key_secret.clone();
        if secret.is_empty() {
            return Err(ConfigError::Missing {
                field: "twilio_api_key_secret",
            });
        }
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let sms_sender = match (opt(&s.messaging_service_sid), opt(&s.from_number)) {
            (Some(mg), _) => SmsSender::MessagingService(MessagingServiceSid::parse(
                &mg,
                "twilio_messaging_service_sid",
            )?),
            (None, Some(from)) => SmsSender::From(numbers.parse(&from, "twilio_from_number")?),
            (None, None) => {
                return Err(ConfigError::Missing {
                    field: "twilio_messaging_service_sid or twilio_from_number",
                });
            }
        };
        let voice_from = match (opt(&s.voice_from_number), opt(&s.from_number), &sms_sender) {
            (Some(v), _, _) => Some(numbers.parse(&v, "twilio_voice_from_number")?),
            // With a Messaging Service, a configured From number still serves as caller ID.
            (None, Some(from), SmsSender::MessagingService(_)) => {
                Some(numbers.parse(&from, "twilio_from_number")?)
            }
            _ => None,
        };
        Ok(Self {
            account_sid: AccountSid::parse(s.account_sid.trim(), "twilio_account_sid")?,
            api_key_sid: ApiKeySid::parse(s.api_key_sid.trim(), "twilio_api_key_sid")?,
            api_key_secret: secret,
            api_base_url: match opt(&s.api_base_url) {
                Some(u) => BaseUrl::parse(&u, "twilio_api_base_url")?,
                None => BaseUrl::twilio_api(),
            },
            verify_base_url: match opt(&s.verify_base_url) {
                Some(u) => BaseUrl::parse(&u, "twilio_verify_base_url")?,
                None => BaseUrl::twilio_verify(),
            },
            sms_sender,
            voice_from,
            verify_service_sid: opt(&s.verify_service_sid)
                .map(|v| VerifyServiceSid::parse(&v, "twilio_verify_service_sid"))
                .transpose()?,
        })
    }
}

/// Raw settings, one per Spin variable (`twilio_account_sid`, …). Empty optional strings count
/// as absent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TwilioSettings {
    /// `twilio_account_sid`: `AC` + 32 hex.
    pub account_sid: String,
    /// `twilio_api_key_sid`: `SK` + 32 hex.
    pub api_key_sid: String,
    /// `twilio_api_key_secret`.
    #[serde(deserialize_with = "secret_de::deserialize")]
    pub api_key_secret: Secret,
    /// `twilio_api_base_url`, default `https://api.twilio.com`.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// `twilio_verify_base_url`, default `https://verify.twilio.com`.
    #[serde(default)]
    pub verify_base_url: Option<String>,
    /// `twilio_messaging_service_sid`: `MG` + 32 hex; preferred over `from_number` for SMS.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// `twilio_from_number`: SMS sender without a Messaging Service, and default caller ID.
    #[serde(default)]
    pub from_number: Option<String>,
    /// `twilio_voice_from_number`: caller ID for calls, if different.
    #[serde(default)]
    pub voice_from_number: Option<String>,
    /// `twilio_verify_service_sid`: `VA` + 32 hex.
    #[serde(default)]
    pub verify_service_sid: Option<String>,
}

// `Secret` has no Deserialize of its own; settings arrive as plain strings.
mod secret_de {
    use connector::Secret;
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is absent or empty.
    #[error("{field}: required setting is missing")]
    Missing {
        /// The setting's name.
        field: &'static str,
    },
    /// A SID with the wrong shape.
    #[error(transparent)]
    Sid(#[from] SidError),
    /// An invalid phone number.
    #[error(transparent)]
    Phone(#[from] PhoneNumberError),
    /// An invalid URL.
    #[error(transparent)]
    Url(#[from] UrlError),
}
