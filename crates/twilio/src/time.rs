//! The few date formats Twilio uses, parsed without a date library.
//!
//! - `Retry-After` as an HTTP-date: IMF-fixdate, plus the obsolete RFC 850 and asctime forms a
//!   recipient must accept (RFC 9110 §5.6.7, §10.2.3).
//! - Timestamps of the 2010-04-01 API in RFC 2822 form, `Thu, 30 Jul 2015 20:12:31 +0000`
//!   (twilio.md §2.2; RFC 5322 §3.3).
//! - The `DateSent>` list filter, a GMT calendar date `YYYY-MM-DD` (twilio.md §3.4).

use std::fmt;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible
/// low-level date algorithms", `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn month(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn num(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let (h, m, sec) = (
        num(it.next()?, 2, 2)?,
        num(it.next()?, 2, 2)?,
        num(it.next()?, 2, 2)?,
    );
    // 60 is a leap second (RFC 5322 §3.3); it counts as the next second's start.
    (it.next().is_none() && h < 24 && m < 60 && sec <= 60).then_some((h, m, sec))
}

fn to_unix(y: i64, mo: u32, d: u32, (h, mi, s): (u32, u32, u32), offset_secs: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - offset_secs)
}

/// Parses an HTTP-date (RFC 9110 §5.6.7) into seconds since the Unix epoch.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    match parts.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [wd, d, mo, y, t, "GMT"] if wd.ends_with(',') && wd.len() == 4 => to_unix(
            i64::from(num(y, 4, 4)?),
            month(mo)?,
            num(d, 2, 2)?,
            hms(t)?,
            0,
        ),
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: RFC 9110 says to pick the
        // nearest century no more than 50 years ahead; Retry-After dates are always near now).
        [wd, date, t, "GMT"] if wd.ends_with(',') => {
            let mut it = date.split('-');
            let (d, mo, y) = (
                num(it.next()?, 2, 2)?,
                month(it.next()?)?,
                num(it.next()?, 2, 2)?,
            );
            if it.next().is_some() {
                return None;
            }
            let y = if y < 70 { 2000 + y } else { 1900 + y };
            to_unix(i64::from(y), mo, d, hms(t)?, 0)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_wd, mo, d, t, y] => to_unix(
            i64::from(num(y, 4, 4)?),
            month(mo)?,
            num(d, 1, 2)?,
            hms(t)?,
            0,
        ),
        _ => None,
    }
}

/// Parses an RFC 2822 timestamp as the 2010-04-01 API writes it
/// (`Thu, 30 Jul 2015 20:12:31 +0000`) into seconds since the Unix epoch.
pub(crate) fn parse_rfc2822(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let (d, mo, y, t, zone) = match parts.as_slice() {
        [wd, d, mo, y, t, z] if wd.ends_with(',') => (*d, *mo, *y, *t, *z),
        [d, mo, y, t, z] => (*d, *mo, *y, *t, *z),
        _ => return None,
    };
    let offset = match zone {
        "GMT" | "UT" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh = i64::from(num(&z[1..3], 2, 2)?);
            let mm = i64::from(num(&z[3..5], 2, 2)?);
            let secs = hh * 3600 + mm * 60;
            if z.starts_with('-') { -secs } else { secs }
        }
        _ => return None,
    };
    to_unix(
        i64::from(num(y, 4, 4)?),
        month(mo)?,
        num(d, 1, 2)?,
        hms(t)?,
        offset,
    )
}

/// A calendar date in GMT, as the `DateSent>` / `DateSent<` list filters take it
/// (twilio.md §3.4: `YYYY-MM-DD`, on or after / on or before that day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate {
    year: i64,
    month: u32,
    day: u32,
}

impl UtcDate {
    /// The GMT date containing the instant `unix_ms` (milliseconds since the epoch, as
    /// [`connector::Clock::now_ms`] returns).
    pub fn from_unix_ms(unix_ms: u64) -> Self {
        let (year, month, day) = civil_from_days((unix_ms / 86_400_000) as i64);
        Self { year, month, day }
    }

    /// Year, month (1–12), day (1–31).
    pub fn ymd(&self) -> (i64, u32, u32) {
        (self.year, self.month, self.day)
    }
}

impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_all_three_forms_of_rfc_9110_example() {
        // RFC 9110 §5.6.7's example instant is 784111777.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
    }

    #[test]
    fn http_date_rejects_malformed() {
        for s in [
            "",
            "120",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 2024 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(s), None, "{s:?}");
        }
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
    }

    #[test]
    fn rfc2822_with_offsets() {
        // The Message resource example in Twilio's API reference.
        assert_eq!(
            parse_rfc2822("Thu, 30 Jul 2015 20:12:31 +0000"),
            Some(1_438_287_151)
        );
        assert_eq!(
            parse_rfc2822("Thu, 30 Jul 2015 22:12:31 +0200"),
            Some(1_438_287_151)
        );
        assert_eq!(
            parse_rfc2822("Thu, 30 Jul 2015 15:12:31 -0500"),
            Some(1_438_287_151)
        );
        assert_eq!(
            parse_rfc2822("30 Jul 2015 20:12:31 GMT"),
            Some(1_438_287_151)
        );
        assert_eq!(parse_rfc2822("2015-07-30T20:12:31Z"), None);
    }

    #[test]
    fn utc_date_from_instant() {
        assert_eq!(UtcDate::from_unix_ms(0).to_string(), "1970-01-01");
        assert_eq!(
            UtcDate::from_unix_ms(1_438_287_151_000).to_string(),
            "2015-07-30"
        );
        // One millisecond before midnight GMT stays on the earlier day.
        assert_eq!(
            UtcDate::from_unix_ms(1_709_164_799_999).to_string(),
            "2024-02-28"
        );
        assert_eq!(
            UtcDate::from_unix_ms(1_709_164_800_000).to_string(),
            "2024-02-29"
        );
        assert_eq!(
            UtcDate::from_unix_ms(1_709_164_800_000).ymd(),
            (2024, 2, 29)
        );
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
