//! Typed Twilio resources: Message, Call, Verification, and their status enums.
//!
//! Field names and status values are those of Twilio's OpenAPI specs (twilio.md §3.2, §3.3,
//! §4.2, §6.2–6.4). Unknown members are ignored and unknown status values are kept as
//! `Unknown(..)`, because Twilio adds both without notice.

use crate::sid::{CallSid, MessageSid, VerificationSid};
use crate::time::parse_rfc2822;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this client does not know yet, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Reads a wire value; never fails (unknown values become `Unknown`).
            pub fn parse(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(|s| Self::parse(&s))
            }
        }
    };
}

status_enum!(
    /// Status of a Message (twilio.md §3.3; <https://www.twilio.com/docs/messaging/api/message-resource>).
    MessageStatus {
        /// A Messaging Service has the request; no sender chosen yet.
        Accepted = "accepted",
        /// Waiting for `SendAt`.
        Scheduled = "scheduled",
        /// In Twilio's queue.
        Queued = "queued",
        /// Being handed to the carrier.
        Sending = "sending",
        /// Accepted by the carrier (may stay final when no receipt comes).
        Sent = "sent",
        /// Delivered to the handset.
        Delivered = "delivered",
        /// The carrier reported failure (see `error_code`).
        Undelivered = "undelivered",
        /// Never reached a carrier.
        Failed = "failed",
        /// Inbound, arriving.
        Receiving = "receiving",
        /// Inbound, arrived.
        Received = "received",
        /// Read receipt (WhatsApp/RCS).
        Read = "read",
        /// A scheduled message was canceled.
        Canceled = "canceled",
        /// Deprecated.
        PartiallyDelivered = "partially_delivered",
    }
);

impl MessageStatus {
    /// Progress rank for processing out-of-order callbacks (twilio.md §7.4): never move a
    /// message to a lower rank. 1 accepted/scheduled/queued, 2 sending, 3 sent, 4 final
    /// (delivered, undelivered, failed, read, canceled, received, partially delivered),
    /// 0 receiving and unknown values.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Accepted | Self::Scheduled | Self::Queued => 1,
            Self::Sending => 2,
            Self::Sent => 3,
            Self::Delivered
            | Self::Undelivered
            | Self::Failed
            | Self::Read
            | Self::Canceled
            | Self::Received
            | Self::PartiallyDelivered => 4,
            Self::Receiving | Self::Unknown(_) => 0,
        }
    }

    /// True for statuses after which no further delivery progress is expected.
    pub fn is_final(&self) -> bool {
        self.rank() == 4
    }
}

status_enum!(
    /// Status of a Call; `initiated` appears only in callbacks (twilio.md §4.2, §7.3;
    /// <https://www.twilio.com/docs/voice/api/call-resource>).
    CallStatus {
        /// Waiting to be dialled.
        Queued = "queued",
        /// Dialling started (callbacks only).
        Initiated = "initiated",
        /// Ringing.
        Ringing = "ringing",
        /// Answered, in progress.
        InProgress = "in-progress",
        /// Ended normally after being answered.
        Completed = "completed",
        /// Busy signal.
        Busy = "busy",
        /// Could not be placed.
        Failed = "failed",
        /// Not answered.
        NoAnswer = "no-answer",
        /// Canceled while queued or ringing.
        Canceled = "canceled",
    }
);

impl CallStatus {
    /// True for statuses in which the call is over.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

status_enum!(
    /// Status of a Verify verification (twilio.md §6.4;
    /// <https://www.twilio.com/docs/verify/api/verification>).
    VerificationStatus {
        /// Code sent, not yet approved (also the answer to a wrong code).
        Pending = "pending",
        /// The right code was checked.
        Approved = "approved",
        /// Canceled.
        Canceled = "canceled",
        /// Check attempts used up.
        MaxAttemptsReached = "max_attempts_reached",
        /// Deleted.
        Deleted = "deleted",
        /// Failed.
        Failed = "failed",
        /// The code expired.
        Expired = "expired",
    }
);

/// Twilio sends `num_segments` and friends as strings (twilio.md §3.2); accept numbers too.
fn de_opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Num(u32),
        Str(String),
    }
    Ok(match Option::<Count>::deserialize(d)? {
        None => None,
        Some(Count::Num(n)) => Some(n),
        Some(Count::Str(s)) => s.trim().parse().ok(),
    })
}

