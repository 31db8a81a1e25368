//! E.164 phone numbers, normalised with the `phonenumber` crate (libphonenumber metadata).
//!
//! Every number that enters ml-connector (configuration, API input, Twilio callbacks) goes
//! through [`NumberParser::parse`], so a number Twilio would reject with 21211 / 60200 is caught
//! at the boundary with an error naming the field, never as a send that fails later.
//! Format: `+`, country code, subscriber number, at most 15 digits, no trunk `0`
//! (twilio.md §11; <https://www.twilio.com/docs/glossary/what-e164>).

use phonenumber::{Mode, country};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Longest input we hand to the parser. Real numbers with spacing and an IDD prefix stay far
/// below; the cap keeps pathological input away from the regex-based parser.
const MAX_INPUT_CHARS: usize = 64;

/// A phone number in canonical E.164 form (`+491512345678`).
///
/// Numbers are not secrets: `Display` and `Debug` show the number. For audit entries use
/// [`E164::masked`]. Serialises as the plain string; deserialising accepts only the canonical
/// form (what was stored), checked by shape ([`E164::from_canonical`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Parses user input with the default region Germany (`DE`), see [`NumberParser::parse`].
    pub fn parse(input: &str, field: &str) -> Result<Self, PhoneNumberError> {
        NumberParser::default().parse(input, field)
    }

    /// Parses a number that must already be in international form (`+…`), e.g. `To`/`From` in a
    /// Twilio callback (twilio.md §7): no default region is applied, so a national number is an
    /// error rather than being guessed into a country.
    pub fn parse_international(input: &str, field: &str) -> Result<Self, PhoneNumberError> {
        if !input.trim_start().starts_with('+') {
            return Err(PhoneNumberError::new(
                field,
                PhoneNumberReason::NotInternational,
            ));
        }
        parse_with_region(input, None, field)
    }

    /// Accepts a number already in canonical E.164 form by shape alone (`^\+[1-9]\d{1,14}$`,
    /// twilio.md §11), without libphonenumber's metadata.
    ///
    /// Why: the first [`NumberParser::parse`] in a process deserialises libphonenumber's
    /// metadata and checks thousands of patterns (about 0.5 s natively, see
    /// `cargo bench -p twilio`), and a Spin component is a fresh process per request. Use this
    /// for numbers this system normalised earlier and stored (outbox records, audit entries),
    /// and to match a callback's `To` against such a stored number; use [`NumberParser::parse`]
    /// where a number enters from people (configuration, API input).
    pub fn from_canonical(input: &str, field: &str) -> Result<Self, PhoneNumberError> {
        let digits = input
            .strip_prefix('+')
            .ok_or_else(|| PhoneNumberError::new(field, PhoneNumberReason::NotInternational))?;
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(PhoneNumberError::new(
                field,
                PhoneNumberReason::InvalidCharacter(c),
            ));
        }
        if digits.starts_with('0') {
            return Err(PhoneNumberError::new(
                field,
                PhoneNumberReason::InvalidCountryCode,
            ));
        }
        match digits.len() {
            0..=1 => Err(PhoneNumberError::new(field, PhoneNumberReason::TooShort)),
            2..=15 => Ok(Self(input.to_owned())),
            _ => Err(PhoneNumberError::new(field, PhoneNumberReason::TooLong)),
        }
    }

    /// The canonical form, e.g. `+491512345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after `+` (country code and subscriber number).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// A form for audit entries and logs that keeps the country and operator prefix and the last
    /// three digits: `+491512345678` → `+49151****678`. At least four digits are always hidden.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let n = digits.len();
        let tail = n.saturating_sub(4).min(3);
        let head = n.saturating_sub(tail + 4).min(5);
        let hidden = n - head - tail;
        let mut out = String::with_capacity(n + 1);
        out.push('+');
        out.push_str(&digits[..head]);
        out.extend(std::iter::repeat_n('*', hidden));
        out.push_str(&digits[n - tail..]);
        out
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for E164 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164 {
    /// Stored values were normalised when they entered, so only their canonical shape is
    /// checked ([`E164::from_canonical`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        E164::from_canonical(&raw, "phone number").map_err(serde::de::Error::custom)
    }
}

/// An ISO 3166-1 alpha-2 region known to libphonenumber, used to read national numbers
/// (`0151 …` in `DE` is `+49 151 …`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(country::Id);

impl Region {
    /// Germany, the default.
    pub const DE: Region = Region(country::Id::DE);

