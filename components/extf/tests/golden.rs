//! Golden files: the writer's output for the fixture batch, byte for byte, in both encodings.
//! Regenerate with `BLESS=1 cargo test -p extf --test golden` (never set in CI) and review the diff.
mod common;

use extf::*;

pub fn golden(name: &str, actual: &[u8]) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {path}: {e}"));
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with BLESS=1 to create it)"));
    if expected != actual {
        let at = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        let ctx = |b: &[u8]| {
            String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]).into_owned()
        };
        panic!(
            "{name} differs at byte {at} (expected {} bytes, got {}):\n expected …{:?}…\n actual   …{:?}…\n(BLESS=1 regenerates)",
            expected.len(),
            actual.len(),
            ctx(&expected),
            ctx(actual)
        );
    }
}

fn write(enc: Encoding) -> Vec<u8> {
    write_to_vec(&common::header(), &common::bookings(), enc).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn utf8_with_bom_matches_golden_file() {
    let bytes = write(Encoding::Utf8Bom);
    assert!(bytes.starts_with(
        b"\xEF\xBB\xBF\"EXTF\";700;21;\"Buchungsstapel\";13;20240130140440439;;\"RE\";"
    ));
    golden("EXTF_BS_29098_55003_20240101_20240131_utf8.csv", &bytes);
}

#[test]
fn windows_1252_matches_golden_file() {
    let bytes = write(Encoding::Windows1252);
    assert!(bytes.starts_with(b"\"EXTF\";700;21;"));
    // "Müller" in code page 1252.
    assert!(bytes.windows(6).any(|w| w == b"M\xFCller"));
    golden("EXTF_BS_29098_55003_20240101_20240131_1252.csv", &bytes);
}

#[test]
fn header_line_is_datev_example_shape() {
    let bytes = write(Encoding::Windows1252);
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(first),
        "\"EXTF\";700;21;\"Buchungsstapel\";13;20240130140440439;;\"RE\";\"mlconnector\";\"\";29098;55003;20240101;4;20240101;20240131;\"Rechnungsausgang 01/2024\";\"WD\";1;0;0;\"EUR\";;\"\";;;\"03\";;;\"\";\"ml-connector\"\r"
    );
}

#[test]
fn every_line_has_crlf_and_125_columns() {
    let bytes = write(Encoding::Utf8Bom);
    let text = std::str::from_utf8(&bytes[3..]).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.ends_with("\r\n"));
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2 + common::bookings().len());
    assert!(!text.replace("\r\n", "").contains('\n'));
    for line in &lines[1..] {
        // No field of the fixture holds a `;`, so a plain split counts the columns.
        assert_eq!(line.split(';').count(), 125, "{line}");
    }
    assert_eq!(
        lines[2],
        "119,00;\"S\";\"\";;;\"\";10000;8400;\"\";0201;\"RE-2024-0001\";\"\";;\"Müller GmbH, \"\"Beratung\"\" Jänner\";;\"\";;;;\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"100\";\"\";;\"\";;\"\";;;;;;\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";\"\";;;;\"\";;;;\"\";\"\";;\"\";;;;\"\";\"\";;\"\";;\"\";;\"\";\"\";;\"\";;0;02012024;02012024;;\"\";;\"\";\"\";;\"\";;"
    );
}

#[test]
fn golden_files_validate_without_any_finding_and_round_trip() {
    for enc in [Encoding::Utf8Bom, Encoding::Windows1252] {
        let bytes = write(enc);
        let report = validate(&bytes, &Options::default());
        assert_eq!(report.findings, vec![], "{enc:?}");
        assert_eq!(report.rows, 5);
        let parsed = parse(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.header, common::header());
        assert_eq!(parsed.bookings, common::bookings());
        assert_eq!(parsed.encoding.as_output(), Some(enc));
        let again =
            write_to_vec(&parsed.header, &parsed.bookings, enc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, bytes, "{enc:?} round trip");
    }
}

#[test]
fn file_name_for_the_golden_batch() {
    let name = FileName::for_batch(&common::header(), 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(name.as_str(), "EXTF_BS_29098_55003_20240101_20240131_1.csv");
    let longest =
        FileName::for_batch(&common::header(), u32::MAX).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(longest.as_str().len(), 52);
}
