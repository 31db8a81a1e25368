//! What DATEV's EXTF import checks on the server side (datev.md §1.2–§1.4, §4.1 table of
//! `validation_details` codes): encoding by byte-order mark, the 31-field header, the posting
//! limit. Then the `extf` validator component checks the whole file ([`row_check`]).

use crate::state::{AffectedElement, ExtfHeaderInfo, ValidationDetails};

/// Outcome of the server-side checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCheck {
    /// What the header said (as far as it could be read).
    pub header: ExtfHeaderInfo,
    /// Why the job fails, if it does.
    pub failure: Option<ValidationDetails>,
}

/// Decodes by BOM exactly as the API does: `EF BB BF` UTF-8, `FF FE` UTF-16LE, `FE FF` UTF-16BE,
/// anything else Windows-1252 (datev.md §1.2). UTF-8 without BOM therefore turns into mojibake
/// without an error, as on the real service.
pub fn decode(bytes: &[u8]) -> String {
    let (encoding, skip) = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        (encoding_rs::UTF_8, 3)
    } else if bytes.starts_with(&[0xFF, 0xFE]) {
        (encoding_rs::UTF_16LE, 2)
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        (encoding_rs::UTF_16BE, 2)
    } else {
        (encoding_rs::WINDOWS_1252, 0)
    };
    encoding
        .decode_without_bom_handling(&bytes[skip..])
        .0
        .into_owned()
}

/// Splits one CSV line at `;` outside quotes; fields keep their quotes.
fn split_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                fields.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&line[start..]);
    fields
}

fn unquote(field: &str) -> Option<String> {
    let inner = field.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\"\"", "\""))
}

/// `YYYYMMDD` in 2000–2099 (datev.md §1.4 `DATE`) → `YYYY-MM-DD`.
fn date(field: &str) -> Option<String> {
    let b = field.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) || &field[..2] != "20" {
        return None;
    }
    let month: u32 = field[4..6].parse().ok()?;
    let day: u32 = field[6..8].parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day))
        .then(|| format!("{}-{}-{}", &field[..4], &field[4..6], &field[6..8]))
}

/// Field 6 "Erzeugt am": `YYYYMMDDHHMMSSFFF`.
fn created_on(field: &str) -> bool {
    field.len() == 17
        && field.bytes().all(|b| b.is_ascii_digit())
        && date(&field[..8]).is_some()
        && field[8..10].parse::<u32>().is_ok_and(|h| h < 24)
        && field[10..12].parse::<u32>().is_ok_and(|m| m < 60)
        && field[12..14].parse::<u32>().is_ok_and(|s| s < 60)
}

/// Valid (category, format name, format versions) combinations (datev.md §1.4 fields 3–5).
/// Buchungsstapel also accepts Formatversion 12, which older exports still write.
const FORMATS: &[(u32, &str, &[u32])] = &[
    (21, "Buchungsstapel", &[12, 13]),
    (16, "Debitoren/Kreditoren", &[5]),
    (20, "Kontenbeschriftungen", &[2, 3]),
    (46, "Zahlungsbedingungen", &[2]),
    (65, "Wiederkehrende Buchungen", &[4]),
    (48, "Diverse Adressen", &[2]),
];

fn field_error(n: usize, label: &str) -> AffectedElement {
    AffectedElement::new(
        label,
        format!("Error in header field - {label} - is invalid ({n})"),
    )
}

fn header_failure(elements: Vec<AffectedElement>) -> ValidationDetails {
    ValidationDetails::new(
        1008834,
        "Invalid EXTF-header",
        "Fields with error",
        elements,
    )
}

fn invalid_file(reason: &str) -> ValidationDetails {
    ValidationDetails::new(
        1008833,
        "Invalid file",
        reason,
        vec![AffectedElement::new("file", reason)],
    )
}