    /// Parses a region code such as `DE`, `AT`, `CH` (case-insensitive).
    pub fn parse(code: &str, field: &str) -> Result<Self, PhoneNumberError> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PhoneNumberError::new(
                field,
                PhoneNumberReason::UnknownRegion,
            ));
        }
        country::Id::from_str(&upper)
            .map(Region)
            .map_err(|_| PhoneNumberError::new(field, PhoneNumberReason::UnknownRegion))
    }

    /// The two-letter code.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::DE
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.code())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Normalises phone numbers against a configurable default region (`DE` unless configured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberParser {
    region: Region,
}

impl NumberParser {
    /// A parser that reads national numbers as numbers of `region`.
    pub fn new(region: Region) -> Self {
        Self { region }
    }

    /// The default region.
    pub fn region(&self) -> Region {
        self.region
    }

    /// Parses `input` (`0151 2345678`, `+49 151 2345678`, `0049 151 2345678`, `(0151) 234-5678`)
    /// into canonical E.164. `field` names where the number came from
    /// (e.g. `contacts[2].phone`) and is carried by the error.
    ///
    /// Rejected: empty input, letters or other junk (so also extensions), numbers libphonenumber does not
    /// consider valid for their country (wrong length, unassigned prefix), more than 15 digits.
    pub fn parse(&self, input: &str, field: &str) -> Result<E164, PhoneNumberError> {
        parse_with_region(input, Some(self.region.0), field)
    }
}

fn parse_with_region(
    input: &str,
    region: Option<country::Id>,
    field: &str,
) -> Result<E164, PhoneNumberError> {
    let err = |reason| PhoneNumberError::new(field, reason);
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(err(PhoneNumberReason::Empty));
    }
    if trimmed.chars().count() > MAX_INPUT_CHARS {
        return Err(err(PhoneNumberReason::TooLong));
    }
    // libphonenumber reads vanity numbers (`0800-FLOWERS`) and tolerates stray letters; an alert
    // recipient typed into a form must be digits and punctuation only.
    if let Some(c) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '/' | '.')))
    {
        return Err(err(PhoneNumberReason::InvalidCharacter(c)));
    }
    if trimmed.rfind('+').is_some_and(|i| i != 0) {
        return Err(err(PhoneNumberReason::InvalidCharacter('+')));
    }
    let number = phonenumber::parse(region, trimmed).map_err(|e| {
        err(match e {
            phonenumber::ParseError::InvalidCountryCode => PhoneNumberReason::InvalidCountryCode,
            phonenumber::ParseError::TooLong => PhoneNumberReason::TooLong,
            phonenumber::ParseError::TooShortNsn | phonenumber::ParseError::TooShortAfterIdd => {
                PhoneNumberReason::TooShort
            }
            _ => PhoneNumberReason::NotANumber,
        })
    })?;
    // Extensions cannot be dialled by Twilio; the character check above already keeps out the
    // usual markers (`ext.`, `x`, `#`, `;ext=`), this catches any other form.
    if number.extension().is_some() || !phonenumber::is_valid(&number) {
        return Err(err(PhoneNumberReason::NotValid));
    }
    let formatted = number.format().mode(Mode::E164).to_string();
    let digits = formatted.strip_prefix('+').unwrap_or(&formatted);
    if digits.is_empty()
        || digits.len() > 15
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(err(PhoneNumberReason::NotValid));
    }
    Ok(E164(format!("+{digits}")))
}

/// Why a phone number was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneNumberReason {
    /// Nothing but whitespace.
    Empty,
    /// A character that cannot be part of a dialled number.
    InvalidCharacter(char),
    /// No `+` where an international number was required.
    NotInternational,
    /// Not recognisable as a phone number.
    NotANumber,
    /// The country calling code does not exist.
    InvalidCountryCode,
    /// Too few digits.
    TooShort,
    /// Too many digits (E.164 allows 15).
    TooLong,
    /// Parsed, but not a valid number for its country (length or prefix).
    NotValid,
    /// The default region is not an ISO 3166-1 alpha-2 code libphonenumber knows.
    UnknownRegion,
}

impl fmt::Display for PhoneNumberReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::InvalidCharacter(c) => write!(f, "contains the character {c:?}"),
            Self::NotInternational => f.write_str("must start with + and the country code"),
            Self::NotANumber => f.write_str("is not a phone number"),
            Self::InvalidCountryCode => f.write_str("has an unknown country code"),
            Self::TooShort => f.write_str("has too few digits"),
            Self::TooLong => f.write_str("has too many digits"),
            Self::NotValid => f.write_str("is not a valid number for its country"),
            Self::UnknownRegion => f.write_str("is not a known two-letter region code"),
        }
    }
}

/// A rejected phone number: which field, and why. The input itself is not repeated, so the
/// message can go to logs and audit entries as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: phone number {reason}")]
pub struct PhoneNumberError {
    /// The field the caller named, e.g. `contacts[2].phone`.
    pub field: String,
    /// Why it was rejected.
    pub reason: PhoneNumberReason,
}

