//! The sender's settings: pacing, retries, tick bounds and texts. Every knob has a default; the
//! component reads optional overrides from Spin variables named like the fields
//! (`sender_max_per_tick`, …), and a bad value is an error naming the variable.

use connector::schedule::{ScanLimits, ScheduleConfig};
use std::num::NonZeroU32;
use twilio::{
    AccountSid, ApiKeySid, Backoff, BaseUrl, CallbackUrl, E164, MessagingServiceSid, SmsSender,
    TwilioConfig, TwilioSettings, VerifyServiceSid,
};

use crate::template::SmsLimits;

/// How the sender paces, retries and bounds a tick.
///
/// # How "at most N in flight" maps onto a blocking port
/// Twilio's REST limits are concurrency-based (twilio.md §9). The [`connector::HttpClient`]
/// port is blocking, so within one tick exactly one request is open at any time, and the tick
/// lease keeps other instances out: N ≥ 1 always holds. `max_in_flight` (N) and
/// `request_slot_ms` (S) additionally bound the *start rate*: the sender treats a request as
/// holding one of Twilio's concurrency slots for S ms after it started, and never starts one
/// while N requests started within the last S ms. With the defaults (N = 1, S = 100 ms) that is
/// at most ten request starts per second, whatever the round-trip time; S = 0 means "sequential
/// and nothing more". A 429 closes the gate for everyone ([`crate::pace`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Outbox entries taken per tick (`sender_max_per_tick`, 1–500, default 20).
    pub max_per_tick: usize,
    /// N: request starts per slot (`sender_max_in_flight`, 1–100, default 1).
    pub max_in_flight: u32,
    /// S: how long a request is assumed to hold a Twilio concurrency slot
    /// (`sender_request_slot_ms`, 0–60000, default 100).
    pub request_slot_ms: u64,
    /// Tick-wide backoff after a 429: exponential with full jitter, `Retry-After` honoured
    /// (`sender_backoff_base_ms` default 500, `sender_backoff_cap_ms` default 30000).
    pub rate_backoff: Backoff,
    /// Per-item backoff after a 5xx, a transport error or an unconfirmed ambiguous attempt
    /// (base 5 s, cap 10 min).
    pub retry_backoff: Backoff,
    /// Failed attempts (429s excluded) before an item is given up (`sender_max_attempts`,
    /// 1–50, default 5).
    pub max_attempts: u32,
    /// Length of one lease window; one tick per window works (`sender_lease_ms`, 1000–3600000,
    /// default 10000: the cron interval in `spin.toml`).
    pub lease_ms: u64,
    /// A tick starts no request after this long, so it ends inside its lease window
    /// (`sender_tick_budget_ms`, default 7000; must be below `lease_ms`).
    pub tick_budget_ms: u64,
    /// SMS length.
    pub sms: SmsLimits,
    /// `StatusCallback` of every SMS and call: `<public_base_url>/twilio/status`.
    pub status_callback: Option<CallbackUrl>,
    /// Ring time of alert calls in seconds (Twilio's `Timeout`, default 45).
    pub call_timeout_secs: u32,
    /// Least time between the end of one call request and the start of the next to the same
    /// number (default 3 s). Calls carry nothing Twilio's call list shows to tell two alerts
    /// apart, so an ambiguous call is reconciled by its time window ([`crate::tick`]); Twilio's
    /// `date_created` has second precision, and with the window's slack (1 s before, 2 s
    /// after) 3 s keeps the windows of two calls to one controller disjoint.
    pub call_spacing_ms: u64,
    /// Wait after an ambiguous attempt before listing Twilio's messages or calls: list reads are
    /// eventually consistent (twilio.md §4.2), default 5 s.
    pub reconcile_after_ms: u64,
    /// End of the reconciliation window when an attempt's end was never recorded (the tick died
    /// during the request): longer than any request can take (default 60 s).
    pub max_request_ms: u64,
    /// A claim on an attempt whose holder wrote nothing for this long is presumed dead
    /// (default 120 s, far longer than a tick).
    pub stale_claim_ms: u64,
    /// A `sent` item without a final callback is looked up after this long (default 15 min).
    pub status_check_after_ms: u64,
    /// At most this many such lookups per item (default 4); then it stays `sent` (twilio.md
    /// §3.3: without a carrier receipt `sent` may be final).
    pub max_status_checks: u32,
    /// Inbound-queue events read per tick (default 200).
    pub inbound_per_tick: u64,
    /// A missing inbound slot is skipped after this long (default 60 s, see
    /// `connector::inbound::Cursor::decide_missing`).
    pub inbound_grace_ms: u64,
    /// An undelivered alert about a failure calls the controller (default true).
    pub escalate: bool,
    /// Shape of the outbox due index; must equal the producers' (`connector::schedule`).
    pub schedule: ScheduleConfig,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            max_per_tick: 20,
            max_in_flight: 1,
            request_slot_ms: 100,
            rate_backoff: Backoff::default(),
            retry_backoff: Backoff::new(5_000, 600_000).unwrap_or_default(),
            max_attempts: 5,
            lease_ms: 10_000,
            tick_budget_ms: 7_000,
            sms: SmsLimits::default(),
            status_callback: None,
            call_timeout_secs: 45,
            call_spacing_ms: 3_000,
            reconcile_after_ms: 5_000,
            max_request_ms: 60_000,
            stale_claim_ms: 120_000,
            status_check_after_ms: 15 * 60_000,
            max_status_checks: 4,
            inbound_per_tick: 200,
            inbound_grace_ms: 60_000,
            escalate: true,
            schedule: ScheduleConfig::default(),
        }
    }
}