/// Runs DATEV's server-side checks for an upload to client `consultant-client`.
pub fn check(bytes: &[u8], consultant: u64, client: u64) -> ServerCheck {
    let mut header = ExtfHeaderInfo::default();
    if bytes.is_empty() {
        return ServerCheck {
            header,
            failure: Some(invalid_file("no payload")),
        };
    }
    let text = decode(bytes);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let _names = lines.next();
    header.number_of_accounting_records = lines.filter(|l| !l.trim().is_empty()).count() as u64;
    if header.number_of_accounting_records > 99_999 {
        return ServerCheck {
            header,
            failure: Some(invalid_file("more than 99999 postings")),
        };
    }
    if first.chars().count() > 1000 {
        let e = AffectedElement::new("EXTF-header", "header longer than 1000 characters");
        return ServerCheck {
            header,
            failure: Some(header_failure(vec![e])),
        };
    }
    let f = split_fields(first);
    if f.len() < 31 {
        let e = AffectedElement::new("EXTF-header", "Missing columns in EXTF-header");
        return ServerCheck {
            header,
            failure: Some(header_failure(vec![e])),
        };
    }
    let mut errors = Vec::new();
    if unquote(f[0]).as_deref() != Some("EXTF") {
        errors.push(AffectedElement::new("DATEV Format Label", "must be 'EXTF'"));
    }
    if f[1] != "700" {
        errors.push(field_error(2, "Version Number"));
    }
    let category = f[2].parse::<u32>().ok();
    header.data_category_id = category;
    let name = unquote(f[3]);
    let version = f[4].parse::<u32>().ok();
    match FORMATS.iter().find(|(c, _, _)| Some(*c) == category) {
        None => errors.push(field_error(3, "Data Category")),
        Some((_, expected_name, versions)) => {
            if name.as_deref() != Some(*expected_name) {
                errors.push(field_error(4, "Format Name"));
            } else if !version.is_some_and(|v| versions.contains(&v)) {
                errors.push(field_error(5, "Format Version"));
            }
        }
    }
    if !created_on(f[5]) {
        errors.push(field_error(6, "Created On"));
    }
    if !f[6].is_empty() {
        errors.push(field_error(7, "Imported"));
    }
    if f[10].parse::<u64>().ok() != Some(consultant) {
        errors.push(AffectedElement::new(
            "Consultant",
            "consultant-number in the header not matching the upload request (11)",
        ));
    }
    if f[11].parse::<u64>().ok() != Some(client) {
        errors.push(AffectedElement::new(
            "Client",
            "client-number in the header not matching the upload request (12)",
        ));
    }
    header.fiscal_year_begin = date(f[12]);
    if header.fiscal_year_begin.is_none() {
        errors.push(field_error(13, "FY Begin"));
    }
    if !f[13].parse::<u32>().is_ok_and(|l| (4..=8).contains(&l)) {
        errors.push(field_error(14, "Length of Ledger Account"));
    }
    // Booking data carries a period; master data leaves 15/16 empty (datev.md §1.4).
    let booking = category == Some(21);
    header.date_from = date(f[14]);
    header.date_to = date(f[15]);
    if (booking || !f[14].is_empty()) && header.date_from.is_none() {
        errors.push(field_error(15, "Date From"));
    }
    if (booking || !f[15].is_empty()) && header.date_to.is_none() {
        errors.push(field_error(16, "Date To"));
    }
    if let (Some(from), Some(to)) = (&header.date_from, &header.date_to)
        && from > to
    {
        errors.push(AffectedElement::new(
            "Date From",
            "DateFrom greater than DateTo",
        ));
    }
    header.label = unquote(f[16]).unwrap_or_default();
    // Reserved fields: 23, 25, 26, 29 empty; 24 and 30 empty or "" (datev.md §1.4, §8).
    for n in [23usize, 25, 26, 29] {
        if !f[n - 1].is_empty() {
            errors.push(AffectedElement::new(
                "Reserved",
                format!("Reserved - must be empty ({n})"),
            ));
        }
    }
    for n in [24usize, 30] {
        if !(f[n - 1].is_empty() || f[n - 1] == "\"\"") {
            errors.push(AffectedElement::new(
                "Reserved",
                format!("Reserved - must be empty ({n})"),
            ));
        }
    }
    if !errors.is_empty() {
        return ServerCheck {
            header,
            failure: Some(header_failure(errors)),
        };
    }
    let failure = row_check(bytes);
    ServerCheck { header, failure }
}

/// Most findings listed in one job's `validation_details`.
const MAX_ELEMENTS: usize = 20;