impl PhoneNumberError {
    fn new(field: &str, reason: PhoneNumberReason) -> Self {
        Self {
            field: field.to_owned(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_inputs_normalise() {
        let table = [
            ("0151 23456789", "+4915123456789"),
            ("+49 151 23456789", "+4915123456789"),
            ("0049 151 23456789", "+4915123456789"),
            ("0049151/23456789", "+4915123456789"),
            ("(0151) 2345-6789", "+4915123456789"),
            ("  +4915123456789  ", "+4915123456789"),
            ("+49 (0)151 23456789", "+4915123456789"),
            ("030 1234567", "+49301234567"),
            ("+43 664 1234567", "+436641234567"),
            ("+1 415 867 5309", "+14158675309"),
            ("+1.415.867.5309", "+14158675309"),
        ];
        for (input, want) in table {
            let n = E164::parse(input, "contacts[0].phone")
                .unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(n.as_str(), want, "{input:?}");
            assert_eq!(n.to_string(), want);
        }
    }

    #[test]
    fn invalid_inputs_name_the_field_and_reason() {
        use PhoneNumberReason::*;
        let table = [
            ("", Empty),
            ("   ", Empty),
            ("abc", InvalidCharacter('a')),
            ("0800-FLOWERS", InvalidCharacter('F')),
            ("+49 151 23456789 ext. 12", InvalidCharacter('e')),
            ("+49151234567#1", InvalidCharacter('#')),
            ("+4915123456789+1", InvalidCharacter('+')),
            ("49+15123456789", InvalidCharacter('+')),
            // 0151 needs eight subscriber digits (libphonenumber's DE mobile pattern): seven
            // are one short, so this is not a number Twilio could deliver to.
            ("0151 2345678", NotValid),
            ("+49 151 2345678", NotValid),
            ("+49 151 234567890", NotValid),
            ("+49 00 1234567", NotValid),
            ("+999 1234567", InvalidCountryCode),
            ("+49 1", TooShort),
            ("1", NotANumber),
            ("+1234567890123456789", TooLong),
            (&"1".repeat(65), TooLong),
        ];
        for (input, reason) in table {
            let err = E164::parse(input, "contacts[2].phone").unwrap_err();
            assert_eq!(
                err,
                PhoneNumberError {
                    field: "contacts[2].phone".into(),
                    reason
                },
                "{input:?}"
            );
        }
        assert_eq!(
            E164::parse("0151 2345678", "contacts[2].phone")
                .unwrap_err()
                .to_string(),
            "contacts[2].phone: phone number is not a valid number for its country"
        );
    }

    #[test]
    fn default_region_is_configurable() {
        let at = NumberParser::new(Region::parse("at", "twilio_default_region").unwrap());
        assert_eq!(
            at.parse("0664 1234567", "phone").unwrap().as_str(),
            "+436641234567"
        );
        // The same digits read in Germany are a German landline (area code 06641).
        assert_eq!(
            NumberParser::default()
                .parse("0664 1234567", "phone")
                .unwrap()
                .as_str(),
            "+496641234567"
        );
        // International input ignores the default region.
        assert_eq!(
            at.parse("+49 151 23456789", "phone").unwrap().as_str(),
            "+4915123456789"
        );
        assert_eq!(NumberParser::default().region(), Region::DE);
        for bad in ["", "D", "DEU", "XX", "1A"] {
            assert_eq!(
                Region::parse(bad, "twilio_default_region").unwrap_err(),
                PhoneNumberError {
                    field: "twilio_default_region".into(),
                    reason: PhoneNumberReason::UnknownRegion
                },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn callbacks_must_be_international() {
        assert_eq!(
            E164::parse_international("+4915123456789", "To")
                .unwrap()
                .as_str(),
            "+4915123456789"
        );
        assert_eq!(
            E164::parse_international("015123456789", "To")
                .unwrap_err()
                .reason,
            PhoneNumberReason::NotInternational
        );
    }

    #[test]
    fn masked_form_for_audit() {
        let m = |s: &str| E164::parse(s, "p").map(|n| n.masked()).unwrap_or_default();
        assert_eq!(m("+4915123456789"), "+49151*****789");
        assert_eq!(m("+491701234567"), "+49170****567");
        assert_eq!(m("+14158675309"), "+1415****309");
        assert_eq!(m("+49301234567"), "+4930****567");
    }

    #[test]
    fn serde_accepts_only_canonical_form() {
        let n = E164::parse("0151 23456789", "p").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+4915123456789\"");
        assert_eq!(
            serde_json::from_str::<E164>("\"+4915123456789\"").unwrap(),
            n
        );
        assert!(serde_json::from_str::<E164>("\"+49 151 23456789\"").is_err());
        assert!(serde_json::from_str::<E164>("\"015123456789\"").is_err());
    }

    #[test]
    fn canonical_shape_check() {
        assert_eq!(
            E164::from_canonical("+4915123456789", "To")
                .unwrap()
                .as_str(),
            "+4915123456789"
        );
        assert_eq!(E164::from_canonical("+12", "To").unwrap().as_str(), "+12");
        assert_eq!(
            E164::from_canonical("+123456789012345", "To")
                .unwrap()
                .digits()
                .len(),
            15
        );
        use PhoneNumberReason::*;
        for (input, reason) in [
            ("4915123456789", NotInternational),
            ("", NotInternational),
            ("+49 151", InvalidCharacter(' ')),
            ("+49151x", InvalidCharacter('x')),
            ("+049151", InvalidCountryCode),
            ("+1", TooShort),
            ("+", TooShort),
            ("+1234567890123456", TooLong),
        ] {
            assert_eq!(
                E164::from_canonical(input, "outbox.to").unwrap_err(),
                PhoneNumberError {
                    field: "outbox.to".into(),
                    reason
                },
                "{input:?}"
            );
        }
    }
}
