//! Findings: what is wrong with a file or a value, where, and why.

use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// DATEV would reject the file or the row, or would silently change it.
    Error,
    /// Accepted by DATEV in practice (often DATEV's own sample does it), but outside the
    /// documented format, or only one source admits it.
    Warning,
}

/// The kind of a finding; stable for programs, while [`Finding::reason`] is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// Byte-order mark, undecodable bytes, or UTF-8 without BOM (read as Windows-1252, §1.2).
    Encoding,
    /// A line not ended by CR LF (§1.1).
    LineEnding,
    /// Missing header or column-name line, an unterminated quote, an empty file.
    Structure,
    /// Wrong number of fields in a line (§1.1: columns are read by position).
    FieldCount,
    /// Text not in quotes, a number in quotes, or characters after a closing quote.
    Quoting,
    /// A required field is empty.
    Required,
    /// The value does not have the field's format (digits, decimals, length of a code).
    Format,
    /// The value is outside the allowed range or list.
    Range,
    /// Longer than allowed (counted in characters after NFC).
    TooLong,
    /// A character outside the field's character set, or a control character.
    Charset,
    /// Text is not in Unicode Normalization Form C (e.g. decomposed umlauts).
    NotNfc,
    /// A character that Windows-1252 cannot hold.
    NotWindows1252,
    /// Not a calendar date.
    InvalidDate,
    /// A Belegdatum outside the header's period (header fields 15/16).
    OutsidePeriod,
    /// The period is not inside one fiscal year and one calendar year (§1.7, #REW04404).
    FiscalYear,
    /// An account number longer than Sachkontenlänge + 1 digits (header field 14).
    AccountLength,
    /// Fields that must be filled together are not (§1.7).
    Pairing,
    /// A row contradicts the header (e.g. Festschreibung, column 114 vs header field 21).
    Consistency,
    /// Something other than an EXTF Buchungsstapel, header version 700, Formatversion 13.
    Unsupported,
    /// A reserved field is not empty (header fields 7, 23-26, 29, 30).
    Reserved,
    /// An upload limit (99 999 postings, 1000-character header, 50 MB) or the finding cap.
    Limit,
}

impl Code {
    /// Kebab-case name, as in the WIT interface.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Encoding => "encoding",
            Code::LineEnding => "line-ending",
            Code::Structure => "structure",
            Code::FieldCount => "field-count",
            Code::Quoting => "quoting",
            Code::Required => "required",
            Code::Format => "format",
            Code::Range => "range",
            Code::TooLong => "too-long",
            Code::Charset => "charset",
            Code::NotNfc => "not-nfc",
            Code::NotWindows1252 => "not-windows-1252",
            Code::InvalidDate => "invalid-date",
            Code::OutsidePeriod => "outside-period",
            Code::FiscalYear => "fiscal-year",
            Code::AccountLength => "account-length",
            Code::Pairing => "pairing",
            Code::Consistency => "consistency",
            Code::Unsupported => "unsupported",
            Code::Reserved => "reserved",
            Code::Limit => "limit",
        }
    }
}

/// One problem, located: line (1 = header line, 2 = column names, 3.. = bookings; for a record
/// spanning lines, the line it starts on; 0 = the file as a whole), field number (header field
/// 1-31 on line 1, column 1-125 on booking lines; 0 = the line as a whole), field name, the value
/// as read, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Machine-readable kind.
    pub code: Code,
    /// 1-based line number; 0 for the whole file.
    pub line: u32,
    /// 1-based field number; 0 for the whole line.
    pub field: u16,
    /// Field name as in DATEV's documentation, or `""` for a whole line.
    pub field_name: &'static str,
    /// The offending value as read (at most [`Finding::MAX_VALUE_CHARS`] characters, then `…`).
    pub value: String,
    /// Why it is a problem, in English.
    pub reason: String,
}

impl Finding {
    /// Values longer than this are cut in findings, so hostile input cannot blow up a report.
    pub const MAX_VALUE_CHARS: usize = 200;

    /// An error finding.
    pub fn error(
        code: Code,
        line: u32,
        field: u16,
        field_name: &'static str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(
            Severity::Error,
            code,
            line,
            field,
            field_name,
            value,
            reason,
        )
    }

    /// A warning finding.
    pub fn warning(
        code: Code,
        line: u32,
        field: u16,
        field_name: &'static str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(
            Severity::Warning,
            code,
            line,
            field,
            field_name,
            value,
            reason,
        )
    }

    /// A finding of the given severity.
    pub fn new(
        severity: Severity,
        code: Code,
        line: u32,
        field: u16,
        field_name: &'static str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            line,
            field,
            field_name,
            value: clip(value),
            reason: reason.into(),
        }
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

fn clip(value: &str) -> String {
    match value.char_indices().nth(Finding::MAX_VALUE_CHARS) {
        Some((cut, _)) => {
            let mut s = String::with_capacity(cut + 3);
            s.push_str(&value[..cut]);
            s.push('…');
            s
        }
        None => value.to_owned(),
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev} [{}] line {}", self.code.as_str(), self.line)?;
        if self.field != 0 {
            write!(f, ", field {} ({})", self.field, self.field_name)?;
        }
        write!(f, ", value {:?}: {}", self.value, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_clipped() {
        let f = Finding::error(Code::TooLong, 3, 14, "Buchungstext", &"x".repeat(500), "r");
        assert_eq!(f.value.chars().count(), Finding::MAX_VALUE_CHARS + 1);
        assert!(f.value.ends_with('…'));
    }

    #[test]
    fn display_names_line_field_and_reason() {
        let f = Finding::error(
            Code::Range,
            5,
            1,
            "Umsatz (ohne Soll/Haben-Kz)",
            "0,00",
            "must not be zero",
        );
        assert_eq!(
            f.to_string(),
            "error [range] line 5, field 1 (Umsatz (ohne Soll/Haben-Kz)), value \"0,00\": must not be zero"
        );
    }
}