/// The `extf` validator (components/extf) over the whole file, after DATEV's own header checks
/// passed. Its errors fail the job: file-level ones (encoding, structure, limits) and row-level
/// ones as 1008833 "Invalid file", header-line ones as 1008834; S7 documents no row-level code,
/// so that mapping is this simulator's choice. Warnings do not fail a job.
fn row_check(bytes: &[u8]) -> Option<ValidationDetails> {
    let report = extf::validate(bytes, &extf::Options::default());
    let errors: Vec<&extf::Finding> = report.errors().collect();
    if errors.is_empty() {
        return None;
    }
    let header_only = errors.iter().all(|f| f.line == 1);
    let elements = errors
        .iter()
        .take(MAX_ELEMENTS)
        .map(|f| {
            let name = match (f.line, f.field) {
                (0, _) => "file".to_owned(),
                (line, 0) => format!("line {line}"),
                (line, field) => format!("line {line}, field {field} ({})", f.field_name),
            };
            AffectedElement::new(name, f.reason.clone())
        })
        .collect();
    Some(if header_only {
        ValidationDetails::new(
            1008834,
            "Invalid EXTF-header",
            "Fields with error",
            elements,
        )
    } else {
        let detail = format!("{} error(s) in the file", errors.len());
        ValidationDetails::new(1008833, "Invalid file", &detail, elements)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\"EXTF\";700;21;\"Buchungsstapel\";13;20240130140440439;;\"RE\";\"\";\"\";29098;55003;20240101;4;20240101;20240831;\"Buchungsstapel\";\"WD\";1;0;0;\"EUR\";;\"\";;;\"03\";;;\"\";\"\"";

    /// `header` followed by the names line and rows of the valid fixture (Windows-1252 bytes).
    fn file(header: &str) -> Vec<u8> {
        let valid: &[u8] = include_bytes!("../tests/data/EXTF_valid.csv");
        let rest = valid
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(valid.len(), |i| i + 2);
        let mut out = format!("{header}\r\n").into_bytes();
        out.extend_from_slice(&valid[rest..]);
        out
    }

    #[test]
    fn official_example_header_passes() {
        let c = check(&file(HEADER), 29098, 55003);
        assert_eq!(c.failure, None);
        assert_eq!(c.header.label, "Buchungsstapel");
        assert_eq!(c.header.date_from.as_deref(), Some("2024-01-01"));
        assert_eq!(c.header.date_to.as_deref(), Some("2024-08-31"));
        assert_eq!(c.header.fiscal_year_begin.as_deref(), Some("2024-01-01"));
        assert_eq!(c.header.number_of_accounting_records, 52);
        assert_eq!(c.header.data_category_id, Some(21));
    }

    #[test]
    fn valid_file_passes() {
        let bytes = include_bytes!("../tests/data/EXTF_valid.csv");
        let c = check(bytes, 29098, 55003);
        assert_eq!(c.failure, None);
        assert_eq!(c.header.number_of_accounting_records, 52);
    }

    #[test]
    fn extf_validator_findings_fail_the_job() {
        // DATEV's sample as published: LF line ends, UTF-8 without BOM, two unpaired fields.
        let bytes = include_bytes!("../tests/data/EXTF_Buchungsstapel.csv");
        let f = check(bytes, 29098, 55003).failure.unwrap();
        assert_eq!(f.kind, "http://www.datev.de/hilfe/1008833");
        assert_eq!(f.title, "Invalid file");
        // The encoding finding (UTF-8 without BOM is read as Windows-1252, datev.md §1.2) comes
        // first; the row findings follow the validator's own rules.
        assert_eq!(f.affected_elements[0].name, "file");
        assert!(f.affected_elements.len() <= MAX_ELEMENTS);
    }

    #[test]
    fn wrong_client_and_dates() {
        let bad = HEADER
            .replace(";55003;", ";55004;")
            .replace("20240101;20240831", "20240901;20240831");
        let f = check(&file(&bad), 29098, 55003).failure.unwrap();
        assert_eq!(f.kind, "http://www.datev.de/hilfe/1008834");
        let names: Vec<&str> = f
            .affected_elements
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["Client", "Date From"]);
    }

    #[test]
    fn dtvf_and_short_header() {
        let f = check(&file(&HEADER.replace("\"EXTF\"", "\"DTVF\"")), 29098, 55003)
            .failure
            .unwrap();
        assert_eq!(
            f.affected_elements,
            vec![AffectedElement::new("DATEV Format Label", "must be 'EXTF'")]
        );
        let f = check(&file("\"EXTF\";700;21"), 29098, 55003)
            .failure
            .unwrap();
        assert_eq!(
            f.affected_elements[0].reason,
            "Missing columns in EXTF-header"
        );
        let f = check(b"", 29098, 55003).failure.unwrap();
        assert_eq!(f.kind, "http://www.datev.de/hilfe/1008833");
    }

    #[test]
    fn bom_decides_encoding() {
        assert_eq!(decode(b"\xEF\xBB\xBF\xC3\xA4"), "ä");
        // UTF-8 without BOM is read as Windows-1252: mojibake, no error.
        assert_eq!(decode(b"\xC3\xA4"), "Ã¤");
        assert_eq!(decode(b"\xFF\xFE\xE4\x00"), "ä");
        assert_eq!(decode(b"\xFE\xFF\x00\xE4"), "ä");
    }
}
