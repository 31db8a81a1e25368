//! Validated identifiers and request values (newtypes).
//!
//! Every constructor checks its input against the rule DATEV documents for it and returns
//! [`InvalidInput`] naming the field and the reason, so nothing malformed reaches a URL path, a
//! header, or a key-value key.

use std::fmt;

/// A value failed validation. `field` names the input, `reason` says what is wrong; neither ever
/// contains the offending value when it could be a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidInput {
    /// The input field (e.g. `datev_client_id`, `filename`).
    pub field: &'static str,
    /// Why it was rejected.
    pub reason: String,
}

impl InvalidInput {
    /// An error for `field` with `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

fn parse_number(field: &'static str, s: &str, min: u64, max: u64) -> Result<u64, InvalidInput> {
    if s.is_empty() {
        return Err(InvalidInput::new(field, "is empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidInput::new(field, "must contain only the digits 0-9"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(InvalidInput::new(field, "must not have a leading zero"));
    }
    let n: u64 = s
        .parse()
        .map_err(|_| InvalidInput::new(field, "is too large"))?;
    if n < min || n > max {
        return Err(InvalidInput::new(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

/// A DATEV client ("Mandant") as the online APIs address it: `<Beraternummer>-<Mandantennummer>`,
/// e.g. `29098-55003` (datev.md §3 "Client id"; path parameter `client-id` of `importExtfFile`,
/// `getJob`, `getClient` and the dxso-jobs paths).
///
/// Ranges from the EXTF header (datev.md §1.4): Beraternummer (field 11) 1001–9999999,
/// Mandantennummer (field 12) 1–99999. Leading zeros are rejected so the textual form is
/// canonical (it is part of key-value keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatevClientId {
    consultant: u32,
    client: u32,
}

impl DatevClientId {
    /// Smallest Beraternummer (datev.md §1.4 field 11).
    pub const CONSULTANT_MIN: u32 = 1001;
    /// Largest Beraternummer (datev.md §1.4 field 11).
    pub const CONSULTANT_MAX: u32 = 9_999_999;
    /// Smallest Mandantennummer (datev.md §1.4 field 12).
    pub const CLIENT_MIN: u32 = 1;
    /// Largest Mandantennummer (datev.md §1.4 field 12).
    pub const CLIENT_MAX: u32 = 99_999;

    /// Builds the id from its two numbers.
    pub fn new(consultant: u32, client: u32) -> Result<Self, InvalidInput> {
        if !(Self::CONSULTANT_MIN..=Self::CONSULTANT_MAX).contains(&consultant) {
            return Err(InvalidInput::new(
                "consultant_number",
                format!(
                    "must be between {} and {}",
                    Self::CONSULTANT_MIN,
                    Self::CONSULTANT_MAX
                ),
            ));
        }
        if !(Self::CLIENT_MIN..=Self::CLIENT_MAX).contains(&client) {
            return Err(InvalidInput::new(
                "client_number",
                format!(
                    "must be between {} and {}",
                    Self::CLIENT_MIN,
                    Self::CLIENT_MAX
                ),
            ));
        }
        Ok(Self { consultant, client })
    }

    /// Parses `<consultant>-<client>`.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let (c, m) = s.split_once('-').ok_or_else(|| {
            InvalidInput::new(
                "datev_client_id",
                "must be <consultant number>-<client number>",
            )
        })?;
        let consultant = parse_number(
            "consultant_number",
            c,
            u64::from(Self::CONSULTANT_MIN),
            u64::from(Self::CONSULTANT_MAX),
        )?;
        let client = parse_number(
            "client_number",
            m,
            u64::from(Self::CLIENT_MIN),
            u64::from(Self::CLIENT_MAX),
        )?;
        // Both fit u32: the ranges above are below u32::MAX.
        Self::new(
            u32::try_from(consultant)
                .map_err(|_| InvalidInput::new("consultant_number", "is too large"))?,
            u32::try_from(client)
                .map_err(|_| InvalidInput::new("client_number", "is too large"))?,
        )
    }

    /// The Beraternummer.
    pub fn consultant_number(&self) -> u32 {
        self.consultant
    }

    /// The Mandantennummer.
    pub fn client_number(&self) -> u32 {
        self.client
    }
}

impl fmt::Display for DatevClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.consultant, self.client)
    }
}

