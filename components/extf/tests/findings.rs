//! Specific bad inputs and the finding each gives (line, field, code), through the validator
//! and, where the writer is concerned, through the typed model and the writer.
mod common;

use extf::*;

fn good(enc: Encoding) -> Vec<u8> {
    write_to_vec(&common::header(), &common::bookings(), enc).unwrap_or_else(|e| panic!("{e}"))
}

/// The UTF-8 golden text with field `col` of line `line` replaced by `raw` (fixture fields hold
/// no `;`, so splitting is safe).
fn with_field(line: usize, col: usize, raw: &str) -> Vec<u8> {
    let bytes = good(Encoding::Utf8Bom);
    let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
    let mut lines: Vec<String> = text.split_terminator("\r\n").map(str::to_owned).collect();
    let mut fields: Vec<String> = lines[line - 1].split(';').map(str::to_owned).collect();
    fields[col - 1] = raw.to_owned();
    lines[line - 1] = fields.join(";");
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(lines.join("\r\n").as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// (severity, code, line, field) of every finding.
fn summary(bytes: &[u8]) -> Vec<(Severity, Code, u32, u16)> {
    validate(bytes, &Options::default())
        .findings
        .iter()
        .map(|f| (f.severity, f.code, f.line, f.field))
        .collect()
}

use Code::{
    AccountLength, Charset, Consistency, FieldCount, FiscalYear, Format, InvalidDate, Limit,
    LineEnding, NotNfc, NotWindows1252, OutsidePeriod, Pairing, Quoting, Range, Required, Reserved,
    Structure, TooLong, Unsupported,
};
use Severity::{Error as E, Warning as W};

#[test]
fn decomposed_umlauts_are_a_warning_and_the_model_composes_them() {
    let bytes = with_field(3, 14, "\"Mu\u{0308}ller\"");
    assert_eq!(summary(&bytes), vec![(W, NotNfc, 3, 14)]);
    let parsed = parse(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.bookings[0].text.as_str(), "Müller");
    assert_eq!(
        BookingText::new("Mu\u{0308}ller").map(|t| t.as_str().len()),
        Ok(7)
    );
    // 60 decomposed umlauts are 60 characters once composed: not too long.
    let bytes = with_field(3, 14, &format!("\"{}\"", "a\u{0308}".repeat(60)));
    assert_eq!(summary(&bytes), vec![(W, NotNfc, 3, 14)]);
}

#[test]
fn emoji_is_a_write_error_in_windows_1252_naming_line_and_field() {
    let mut bookings = common::bookings();
    bookings[1].text = BookingText::new("Party 🎉").unwrap_or_else(|e| panic!("{e}"));
    let err = write_to_vec(&common::header(), &bookings, Encoding::Windows1252).err();
    let Some(WriteError::Field(f)) = err else {
        panic!("expected a field error, got {err:?}")
    };
    assert_eq!(
        (f.code, f.line, f.field, f.field_name, f.value.as_str()),
        (NotWindows1252, 4, 14, "Buchungstext", "Party 🎉")
    );
    assert!(f.reason.contains("U+1F389"), "{}", f.reason);
    // In UTF-8 it can be written; the validator warns that DATEV works in code page 1252.
    let bytes = write_to_vec(&common::header(), &bookings, Encoding::Utf8Bom)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary(&bytes), vec![(W, NotWindows1252, 4, 14)]);
}

#[test]
fn emoji_in_header_label_is_refused_by_the_model() {
    assert!(BatchLabel::new("Stapel 🎉").is_err());
}

#[test]
fn over_long_text() {
    let bytes = with_field(3, 14, &format!("\"{}\"", "x".repeat(61)));
    assert_eq!(summary(&bytes), vec![(E, TooLong, 3, 14)]);
    let f = &validate(&bytes, &Options::default()).findings[0];
    assert_eq!(f.field_name, "Buchungstext");
    assert!(f.reason.starts_with("61 characters"), "{}", f.reason);
    assert!(matches!(
        BookingText::new(&"x".repeat(61)),
        Err(ValueError::Text {
            source: TextError::TooLong {
                max: 60,
                actual: 61
            },
            ..
        })
    ));
}

#[test]
fn bad_belegfeld_1() {
    assert_eq!(
        summary(&with_field(3, 11, "\"RE 2024.01\"")),
        vec![(E, Charset, 3, 11)]
    );
    assert_eq!(
        summary(&with_field(3, 11, "\"RE_2024\"")),
        vec![(W, Charset, 3, 11)]
    );
    assert_eq!(
        summary(&with_field(3, 11, &format!("\"{}\"", "1".repeat(37)))),
        vec![(E, TooLong, 3, 11)]
    );
    assert_eq!(
        summary(&with_field(3, 11, "\"Rechnung-Ä\"")),
        vec![(E, Charset, 3, 11)]
    );
    assert!(DocumentField1::new("RE 2024").is_err());
}

#[test]
fn amount_zero_and_malformed_amounts() {
    assert_eq!(summary(&with_field(3, 1, "0,00")), vec![(E, Range, 3, 1)]);
    assert_eq!(
        summary(&with_field(3, 1, "119.00")),
        vec![(E, Format, 3, 1)]
    );
    assert_eq!(
        summary(&with_field(3, 1, "-119,00")),
        vec![(E, Format, 3, 1)]
    );
    assert_eq!(summary(&with_field(3, 1, "119")), vec![(W, Format, 3, 1)]);
    assert_eq!(summary(&with_field(3, 1, "")), vec![(E, Required, 3, 1)]);
    assert!(Amount::new(0).is_err());
}

#[test]
fn period_across_two_fiscal_years() {
    // Fiscal year from 1 July: June-July 2025 crosses its end on 30 June 2025.
    let bytes = with_field(1, 13, "20240701");
    let bytes = replace_header(&bytes, &[(15, "20250601"), (16, "20250731")]);
    assert_eq!(summary(&bytes), vec![(E, FiscalYear, 1, 16)]);
    let mut h = common::header();
    h.fiscal_year_start = common::d(2024, 7, 1);
    h.period_from = common::d(2025, 6, 1);
    h.period_to = common::d(2025, 7, 31);
    let err = write_to_vec(&h, &[], Encoding::Utf8Bom).err();
    let Some(WriteError::Header(f)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        f.iter().map(|f| (f.code, f.field)).collect::<Vec<_>>(),
        vec![(FiscalYear, 16)]
    );
    assert!(f[0].reason.contains("2025-06-30"), "{}", f[0].reason);
    // December to January: two calendar years (#REW04404) and past the fiscal year.
    h.fiscal_year_start = common::d(2024, 1, 1);
    h.period_from = common::d(2024, 12, 1);
    h.period_to = common::d(2025, 1, 31);
    let Some(WriteError::Header(f)) = write_to_vec(&h, &[], Encoding::Utf8Bom).err() else {
        panic!()
    };
    assert_eq!(
        f.iter().map(|f| (f.code, f.field)).collect::<Vec<_>>(),
        vec![(FiscalYear, 16), (FiscalYear, 16)]
    );
}

fn replace_header(bytes: &[u8], fields: &[(usize, &str)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
    let (first, rest) = text.split_once("\r\n").unwrap_or_default();
    let mut f: Vec<String> = first.split(';').map(str::to_owned).collect();
    for &(i, v) in fields {
        f[i - 1] = v.to_owned();
    }
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(format!("{}\r\n{rest}", f.join(";")).as_bytes());
    out
}

#[test]
fn account_too_long() {
    assert_eq!(
        summary(&with_field(3, 7, "123456")),
        vec![(E, AccountLength, 3, 7)]
    );
    assert_eq!(
        summary(&with_field(3, 8, "1234567890")),
        vec![(E, Format, 3, 8)]
    );
    let mut bookings = common::bookings();
    bookings[2].account = AccountNumber::new(123_456).unwrap_or_else(|e| panic!("{e}"));
    let Some(WriteError::Field(f)) =
        write_to_vec(&common::header(), &bookings, Encoding::Utf8Bom).err()
    else {
        panic!()
    };
    assert_eq!(
        (f.code, f.line, f.field, f.value.as_str()),
        (AccountLength, 5, 7, "123456")
    );
}

#[test]
fn belegdatum_rules() {
    assert_eq!(
        summary(&with_field(3, 10, "201")),
        vec![(E, InvalidDate, 3, 10)]
    );
    assert_eq!(
        summary(&with_field(3, 10, "0102")),
        vec![(E, OutsidePeriod, 3, 10)]
    );
    assert_eq!(
        summary(&with_field(3, 10, "3102")),
        vec![(E, InvalidDate, 3, 10)]
    );
    assert_eq!(
        summary(&with_field(3, 10, "02012024")),
        vec![(E, InvalidDate, 3, 10)]
    );
    let mut bookings = common::bookings();
    bookings[0].document_date = common::d(2024, 2, 1);
    let Some(WriteError::Field(f)) =
        write_to_vec(&common::header(), &bookings, Encoding::Utf8Bom).err()
    else {
        panic!()
    };
    assert_eq!((f.code, f.line, f.field), (OutsidePeriod, 3, 10));
}

#[test]
fn festschreibung_must_match_the_header() {
    assert_eq!(
        summary(&with_field(3, 114, "1")),
        vec![(E, Consistency, 3, 114)]
    );
    assert_eq!(
        summary(&with_field(3, 114, "")),
        vec![(E, Consistency, 3, 114)]
    );
    assert_eq!(
        summary(&replace_header(&good(Encoding::Utf8Bom), &[(21, "")]))
            .first()
            .copied(),
        Some((W, Required, 1, 21))
    );
}

#[test]
fn pairs_quoting_and_counts() {
    assert_eq!(summary(&with_field(3, 116, "")), vec![(W, Pairing, 3, 116)]);
    assert_eq!(
        summary(&with_field(7, 49, "\"\"")),
        vec![(E, Pairing, 7, 49)]
    );
    assert_eq!(summary(&with_field(3, 2, "S")), vec![(W, Quoting, 3, 2)]);
    assert_eq!(
        summary(&with_field(3, 7, "\"10000\"")),
        vec![(W, Quoting, 3, 7)]
    );
    assert_eq!(summary(&with_field(3, 2, "\"X\"")), vec![(E, Range, 3, 2)]);
    assert_eq!(summary(&with_field(3, 7, "")), vec![(E, Required, 3, 7)]);
    assert_eq!(
        summary(&with_field(3, 125, "1;2")),
        vec![(E, FieldCount, 3, 0)]
    );
    assert_eq!(
        summary(&with_field(3, 4, "1,50")),
        vec![(E, Pairing, 3, 5), (E, Pairing, 3, 6)]
    );
}

#[test]
fn encoding_and_line_endings() {
    // UTF-8 without BOM: the API would read it as Windows-1252.
    let bytes = good(Encoding::Utf8Bom)[3..].to_vec();
    let r = validate(&bytes, &Options::default());
    assert_eq!(
        r.findings
            .iter()
            .map(|f| (f.severity, f.code, f.line))
            .collect::<Vec<_>>(),
        // Read as Windows-1252, "Schlüssel" in line 2 differs from DATEV's column name.
        vec![(E, Code::Encoding, 0), (W, Format, 2)]
    );
    assert!(
        r.findings[0].reason.contains("\"Ã¼\""),
        "{}",
        r.findings[0].reason
    );
    assert_eq!(r.encoding, SourceEncoding::Windows1252);
    let r = validate(
        &bytes,
        &Options {
            encoding: InputEncoding::Utf8,
            ..Options::default()
        },
    );
    assert_eq!(
        r.findings
            .iter()
            .map(|f| (f.severity, f.code))
            .collect::<Vec<_>>(),
        vec![(W, Code::Encoding)]
    );
    // LF only, and no final line break.
    let lf: Vec<u8> = good(Encoding::Windows1252)
        .into_iter()
        .filter(|&b| b != b'\r')
        .collect();
    assert_eq!(summary(&lf), vec![(W, LineEnding, 1, 0)]);
    let cut = &good(Encoding::Windows1252)[..good(Encoding::Windows1252).len() - 2];
    assert_eq!(summary(cut), vec![(W, LineEnding, 7, 0)]);
    // UTF-16LE with BOM is read (the API accepts it).
    let text = String::from_utf8_lossy(&good(Encoding::Utf8Bom)[3..]).into_owned();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let r = validate(&utf16, &Options::default());
    assert_eq!(
        (r.encoding, r.findings.len(), r.rows),
        (SourceEncoding::Utf16Le, 0, 5)
    );
}

#[test]
fn header_rules() {
    let g = good(Encoding::Utf8Bom);
    assert_eq!(
        summary(&replace_header(&g, &[(1, "\"DTVF\"")])),
        vec![(E, Unsupported, 1, 1)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(2, "510")])),
        vec![(E, Unsupported, 1, 2)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(3, "16")])),
        vec![(E, Unsupported, 1, 3)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(11, "999")])),
        vec![(E, Range, 1, 11)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(12, "0")])),
        vec![(E, Range, 1, 12)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(14, "9")])),
        vec![(E, Range, 1, 14)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(16, "20231231")])),
        vec![(E, Range, 1, 16)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(6, "2024013014044043")])),
        vec![(E, Format, 1, 6)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(23, "x")])),
        vec![(E, Reserved, 1, 23)]
    );
    assert_eq!(
        summary(&replace_header(&g, &[(17, "\"Stapel 2024-01\"")])),
        vec![(E, Charset, 1, 17)]
    );
    let text = String::from_utf8_lossy(&g[3..]).into_owned();
    let short = format!(
        "\u{feff}{}",
        text.replacen(";\"ml-connector\"\r\n", "\r\n", 1)
    );
    assert_eq!(summary(short.as_bytes()), vec![(E, FieldCount, 1, 0)]);
}

