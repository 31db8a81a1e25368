//! Oracles shared by the cargo-fuzz targets (`components/extf/fuzz`) and the corpus replay test,
//! so the same checks run under libFuzzer and in plain `cargo test`. Each panics on a broken
//! invariant; any input is otherwise fine.

use crate::tokenize::Tokenizer;
use crate::{Encoding, InputEncoding, Options, SourceEncoding, parse, validate, write_to_vec};

/// Tokenizer invariants: it terminates, every field slice lies inside the input, records start
/// on non-decreasing lines and the position only moves forward.
pub fn tokenize(data: &[u8]) {
    let mut t = Tokenizer::new(data);
    let mut fields = Vec::new();
    let mut last_line = 0;
    let mut last_pos = 0;
    let range = data.as_ptr_range();
    while let Some(rec) = t.next_record(&mut fields) {
        assert!(rec.line > last_line, "line order");
        last_line = rec.line;
        assert!(t.position() > last_pos || data.is_empty(), "no progress");
        last_pos = t.position();
        assert!(!fields.is_empty(), "a record has at least one field");
        for f in &fields {
            let r = f.raw.as_ptr_range();
            assert!(
                f.raw.is_empty() || (r.start >= range.start && r.end <= range.end),
                "field outside input"
            );
        }
    }
    assert!(last_pos <= data.len());
    // Reading a head of 14 fields, then the rest, gives the same records and fields.
    let mut whole = Tokenizer::new(data);
    let mut split = Tokenizer::new(data);
    let mut expected = Vec::new();
    while let Some(rec) = whole.next_record(&mut expected) {
        let mut got = Vec::new();
        let mut head = split.next_record_head(&mut got, 14);
        if let Some(r) = head
            && r.terminator == crate::tokenize::Terminator::Partial
        {
            head = Some(split.read_rest(&mut got, r));
        }
        assert_eq!(head, Some(rec), "record");
        assert_eq!(got, expected, "fields");
        assert_eq!(split.position(), whole.position(), "position");
    }
    assert_eq!(split.next_record_head(&mut Vec::new(), 14), None);
}

/// Validator/parser invariants: a report and a parse agree, findings are well-formed, and a
/// parsed file writes back without error into a file that parses to the same model.
pub fn validate_and_parse(data: &[u8]) {
    for encoding in [
        InputEncoding::Auto,
        InputEncoding::Utf8,
        InputEncoding::Windows1252,
    ] {
        let options = Options {
            encoding,
            max_findings: 1000,
        };
        let report = validate(data, &options);
        assert_eq!(
            report,
            crate::validate::validate_field_by_field(data, &options),
            "the canonical-tail fast path must not change the report"
        );
        assert!(report.findings.len() <= 1001, "finding cap");
        for f in &report.findings {
            assert!(f.value.chars().count() <= crate::Finding::MAX_VALUE_CHARS + 1);
            assert!(!f.reason.is_empty());
        }
        match parse(data, &options) {
            Ok(parsed) => {
                assert!(report.is_valid(), "parsed although the report has errors");
                assert_eq!(parsed.warnings, report.findings);
                let out_encoding = match parsed.encoding {
                    SourceEncoding::Windows1252 => Encoding::Windows1252,
                    _ => Encoding::Utf8Bom,
                };
                let written = write_to_vec(&parsed.header, &parsed.bookings, out_encoding)
                    .unwrap_or_else(|e| panic!("a parsed model must be writable: {e}"));
                let again = parse(&written, &Options::default())
                    .unwrap_or_else(|e| panic!("own output must parse: {e}"));
                assert_eq!(again.header, parsed.header);
                assert_eq!(again.bookings, parsed.bookings);
                let rewritten = write_to_vec(&again.header, &again.bookings, out_encoding)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(rewritten, written, "own output round-trips byte for byte");
            }
            Err(e) => {
                assert!(
                    !report.is_valid(),
                    "refused although the report has no error"
                );
                assert_eq!(e.findings, report.findings);
            }
        }
    }
}