impl std::str::FromStr for DatevClientId {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Characters allowed in an opaque id that becomes a URL path segment and part of a key.
fn is_path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Id of an EXTF import job: the last path segment of the `Location` header of `importExtfFile`
/// and the `job-id` of `getJob` (datev.md §4.1). DATEV's examples are UUIDs and
/// `5656-zyxv-trew-ijkl`, so it is treated as opaque: 1–128 characters of `A-Z a-z 0-9 - _ .`,
/// not `.` or `..` (it must stay one safe path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtfJobId(String);

impl ExtfJobId {
    /// Validates an EXTF job id.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "extf_job_id";
        if s.is_empty() {
            return Err(InvalidInput::new(FIELD, "is empty"));
        }
        if s.len() > 128 {
            return Err(InvalidInput::new(FIELD, "is longer than 128 characters"));
        }
        if !s.bytes().all(is_path_safe) {
            return Err(InvalidInput::new(
                FIELD,
                "may contain only A-Z a-z 0-9 - _ .",
            ));
        }
        if s == "." || s == ".." {
            return Err(InvalidInput::new(FIELD, "must not be a dot segment"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as DATEV sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExtfJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Id of a DXSO job (`DXSoJob.id`, path parameter `job-id` of the dxso-jobs paths): a 32-digit
/// hex GUID with or without dashes, e.g. `CDD8BCFAD7034008AD143D330084FC22` or
/// `74C73D12-A0E8-65DB-68FE-D7481FF44D72` (datev.md §4.3). Kept as DATEV sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DxsoJobId(String);

impl DxsoJobId {
    /// Validates a DXSO job id.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "dxso_job_id";
        if s.is_empty() {
            return Err(InvalidInput::new(FIELD, "is empty"));
        }
        let plain = s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let dashed = s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
        if !(plain || dashed) {
            return Err(InvalidInput::new(
                FIELD,
                "must be 32 hex digits, optionally dashed as 8-4-4-4-12",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as DATEV sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DxsoJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The OAuth `client_id` of the registered DATEV app (RFC 6749 §2.2), also sent as
/// `X-DATEV-Client-Id` on every API call (datev.md §3). At most 60 characters (datev.md §5.2,
/// S11); visible ASCII without spaces so it is safe in a header and a Basic credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OAuthClientId(String);

impl OAuthClientId {
    /// Longest client id DATEV issues (datev.md §5.2).
    pub const MAX_LEN: usize = 60;

    /// Validates a client id.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "oauth_client_id";
        if s.is_empty() {
            return Err(InvalidInput::new(FIELD, "is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(FIELD, "is longer than 60 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput::new(
                FIELD,
                "must be visible ASCII without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The client id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OAuthClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `Filename` header of `importExtfFile`: must match `EXTF_.{0,51}\.csv` (at most 60
/// characters; datev.md §1.3, S7). DATEV replaces disallowed characters with `_` (help 1023095);
/// this type accepts only `A-Z a-z 0-9 _ - .` so nothing is replaced silently, and insists on the
/// lower-case `.csv` of the pattern (upper-case handling is unconfirmed, datev.md §8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtfFilename(String);

impl ExtfFilename {
    /// Validates a file name.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "filename";
        if !s.starts_with("EXTF_") {
            return Err(InvalidInput::new(FIELD, "must start with EXTF_"));
        }
        if !s.ends_with(".csv") {
            return Err(InvalidInput::new(FIELD, "must end with .csv"));
        }
        if s.len() > 60 {
            return Err(InvalidInput::new(FIELD, "is longer than 60 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(InvalidInput::new(
                FIELD,
                "may contain only A-Z a-z 0-9 _ - .",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text for the optional `Reference-Id` and `Client-Application-Version` headers of
/// `importExtfFile`: pattern `[-0-9A-Za-z_äöüÄÖÜß_. +?;]{0,254}` (datev.md §4.1, S7). Sent as
/// UTF-8 header bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderText(String);

impl HeaderText {
    /// Validates a `Reference-Id` value.
    pub fn reference_id(s: &str) -> Result<Self, InvalidInput> {
        Self::parse("reference_id", s)
    }

    /// Validates a `Client-Application-Version` value.
    pub fn client_application_version(s: &str) -> Result<Self, InvalidInput> {
        Self::parse("client_application_version", s)
    }

    fn parse(field: &'static str, s: &str) -> Result<Self, InvalidInput> {
        if s.chars().count() > 254 {
            return Err(InvalidInput::new(field, "is longer than 254 characters"));
        }
        let ok = s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | ' ' | '+' | '?' | ';')
                || matches!(c, 'ä' | 'ö' | 'ü' | 'Ä' | 'Ö' | 'Ü' | 'ß')
        });
        if !ok {
            return Err(InvalidInput::new(
                field,
                "may contain only A-Z a-z 0-9 äöüÄÖÜß - _ . + ? ; and space",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// File name of one DXSO upload part (`Content-Disposition` `filename` of `POST
/// /clients/{client-id}/dxso-jobs/{job-id}/files`). Allowed: space `& ( ) + - . _ 0-9 A-Z a-z`
/// and the Latin-1 letters `À`–`ÿ` except `×` and `÷` (datev.md §4.3, S8); DATEV would replace
/// anything else with `_`, so it is rejected here instead. Those letters are single precomposed
/// code points, so an accepted name is always NFC as DATEV requires. At most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DxsoFilename(String);

impl DxsoFilename {
    /// Validates a file name.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "dxso_filename";
        if s.trim().is_empty() {
            return Err(InvalidInput::new(FIELD, "is empty"));
        }
        if s.len() > 255 {
            return Err(InvalidInput::new(FIELD, "is longer than 255 bytes"));
        }
        let ok = s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, ' ' | '&' | '(' | ')' | '+' | '-' | '.' | '_')
                || (('\u{C0}'..='\u{FF}').contains(&c) && c != '\u{D7}' && c != '\u{F7}')
        });
        if !ok {
            return Err(InvalidInput::new(
                FIELD,
                "may contain only space & ( ) + - . _ 0-9 A-Z a-z and Latin-1 letters À-ÿ (no × ÷)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `accounting_month` of `DXSoJobCreationInfo` (`YYYY-MM`; datev.md §4.3, S8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountingMonth {
    year: u16,
    month: u8,
}

impl AccountingMonth {
    /// A month; year 2000–2099 as everywhere in the DATEV formats (datev.md §1.4 `DATE`).
    pub fn new(year: u16, month: u8) -> Result<Self, InvalidInput> {
        if !(2000..=2099).contains(&year) {
            return Err(InvalidInput::new(
                "accounting_month",
                "year must be between 2000 and 2099",
            ));
        }
        if !(1..=12).contains(&month) {
            return Err(InvalidInput::new(
                "accounting_month",
                "month must be between 01 and 12",
            ));
        }
        Ok(Self { year, month })
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let b = s.as_bytes();
        let shape = b.len() == 7
            && b[4] == b'-'
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[5..].iter().all(u8::is_ascii_digit);
        if !shape {
            return Err(InvalidInput::new("accounting_month", "must be YYYY-MM"));
        }
        let year: u16 = s[..4]
            .parse()
            .map_err(|_| InvalidInput::new("accounting_month", "must be YYYY-MM"))?;
        let month: u8 = s[5..]
            .parse()
            .map_err(|_| InvalidInput::new("accounting_month", "must be YYYY-MM"))?;
        Self::new(year, month)
    }
}

impl fmt::Display for AccountingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One OAuth scope token (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, i.e. visible ASCII except
/// `"` and `\`). DATEV's scopes are listed in datev.md §5.3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// Validates a scope token.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() {
            return Err(InvalidInput::new("scope", "is empty"));
        }
        if !s
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(InvalidInput::new(
                "scope",
                "must be visible ASCII without space, '\"' or '\\' (RFC 6749 §3.3)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The scope token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_parses_and_prints_canonically() {
        let id = DatevClientId::parse("29098-55003").unwrap();
        assert_eq!((id.consultant_number(), id.client_number()), (29098, 55003));
        assert_eq!(id.to_string(), "29098-55003");
        assert_eq!(
            DatevClientId::parse("455148-1").unwrap().to_string(),
            "455148-1"
        );
    }

    #[test]
    fn client_id_rejections_name_the_field() {
        let cases = [
            ("29098", "datev_client_id"),
            ("1000-1", "consultant_number"),
            ("10000000-1", "consultant_number"),
            ("29098-0", "client_number"),
            ("29098-100000", "client_number"),
            ("029098-1", "consultant_number"),
            ("29098-01", "client_number"),
            ("29098-1-2", "client_number"),
            ("+29098-1", "consultant_number"),
            ("-1", "consultant_number"),
            ("29098-", "client_number"),
            ("99999999999999999999999-1", "consultant_number"),
        ];
        for (input, field) in cases {
            let err = DatevClientId::parse(input).unwrap_err();
            assert_eq!(err.field, field, "{input}");
        }
        assert_eq!(
            DatevClientId::parse("1000-1").unwrap_err().to_string(),
            "invalid consultant_number: must be between 1001 and 9999999"
        );
    }

    #[test]
    fn job_ids() {
        assert!(ExtfJobId::parse("8a772151-6c21-40fe-96ae-4d42cbeeda5a").is_ok());
        assert!(ExtfJobId::parse("5656-zyxv-trew-ijkl").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "a%2Fb", &"x".repeat(129)] {
            assert_eq!(
                ExtfJobId::parse(bad).unwrap_err().field,
                "extf_job_id",
                "{bad}"
            );
        }
        assert!(DxsoJobId::parse("CDD8BCFAD7034008AD143D330084FC22").is_ok());
        assert!(DxsoJobId::parse("74C73D12-A0E8-65DB-68FE-D7481FF44D72").is_ok());
        for bad in [
            "",
            "CDD8BCFAD7034008AD143D330084FC2",
            "74C73D12A-0E8-65DB-68FE-D7481FF44D72",
            "GDD8BCFAD7034008AD143D330084FC22",
        ] {
            assert_eq!(
                DxsoJobId::parse(bad).unwrap_err().field,
                "dxso_job_id",
                "{bad}"
            );
        }
    }

    #[test]
    fn extf_filename_rule() {
        assert!(ExtfFilename::parse("EXTF_BS_20200101_1.csv").is_ok());
        assert!(ExtfFilename::parse(&format!("EXTF_{}.csv", "a".repeat(51))).is_ok());
        assert!(ExtfFilename::parse(&format!("EXTF_{}.csv", "a".repeat(52))).is_err());
        assert_eq!(
            ExtfFilename::parse("BS.csv").unwrap_err().reason,
            "must start with EXTF_"
        );
        assert_eq!(
            ExtfFilename::parse("EXTF_x.CSV").unwrap_err().reason,
            "must end with .csv"
        );
        assert!(ExtfFilename::parse("EXTF_a b.csv").is_err());
        assert!(ExtfFilename::parse("EXTF_ä.csv").is_err());
    }

    #[test]
    fn header_text_and_dxso_names() {
        assert!(HeaderText::reference_id("Buchungsstapel_Verkäufe_2020_01_Nr_001").is_ok());
        assert_eq!(
            HeaderText::reference_id("a/b").unwrap_err().field,
            "reference_id"
        );
        assert!(HeaderText::client_application_version(&"1".repeat(255)).is_err());
        assert!(DxsoFilename::parse("AR-2015-0001.xml").is_ok());
        assert!(DxsoFilename::parse("Rechnung Müller (1).pdf").is_ok());
        assert!(DxsoFilename::parse("a×b.pdf").is_err());
        // Decomposed ü (u + U+0308) is not NFC and is rejected.
        assert!(DxsoFilename::parse("Mu\u{308}ller.pdf").is_err());
        assert!(DxsoFilename::parse("a\"b.xml").is_err());
        assert!(DxsoFilename::parse("  ").is_err());
    }

    #[test]
    fn accounting_month_and_scope() {
        assert_eq!(
            AccountingMonth::parse("2025-05").unwrap().to_string(),
            "2025-05"
        );
        assert!(AccountingMonth::parse("2025-13").is_err());
        assert!(AccountingMonth::parse("25-05").is_err());
        assert!(AccountingMonth::parse("1999-01").is_err());
        assert!(Scope::parse("datev:accounting:extf-files-import").is_ok());
        assert!(Scope::parse("a b").is_err());
        assert!(Scope::parse("").is_err());
        assert!(OAuthClientId::parse(&"c".repeat(61)).is_err());
        assert!(OAuthClientId::parse("abc def").is_err());
        assert!(OAuthClientId::parse("0a1b2c3d").is_ok());
    }
}
