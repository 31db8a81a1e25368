//! UTC calendar days for paged, per-day keys (`audit:<yyyymmdd>:<seq>`).

use std::fmt;

/// A UTC calendar day in the proleptic Gregorian calendar, printed `yyyymmdd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: u16,
    month: u8,
    day: u8,
}

impl Day {
    /// The UTC day containing `ms` milliseconds after the Unix epoch.
    ///
    /// Days-to-civil conversion after Howard Hinnant, "chrono-Compatible Low-Level Date
    /// Algorithms" (`civil_from_days`), restricted to dates from 1970 on.
    pub fn from_unix_ms(ms: u64) -> Self {
        let days = ms / 86_400_000;
        // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        Self {
            // u64 milliseconds end in the year 584 million; clamp instead of wrapping.
            year: u16::try_from(year).unwrap_or(u16::MAX),
            month: u8::try_from(month).unwrap_or(12),
            day: u8::try_from(day).unwrap_or(31),
        }
    }

    /// A day from its parts, if it exists.
    pub fn from_ymd(year: u16, month: u8, day: u8) -> Option<Self> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let len = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=len)
            .contains(&day)
            .then_some(Self { year, month, day })
    }

    /// Parses `yyyymmdd`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::from_ymd(
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        )
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(Day::from_unix_ms(0).to_string(), "19700101");
        // 2000-02-29T23:59:59.999Z and the next millisecond.
        assert_eq!(Day::from_unix_ms(951_868_799_999).to_string(), "20000229");
        assert_eq!(Day::from_unix_ms(951_868_800_000).to_string(), "20000301");
        // 2026-11-25T12:00:00Z.
        assert_eq!(Day::from_unix_ms(1_795_608_000_000).to_string(), "20261125");
        // 2100 is not a leap year: 2100-02-28 is followed by 2100-03-01.
        assert_eq!(Day::from_unix_ms(4_107_456_000_000).to_string(), "21000228");
        assert_eq!(Day::from_unix_ms(4_107_542_400_000).to_string(), "21000301");
    }

    #[test]
    fn every_day_round_trips_through_parse() {
        let mut prev = Day::from_unix_ms(0);
        for d in 1..(200 * 366) {
            let day = Day::from_unix_ms(d * 86_400_000);
            assert!(day > prev, "{day} after {prev}");
            assert_eq!(Day::parse(&day.to_string()), Some(day));
            prev = day;
        }
    }

    #[test]
    fn parse_rejects_impossible_dates() {
        assert_eq!(Day::parse("20260230"), None);
        assert_eq!(Day::parse("20261301"), None);
        assert_eq!(Day::parse("2026112"), None);
        assert_eq!(Day::parse("2026-1-25"), None);
        assert_eq!(Day::parse("20240229"), Day::from_ymd(2024, 2, 29));
    }
}
