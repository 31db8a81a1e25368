//! The typed model of a Buchungsstapel: a [`Header`] (header line, `datev.md` §1.4) and
//! [`Booking`]s (rows, §1.5). Every newtype admits exactly the values the validator accepts
//! without an error, so a model that could be built can be written.

use std::fmt;

use crate::check;
use crate::columns::{self, Charset, Kind};
use crate::finding::{Code, Severity};
use crate::text::{self, TextError};

/// Why a value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A number outside its range.
    #[error("{what}: {value} is outside {min}..={max}")]
    OutOfRange {
        /// The field.
        what: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A text that is too long or has a forbidden character.
    #[error("{what}: {source}")]
    Text {
        /// The field.
        what: &'static str,
        /// The text rule broken.
        #[source]
        source: TextError,
    },
    /// Any other format problem.
    #[error("{what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl ValueError {
    /// The finding code this error corresponds to.
    pub fn code(&self) -> Code {
        match self {
            ValueError::OutOfRange { .. } => Code::Range,
            ValueError::Text {
                source: TextError::TooLong { .. },
                ..
            } => Code::TooLong,
            ValueError::Text { .. } => Code::Charset,
            ValueError::Invalid { .. } => Code::Format,
        }
    }
}

fn range(what: &'static str, value: u64, min: u64, max: u64) -> Result<(), ValueError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValueError::OutOfRange {
            what,
            value,
            min,
            max,
        })
    }
}

