//! Twilio SIDs: two uppercase letters naming the resource type, then 32 hex digits
//! (<https://www.twilio.com/docs/glossary/what-is-a-sid>; twilio.md §1.1, §3.2, §4.2, §6.1).
//!
//! Each resource has its own type so an Account SID can never be passed where a Verify Service
//! SID belongs. Validated SIDs contain only `[A-Za-z0-9]`, so they go into URL paths unescaped.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A malformed SID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: expected {expected} followed by 32 hexadecimal digits")]
pub struct SidError {
    /// The field the value came from, e.g. `twilio.account_sid`.
    pub field: String,
    /// The allowed prefixes, e.g. `AC` or `SM or MM`.
    pub expected: &'static str,
}

fn check(
    value: &str,
    prefixes: &[&str],
    expected: &'static str,
    field: &str,
) -> Result<(), SidError> {
    let ok = value.len() == 34
        && prefixes.iter().any(|p| value.starts_with(p))
        && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit);
    if ok {
        Ok(())
    } else {
        Err(SidError {
            field: field.to_owned(),
            expected,
        })
    }
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, [$($prefix:literal),+], $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (surrounding whitespace is not accepted); `field` names its
            /// source in the error.
            pub fn parse(value: &str, field: &str) -> Result<Self, SidError> {
                check(value, &[$($prefix),+], $expected, field)?;
                Ok(Self(value.to_owned()))
            }

            /// The SID as sent to Twilio.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw, stringify!($name)).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid_type!(
    /// An Account SID (`AC…`), part of every 2010-04-01 path (twilio.md §1.1).
    AccountSid, ["AC"], "AC"
);
sid_type!(
    /// An API Key SID (`SK…`), the HTTP Basic user name (twilio.md §1.1,
    /// <https://www.twilio.com/docs/iam/api-keys>).
    ApiKeySid, ["SK"], "SK"
);
sid_type!(
    /// A Messaging Service SID (`MG…`), the sender pool for `MessagingServiceSid` (twilio.md §3.1).
    MessagingServiceSid, ["MG"], "MG"
);
sid_type!(
    /// A Verify Service SID (`VA…`) (twilio.md §6.1).
    VerifyServiceSid, ["VA"], "VA"
);
sid_type!(
    /// A Message SID: `SM…` for SMS, `MM…` for MMS (twilio.md §3.2).
    MessageSid, ["SM", "MM"], "SM or MM"
);
sid_type!(
    /// A Call SID (`CA…`) (twilio.md §4.2).
    CallSid, ["CA"], "CA"
);
sid_type!(
    /// A Verification SID (`VE…`) (twilio.md §6.1).
    VerificationSid, ["VE"], "VE"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_prefix_and_32_hex_in_either_case() {
        let sid = AccountSid::parse("AC0123456789abcdefABCDEF0123456789", "a").unwrap();
        assert_eq!(sid.as_str(), "AC0123456789abcdefABCDEF0123456789");
        assert_eq!(
            format!("{sid:?}"),
            "AccountSid(AC0123456789abcdefABCDEF0123456789)"
        );
        assert!(MessageSid::parse("MM0123456789abcdef0123456789abcdef", "m").is_ok());
        assert!(MessageSid::parse("SM0123456789abcdef0123456789abcdef", "m").is_ok());
    }

    #[test]
    fn rejects_wrong_prefix_length_and_characters_naming_the_field() {
        let cases = [
            "SK0123456789abcdef0123456789abcdef",  // wrong type
            "ac0123456789abcdef0123456789abcdef",  // lowercase prefix
            "AC0123456789abcdef0123456789abcde",   // 31 hex
            "AC0123456789abcdef0123456789abcdef0", // 33 hex
            "AC0123456789abcdef0123456789abcdeg",  // not hex
            " AC0123456789abcdef0123456789abcdef",
            "",
        ];
        for c in cases {
            let err = AccountSid::parse(c, "twilio.account_sid").unwrap_err();
            assert_eq!(
                err.to_string(),
                "twilio.account_sid: expected AC followed by 32 hexadecimal digits",
                "{c:?}"
            );
        }
        let err = MessageSid::parse("CA0123456789abcdef0123456789abcdef", "sid").unwrap_err();
        assert_eq!(
            err.to_string(),
            "sid: expected SM or MM followed by 32 hexadecimal digits"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let json = "\"CA0123456789abcdef0123456789abcdef\"";
        let sid: CallSid = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&sid).unwrap(), json);
        assert!(serde_json::from_str::<CallSid>("\"CA123\"").is_err());
    }
}
