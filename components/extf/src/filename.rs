//! Upload file names (`datev.md` §1.3): the API's `Filename` header must match
//! `EXTF_.{0,51}\.csv` (at most 60 characters) and disallowed characters would become `_`.
//! Rather than let DATEV rewrite a name, this module admits only a whitelist and refuses
//! anything else with the reason.

use std::fmt;

use crate::model::Header;

/// Longest admitted name (`EXTF_` + 51 + `.csv`).
pub const MAX_FILE_NAME_CHARS: usize = 60;
const PREFIX: &str = "EXTF_";
const SUFFIX: &str = ".csv";

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    /// The name is empty.
    #[error("file name is empty")]
    Empty,
    /// Longer than [`MAX_FILE_NAME_CHARS`].
    #[error("file name has {0} characters, at most 60 allowed (EXTF_ + 51 + .csv)")]
    TooLong(usize),
    /// Does not start with `EXTF_`.
    #[error("file name must start with EXTF_")]
    MissingPrefix,
    /// Does not end with lower-case `.csv` (the API's handling of `.CSV` is unclear, §1.3).
    #[error("file name must end with lower-case .csv")]
    MissingExtension,
    /// A character outside `A-Z a-z 0-9 _ -` between prefix and extension.
    #[error("character {0:?} is not allowed in a file name (allowed: A-Z a-z 0-9 _ -)")]
    ForbiddenCharacter(char),
}

/// A checked upload file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

impl FileName {
    /// Checks `name` against the whitelist: `EXTF_`, then only `A-Z a-z 0-9 _ -`, then `.csv`,
    /// at most 60 characters.
    pub fn new(name: &str) -> Result<Self, FileNameError> {
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        let len = name.chars().count();
        if len > MAX_FILE_NAME_CHARS {
            return Err(FileNameError::TooLong(len));
        }
        let Some(rest) = name.strip_prefix(PREFIX) else {
            return Err(FileNameError::MissingPrefix);
        };
        let Some(middle) = rest.strip_suffix(SUFFIX) else {
            return Err(FileNameError::MissingExtension);
        };
        if let Some(c) = middle
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(FileNameError::ForbiddenCharacter(c));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name for a batch: `EXTF_BS_<Beraternummer>_<Mandantennummer>_<Datum vom>_<Datum
    /// bis>_<sequence>.csv`, e.g. `EXTF_BS_29098_55003_20240101_20240131_1.csv` (at most 54
    /// characters, so always admitted).
    pub fn for_batch(header: &Header, sequence: u32) -> Result<Self, FileNameError> {
        let d = |d: crate::Date| format!("{:04}{:02}{:02}", d.year(), d.month(), d.day());
        Self::new(&format!(
            "EXTF_BS_{}_{}_{}_{}_{}.csv",
            header.consultant,
            header.client,
            d(header.period_from),
            d(header.period_to),
            sequence
        ))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist() {
        assert!(FileName::new("EXTF_BS_20200101_1.csv").is_ok());
        assert_eq!(FileName::new(""), Err(FileNameError::Empty));
        assert_eq!(FileName::new("BS_1.csv"), Err(FileNameError::MissingPrefix));
        assert_eq!(
            FileName::new("extf_1.csv"),
            Err(FileNameError::MissingPrefix)
        );
        assert_eq!(
            FileName::new("EXTF_1.CSV"),
            Err(FileNameError::MissingExtension)
        );
        assert_eq!(
            FileName::new("EXTF_1.txt"),
            Err(FileNameError::MissingExtension)
        );
        assert_eq!(
            FileName::new("EXTF_a b.csv"),
            Err(FileNameError::ForbiddenCharacter(' '))
        );
        assert_eq!(
            FileName::new("EXTF_../x.csv"),
            Err(FileNameError::ForbiddenCharacter('.'))
        );
        assert_eq!(
            FileName::new("EXTF_März.csv"),
            Err(FileNameError::ForbiddenCharacter('ä'))
        );
        let longest = format!("EXTF_{}.csv", "a".repeat(51));
        assert!(FileName::new(&longest).is_ok());
        let too_long = format!("EXTF_{}.csv", "a".repeat(52));
        assert_eq!(FileName::new(&too_long), Err(FileNameError::TooLong(61)));
    }
}
