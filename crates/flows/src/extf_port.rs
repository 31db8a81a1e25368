//! The `extf` port: EXTF/DXSO writing and validation as the `api` component imports it from the
//! composed library component `ml-connector:datev-extf/extf@0.2.0` (`wit/datev-extf/extf.wit`).
//!
//! The types mirror the WIT records one to one (snake_case JSON names, dates as `YYYY-MM-DD`), so
//! the component's adapter is a field-by-field copy, and they double as the JSON of
//! `POST /batches` (see [`crate::intake`]). Tests plug in the native `extf` crate instead.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A calendar date, JSON `"YYYY-MM-DD"` (WIT `date`). Range checks are the validator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (digits only; the calendar check is the validator's).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !digits(0..4)
            || !digits(5..7)
            || !digits(8..10)
        {
            return None;
        }
        Some(Self {
            year: s[0..4].parse().ok()?,
            month: s[5..7].parse().ok()?,
            day: s[8..10].parse().ok()?,
        })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Date::parse(&raw).ok_or_else(|| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }
}

/// Header field 6, Erzeugt am, to the millisecond (WIT `timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// Date.
    pub date: Date,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Millisecond.
    pub millisecond: u16,
}

impl Timestamp {
    /// The UTC time of `ms` since the Unix epoch.
    pub fn from_unix_ms(ms: u64) -> Self {
        let day = connector::time::Day::from_unix_ms(ms).to_string();
        let date = Date {
            year: day[0..4].parse().unwrap_or(1970),
            month: day[4..6].parse().unwrap_or(1),
            day: day[6..8].parse().unwrap_or(1),
        };
        let in_day = ms % 86_400_000;
        Self {
            date,
            hour: (in_day / 3_600_000) as u8,
            minute: (in_day / 60_000 % 60) as u8,
            second: (in_day / 1_000 % 60) as u8,
            millisecond: (in_day % 1_000) as u16,
        }
    }
}

/// Soll/Haben-Kennzeichen (column 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// S.
    Soll,
    /// H.
    Haben,
}

/// Buchungstyp (header field 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BookingType {
    /// 1.
    #[default]
    FinancialAccounting,
    /// 2.
    AnnualStatement,
}

/// Rechnungslegungszweck (header field 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountingPurpose {
    /// 0.
    #[default]
    Independent,
    /// 30.
    Tax,
    /// 40.
    Calculatory,
    /// 50.
    Commercial,
    /// 64.
    Ifrs,
}

fn eur() -> String {
    "EUR".to_owned()
}

/// The header line (datev.md §1.4; WIT `header`). Fields the caller may leave out get DATEV's
/// defaults; `consultant`/`client` default to the batch's DATEV client and `created_at` to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Field 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Field 8.
    #[serde(default)]
    pub origin: String,
    /// Field 9.
    #[serde(default)]
    pub exported_by: String,
    /// Field 10.
    #[serde(default)]
    pub imported_by: String,
    /// Field 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consultant: Option<u32>,
    /// Field 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<u32>,
    /// Field 13.
    pub fiscal_year_start: Date,
    /// Field 14.
    pub account_length: u8,
    /// Field 15.
    pub period_from: Date,
    /// Field 16.
    pub period_to: Date,
    /// Field 17.
    #[serde(default)]
    pub label: String,
    /// Field 18.
    #[serde(default)]
    pub initials: String,
    /// Field 19.
    #[serde(default)]
    pub booking_type: BookingType,
    /// Field 20.
    #[serde(default)]
    pub purpose: AccountingPurpose,
    /// Field 21.
    #[serde(default)]
    pub festschreibung: bool,
    /// Field 22.
    #[serde(default = "eur")]
    pub currency: String,
    /// Field 27.
    #[serde(default)]
    pub chart_of_accounts: String,
    /// Field 28.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry_solution: Option<u16>,
    /// Field 31.
    #[serde(default)]
    pub application_info: String,
}

