//! Per-client configuration: who hears about a DATEV client's jobs, who approves its risky
//! batches, and the risk and release policy (`ARCHITECTURE.md` flows 1, 2 and 4).
//!
//! Stored as versioned JSON under `client:<consultant>-<client>` ([`key`]). Written by the
//! operator API only (one writer per request, last write wins: it is configuration, not
//! coordination); read by `api` (risk policy), `datev-poller` (contacts) and `twilio-sender`.
//!
//! Numbers are stored as E.164 ([`PhoneNumber`]). Input from people is normalised with
//! `twilio::E164` at the API boundary (`phonenumber`, default region DE); this crate, which the
//! Twilio client itself depends on, only re-checks the canonical syntax.

use crate::keys;
use crate::ports::{KeyValue, StoreError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Schema version of [`ClientConfig`].
pub const CLIENT_CONFIG_VERSION: u32 = 1;

/// Longest display name kept (it appears in SMS texts).
pub const MAX_NAME_CHARS: usize = 60;

/// The store key of a client's configuration (`client:<consultant>-<client>`).
pub fn key(client: &ClientId) -> String {
    format!("client:{}", keys::segment(client.as_str()))
}

/// Why a value was refused. Names the field and the reason; never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    /// The field (JSON name, with a path for nested fields: `finance_contacts[1].phone`).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl InvalidField {
    /// A new error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A DATEV client id `<Beraternummer>-<Mandantennummer>` (datev.md §3; consultant 1001–9999999,
/// client 1–99999, header fields 11 and 12 of datev.md §1.4), without leading zeros.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Validates `<consultant>-<client>`.
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        let bad = || {
            InvalidField::new(
                "client",
                "must be <consultant number>-<client number>, e.g. 29098-55003",
            )
        };
        let (c, m) = s.split_once('-').ok_or_else(bad)?;
        let number = |part: &str, field: &str, min: u64, max: u64| -> Result<u64, InvalidField> {
            if part.is_empty()
                || part.len() > 7
                || !part.bytes().all(|b| b.is_ascii_digit())
                || part.starts_with('0')
            {
                return Err(bad());
            }
            let n: u64 = part.parse().map_err(|_| bad())?;
            if !(min..=max).contains(&n) {
                return Err(InvalidField::new(
                    "client",
                    format!("{field} must be between {min} and {max}"),
                ));
            }
            Ok(n)
        };
        number(c, "the consultant number", 1001, 9_999_999)?;
        number(m, "the client number", 1, 99_999)?;
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Beraternummer.
    pub fn consultant(&self) -> u32 {
        self.0
            .split('-')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Mandantennummer.
    pub fn client(&self) -> u32 {
        self.0
            .split('-')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ClientId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A phone number in canonical E.164 form (ITU-T E.164: `+`, a country code not starting with 0,
/// at most 15 digits in all), as `twilio::E164` produces it. Numbers are not secrets; audit
/// entries use [`PhoneNumber::masked`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Checks the canonical syntax (`field` names the source in the error).
    pub fn parse(s: &str, field: &str) -> Result<Self, InvalidField> {
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidField::new(
                field,
                "must be an E.164 number: + and 8 to 15 digits, e.g. +4915112345678",
            ))
        }
    }

    /// The number, e.g. `+4915112345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Country code and operator prefix and the last three digits: `+49151*****678`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let n = digits.len();
        let tail = 3.min(n);
        let head = 5.min(n.saturating_sub(tail + 4));
        format!(
            "+{}{}{}",
            &digits[..head],
            "*".repeat(n - head - tail),
            &digits[n - tail..]
        )
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        PhoneNumber::parse(&raw, "phone").map_err(serde::de::Error::custom)
    }
}

/// Language of texts and calls to a contact (Twilio `<Say language>`, twilio.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// German (`de-DE`).
    #[default]
    De,
    /// English (`en-US`).
    En,
}

/// One person who gets alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Display name (not sent anywhere; for operators).
    pub name: String,
    /// Number, E.164.
    pub phone: PhoneNumber,
    /// Overrides the client's language for this person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

/// When a batch is held for approval instead of going straight to DATEV (flow 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RiskPolicy {
    /// A batch whose bookings add up to at least this many cents is held. `None`: no amount
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_cents: Option<u64>,
    /// Hold every batch of this client, whatever its amount.
    #[serde(default)]
    pub hold_all: bool,
}