macro_rules! number_newtype {
    ($(#[$doc:meta])* $name:ident($ty:ty), $what:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($ty);

        impl $name {
            /// Smallest valid value.
            pub const MIN: $ty = $min;
            /// Largest valid value.
            pub const MAX: $ty = $max;

            /// Checks the range.
            pub fn new(value: $ty) -> Result<Self, ValueError> {
                range($what, u64::from(value), u64::from(Self::MIN), u64::from(Self::MAX))?;
                Ok(Self(value))
            }

            /// The number.
            pub const fn get(self) -> $ty {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

number_newtype!(
    /// Beraternummer, header field 11: 1001-9999999 (`datev.md` §1.4).
    ConsultantNumber(u32), "Beraternummer", 1001, 9_999_999
);
number_newtype!(
    /// Mandantennummer, header field 12: 1-99999 (`datev.md` §1.4).
    ClientNumber(u32), "Mandantennummer", 1, 99_999
);
number_newtype!(
    /// Sachkontenlänge, header field 14: 4-8 digits (`datev.md` §1.4).
    AccountLength(u8), "Sachkontenlänge", 4, 8
);
number_newtype!(
    /// Konto / Gegenkonto, columns 7 and 8: 1-999999999; the header's Sachkontenlänge bounds
    /// it further to Sachkontenlänge + 1 digits (personal accounts), checked by the writer.
    AccountNumber(u32), "Konto", 1, 999_999_999
);
number_newtype!(
    /// Umsatz or Basis-Umsatz (columns 1 and 5) in cents: 0,01 to 9999999999,99, never zero;
    /// the sign goes into Soll/Haben (column 2).
    Amount(u64), "Umsatz", 1, 999_999_999_999
);
number_newtype!(
    /// Skonto (column 13) in cents: 0,01 to 99999999,99.
    Discount(u64), "Skonto", 1, 9_999_999_999
);
number_newtype!(
    /// BU-Schlüssel (column 9): 1-4 digits, written unpadded as in DATEV's sample (§1.5 #9).
    BuKey(u16), "BU-Schlüssel", 1, 9999
);
number_newtype!(
    /// ID der Branchenlösung (header field 28): up to 4 digits.
    IndustrySolutionId(u16), "ID der Branchenlösung", 0, 9999
);

/// Soll/Haben-Kennzeichen (column 2): the side of Konto (column 7); Gegenkonto gets the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `"S"`: debit on Konto.
    Soll,
    /// `"H"`: credit on Konto.
    Haben,
}

impl Side {
    /// `S` or `H`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Soll => "S",
            Side::Haben => "H",
        }
    }
}

/// A calendar date (proleptic Gregorian, years 1-9999). The header accepts 2000-2099 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Checks that the date exists.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, ValueError> {
        if year == 0 || year > 9999 || !check::valid_day(Some(year), month, day) {
            return Err(ValueError::Invalid {
                what: "date",
                reason: format!("{year:04}-{month:02}-{day:02} is not a calendar date"),
            });
        }
        Ok(Self { year, month, day })
    }

    /// Leap year in the Gregorian calendar.
    pub const fn is_leap(year: u16) -> bool {
        (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
    }

    /// Year.
    pub const fn year(self) -> u16 {
        self.year
    }
    /// Month 1-12.
    pub const fn month(self) -> u8 {
        self.month
    }
    /// Day 1-31.
    pub const fn day(self) -> u8 {
        self.day
    }

    /// The same day and month `years` later (29 February becomes 28 February, then 1 March is
    /// not reached: a fiscal year starting on 29 February is not meaningful anyway).
    pub fn add_years(self, years: u16) -> Option<Self> {
        let year = self.year.checked_add(years)?;
        let day = if self.month == 2 && self.day == 29 && !Self::is_leap(year) {
            28
        } else {
            self.day
        };
        Date::new(year, self.month, day).ok()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Erzeugt am (header field 6): `YYYYMMDDHHMMSSFFF`, milliseconds included. The caller supplies
/// it because the component has no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    millisecond: u16,
}

impl Timestamp {
    /// Checks the ranges (date in 2000-2099, as the portal regex requires).
    pub fn new(
        date: Date,
        hour: u8,
        minute: u8,
        second: u8,
        millisecond: u16,
    ) -> Result<Self, ValueError> {
        range("Erzeugt am (year)", u64::from(date.year()), 2000, 2099)?;
        range("Erzeugt am (hour)", u64::from(hour), 0, 23)?;
        range("Erzeugt am (minute)", u64::from(minute), 0, 59)?;
        range("Erzeugt am (second)", u64::from(second), 0, 59)?;
        range("Erzeugt am (millisecond)", u64::from(millisecond), 0, 999)?;
        Ok(Self {
            date,
            hour,
            minute,
            second,
            millisecond,
        })
    }

    /// Date part.
    pub const fn date(self) -> Date {
        self.date
    }
    /// Hour 0-23.
    pub const fn hour(self) -> u8 {
        self.hour
    }
    /// Minute 0-59.
    pub const fn minute(self) -> u8 {
        self.minute
    }
    /// Second 0-59.
    pub const fn second(self) -> u8 {
        self.second
    }
    /// Millisecond 0-999.
    pub const fn millisecond(self) -> u16 {
        self.millisecond
    }
}

/// Three-letter currency code (header field 22, columns 3 and 6), `[A-Z]{3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Euro.
    pub const EUR: CurrencyCode = CurrencyCode(*b"EUR");

    /// Checks `[A-Z]{3}`.
    pub fn new(code: &str) -> Result<Self, ValueError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(ValueError::Invalid {
                what: "WKZ",
                reason: format!("{code:?} is not three upper-case letters (ISO 4217)"),
            }),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("EUR")
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kurs (column 4): up to 4 digits, a comma, 2-6 decimals, not zero. Kept as written so a file
/// round-trips byte for byte (`1,240402`, `0,830000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExchangeRate(String);

impl ExchangeRate {
    /// Checks the format (`datev.md` §1.5 #4; DATEV's sample has `0,830000`, so a leading zero
    /// is accepted).
    pub fn new(rate: &str) -> Result<Self, ValueError> {
        validate_kind(4, rate)?;
        Ok(Self(rate.to_owned()))
    }

    /// As written, e.g. `1,240402`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Runs the shared column rule for `column` on `value`; errors become a [`ValueError`].
fn validate_kind(column: u8, value: &str) -> Result<(), ValueError> {
    let Some(col) = columns::column(column) else {
        return Err(ValueError::Invalid {
            what: "column",
            reason: format!("{column} is not a column number 1-125"),
        });
    };
    let mut first_error = None;
    let mut sink = |severity: Severity, _code: Code, reason: String| {
        if severity == Severity::Error && first_error.is_none() {
            first_error = Some(reason);
        }
    };
    if check::check_value(col.kind, value, None, &mut sink) {
        Ok(())
    } else {
        Err(ValueError::Invalid {
            what: col.name,
            reason: first_error.unwrap_or_default(),
        })
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $charset:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name(String);

        impl $name {
            /// Maximum length in characters (after NFC).
            pub const MAX_CHARS: usize = $max;

            /// NFC-normalizes, then checks length and characters.
            pub fn new(value: &str) -> Result<Self, ValueError> {
                text::check_text(value, Self::MAX_CHARS, $charset)
                    .map(|s| Self(s.into_owned()))
                    .map_err(|source| ValueError::Text { what: $what, source })
            }

            /// [`Self::new`] for an owned value: text that is NFC already keeps its
            /// allocation. On error the value comes back with the reason.
            // Used by the component glue (wasm32) for booking texts only.
            #[allow(dead_code)]
            pub(crate) fn from_string(value: String) -> Result<Self, (ValueError, String)> {
                let checked = text::check_text(&value, Self::MAX_CHARS, $charset).map(|s| match s {
                    std::borrow::Cow::Borrowed(_) => None,
                    std::borrow::Cow::Owned(s) => Some(s),
                });
                match checked {
                    Ok(None) => Ok(Self(value)),
                    Ok(Some(nfc)) => Ok(Self(nfc)),
                    Err(source) => Err((ValueError::Text { what: $what, source }, value)),
                }
            }

            /// The text (NFC).
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// True if empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(
    /// Buchungstext (column 14): 0-60 characters, no control characters.
    BookingText, "Buchungstext", 60, Charset::Any
);
text_newtype!(
    /// Belegfeld 1 (column 11): invoice number, 0-36 characters of `A-Z a-z 0-9 $ % / -`
    /// (`_ & * +` are admitted by one DATEV source each and accepted with a validator warning).
    DocumentField1, "Belegfeld 1", 36, Charset::DocumentNumber
);
text_newtype!(
    /// Belegfeld 2 (column 12): 0-12 characters, same set as Belegfeld 1.
    DocumentField2, "Belegfeld 2", 12, Charset::DocumentNumber
);
text_newtype!(
    /// Bezeichnung (header field 17): 0-30 characters of letters, digits, `_`, space, `.`, `/`.
    BatchLabel, "Bezeichnung", 30, Charset::Label
);
text_newtype!(
    /// Herkunft (header field 8): `\w{0,2}`, e.g. `RE`.
    Origin, "Herkunft", 2, Charset::Word
);
text_newtype!(
    /// Exportiert von / Importiert von (header fields 9, 10): `\w{0,25}`, no spaces.
    UserName, "Exportiert von", 25, Charset::Word
);
text_newtype!(
    /// Anwendungsinformation (header field 31): 0-16 characters.
    ApplicationInfo, "Anwendungsinformation", 16, Charset::Any
);

/// Diktatkürzel (header field 18): `([A-Z]{2}){0,2}`, i.e. empty, 2 or 4 upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Initials(String);

impl Initials {
    /// Checks the format.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        if matches!(value.len(), 0 | 2 | 4) && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::Invalid {
                what: "Diktatkürzel",
                reason: format!("{value:?} is not empty, 2 or 4 upper-case letters A-Z"),
            })
        }
    }
    /// The initials.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Sachkontenrahmen (header field 27): `(\d{2}){0,2}`, e.g. `03` (SKR03) or `04`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ChartOfAccounts(String);

impl ChartOfAccounts {
    /// Checks the format.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        if matches!(value.len(), 0 | 2 | 4) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::Invalid {
                what: "Sachkontenrahmen",
                reason: format!("{value:?} is not empty, 2 or 4 digits"),
            })
        }
    }
    /// The chart, e.g. `03`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Buchungstyp (header field 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingType {
    /// 1, Finanzbuchführung (default).
    FinancialAccounting,
    /// 2, Jahresabschluss.
    AnnualStatement,
}