/// A Message resource (twilio.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// `SM…`/`MM…`.
    pub sid: MessageSid,
    /// Recipient as Twilio reports it (E.164, or a channel address).
    pub to: String,
    /// Sender; may be null right after a create through a Messaging Service.
    #[serde(default)]
    pub from: Option<String>,
    /// `MG…` when sent through a Messaging Service.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The text (empty after redaction).
    #[serde(default)]
    pub body: Option<String>,
    /// Current status.
    pub status: MessageStatus,
    /// `outbound-api`, `inbound`, …
    #[serde(default)]
    pub direction: Option<String>,
    /// Error code on `failed`/`undelivered` (do not build hard logic on it, twilio.md §3.2).
    #[serde(default)]
    pub error_code: Option<u32>,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Billed segments ("0" at create time with a Messaging Service).
    #[serde(default, deserialize_with = "de_opt_count")]
    pub num_segments: Option<u32>,
    /// RFC 2822 creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// RFC 2822 send time; absent while queued.
    #[serde(default)]
    pub date_sent: Option<String>,
    /// RFC 2822 last update.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Price (string, negative for charges), when known.
    #[serde(default)]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default)]
    pub price_unit: Option<String>,
}

impl Message {
    /// `date_created` as seconds since the Unix epoch, when present and well-formed.
    pub fn date_created_unix(&self) -> Option<i64> {
        self.date_created.as_deref().and_then(parse_rfc2822)
    }
}

/// A Call resource (twilio.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Call {
    /// `CA…`.
    pub sid: CallSid,
    /// Callee.
    pub to: String,
    /// Caller ID.
    #[serde(default)]
    pub from: Option<String>,
    /// Current status.
    pub status: CallStatus,
    /// `outbound-api`, …
    #[serde(default)]
    pub direction: Option<String>,
    /// `human`, `machine_…` with answering machine detection.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Seconds, as a string; empty unless completed.
    #[serde(default)]
    pub duration: Option<String>,
    /// RFC 2822 start.
    #[serde(default)]
    pub start_time: Option<String>,
    /// RFC 2822 end.
    #[serde(default)]
    pub end_time: Option<String>,
    /// RFC 2822 creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// RFC 2822 last update.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Price, when known.
    #[serde(default)]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default)]
    pub price_unit: Option<String>,
}

impl Call {
    /// `date_created` as seconds since the Unix epoch, when present and well-formed.
    pub fn date_created_unix(&self) -> Option<i64> {
        self.date_created.as_deref().and_then(parse_rfc2822)
    }
}

/// A Verification or VerificationCheck resource (twilio.md §6.2, §6.3); both carry the
/// verification's `VE…` SID and status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verification {
    /// `VE…`.
    pub sid: VerificationSid,
    /// `VA…`.
    #[serde(default)]
    pub service_sid: Option<String>,
    /// The number verified.
    pub to: String,
    /// `sms`, `call`, …
    #[serde(default)]
    pub channel: Option<String>,
    /// Status.
    pub status: VerificationStatus,
    /// Legacy flag: true once approved.
    #[serde(default)]
    pub valid: Option<bool>,
    /// ISO 8601 creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// ISO 8601 last update.
    #[serde(default)]
    pub date_updated: Option<String>,
}

/// The Account resource (`GET /2010-04-01/Accounts/{Sid}.json`,
/// <https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource>): read by the
/// connection check because it changes nothing and needs only valid credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// `AC…`.
    pub sid: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// The Verify Service resource (`GET /v2/Services/{Sid}`,
/// <https://www.twilio.com/docs/verify/api/service#fetch-a-service>).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VerifyService {
    /// `VA…`.
    pub sid: String,
    /// The name shown in the code message.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Digits of a code (4–10).
    #[serde(default)]
    pub code_length: Option<u32>,
}