/// A column without a named field (WIT `extra-field`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraField {
    /// Column 15–125 except 114.
    pub column: u8,
    /// Value as written, without quotes.
    pub value: String,
}

/// One booking row (datev.md §1.5; WIT `booking`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Column 1, in cents.
    pub amount_cents: u64,
    /// Column 2.
    pub side: Side,
    /// Column 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Column 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_rate: Option<String>,
    /// Column 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_amount_cents: Option<u64>,
    /// Column 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_currency: Option<String>,
    /// Column 7.
    pub account: u32,
    /// Column 8.
    pub contra_account: u32,
    /// Column 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bu_key: Option<u16>,
    /// Column 10.
    pub document_date: Date,
    /// Column 11.
    #[serde(default)]
    pub document_field1: String,
    /// Column 12.
    #[serde(default)]
    pub document_field2: String,
    /// Column 13.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_cents: Option<u64>,
    /// Column 14.
    #[serde(default)]
    pub text: String,
    /// Columns 15–125 except 114.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<ExtraField>,
}

/// Which ledger a DXSO document feeds (WIT `ledger-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Outgoing invoices.
    AccountsReceivable,
    /// Incoming invoices.
    AccountsPayable,
    /// Cash.
    Cash,
}

/// A month, JSON `"YYYY-MM"` (WIT `year-month`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct YearMonth {
    /// Year.
    pub year: u16,
    /// Month.
    pub month: u8,
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let b = raw.as_bytes();
        let ok = b.len() == 7
            && b[4] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit());
        let parsed = ok
            .then(|| {
                Some(YearMonth {
                    year: raw[0..4].parse().ok()?,
                    month: raw[5..7].parse().ok()?,
                })
            })
            .flatten();
        parsed.ok_or_else(|| serde::de::Error::custom("expected a month YYYY-MM"))
    }
}

/// One DXSO document (WIT `dxso-document`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DxsoDocument {
    /// Ledger.
    pub kind: LedgerKind,
    /// Ledger XML file name.
    pub datafile: String,
    /// Property key 1.
    pub accounting_month: YearMonth,
    /// Property key 3.
    #[serde(default)]
    pub folder_name: String,
    /// Property key 2 (cash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_account: Option<u32>,
    /// Partner name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_name: Option<String>,
    /// Partner city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_city: Option<String>,
    /// Image file names (their bytes come as attachments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The invoice's lines.
    pub bookings: Vec<Booking>,
}

/// Package settings (WIT `dxso-options`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DxsoOptions {
    /// Shown as sender.
    #[serde(default)]
    pub generator_info: String,
    /// Generating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generating_system: Option<String>,
    /// Header description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Header client name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// One written DXSO file (WIT `dxso-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DxsoFile {
    /// File name.
    pub name: String,
    /// Bytes.
    pub content: Vec<u8>,
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The batch is refused.
    Error,
    /// Accepted, but worth a look.
    Warning,
}

/// One problem the validator found (WIT `finding`; for DXSO problems `document`/`booking` say
/// where). The `code` is the WIT `code` enum case (`format`, `too-long`, …, or `dxso`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Kind.
    pub code: String,
    /// Line (1 header, 2 names, 3.. bookings; 0 = the whole file).
    pub line: u32,
    /// Field number (0 = the whole line).
    pub field: u16,
    /// Field name.
    pub field_name: String,
    /// The value as read.
    pub value: String,
    /// Why.
    pub reason: String,
    /// DXSO: 1-based document (0 = the package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<u32>,
    /// DXSO: 1-based booking within the document (0 = the document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<u32>,
}

impl Finding {
    /// An error finding made by this crate (not by the validator).
    pub fn error(
        code: &str,
        line: u32,
        field: u16,
        field_name: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code: code.to_owned(),
            line,
            field,
            field_name: field_name.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
            document: None,
            booking: None,
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line for logs and batch warnings: `line 3, field 14 (Buchungstext): too long`.
    pub fn summary(&self) -> String {
        format!(
            "line {}, field {} ({}): {}",
            self.line, self.field, self.field_name, self.reason
        )
    }
}

/// Why `write` refused (WIT `write-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// The header fails its checks (all findings).
    Header(Vec<Finding>),
    /// A booking fails (the first failing one).
    Booking(Finding),
}