#[test]
fn all_findings_are_returned_in_file_order() {
    let bytes = with_field(3, 1, "0,00");
    let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
    let mut lines: Vec<String> = text.split_terminator("\r\n").map(str::to_owned).collect();
    let mut f: Vec<String> = lines[3].split(';').map(str::to_owned).collect();
    f[6] = "123456".into();
    f[10] = "\"A B\"".into();
    lines[3] = f.join(";");
    // One field more than Formatversion 13 has (a shorter row is read, see versions.rs).
    lines[4] = format!("{};x", lines[4]);
    let bytes = format!("\u{feff}{}\r\n", lines.join("\r\n")).into_bytes();
    assert_eq!(
        summary(&bytes),
        vec![
            (E, Range, 3, 1),
            (E, AccountLength, 4, 7),
            (E, Charset, 4, 11),
            (E, FieldCount, 5, 0)
        ]
    );
    let err = parse(&bytes, &Options::default())
        .err()
        .unwrap_or_else(|| panic!("must not parse"));
    assert_eq!(err.findings.len(), 4);
}

#[test]
fn structure_problems() {
    assert_eq!(summary(b""), vec![(E, Structure, 0, 0)]);
    assert_eq!(summary(b"\xEF\xBB\xBF"), vec![(E, Structure, 0, 0)]);
    let mut open = good(Encoding::Utf8Bom);
    open.extend_from_slice(b"1,00;\"S;\r\n");
    assert_eq!(summary(&open), vec![(E, Structure, 8, 0)]);
    // The finding cap: two errors, cap 1.
    let mut two = with_field(3, 1, "0,00");
    two.extend_from_slice(b"x\r\n");
    let many = validate(
        &two,
        &Options {
            max_findings: 1,
            ..Options::default()
        },
    );
    assert_eq!(
        many.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
        vec![Range, Limit]
    );
}