impl BookingType {
    /// The number written.
    pub const fn number(self) -> u8 {
        match self {
            BookingType::FinancialAccounting => 1,
            BookingType::AnnualStatement => 2,
        }
    }
    /// From the number written.
    pub fn from_number(n: u8) -> Result<Self, ValueError> {
        match n {
            1 => Ok(Self::FinancialAccounting),
            2 => Ok(Self::AnnualStatement),
            _ => Err(ValueError::Invalid {
                what: "Buchungstyp",
                reason: format!("{n} is not 1 (Finanzbuchführung) or 2 (Jahresabschluss)"),
            }),
        }
    }
}

/// Rechnungslegungszweck (header field 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountingPurpose {
    /// 0, unabhängig (default).
    Independent,
    /// 30, Steuerrecht.
    Tax,
    /// 40, Kalkulatorik.
    Calculatory,
    /// 50, Handelsrecht.
    Commercial,
    /// 64, IFRS.
    Ifrs,
}

impl AccountingPurpose {
    /// The number written.
    pub const fn number(self) -> u8 {
        match self {
            AccountingPurpose::Independent => 0,
            AccountingPurpose::Tax => 30,
            AccountingPurpose::Calculatory => 40,
            AccountingPurpose::Commercial => 50,
            AccountingPurpose::Ifrs => 64,
        }
    }
    /// From the number written.
    pub fn from_number(n: u8) -> Result<Self, ValueError> {
        Ok(match n {
            0 => Self::Independent,
            30 => Self::Tax,
            40 => Self::Calculatory,
            50 => Self::Commercial,
            64 => Self::Ifrs,
            _ => {
                return Err(ValueError::Invalid {
                    what: "Rechnungslegungszweck",
                    reason: format!("{n} is not one of 0, 30, 40, 50, 64"),
                });
            }
        })
    }
}