/// WIT `report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Booking rows seen.
    pub rows: u32,
    /// All findings in file order.
    pub findings: Vec<Finding>,
}

/// WIT `parsed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The header line.
    pub header: Header,
    /// The rows.
    pub bookings: Vec<Booking>,
    /// Warnings.
    pub warnings: Vec<Finding>,
}

/// The `extf` interface as the api uses it. Input encoding is always `auto` (as the upload API
/// reads files), output encoding always UTF-8 with BOM.
pub trait ExtfService {
    /// WIT `write`. `header.created_at`, `consultant` and `client` are always set by the caller.
    fn write(&self, header: &Header, bookings: &[Booking]) -> Result<Vec<u8>, WriteFailure>;
    /// WIT `validate`.
    fn validate(&self, file: &[u8], max_findings: u32) -> Report;
    /// WIT `parse`.
    fn parse(&self, file: &[u8], max_findings: u32) -> Result<Parsed, Vec<Finding>>;
    /// WIT `file-name`; the error is the refusal in words.
    fn file_name(&self, header: &Header, sequence: u32) -> Result<String, String>;
    /// WIT `write-dxso`; the error lists every finding (header) or the one problem (document).
    fn write_dxso(
        &self,
        header: &Header,
        documents: &[DxsoDocument],
        options: &DxsoOptions,
    ) -> Result<Vec<DxsoFile>, Vec<Finding>>;
}

impl<T: ExtfService + ?Sized> ExtfService for &T {
    fn write(&self, header: &Header, bookings: &[Booking]) -> Result<Vec<u8>, WriteFailure> {
        (**self).write(header, bookings)
    }
    fn validate(&self, file: &[u8], max_findings: u32) -> Report {
        (**self).validate(file, max_findings)
    }
    fn parse(&self, file: &[u8], max_findings: u32) -> Result<Parsed, Vec<Finding>> {
        (**self).parse(file, max_findings)
    }
    fn file_name(&self, header: &Header, sequence: u32) -> Result<String, String> {
        (**self).file_name(header, sequence)
    }
    fn write_dxso(
        &self,
        header: &Header,
        documents: &[DxsoDocument],
        options: &DxsoOptions,
    ) -> Result<Vec<DxsoFile>, Vec<Finding>> {
        (**self).write_dxso(header, documents, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_months() {
        assert_eq!(
            Date::parse("2024-02-29"),
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(Date::parse("2024-2-29"), None);
        assert_eq!(Date::parse("2024-02-2x"), None);
        assert_eq!(
            serde_json::to_string(&Date {
                year: 2024,
                month: 3,
                day: 1
            })
            .unwrap(),
            r#""2024-03-01""#
        );
        let m: YearMonth = serde_json::from_str(r#""2024-02""#).unwrap();
        assert_eq!(m.to_string(), "2024-02");
        assert!(serde_json::from_str::<YearMonth>(r#""2024/02""#).is_err());
        let t = Timestamp::from_unix_ms(1_709_287_200_123);
        assert_eq!(
            (
                t.date.to_string(),
                t.hour,
                t.minute,
                t.second,
                t.millisecond
            ),
            ("2024-03-01".into(), 10, 0, 0, 123)
        );
    }

    #[test]
    fn header_defaults() {
        let h: Header = serde_json::from_str(
            r#"{"fiscal_year_start":"2024-01-01","account_length":4,"period_from":"2024-02-01","period_to":"2024-02-29"}"#,
        )
        .unwrap();
        assert_eq!(h.currency, "EUR");
        assert_eq!(h.booking_type, BookingType::FinancialAccounting);
        assert_eq!((h.consultant, h.client, h.created_at), (None, None, None));
    }
}
