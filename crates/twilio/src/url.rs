//! Validated URLs: the Twilio hosts the client talks to, and the callback URLs it hands to
//! Twilio.
//!
//! Both must be `https://` (twilio.md §7.6: plain HTTP is for development only). Plain `http://`
//! is accepted for local development hosts only (`localhost`, loopback addresses, `*.localhost`,
//! `*.test`, `*.spin.internal`), so the offline sandbox and tests work while API credentials can
//! never be sent in clear text to a real host.

use serde::{Serialize, Serializer};
use std::fmt;

/// Why a URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlReason {
    /// Nothing but whitespace.
    Empty,
    /// Not `https://` (or `http://` to a local development host).
    Scheme,
    /// No host after the scheme.
    NoHost,
    /// User name or password in the URL (`user:pass@`).
    UserInfo,
    /// A query string or fragment where the URL must be a plain base.
    QueryOrFragment,
    /// Whitespace or a control character.
    InvalidCharacter,
    /// An underscore in the host name, which Twilio rejects for callbacks (twilio.md §3.1).
    UnderscoreInHost,
}

impl fmt::Display for UrlReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "is empty",
            Self::Scheme => "must start with https:// (http:// only for a local development host)",
            Self::NoHost => "has no host",
            Self::UserInfo => "must not contain a user name or password",
            Self::QueryOrFragment => "must not contain a query string or fragment",
            Self::InvalidCharacter => "contains whitespace or a control character",
            Self::UnderscoreInHost => "has an underscore in the host name, which Twilio rejects",
        })
    }
}

/// A rejected URL: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: URL {reason}")]
pub struct UrlError {
    /// The field the value came from.
    pub field: String,
    /// Why it was rejected.
    pub reason: UrlReason,
}

fn is_local_dev_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "127.0.0.1"
        || host == "[::1]"
        || host.ends_with(".localhost")
        || host.ends_with(".test")
        || host.ends_with(".spin.internal")
}

/// Returns the URL without a trailing `/` and its host (without port).
fn validate(input: &str, field: &str, allow_query: bool) -> Result<(String, String), UrlError> {
    let err = |reason| UrlError {
        field: field.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err(UrlReason::Empty));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(UrlReason::InvalidCharacter));
    }
    let lower = s.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("https://") {
        (true, &s[8..])
    } else if lower.starts_with("http://") {
        (false, &s[7..])
    } else {
        return Err(err(UrlReason::Scheme));
    };
    if !allow_query && (s.contains('?') || s.contains('#')) {
        return Err(err(UrlReason::QueryOrFragment));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(err(UrlReason::UserInfo));
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() || host == "[" {
        return Err(err(UrlReason::NoHost));
    }
    if !https && !is_local_dev_host(host) {
        return Err(err(UrlReason::Scheme));
    }
    Ok((s.trim_end_matches('/').to_owned(), host.to_owned()))
}

/// The base of a Twilio API host: `https://api.twilio.com` or `https://verify.twilio.com` in
/// production (twilio.md §1.3), something else for a regional edge, the sandbox or tests.
/// May carry a path prefix (a sandbox mounted under `/twilio`); never a query or credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// `https://api.twilio.com` (Messages, Calls; twilio.md §1.3).
    pub fn twilio_api() -> Self {
        Self("https://api.twilio.com".to_owned())
    }

    /// `https://verify.twilio.com` (Verify v2; twilio.md §1.3).
    pub fn twilio_verify() -> Self {
        Self("https://verify.twilio.com".to_owned())
    }

    /// Validates a base URL; a trailing `/` is dropped.
    pub fn parse(input: &str, field: &str) -> Result<Self, UrlError> {
        validate(input, field, false).map(|(url, _)| Self(url))
    }

    /// The URL without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({})", self.0)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A URL Twilio calls back (`StatusCallback`, twilio.md §3.1, §4.1): `https://` (or `http://`
/// to a local development host), no credentials, no underscore in the host. A query is allowed;
/// a fragment is allowed too because Twilio reads connection overrides from it (twilio.md §7.5).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallbackUrl(String);

impl CallbackUrl {
    /// Validates a callback URL. Unlike [`BaseUrl`], a trailing `/` is kept: `/sms` and `/sms/`
    /// sign differently (twilio.md §8.4).
    pub fn parse(input: &str, field: &str) -> Result<Self, UrlError> {
        let (_, host) = validate(input, field, true)?;
        if host.contains('_') {
            return Err(UrlError {
                field: field.to_owned(),
                reason: UrlReason::UnderscoreInHost,
            });
        }
        Ok(Self(input.trim().to_owned()))
    }

    /// The URL as sent to Twilio.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallbackUrl({})", self.0)
    }
}

impl fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CallbackUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_https_and_local_http() {
        for (input, want) in [
            ("https://api.twilio.com", "https://api.twilio.com"),
            ("https://api.twilio.com/", "https://api.twilio.com"),
            (
                "https://api.dublin.ie1.twilio.com",
                "https://api.dublin.ie1.twilio.com",
            ),
            (
                "http://127.0.0.1:3000/sandbox/twilio/",
                "http://127.0.0.1:3000/sandbox/twilio",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            (
                "http://sandbox.spin.internal",
                "http://sandbox.spin.internal",
            ),
            ("http://twilio.test", "http://twilio.test"),
        ] {
            assert_eq!(
                BaseUrl::parse(input, "f").unwrap().as_str(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn base_url_rejections_name_field_and_reason() {
        for (input, reason) in [
            ("", UrlReason::Empty),
            ("api.twilio.com", UrlReason::Scheme),
            ("http://api.twilio.com", UrlReason::Scheme),
            ("http://127.0.0.2", UrlReason::Scheme),
            ("ftp://api.twilio.com", UrlReason::Scheme),
            ("https://", UrlReason::NoHost),
            ("https://user:pw@api.twilio.com", UrlReason::UserInfo),
            ("https://api.twilio.com?x=1", UrlReason::QueryOrFragment),
            ("https://api.twilio.com/ x", UrlReason::InvalidCharacter),
        ] {
            let err = BaseUrl::parse(input, "twilio_api_base_url").unwrap_err();
            assert_eq!(
                err,
                UrlError {
                    field: "twilio_api_base_url".into(),
                    reason
                },
                "{input}"
            );
        }
        assert_eq!(
            BaseUrl::parse("http://api.twilio.com", "twilio_api_base_url")
                .unwrap_err()
                .to_string(),
            "twilio_api_base_url: URL must start with https:// (http:// only for a local development host)"
        );
    }

    #[test]
    fn callback_url_rules() {
        let ok = CallbackUrl::parse("https://connector.example.com/twilio/status/", "cb").unwrap();
        assert_eq!(ok.as_str(), "https://connector.example.com/twilio/status/");
        assert!(CallbackUrl::parse("https://h.example.com/cb?x=1#rc=3&rp=5xx,rt", "cb").is_ok());
        assert_eq!(
            CallbackUrl::parse("https://my_host.example.com/cb", "cb")
                .unwrap_err()
                .reason,
            UrlReason::UnderscoreInHost
        );
        // An underscore in the path is fine.
        assert!(CallbackUrl::parse("https://host.example.com/status_cb", "cb").is_ok());
    }
}