/// The header line of a Buchungsstapel (header version 700, category 21, Formatversion 13;
/// `datev.md` §1.4). Fixed fields (1-5, 7, 23-26, 29, 30) are not stored: the writer always
/// writes `"EXTF";700;21;"Buchungsstapel";13` and the reserved fields empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Field 6, Erzeugt am.
    pub created_at: Timestamp,
    /// Field 8, Herkunft (e.g. `RE`).
    pub origin: Origin,
    /// Field 9, Exportiert von.
    pub exported_by: UserName,
    /// Field 10, Importiert von (normally empty).
    pub imported_by: UserName,
    /// Field 11, Beraternummer.
    pub consultant: ConsultantNumber,
    /// Field 12, Mandantennummer.
    pub client: ClientNumber,
    /// Field 13, WJ-Beginn (start of the fiscal year).
    pub fiscal_year_start: Date,
    /// Field 14, Sachkontenlänge.
    pub account_length: AccountLength,
    /// Field 15, Datum vom (period start).
    pub period_from: Date,
    /// Field 16, Datum bis (period end).
    pub period_to: Date,
    /// Field 17, Bezeichnung (batch label).
    pub label: BatchLabel,
    /// Field 18, Diktatkürzel.
    pub initials: Initials,
    /// Field 19, Buchungstyp.
    pub booking_type: BookingType,
    /// Field 20, Rechnungslegungszweck.
    pub purpose: AccountingPurpose,
    /// Field 21, Festschreibung, always written explicitly (DATEV's default when absent is 1 =
    /// locked, §1.7). The writer also writes it into column 114 of every row.
    pub festschreibung: bool,
    /// Field 22, WKZ (batch currency).
    pub currency: CurrencyCode,
    /// Field 27, Sachkontenrahmen.
    pub chart_of_accounts: ChartOfAccounts,
    /// Field 28, ID der Branchenlösung.
    pub industry_solution: Option<IndustrySolutionId>,
    /// Field 31, Anwendungsinformation.
    pub application_info: ApplicationInfo,
}