/// Which Twilio events may release a held batch besides a correct Verify code (flow 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePolicy {
    /// An SMS reply `YES <batch>` from the registered approver's number.
    #[serde(default)]
    pub sms_reply: bool,
    /// A `delivered` status callback of the approval request.
    #[serde(default)]
    pub delivered_callback: bool,
    /// A held batch expires after this long (ms).
    pub hold_ttl_ms: u64,
}

impl Default for ReleasePolicy {
    /// Verify code only; holds expire after 72 hours.
    fn default() -> Self {
        Self {
            sms_reply: false,
            delivered_callback: false,
            hold_ttl_ms: 72 * 3_600_000,
        }
    }
}

/// The configuration of one DATEV client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// [`CLIENT_CONFIG_VERSION`].
    pub version: u32,
    /// The DATEV client.
    pub client: ClientId,
    /// Display name used in alert texts (e.g. "Musterholz GmbH"); at most [`MAX_NAME_CHARS`].
    pub name: String,
    /// Default language of this client's contacts.
    #[serde(default)]
    pub language: Language,
    /// Everyone who gets an SMS when a job of this client finishes.
    #[serde(default)]
    pub finance_contacts: Vec<Contact>,
    /// Called when a job fails (and alerted when the DATEV connection needs re-consent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<Contact>,
    /// Approves held batches (Verify code, or an SMS reply where the release policy allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<Contact>,
    /// When to hold.
    #[serde(default)]
    pub risk: RiskPolicy,
    /// How to release.
    #[serde(default)]
    pub release: ReleasePolicy,
    /// Last change (Unix ms).
    #[serde(default)]
    pub updated_at_ms: u64,
}

impl ClientConfig {
    /// Checks what serde cannot: name length, at most 20 finance contacts, no number twice.
    pub fn check(&self) -> Result<(), InvalidField> {
        if self.version != CLIENT_CONFIG_VERSION {
            return Err(InvalidField::new(
                "version",
                format!("must be {CLIENT_CONFIG_VERSION}"),
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(InvalidField::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(InvalidField::new(
                "name",
                "must not contain control characters",
            ));
        }
        if self.finance_contacts.len() > 20 {
            return Err(InvalidField::new("finance_contacts", "at most 20 contacts"));
        }
        for (i, c) in self.finance_contacts.iter().enumerate() {
            if self.finance_contacts[..i]
                .iter()
                .any(|o| o.phone == c.phone)
            {
                return Err(InvalidField::new(
                    format!("finance_contacts[{i}].phone"),
                    "is listed twice",
                ));
            }
        }
        Ok(())
    }

    /// The language for `contact`.
    pub fn language_of(&self, contact: &Contact) -> Language {
        contact.language.unwrap_or(self.language)
    }
}

/// Why a configuration could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigStoreError {
    /// The store failed: nothing done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not match the schema.
    #[error("stored client configuration is corrupt: {0}")]
    Corrupt(String),
}

/// Reads a client's configuration.
pub fn load(
    store: &(impl KeyValue + ?Sized),
    client: &ClientId,
) -> Result<Option<ClientConfig>, ConfigStoreError> {
    match store.get(&key(client))? {
        None => Ok(None),
        Some(bytes) => {
            let c: ClientConfig = serde_json::from_slice(&bytes)
                .map_err(|e| ConfigStoreError::Corrupt(e.to_string()))?;
            c.check()
                .map_err(|e| ConfigStoreError::Corrupt(e.to_string()))?;
            Ok(Some(c))
        }
    }
}

/// Writes a client's configuration (one write).
pub fn save(
    store: &(impl KeyValue + ?Sized),
    config: &ClientConfig,
) -> Result<(), ConfigStoreError> {
    let bytes = serde_json::to_vec(config).map_err(|e| ConfigStoreError::Corrupt(e.to_string()))?;
    store.set(&key(&config.client), &bytes)?;
    Ok(())
}

/// Why a batch is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum HoldReason {
    /// The submitter flagged the batch as high risk.
    Flagged,
    /// The bookings add up to at least the client's threshold.
    OverThreshold {
        /// Sum of the booking amounts (cents).
        total_cents: u64,
        /// The threshold (cents).
        threshold_cents: u64,
    },
    /// The client's policy holds every batch.
    HoldAll,
    /// No configuration exists for the client: nobody could be told, so nothing goes to DATEV
    /// without a person's decision.
    Unconfigured,
}

/// The risk policy's verdict on a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskDecision {
    /// True: held for approval; false: approved.
    pub hold: bool,
    /// Every reason that applies (empty when approved).
    pub reasons: Vec<HoldReason>,
}