impl SenderConfig {
    /// Scan bounds for the outbox index.
    pub fn scan_limits(&self) -> ScanLimits {
        ScanLimits {
            max_entries: self.max_per_tick,
            ..ScanLimits::default()
        }
    }
}

/// Raw settings, one optional string per Spin variable; empty counts as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderSettings {
    /// `public_base_url`: the public `https://` base the webhook is reached at.
    pub public_base_url: Option<String>,
    /// `sender_max_per_tick`.
    pub max_per_tick: Option<String>,
    /// `sender_max_in_flight`.
    pub max_in_flight: Option<String>,
    /// `sender_request_slot_ms`.
    pub request_slot_ms: Option<String>,
    /// `sender_backoff_base_ms`.
    pub backoff_base_ms: Option<String>,
    /// `sender_backoff_cap_ms`.
    pub backoff_cap_ms: Option<String>,
    /// `sender_max_attempts`.
    pub max_attempts: Option<String>,
    /// `sender_lease_ms`.
    pub lease_ms: Option<String>,
    /// `sender_tick_budget_ms`.
    pub tick_budget_ms: Option<String>,
    /// `sender_max_segments`.
    pub max_segments: Option<String>,
}

impl SenderSettings {
    /// The Spin variable names, in field order (for the component and its manifest entry).
    pub const VARIABLES: [&'static str; 10] = [
        "public_base_url",
        "sender_max_per_tick",
        "sender_max_in_flight",
        "sender_request_slot_ms",
        "sender_backoff_base_ms",
        "sender_backoff_cap_ms",
        "sender_max_attempts",
        "sender_lease_ms",
        "sender_tick_budget_ms",
        "sender_max_segments",
    ];