/// A cross-field header problem (`datev.md` §1.4, §1.7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header field {field} ({name}): {reason}")]
pub struct HeaderProblem {
    /// Header field number.
    pub field: u16,
    /// Header field name.
    pub name: &'static str,
    /// The finding code.
    pub code: Code,
    /// Why.
    pub reason: String,
}

impl Header {
    /// A header with DATEV's defaults for the optional fields: Buchungstyp 1, purpose 0, EUR,
    /// no lock (Festschreibung 0), empty texts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        created_at: Timestamp,
        consultant: ConsultantNumber,
        client: ClientNumber,
        fiscal_year_start: Date,
        account_length: AccountLength,
        period_from: Date,
        period_to: Date,
    ) -> Self {
        Self {
            created_at,
            origin: Origin::default(),
            exported_by: UserName::default(),
            imported_by: UserName::default(),
            consultant,
            client,
            fiscal_year_start,
            account_length,
            period_from,
            period_to,
            label: BatchLabel::default(),
            initials: Initials::default(),
            booking_type: BookingType::FinancialAccounting,
            purpose: AccountingPurpose::Independent,
            festschreibung: false,
            currency: CurrencyCode::EUR,
            chart_of_accounts: ChartOfAccounts::default(),
            industry_solution: None,
            application_info: ApplicationInfo::default(),
        }
    }

    /// Cross-field rules: dates in 2000-2099, Datum vom ≤ Datum bis, the period inside one
    /// calendar year (#REW04404) and inside the fiscal year that starts at WJ-Beginn.
    pub fn problems(&self) -> Vec<HeaderProblem> {
        period_problems(self.fiscal_year_start, self.period_from, self.period_to)
    }
}

/// Shared by [`Header::problems`] and the validator.
pub(crate) fn period_problems(fy: Date, from: Date, to: Date) -> Vec<HeaderProblem> {
    let mut out = Vec::new();
    let mut p = |field: u16, code: Code, reason: String| {
        out.push(HeaderProblem {
            field,
            name: columns::HEADER_FIELD_NAMES[usize::from(field) - 1],
            code,
            reason,
        })
    };
    for (field, d) in [(13u16, fy), (15, from), (16, to)] {
        if !(2000..=2099).contains(&d.year()) {
            p(field, Code::Range, format!("{d}: year outside 2000-2099"));
        }
    }
    if from > to {
        p(
            16,
            Code::Range,
            format!("Datum bis {to} is before Datum vom {from}"),
        );
        return out;
    }
    if from.year() != to.year() {
        p(
            16,
            Code::FiscalYear,
            format!("period {from} to {to} spans two calendar years; DATEV refuses it (#REW04404)"),
        );
    }
    match fy.add_years(1) {
        Some(next) if from >= fy && to < next => {}
        Some(next) => {
            let (field, what) = if from < fy {
                (15, "starts before")
            } else {
                (16, "ends after")
            };
            p(
                field,
                Code::FiscalYear,
                format!(
                    "period {from} to {to} {what} the fiscal year {fy} to {} (WJ-Beginn, field 13); one batch must lie in one fiscal year",
                    next.add_days_back_one()
                ),
            );
        }
        None => p(13, Code::Range, format!("{fy}: no following fiscal year")),
    }
    out
}

impl Date {
    fn add_days_back_one(self) -> Date {
        let (y, m, d) = (self.year, self.month, self.day);
        if d > 1 {
            return Date {
                year: y,
                month: m,
                day: d - 1,
            };
        }
        let (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        let last = (28..=31)
            .rev()
            .find(|&d| check::valid_day(Some(y), m, d))
            .unwrap_or(28);
        Date {
            year: y,
            month: m,
            day: last,
        }
    }
}

/// A value in one of the columns the typed [`Booking`] has no named field for (15-125 except
/// 114), checked against that column's rule (`datev.md` §1.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtraField {
    column: u8,
    value: String,
}