/// One page of a 2010-04-01 list (twilio.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Link to the next page, relative to the API host; `None` on the last page.
    pub next_page_uri: Option<String>,
    /// 0-based page number.
    pub page: u32,
    /// Requested page size.
    pub page_size: u32,
}

#[derive(Deserialize)]
pub(crate) struct MessageList {
    pub(crate) messages: Vec<Message>,
    #[serde(default)]
    pub(crate) next_page_uri: Option<String>,
    #[serde(default)]
    pub(crate) page: u32,
    #[serde(default)]
    pub(crate) page_size: u32,
}

#[derive(Deserialize)]
pub(crate) struct CallList {
    pub(crate) calls: Vec<Call>,
    #[serde(default)]
    pub(crate) next_page_uri: Option<String>,
    #[serde(default)]
    pub(crate) page: u32,
    #[serde(default)]
    pub(crate) page_size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_from_documented_shape() {
        // Field set of the Message resource example (twilio.md §3.2), with strings for counts.
        let json = r#"{
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "api_version": "2010-04-01",
            "body": "Stapel 42 gebucht.",
            "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
            "date_sent": null,
            "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": null,
            "messaging_service_sid": "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "num_media": "0",
            "num_segments": "0",
            "price": null,
            "price_unit": null,
            "sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "status": "accepted",
            "subresource_uris": {"media": "/2010-04-01/Accounts/AC/Messages/SM/Media.json"},
            "to": "+4915123456789",
            "uri": "/2010-04-01/Accounts/AC/Messages/SM.json"
        }"#;
        let m: Message = serde_json::from_str(json).unwrap();
        assert_eq!(m.sid.as_str(), "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(m.status, MessageStatus::Accepted);
        assert_eq!(m.num_segments, Some(0));
        assert_eq!(m.from, None);
        assert_eq!(m.date_created_unix(), Some(1_438_287_151));
        assert_eq!(m.error_code, None);
    }

    #[test]
    fn unknown_status_is_kept() {
        let m: Message = serde_json::from_str(
            r#"{"sid":"SM00000000000000000000000000000000","to":"+1","status":"teleported","error_code":30003,"num_segments":2}"#,
        )
        .unwrap();
        assert_eq!(m.status, MessageStatus::Unknown("teleported".into()));
        assert_eq!(m.status.as_str(), "teleported");
        assert_eq!((m.error_code, m.num_segments), (Some(30003), Some(2)));
        assert_eq!(m.status.rank(), 0);
    }

    #[test]
    fn status_ranks_and_round_trip() {
        let all = [
            "accepted",
            "scheduled",
            "queued",
            "sending",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "receiving",
            "received",
            "read",
            "canceled",
            "partially_delivered",
        ];
        for s in all {
            let st = MessageStatus::parse(s);
            assert!(!matches!(st, MessageStatus::Unknown(_)), "{s}");
            assert_eq!(st.as_str(), s);
        }
        assert!(MessageStatus::Delivered.rank() > MessageStatus::Sent.rank());
        assert!(MessageStatus::Sent.rank() > MessageStatus::Sending.rank());
        assert!(MessageStatus::Sending.rank() > MessageStatus::Queued.rank());
        assert_eq!(MessageStatus::Accepted.rank(), MessageStatus::Queued.rank());
        assert!(MessageStatus::Undelivered.is_final() && !MessageStatus::Sent.is_final());
        for s in [
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
            "busy",
            "failed",
            "no-answer",
            "canceled",
        ] {
            assert_eq!(CallStatus::parse(s).as_str(), s);
            assert!(
                !matches!(CallStatus::parse(s), CallStatus::Unknown(_)),
                "{s}"
            );
        }
        assert!(CallStatus::NoAnswer.is_final() && !CallStatus::Ringing.is_final());
        for s in [
            "pending",
            "approved",
            "canceled",
            "max_attempts_reached",
            "deleted",
            "failed",
            "expired",
        ] {
            assert!(
                !matches!(VerificationStatus::parse(s), VerificationStatus::Unknown(_)),
                "{s}"
            );
        }
    }
}
