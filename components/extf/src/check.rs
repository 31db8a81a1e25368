//! Value rules per column kind, shared by the model constructors and the validator, so that
//! "the model admits it" and "the validator finds no error" mean the same thing.

use crate::columns::Kind;
use crate::finding::{Code, Severity};
use crate::model::Date;
use crate::text::{self, CharVerdict};

/// Receives the problems found in one value.
pub(crate) trait Sink {
    fn problem(&mut self, severity: Severity, code: Code, reason: String);
}

impl<F: FnMut(Severity, Code, String)> Sink for F {
    fn problem(&mut self, severity: Severity, code: Code, reason: String) {
        self(severity, code, reason)
    }
}

pub(crate) fn all_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// Parses up to 19 ASCII digits.
pub(crate) fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Splits `int,frac` into digit strings; `None` if not of that shape.
fn split_decimal(v: &str) -> Option<(&str, Option<&str>)> {
    match v.split_once(',') {
        Some((i, f)) if all_digits(i) && all_digits(f) => Some((i, Some(f))),
        None if all_digits(v) => Some((v, None)),
        _ => None,
    }
}

/// Parses an amount `\d{1,int},\d{2}` into cents. Returns the cents and whether the decimals
/// were missing (DATEV's sample writes `64083`; accepted with a warning).
pub(crate) fn parse_amount(v: &str, int: u8) -> Result<(u64, bool), String> {
    let Some((i, f)) = split_decimal(v) else {
        return Err(format!(
            "not an amount: expected up to {int} digits, a comma and two decimals (e.g. 1234,56), no sign, no thousands separator"
        ));
    };
    if i.len() > usize::from(int) {
        return Err(format!(
            "{} digits before the comma, at most {int} allowed",
            i.len()
        ));
    }
    let whole = parse_u64(i).ok_or_else(|| "not an amount".to_owned())?;
    let (cents, missing) = match f {
        Some(f) if f.len() == 2 => (whole * 100 + parse_u64(f).unwrap_or(0), false),
        Some(f) => {
            return Err(format!(
                "{} decimals, exactly 2 required (decimal comma, e.g. 99,99)",
                f.len()
            ));
        }
        None => (whole * 100, true),
    };
    if cents == 0 {
        return Err(
            "amount is zero; DATEV requires a positive amount (sign goes in Soll/Haben)".to_owned(),
        );
    }
    Ok((cents, missing))
}