impl ExtraField {
    /// Checks the column number and the value. Text is NFC-normalized; an empty value is
    /// refused (leave the column out instead).
    pub fn new(column: u8, value: &str) -> Result<Self, ValueError> {
        if columns::is_core(column) || usize::from(column) > columns::COLUMN_COUNT || column == 0 {
            return Err(ValueError::Invalid {
                what: "column",
                reason: format!(
                    "{column} is not an extra column (15-125 except 114; 1-14 are Booking's named fields and 114 comes from the header)"
                ),
            });
        }
        if value.is_empty() {
            return Err(ValueError::Invalid {
                what: columns::COLUMNS[usize::from(column) - 1].name,
                reason: "empty value; leave the column out instead".to_owned(),
            });
        }
        let col = &columns::COLUMNS[usize::from(column) - 1];
        let value = match col.kind {
            Kind::Text { .. } => text::to_nfc(value).into_owned(),
            _ => value.to_owned(),
        };
        validate_kind(column, &value)?;
        Ok(Self { column, value })
    }

    /// Column number (15-125, not 114).
    pub const fn column(&self) -> u8 {
        self.column
    }

    /// The value as written (without quotes).
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The extra columns of a booking, sorted by column number, at most one value per column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Extras(Vec<ExtraField>);

impl Extras {
    /// Sets a column, replacing an earlier value of the same column.
    pub fn insert(&mut self, field: ExtraField) {
        match self.0.binary_search_by_key(&field.column, |f| f.column) {
            Ok(i) => self.0[i] = field,
            Err(i) => self.0.insert(i, field),
        }
    }

    /// The value of `column`, if set.
    pub fn get(&self, column: u8) -> Option<&str> {
        self.0
            .binary_search_by_key(&column, |f| f.column)
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// All set columns, in column order.
    pub fn iter(&self) -> std::slice::Iter<'_, ExtraField> {
        self.0.iter()
    }