/// Applies the risk policy: a batch is held when it is flagged, when its total reaches the
/// client's threshold, when the client holds everything, or when the client has no
/// configuration; otherwise it is approved.
pub fn assess(config: Option<&ClientConfig>, total_cents: u64, flagged: bool) -> RiskDecision {
    let mut reasons = Vec::new();
    if flagged {
        reasons.push(HoldReason::Flagged);
    }
    match config {
        None => reasons.push(HoldReason::Unconfigured),
        Some(c) => {
            if c.risk.hold_all {
                reasons.push(HoldReason::HoldAll);
            }
            if let Some(threshold_cents) = c.risk.threshold_cents
                && total_cents >= threshold_cents
            {
                reasons.push(HoldReason::OverThreshold {
                    total_cents,
                    threshold_cents,
                });
            }
        }
    }
    RiskDecision {
        hold: !reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, "phone").unwrap()
    }

    fn config() -> ClientConfig {
        ClientConfig {
            version: 1,
            client: ClientId::parse("29098-55003").unwrap(),
            name: "Musterholz GmbH".into(),
            language: Language::De,
            finance_contacts: vec![Contact {
                name: "Anna".into(),
                phone: phone("+4915112345678"),
                language: None,
            }],
            controller: Some(Contact {
                name: "Carl".into(),
                phone: phone("+4915187654321"),
                language: Some(Language::En),
            }),
            approver: None,
            risk: RiskPolicy {
                threshold_cents: Some(1_000_000),
                hold_all: false,
            },
            release: ReleasePolicy::default(),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn client_ids() {
        let c = ClientId::parse("29098-55003").unwrap();
        assert_eq!((c.consultant(), c.client()), (29098, 55003));
        for bad in [
            "29098",
            "29098-0",
            "1000-1",
            "29098-100000",
            "029098-1",
            "a-1",
            "29098-1-2",
            "-1",
            "10000000-1",
        ] {
            let e = ClientId::parse(bad).unwrap_err();
            assert_eq!(e.field, "client", "{bad}");
        }
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(phone("+4915112345678").masked(), "+49151*****678");
        assert_eq!(phone("+14155550100").masked(), "+1415****100");
        for bad in [
            "4915112345678",
            "+0151123456",
            "+49 151 1234",
            "+1234567",
            "+1234567890123456",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad, "controller.phone")
                    .unwrap_err()
                    .field,
                "controller.phone",
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<PhoneNumber>(r#""0151123""#).is_err());
    }

    #[test]
    fn risk_policy() {
        let c = config();
        assert_eq!(
            assess(Some(&c), 999_999, false),
            RiskDecision {
                hold: false,
                reasons: vec![]
            }
        );
        assert_eq!(
            assess(Some(&c), 1_000_000, true).reasons,
            vec![
                HoldReason::Flagged,
                HoldReason::OverThreshold {
                    total_cents: 1_000_000,
                    threshold_cents: 1_000_000
                }
            ]
        );
        assert_eq!(
            assess(None, 1, false).reasons,
            vec![HoldReason::Unconfigured]
        );
        let all = ClientConfig {
            risk: RiskPolicy {
                threshold_cents: None,
                hold_all: true,
            },
            ..c
        };
        assert_eq!(
            assess(Some(&all), 1, false).reasons,
            vec![HoldReason::HoldAll]
        );
    }

    #[test]
    fn round_trip_and_checks() {
        let s = MemoryStore::new();
        let c = config();
        save(&s, &c).unwrap();
        assert_eq!(s.keys(), vec!["client:29098-55003"]);
        assert_eq!(load(&s, &c.client).unwrap(), Some(c.clone()));
        assert_eq!(c.language_of(c.controller.as_ref().unwrap()), Language::En);
        assert_eq!(c.language_of(&c.finance_contacts[0]), Language::De);
        let mut dup = c.clone();
        dup.finance_contacts.push(dup.finance_contacts[0].clone());
        assert_eq!(dup.check().unwrap_err().field, "finance_contacts[1].phone");
        let unnamed = ClientConfig {
            name: " ".into(),
            ..c
        };
        assert_eq!(unnamed.check().unwrap_err().field, "name");
    }
}
