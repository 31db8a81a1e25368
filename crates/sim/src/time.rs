//! Timestamp formatting for simulated time (no time-zone database needed: everything is UTC).

/// Civil date `(year, month, day)` of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, valid far beyond any simulated date).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u64,
    weekday: usize,
}

fn parts(ms: u64) -> Parts {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        millis: ms % 1000,
        // 1970-01-01 was a Thursday.
        weekday: ((days + 4) % 7) as usize,
    }
}

/// RFC 2822 in GMT, as the Twilio 2010 API writes `date_created`
/// (`Thu, 24 Aug 2023 05:01:45 +0000`, twilio.md §2.2).
pub fn rfc2822(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(ms);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[p.weekday],
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

/// ISO 8601 with seconds and `Z` (`2020-04-13T17:55:42Z`): DATEV job `timestamp`, Verify dates.
pub fn iso8601(ms: u64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// ISO 8601 with milliseconds (`2015-07-10T11:47:04.000Z`), as DXSO protocol entries show.
pub fn iso8601_millis(ms: u64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    )
}

/// `YYYY-MM-DD` in UTC.
pub fn date(ms: u64) -> String {
    let p = parts(ms);
    format!("{:04}-{:02}-{:02}", p.year, p.month, p.day)
}

/// `YYMMDDhhmm`, the carrier delivery time of `RawDlrDoneDate` (twilio.md §7.2).
pub fn dlr_done_date(ms: u64) -> String {
    let p = parts(ms);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        p.year % 100,
        p.month,
        p.day,
        p.hour,
        p.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 2020-04-13T17:55:42Z = 1586800542 s (the DATEV Job example).
        assert_eq!(iso8601(1_586_800_542_000), "2020-04-13T17:55:42Z");
        assert_eq!(
            rfc2822(1_586_800_542_000),
            "Mon, 13 Apr 2020 17:55:42 +0000"
        );
        assert_eq!(
            iso8601_millis(1_436_528_824_123),
            "2015-07-10T11:47:04.123Z"
        );
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(dlr_done_date(1_586_800_542_000), "2004131755");
        // Leap day.
        assert_eq!(date(1_709_164_800_000), "2024-02-29");
    }
}