    /// Fills the settings from a lookup by variable name.
    pub fn from_lookup<E>(
        mut get: impl FnMut(&'static str) -> Result<Option<String>, E>,
    ) -> Result<Self, E> {
        Ok(Self {
            public_base_url: get("public_base_url")?,
            max_per_tick: get("sender_max_per_tick")?,
            max_in_flight: get("sender_max_in_flight")?,
            request_slot_ms: get("sender_request_slot_ms")?,
            backoff_base_ms: get("sender_backoff_base_ms")?,
            backoff_cap_ms: get("sender_backoff_cap_ms")?,
            max_attempts: get("sender_max_attempts")?,
            lease_ms: get("sender_lease_ms")?,
            tick_budget_ms: get("sender_tick_budget_ms")?,
            max_segments: get("sender_max_segments")?,
        })
    }
}

/// A setting that cannot work; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Not a whole number in the accepted range.
    #[error("{field}: must be a whole number from {min} to {max}")]
    OutOfRange {
        /// The variable.
        field: &'static str,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// Two settings contradict each other.
    #[error("{field}: {reason}")]
    Inconsistent {
        /// The variable.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `public_base_url` is not a usable callback base.
    #[error("public_base_url: {0}")]
    CallbackUrl(String),
}

fn number(
    value: &Option<String>,
    field: &'static str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, SettingError> {
    let Some(raw) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or(SettingError::OutOfRange { field, min, max })
}

impl SenderConfig {
    /// Validates raw settings over the defaults.
    pub fn from_settings(s: &SenderSettings) -> Result<Self, SettingError> {
        let d = Self::default();
        let base = number(
            &s.backoff_base_ms,
            "sender_backoff_base_ms",
            1,
            600_000,
            d.rate_backoff.base_ms(),
        )?;
        let cap = number(
            &s.backoff_cap_ms,
            "sender_backoff_cap_ms",
            1,
            3_600_000,
            d.rate_backoff.cap_ms(),
        )?;
        let rate_backoff = Backoff::new(base, cap).map_err(|_| SettingError::Inconsistent {
            field: "sender_backoff_cap_ms",
            reason: "must not be below sender_backoff_base_ms",
        })?;
        let lease_ms = number(&s.lease_ms, "sender_lease_ms", 1_000, 3_600_000, d.lease_ms)?;
        let tick_budget_ms = number(
            &s.tick_budget_ms,
            "sender_tick_budget_ms",
            0,
            3_600_000,
            d.tick_budget_ms.min(lease_ms * 7 / 10),
        )?;
        if tick_budget_ms >= lease_ms {
            return Err(SettingError::Inconsistent {
                field: "sender_tick_budget_ms",
                reason: "must be below sender_lease_ms, so a tick ends inside its lease window",
            });
        }
        let max_segments = number(&s.max_segments, "sender_max_segments", 1, 10, 2)?;
        let status_callback = match s
            .public_base_url
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(base) => Some(
                CallbackUrl::parse(
                    &format!(
                        "{}{}",
                        base.trim_end_matches('/'),
                        connector::webhook::STATUS_PATH
                    ),
                    "public_base_url",
                )
                .map_err(|e| SettingError::CallbackUrl(e.reason.to_string()))?,
            ),
        };
        Ok(Self {
            max_per_tick: usize::try_from(number(
                &s.max_per_tick,
                "sender_max_per_tick",
                1,
                500,
                d.max_per_tick as u64,
            )?)
            .unwrap_or(d.max_per_tick),
            max_in_flight: u32::try_from(number(
                &s.max_in_flight,
                "sender_max_in_flight",
                1,
                100,
                u64::from(d.max_in_flight),
            )?)
            .unwrap_or(d.max_in_flight),
            request_slot_ms: number(
                &s.request_slot_ms,
                "sender_request_slot_ms",
                0,
                60_000,
                d.request_slot_ms,
            )?,
            rate_backoff,
            max_attempts: u32::try_from(number(
                &s.max_attempts,
                "sender_max_attempts",
                1,
                50,
                u64::from(d.max_attempts),
            )?)
            .unwrap_or(d.max_attempts),
            lease_ms,
            tick_budget_ms,
            sms: SmsLimits {
                max_segments: NonZeroU32::new(u32::try_from(max_segments).unwrap_or(2))
                    .unwrap_or(d.sms.max_segments),
            },
            status_callback,
            ..d
        })
    }
}

/// [`TwilioConfig`] from raw settings, like [`TwilioConfig::from_settings`] but with numbers
/// checked by shape ([`E164::from_canonical`]) instead of libphonenumber: a Spin component is a
/// fresh instance per tick, and loading libphonenumber's metadata costs about 0.4 s each time
/// (`cargo bench -p twilio`). So `twilio_from_number` and `twilio_voice_from_number` must be
/// given in E.164 (`+15005550006`); anything else is refused naming the variable.
pub fn twilio_config(s: &TwilioSettings) -> Result<TwilioConfig, twilio::ConfigError> {
    use twilio::ConfigError;
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if s.api_key_secret.is_empty() {
        return Err(ConfigError::Missing {
            field: "twilio_api_key_secret",
        });
    }
    let number = |v: &str, field: &str| E164::from_canonical(v, field);
    let sms_sender = match (opt(&s.messaging_service_sid), opt(&s.from_number)) {
        (Some(mg), _) => SmsSender::MessagingService(MessagingServiceSid::parse(
            &mg,
            "twilio_messaging_service_sid",
        )?),
        (None, Some(from)) => SmsSender::From(number(&from, "twilio_from_number")?),
        (None, None) => {
            return Err(ConfigError::Missing {
                field: "twilio_messaging_service_sid or twilio_from_number",
            });
        }
    };
    let voice_from = match (opt(&s.voice_from_number), opt(&s.from_number), &sms_sender) {
        (Some(v), _, _) => Some(number(&v, "twilio_voice_from_number")?),
        (None, Some(from), SmsSender::MessagingService(_)) => {
            Some(number(&from, "twilio_from_number")?)
        }
        _ => None,
    };
    Ok(TwilioConfig {
        account_sid: AccountSid::parse(s.account_sid.trim(), "twilio_account_sid")?,
        api_key_sid: ApiKeySid::parse(s.api_key_sid.trim(), "twilio_api_key_sid")?,
        api_key_secret: s.api_key_secret.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = SenderConfig::from_settings(&SenderSettings::default()).unwrap();
        assert_eq!(c, SenderConfig::default());
        assert_eq!(c.status_callback, None);
        let s = SenderSettings {
            public_base_url: Some("https://hooks.example.com/".into()),
            max_per_tick: Some(" 50 ".into()),
            max_in_flight: Some("2".into()),
            request_slot_ms: Some("0".into()),
            backoff_base_ms: Some("100".into()),
            backoff_cap_ms: Some("2000".into()),
            max_attempts: Some("3".into()),
            lease_ms: Some("30000".into()),
            tick_budget_ms: Some("".into()),
            max_segments: Some("1".into()),
        };
        let c = SenderConfig::from_settings(&s).unwrap();
        assert_eq!(
            c.status_callback
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("https://hooks.example.com/twilio/status")
        );
        assert_eq!(
            (
                c.max_per_tick,
                c.max_in_flight,
                c.request_slot_ms,
                c.max_attempts
            ),
            (50, 2, 0, 3)
        );
        assert_eq!(c.rate_backoff, Backoff::new(100, 2000).unwrap());
        assert_eq!((c.lease_ms, c.tick_budget_ms), (30_000, 7_000));
        assert_eq!(c.sms.max_segments.get(), 1);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let bad = |s: SenderSettings| SenderConfig::from_settings(&s).unwrap_err().to_string();
        assert_eq!(
            bad(SenderSettings {
                max_per_tick: Some("0".into()),
                ..SenderSettings::default()
            }),
            "sender_max_per_tick: must be a whole number from 1 to 500"
        );
        assert_eq!(
            bad(SenderSettings {
                max_in_flight: Some("two".into()),
                ..SenderSettings::default()
            }),
            "sender_max_in_flight: must be a whole number from 1 to 100"
        );
        assert_eq!(
            bad(SenderSettings {
                backoff_base_ms: Some("5000".into()),
                backoff_cap_ms: Some("100".into()),
                ..SenderSettings::default()
            }),
            "sender_backoff_cap_ms: must not be below sender_backoff_base_ms"
        );
        assert_eq!(
            bad(SenderSettings {
                lease_ms: Some("5000".into()),
                tick_budget_ms: Some("5000".into()),
                ..SenderSettings::default()
            }),
            "sender_tick_budget_ms: must be below sender_lease_ms, so a tick ends inside its \
             lease window"
        );
        assert_eq!(
            bad(SenderSettings {
                public_base_url: Some("http://hooks.example.com".into()),
                ..SenderSettings::default()
            }),
            "public_base_url: must start with https:// (http:// only for a local development host)"
        );
    }

    #[test]
    fn a_short_lease_shortens_the_default_budget() {
        let c = SenderConfig::from_settings(&SenderSettings {
            lease_ms: Some("5000".into()),
            ..SenderSettings::default()
        })
        .unwrap();
        assert_eq!(c.tick_budget_ms, 3_500);
    }

    fn twilio_settings() -> TwilioSettings {
        TwilioSettings {
            account_sid: "AC00000000000000000000000000000000".into(),
            api_key_sid: "SK00000000000000000000000000000000".into(),
            api_key_secret: connector::Secret::new("s3cret"),
            api_base_url: Some("http://127.0.0.1:3000/sandbox/twilio/api".into()),
            verify_base_url: None,
            messaging_service_sid: None,
            from_number: Some("+15005550006".into()),
            voice_from_number: None,
            verify_service_sid: Some(String::new()),
        }
    }

    #[test]
    fn twilio_config_checks_numbers_by_shape_and_names_the_variable() {
        let c = twilio_config(&twilio_settings()).unwrap();
        assert_eq!(
            c.sms_sender,
            SmsSender::From(E164::from_canonical("+15005550006", "x").unwrap())
        );
        assert_eq!(c.call_from().map(E164::as_str), Some("+15005550006"));
        assert_eq!(
            c.api_base_url.as_str(),
            "http://127.0.0.1:3000/sandbox/twilio/api"
        );
        assert_eq!(c.verify_service_sid, None);
        let err = |s: TwilioSettings| twilio_config(&s).unwrap_err().to_string();
        assert_eq!(
            err(TwilioSettings {
                from_number: Some("0151 2345678".into()),
                ..twilio_settings()
            }),
            "twilio_from_number: phone number must start with + and the country code"
        );
        assert_eq!(
            err(TwilioSettings {
                api_key_secret: connector::Secret::new(""),
                ..twilio_settings()
            }),
            "twilio_api_key_secret: required setting is missing"
        );
        assert_eq!(
            err(TwilioSettings {
                account_sid: "AC1".into(),
                ..twilio_settings()
            }),
            "twilio_account_sid: expected AC followed by 32 hexadecimal digits"
        );
        let debug = format!("{:?}", twilio_config(&twilio_settings()).unwrap());
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