    /// Number of set columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if none is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Extras {
    type Item = &'a ExtraField;
    type IntoIter = std::slice::Iter<'a, ExtraField>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One row of a Buchungsstapel (`datev.md` §1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// Column 1, Umsatz (positive; the sign is [`Booking::side`]).
    pub amount: Amount,
    /// Column 2, Soll/Haben-Kennzeichen.
    pub side: Side,
    /// Column 3, WKZ Umsatz; `None` = the header's currency (field 22).
    pub currency: Option<CurrencyCode>,
    /// Column 4, Kurs; needs columns 5 and 6.
    pub exchange_rate: Option<ExchangeRate>,
    /// Column 5, Basis-Umsatz; needs column 6.
    pub base_amount: Option<Amount>,
    /// Column 6, WKZ Basis-Umsatz; needs column 5.
    pub base_currency: Option<CurrencyCode>,
    /// Column 7, Konto.
    pub account: AccountNumber,
    /// Column 8, Gegenkonto (ohne BU-Schlüssel).
    pub contra_account: AccountNumber,
    /// Column 9, BU-Schlüssel.
    pub bu_key: Option<BuKey>,
    /// Column 10, Belegdatum; written as DDMM, so it must lie in the header's period.
    pub document_date: Date,
    /// Column 11, Belegfeld 1 (invoice number, open-item key).
    pub document_field_1: DocumentField1,
    /// Column 12, Belegfeld 2.
    pub document_field_2: DocumentField2,
    /// Column 13, Skonto.
    pub discount: Option<Discount>,
    /// Column 14, Buchungstext.
    pub text: BookingText,
    /// Columns 15-125 except 114.
    pub extras: Extras,
}

impl Booking {
    /// A booking with the required columns; every optional column empty.
    pub fn new(
        amount: Amount,
        side: Side,
        account: AccountNumber,
        contra_account: AccountNumber,
        document_date: Date,
    ) -> Self {
        Self {
            amount,
            side,
            currency: None,
            exchange_rate: None,
            base_amount: None,
            base_currency: None,
            account,
            contra_account,
            bu_key: None,
            document_date,
            document_field_1: DocumentField1::default(),
            document_field_2: DocumentField2::default(),
            discount: None,
            text: BookingText::default(),
            extras: Extras::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtype_ranges() {
        assert!(ConsultantNumber::new(1000).is_err());
        assert!(ConsultantNumber::new(1001).is_ok());
        assert!(ConsultantNumber::new(10_000_000).is_err());
        assert!(ClientNumber::new(0).is_err());
        assert!(ClientNumber::new(100_000).is_err());
        assert!(AccountLength::new(3).is_err());
        assert!(AccountLength::new(9).is_err());
        assert!(Amount::new(0).is_err());
        assert!(Amount::new(999_999_999_999).is_ok());
        assert!(Amount::new(1_000_000_000_000).is_err());
        assert!(BuKey::new(10_000).is_err());
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(2024, 2, 29).is_ok());
    }

    #[test]
    fn texts_are_nfc_and_bounded() {
        assert_eq!(
            BookingText::new("Gebu\u{0308}hr").map(|t| t.0),
            Ok("Gebühr".to_owned())
        );
        assert!(BookingText::new(&"x".repeat(61)).is_err());
        assert!(BookingText::new("a\nb").is_err());
        assert!(DocumentField1::new("RE 2024").is_err());
        assert!(DocumentField1::new("RE-2024/01").is_ok());
        assert!(BatchLabel::new("Rechnungsausgang 09/2019").is_ok());
        assert!(BatchLabel::new("Buchungen 2024-01").is_err());
        assert!(UserName::new("Max Muster").is_err());
        assert!(Initials::new("WD").is_ok());
        assert!(Initials::new("W").is_err());
    }

    #[test]
    fn extra_fields() {
        assert_eq!(
            ExtraField::new(37, "100").map(|f| f.value),
            Ok("100".to_owned())
        );
        assert!(ExtraField::new(14, "x").is_err());
        assert!(ExtraField::new(114, "0").is_err());
        assert!(ExtraField::new(126, "0").is_err());
        assert!(ExtraField::new(115, "31022024").is_err());
        assert!(ExtraField::new(115, "29022024").is_ok());
        let mut e = Extras::default();
        e.insert(ExtraField::new(116, "01012024").unwrap_or_else(|e| panic!("{e}")));
        e.insert(ExtraField::new(115, "01012024").unwrap_or_else(|e| panic!("{e}")));
        e.insert(ExtraField::new(116, "02012024").unwrap_or_else(|e| panic!("{e}")));
        let cols: Vec<u8> = e.iter().map(ExtraField::column).collect();
        assert_eq!(cols, vec![115, 116]);
        assert_eq!(e.get(116), Some("02012024"));
    }

    fn d(y: u16, m: u8, day: u8) -> Date {
        Date::new(y, m, day).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn period_rules() {
        assert!(period_problems(d(2024, 1, 1), d(2024, 1, 1), d(2024, 1, 31)).is_empty());
        let p = period_problems(d(2024, 7, 1), d(2024, 12, 1), d(2025, 1, 31));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, Code::FiscalYear);
        assert!(p[0].reason.contains("#REW04404"), "{}", p[0].reason);
        let p = period_problems(d(2024, 7, 1), d(2025, 6, 1), d(2025, 7, 31));
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].field, p[0].code), (16, Code::FiscalYear));
        assert!(p[0].reason.contains("2025-06-30"), "{}", p[0].reason);
        let p = period_problems(d(2024, 1, 1), d(2023, 12, 1), d(2023, 12, 31));
        assert_eq!((p[0].field, p[0].code), (15, Code::FiscalYear));
        let p = period_problems(d(2024, 1, 1), d(2024, 2, 1), d(2024, 1, 31));
        assert_eq!((p[0].field, p[0].code), (16, Code::Range));
    }
}
