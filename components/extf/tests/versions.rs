//! Older Buchungsstapel Formatversions and short rows (`datev.md` §1.5): versions 9-12 only
//! lack trailing columns (10 → 120, 11 → 122, 12 → 124, 13 → 125; 9 read as 120 like the
//! Formatversion-9 files of S18), a row with fewer fields than its version reads the missing
//! ones as empty (one warning per file), a row with more fields is an error.
mod common;

use extf::*;

use Code::{Consistency, FieldCount, Format, Required, Unsupported};
use Severity::{Error as E, Warning as W};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Bookings whose filled columns all exist in Formatversion 9/10 (at most column 120).
fn bookings() -> Vec<Booking> {
    let all = common::bookings();
    let mut b = common::booking(1, Side::Soll, 4930, 1000, 1);
    b.text = ok(BookingText::new("Straße"));
    b.extras.insert(ok(ExtraField::new(37, "100")));
    b.extras.insert(ok(ExtraField::new(48, "Beleg fehlt")));
    b.extras.insert(ok(ExtraField::new(49, "Post")));
    b.extras.insert(ok(ExtraField::new(120, "DE")));
    vec![all[1].clone(), all[2].clone(), b]
}

/// Our Formatversion-13 file rewritten as an older version's file: header field 5 set to
/// `version`, the name line cut to `names` fields and every row to `row_fields` fields (the
/// fixture's fields hold no `;`).
fn as_version(version: &str, names: usize, row_fields: usize) -> Vec<u8> {
    let bytes = ok(write_to_vec(
        &common::header(),
        &bookings(),
        Encoding::Utf8Bom,
    ));
    let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
    let mut out = String::from("\u{feff}");
    for (i, line) in text.split_terminator("\r\n").enumerate() {
        let mut fields: Vec<&str> = line.split(';').collect();
        match i {
            0 => fields[4] = version,
            1 => fields.truncate(names),
            _ => fields.truncate(row_fields),
        }
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn summary(bytes: &[u8]) -> Vec<(Severity, Code, u32, u16)> {
    validate(bytes, &Options::default())
        .findings
        .iter()
        .map(|f| (f.severity, f.code, f.line, f.field))
        .collect()
}

#[test]
fn formatversion_12_with_124_columns_reads_like_13() {
    let file = as_version("12", 124, 124);
    let line3 = String::from_utf8_lossy(&file)
        .lines()
        .nth(2)
        .map(|l| l.split(';').count());
    assert_eq!(line3, Some(124));
    let report = validate(&file, &Options::default());
    assert_eq!(report.rows, 3);
    assert_eq!(summary(&file), vec![(W, Unsupported, 1, 5)]);
    assert!(
        report.findings[0].reason.contains("124 columns"),
        "{}",
        report.findings[0].reason
    );
    let parsed = ok(parse(&file, &Options::default()));
    assert_eq!(parsed.bookings, bookings());
    assert_eq!(parsed.header, common::header());
}

#[test]
fn formatversion_12_export_with_122_columns_is_read_with_one_row_warning() {
    // The shape of the real Formatversion-12 export of S23: 122 names, 122 fields a row.
    let file = as_version("12", 122, 122);
    assert_eq!(
        summary(&file),
        vec![
            (W, Unsupported, 1, 5),
            (W, FieldCount, 2, 0),
            (W, FieldCount, 3, 0)
        ]
    );
    let report = validate(&file, &Options::default());
    let rows = &report.findings[2].reason;
    assert!(
        rows.starts_with("3 row(s) have fewer fields than the 124 of Formatversion 12"),
        "{rows}"
    );
    assert!(rows.contains("line 3 with 122"), "{rows}");
    let parsed = ok(parse(&file, &Options::default()));
    assert_eq!(parsed.bookings, bookings());
}

#[test]
fn formatversions_9_and_10_have_120_columns() {
    for version in ["9", "10"] {
        let file = as_version(version, 120, 120);
        assert_eq!(summary(&file), vec![(W, Unsupported, 1, 5)], "{version}");
        let parsed = ok(parse(&file, &Options::default()));
        assert_eq!(parsed.bookings, bookings(), "{version}");
        // The writer still writes Formatversion 13 with 125 columns.
        let again = ok(write_to_vec(
            &parsed.header,
            &parsed.bookings,
            Encoding::Utf8Bom,
        ));
        assert_eq!(
            again,
            ok(write_to_vec(
                &common::header(),
                &bookings(),
                Encoding::Utf8Bom
            ))
        );
    }
}

#[test]
fn formatversion_11_has_122_columns() {
    let file = as_version("11", 122, 122);
    assert_eq!(summary(&file), vec![(W, Unsupported, 1, 5)]);
    assert_eq!(ok(parse(&file, &Options::default())).bookings, bookings());
}

#[test]
fn a_row_with_more_fields_than_its_formatversion_is_an_error() {
    // Formatversion 11 rows have 122 fields; these keep Formatversion 13's 125.
    let file = as_version("11", 125, 125);
    assert_eq!(
        summary(&file),
        vec![
            (W, Unsupported, 1, 5),
            (W, FieldCount, 2, 0),
            (E, FieldCount, 3, 0),
            (E, FieldCount, 4, 0),
            (E, FieldCount, 5, 0)
        ]
    );
    let report = validate(&file, &Options::default());
    assert!(
        report.findings[2]
            .reason
            .starts_with("125 fields, Formatversion 11 rows have 122"),
        "{}",
        report.findings[2].reason
    );
    // Formatversion 13: one field too many.
    let file = as_version("13", 125, 125);
    assert_eq!(summary(&file), vec![]);
    let mut text = String::from_utf8_lossy(&file).into_owned();
    text = text.replacen(";\"DE\";", ";\"DE\";;", 1);
    assert_eq!(
        summary(text.as_bytes()),
        vec![(E, FieldCount, 5, 0)],
        "the third row now has 126 fields"
    );
}

#[test]
fn a_formatversion_13_row_with_fewer_fields_is_read_as_empty_trailing_fields() {
    let file = as_version("13", 125, 124);
    assert_eq!(summary(&file), vec![(W, FieldCount, 3, 0)]);
    assert_eq!(ok(parse(&file, &Options::default())).bookings, bookings());
}

#[test]
fn a_row_too_short_for_its_required_fields_names_them() {
    let mut file = as_version("13", 125, 125);
    file.extend_from_slice(b"1,00;\"S\"\r\n");
    assert_eq!(
        summary(&file),
        vec![
            (E, Required, 6, 7),
            (E, Required, 6, 8),
            (E, Required, 6, 10),
            // Header field 21 says 0, an empty (missing) column 114 means locked.
            (E, Consistency, 6, 114),
            (W, FieldCount, 6, 0)
        ]
    );
}

#[test]
fn other_formatversions_are_refused() {
    let file = as_version("8", 125, 125);
    assert_eq!(summary(&file), vec![(E, Format, 1, 5)]);
    let file = as_version("14", 125, 125);
    assert_eq!(summary(&file), vec![(E, Format, 1, 5)]);
    // 5 is Debitoren/Kreditoren's version: the rows are not read as bookings.
    let file = as_version("5", 125, 125);
    assert_eq!(summary(&file), vec![(E, Unsupported, 1, 5)]);
    assert!(parse(&file, &Options::default()).is_err());
}

#[test]
fn rows_compared_as_one_tail_give_the_same_findings_as_field_by_field() {
    // The oracle (extf::fuzzing) asserts that the validator's canonical-tail fast path and the
    // field-by-field path agree, and that parse and write round-trip.
    let locked = {
        let text = String::from_utf8_lossy(&as_version("13", 125, 125)).into_owned();
        text.replacen(";1;0;0;\"EUR\"", ";1;0;1;\"EUR\"", 1)
    };
    assert_eq!(
        summary(locked.as_bytes()),
        vec![
            (E, Consistency, 3, 114),
            (E, Consistency, 4, 114),
            (E, Consistency, 5, 114)
        ]
    );
    for file in [
        as_version("13", 125, 125),
        as_version("12", 124, 124),
        as_version("12", 122, 122),
        as_version("10", 120, 120),
        as_version("9", 120, 120),
        as_version("11", 125, 125),
        as_version("13", 125, 124),
        as_version("13", 125, 20),
        locked.into_bytes(),
    ] {
        extf::fuzzing::validate_and_parse(&file);
    }
}