/// Checks a day and month, with `year` if known (for 29 February).
pub(crate) fn valid_day(year: Option<u16>, month: u8, day: u8) -> bool {
    if !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let max = match month {
        2 => match year {
            Some(y) if !Date::is_leap(y) => 28,
            _ => 29,
        },
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= max
}

fn two(v: &[u8]) -> u8 {
    (v[0] - b'0') * 10 + (v[1] - b'0')
}

/// Parses `DDMMYYYY` (2000-2099).
pub(crate) fn parse_ddmmyyyy(v: &str) -> Result<Date, String> {
    let b = v.as_bytes();
    if b.len() != 8 || !all_digits(v) {
        return Err("expected a date DDMMYYYY (8 digits)".to_owned());
    }
    let day = two(&b[0..2]);
    let month = two(&b[2..4]);
    let year = u16::from(two(&b[4..6])) * 100 + u16::from(two(&b[6..8]));
    if !(2000..=2099).contains(&year) {
        return Err(format!("year {year} outside 2000-2099"));
    }
    Date::new(year, month, day)
        .map_err(|_| format!("{day:02}.{month:02}.{year} is not a calendar date"))
}

/// Parses `YYYYMMDD` (2000-2099), the header's date format.
pub(crate) fn parse_yyyymmdd(v: &str) -> Result<Date, String> {
    let b = v.as_bytes();
    if b.len() != 8 || !all_digits(v) {
        return Err("expected a date YYYYMMDD (8 digits)".to_owned());
    }
    let year = u16::from(two(&b[0..2])) * 100 + u16::from(two(&b[2..4]));
    let month = two(&b[4..6]);
    let day = two(&b[6..8]);
    if !(2000..=2099).contains(&year) {
        return Err(format!("year {year} outside 2000-2099"));
    }
    Date::new(year, month, day)
        .map_err(|_| format!("{year}-{month:02}-{day:02} is not a calendar date"))
}

/// Parses `DDMM` (Belegdatum, column 10); the year comes from the header.
pub(crate) fn parse_ddmm(v: &str, year: Option<u16>) -> Result<(u8, u8), String> {
    let b = v.as_bytes();
    if !all_digits(v) {
        return Err("expected DDMM (4 digits, day then month)".to_owned());
    }
    match b.len() {
        4 => {}
        3 => {
            return Err("3 digits: DDMM needs a leading zero (e.g. 0506, not 506), a typical spreadsheet defect".to_owned());
        }
        8 => {
            return Err(
                "a full date; DATEV expects DDMM, the year comes from the header".to_owned(),
            );
        }
        n => return Err(format!("{n} digits, expected DDMM (4 digits)")),
    }
    let day = two(&b[0..2]);
    let month = two(&b[2..4]);
    if !valid_day(year, month, day) {
        return Err(format!(
            "day {day:02} of month {month:02} is not a calendar date"
        ));
    }
    Ok((day, month))
}

/// Checks a non-empty value `v` against `kind`, reporting every problem to `sink`. Returns false
/// if any problem is an error. `account_len` (header field 14) bounds account numbers.
pub(crate) fn check_value(
    kind: Kind,
    v: &str,
    account_len: Option<u8>,
    sink: &mut impl Sink,
) -> bool {
    match kind {
        Kind::Text { max, charset } => {
            if text::ascii_fits(v, usize::from(max), charset) {
                return true;
            }
            let nfc = text::to_nfc(v);
            let mut ok = true;
            let len = text::char_len(&nfc);
            if len > usize::from(max) {
                sink.problem(
                    Severity::Error,
                    Code::TooLong,
                    format!("{len} characters (after NFC), at most {max} allowed; DATEV would cut or refuse it"),
                );
                ok = false;
            }
            let mut doubtful = None;
            for (i, c) in nfc.chars().enumerate() {
                match text::check_char(charset, c) {
                    CharVerdict::Ok => {}
                    CharVerdict::Doubtful => {
                        doubtful.get_or_insert((i, c));
                    }
                    CharVerdict::Forbidden => {
                        let what = if text::is_control(c) {
                            "a control character (line breaks are not allowed in DATEV text)"
                                .to_owned()
                        } else {
                            format!(
                                "not allowed here (allowed: {})",
                                text::charset_description(charset)
                            )
                        };
                        sink.problem(
                            Severity::Error,
                            Code::Charset,
                            format!(
                                "character {c:?} (U+{:04X}) at position {} is {what}",
                                u32::from(c),
                                i + 1
                            ),
                        );
                        ok = false;
                        break;
                    }
                }
            }
            if let Some((i, c)) = doubtful {
                sink.problem(
                    Severity::Warning,
                    Code::Charset,
                    format!(
                        "character {c:?} at position {} is admitted by only one DATEV source (portal regex or field text); safe set: {}",
                        i + 1,
                        text::charset_description(charset)
                    ),
                );
            }
            if matches!(nfc, std::borrow::Cow::Owned(_)) {
                sink.problem(
                    Severity::Warning,
                    Code::NotNfc,
                    "text is not in Unicode NFC (e.g. decomposed umlauts); it is normalized before the length check and DATEV may show it differently".to_owned(),
                );
            }
            // Checked on the NFC text computed above (no second normalization).
            if let Some(c) = nfc
                .chars()
                .find(|&c| text::to_windows_1252(c).is_none() && !text::is_control(c))
            {
                sink.problem(
                    Severity::Warning,
                    Code::NotWindows1252,
                    format!(
                        "character {c:?} (U+{:04X}) is outside Windows-1252; DATEV Rechnungswesen may not show it",
                        u32::from(c)
                    ),
                );
            }
            ok
        }
        Kind::Code { len } => {
            if v.len() == usize::from(len) && v.bytes().all(|b| b.is_ascii_uppercase()) {
                true
            } else {
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    format!("expected exactly {len} upper-case letters A-Z"),
                );
                false
            }
        }
        Kind::QuotedChoice(list) | Kind::Choice(list) => {
            if list.contains(&v) {
                true
            } else {
                sink.problem(
                    Severity::Error,
                    Code::Range,
                    format!("allowed values: {}", list.join(", ")),
                );
                false
            }
        }
        Kind::QuotedDigits { max } => {
            if all_digits(v) && v.len() <= usize::from(max) {
                true
            } else {
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    format!("expected 1 to {max} digits"),
                );
                false
            }
        }
        Kind::Amount { int } => match parse_amount(v, int) {
            Ok((_, false)) => true,
            Ok((_, true)) => {
                sink.problem(
                    Severity::Warning,
                    Code::Format,
                    "amount without decimals; the portal regex requires a comma and two decimals (DATEV's own sample has one such amount)".to_owned(),
                );
                true
            }
            Err(reason) => {
                let code = if reason.starts_with("amount is zero") {
                    Code::Range
                } else {
                    Code::Format
                };
                sink.problem(Severity::Error, code, reason);
                false
            }
        },
        Kind::Decimal {
            int_max,
            frac_min,
            frac_max,
            nonzero,
        } => {
            let shape = split_decimal(v);
            let ok = match shape {
                Some((i, f)) => {
                    let fl = f.map_or(0, str::len);
                    i.len() <= usize::from(int_max)
                        && fl >= usize::from(frac_min)
                        && fl <= usize::from(frac_max)
                        && !(f.is_some() && fl == 0)
                }
                None => false,
            };
            if !ok {
                let frac = if frac_min == frac_max {
                    format!("exactly {frac_min}")
                } else {
                    format!("{frac_min} to {frac_max}")
                };
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    format!("expected up to {int_max} digits, then a comma and {frac} decimals"),
                );
                return false;
            }
            if nonzero && v.bytes().all(|b| b == b'0' || b == b',') {
                sink.problem(
                    Severity::Error,
                    Code::Range,
                    "zero is not allowed".to_owned(),
                );
                return false;
            }
            true
        }
        Kind::Digits { min, max, nonzero } => {
            let zero = all_digits(v) && v.bytes().all(|b| b == b'0');
            if !all_digits(v) || v.len() > usize::from(max) {
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    format!("expected {min} to {max} digits"),
                );
                false
            } else if nonzero && zero {
                sink.problem(
                    Severity::Error,
                    Code::Range,
                    "zero is not allowed".to_owned(),
                );
                false
            } else if v.len() < usize::from(min) {
                if zero {
                    sink.problem(
                        Severity::Warning,
                        Code::Format,
                        format!("0 for \"none\" (as DATEV's own sample writes); the portal regex expects {min} to {max} digits or an empty field"),
                    );
                    true
                } else {
                    sink.problem(
                        Severity::Error,
                        Code::Format,
                        format!("expected {min} to {max} digits"),
                    );
                    false
                }
            } else {
                true
            }
        }
        Kind::Account => {
            if !all_digits(v) || v.len() > 9 {
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    "expected an account number of 1 to 9 digits, unquoted".to_owned(),
                );
                return false;
            }
            if v.bytes().all(|b| b == b'0') {
                sink.problem(
                    Severity::Error,
                    Code::Range,
                    "account 0 does not exist".to_owned(),
                );
                return false;
            }
            let digits = v.trim_start_matches('0').len();
            match account_len {
                Some(len) if digits > usize::from(len) + 1 => {
                    sink.problem(
                        Severity::Error,
                        Code::AccountLength,
                        format!(
                            "{digits} digits; with Sachkontenlänge {len} (header field 14) G/L accounts have at most {len} and personal accounts {} digits",
                            len + 1
                        ),
                    );
                    false
                }
                _ => true,
            }
        }
        Kind::DayMonth => match parse_ddmm(v, None) {
            Ok(_) => true,
            Err(reason) => {
                sink.problem(Severity::Error, Code::InvalidDate, reason);
                false
            }
        },
        Kind::Date => match parse_ddmmyyyy(v) {
            Ok(_) => true,
            Err(reason) => {
                sink.problem(Severity::Error, Code::InvalidDate, reason);
                false
            }
        },
        Kind::Year => {
            let ok = v.len() == 4 && parse_u64(v).is_some_and(|y| (2000..=2099).contains(&y));
            if !ok {
                sink.problem(
                    Severity::Error,
                    Code::Format,
                    "expected a year YYYY in 2000-2099".to_owned(),
                );
            }
            ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::column;

    fn run(col: u8, v: &str, len: Option<u8>) -> (bool, Vec<(Severity, Code)>) {
        let mut got = Vec::new();
        let kind = column(col).map(|c| c.kind).unwrap_or(Kind::Year);
        let ok = check_value(kind, v, len, &mut |s, c, _r: String| got.push((s, c)));
        (ok, got)
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("1234,56", 10), Ok((123_456, false)));
        assert_eq!(parse_amount("64083", 10), Ok((6_408_300, true)));
        assert!(parse_amount("0,00", 10).is_err());
        assert!(parse_amount("1.234,56", 10).is_err());
        assert!(parse_amount("-5,00", 10).is_err());
        assert!(parse_amount("12345678901,00", 10).is_err());
        assert!(parse_amount("1,5", 10).is_err());
        assert_eq!(
            run(1, "0,00", None),
            (false, vec![(Severity::Error, Code::Range)])
        );
        assert_eq!(
            run(1, "64083", None),
            (true, vec![(Severity::Warning, Code::Format)])
        );
    }

    #[test]
    fn accounts() {
        assert_eq!(run(7, "8400", Some(4)), (true, vec![]));
        assert_eq!(run(7, "10000", Some(4)), (true, vec![]));
        assert_eq!(run(7, "85", Some(4)), (true, vec![]));
        assert_eq!(
            run(7, "123456", Some(4)),
            (false, vec![(Severity::Error, Code::AccountLength)])
        );
        assert_eq!(
            run(7, "0", Some(4)),
            (false, vec![(Severity::Error, Code::Range)])
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_ddmm("0105", None), Ok((1, 5)));
        assert!(
            parse_ddmm("506", None)
                .unwrap_err()
                .contains("leading zero")
        );
        assert!(parse_ddmm("3102", None).is_err());
        assert!(parse_ddmm("2902", Some(2023)).is_err());
        assert!(parse_ddmm("2902", Some(2024)).is_ok());
        assert!(parse_ddmmyyyy("31022024").is_err());
        assert_eq!(
            parse_yyyymmdd("20240101"),
            Date::new(2024, 1, 1).map_err(|e| e.to_string())
        );
    }

    #[test]
    fn zero_for_none_is_a_warning_where_datev_writes_it() {
        assert_eq!(
            run(101, "0", None),
            (true, vec![(Severity::Warning, Code::Format)])
        );
        assert_eq!(run(101, "8070", None), (true, vec![]));
        assert_eq!(
            run(101, "807", None),
            (false, vec![(Severity::Error, Code::Format)])
        );
        assert_eq!(
            run(43, "0", None),
            (false, vec![(Severity::Error, Code::Range)])
        );
    }

    #[test]
    fn belegfeld_charset() {
        assert_eq!(run(11, "AR-78/13", None), (true, vec![]));
        assert_eq!(
            run(11, "RE_1", None),
            (true, vec![(Severity::Warning, Code::Charset)])
        );
        assert_eq!(
            run(11, "RE 1", None),
            (false, vec![(Severity::Error, Code::Charset)])
        );
        assert_eq!(
            run(11, "RE.1", None),
            (false, vec![(Severity::Error, Code::Charset)])
        );
        assert_eq!(
            run(11, &"1".repeat(37), None),
            (false, vec![(Severity::Error, Code::TooLong)])
        );
    }
}
