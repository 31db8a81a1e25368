//! Every file under `../shared/reference/samples/` is validated and parsed; this states what
//! each yields.
use std::collections::BTreeMap;

use extf::*;

fn samples_dir() -> String {
    format!(
        "{}/../../../shared/reference/samples",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn sample(rel: &str) -> Vec<u8> {
    let path = format!("{}/{rel}", samples_dir());
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("sample {path} missing ({e}); the tests need ../shared next to the repository")
    })
}

fn counts(findings: &[Finding]) -> BTreeMap<(Severity, Code), usize> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry((f.severity, f.code)).or_insert(0) += 1;
    }
    m
}

const UTF8: Options = Options {
    encoding: InputEncoding::Utf8,
    max_findings: 10_000,
};

/// DATEV's Buchungsstapel sample (54 rows, UTF-8 without BOM, LF line endings).
#[test]
fn datev_sample_as_the_upload_api_would_read_it() {
    let r = validate(&sample("extf/EXTF_Buchungsstapel.csv"), &Options::default());
    assert_eq!(r.rows, 54);
    assert_eq!(r.encoding, SourceEncoding::Windows1252);
    // The one error: no BOM, so the API would read the UTF-8 umlauts as mojibake.
    let errors: Vec<_> = r.errors().map(|f| (f.code, f.line, f.field)).collect();
    assert_eq!(errors, vec![(Code::Encoding, 0, 0)]);
    assert!(
        r.findings[0].reason.contains("\"Ã¼\""),
        "{}",
        r.findings[0].reason
    );
    // Read as Windows-1252, line 2's "Schlüssel" is mojibake and differs from DATEV's name.
    assert_eq!(
        (
            r.findings[1].line,
            r.findings[1].field,
            r.findings[1].value.as_str()
        ),
        (2, 8, "Gegenkonto (ohne BU-SchlÃ¼ssel)")
    );
    assert!(parse(&sample("extf/EXTF_Buchungsstapel.csv"), &Options::default()).is_err());
}

#[test]
fn datev_sample_read_as_utf8_parses_with_these_warnings() {
    let bytes = sample("extf/EXTF_Buchungsstapel.csv");
    let r = validate(&bytes, &UTF8);
    assert!(r.is_valid(), "{:?}", r.errors().collect::<Vec<_>>());
    let expected: BTreeMap<(Severity, Code), usize> = [
        // No BOM: the API would not read it as UTF-8.
        ((Severity::Warning, Code::Encoding), 1),
        // Line 3 writes "" in the numeric fields 19 and 44; lines 39-56 in field 108.
        ((Severity::Warning, Code::Quoting), 2 + 18),
        // Line 5: "64083" without decimals; lines 21 and 46-56: "0" for "none" in field 101.
        ((Severity::Warning, Code::Format), 1 + 12),
        // Line 3: #17 without #105; line 46: #115 without #116.
        ((Severity::Warning, Code::Pairing), 2),
        // All 56 lines end with LF only.
        ((Severity::Warning, Code::LineEnding), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts(&r.findings), expected);

    let p = parse(&bytes, &UTF8).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.encoding, SourceEncoding::Utf8NoBom);
    assert_eq!(p.warnings, r.findings);
    let h = &p.header;
    assert_eq!(
        (h.consultant.get(), h.client.get(), h.account_length.get()),
        (29098, 55003, 4)
    );
    assert_eq!(
        (
            h.fiscal_year_start.to_string(),
            h.period_from.to_string(),
            h.period_to.to_string()
        ),
        (
            "2024-01-01".into(),
            "2024-01-01".into(),
            "2024-08-31".into()
        )
    );
    assert_eq!(
        (
            h.origin.as_str(),
            h.label.as_str(),
            h.initials.as_str(),
            h.chart_of_accounts.as_str()
        ),
        ("RE", "Buchungsstapel", "WD", "03")
    );
    assert!(!h.festschreibung);
    assert_eq!(h.created_at.millisecond(), 439);
    assert_eq!(p.bookings.len(), 54);

    // Line 3: a down payment with order number and Buchungstyp AG.
    let b = &p.bookings[0];
    assert_eq!(
        (
            b.amount.get(),
            b.side,
            b.account.get(),
            b.contra_account.get()
        ),
        (10_018, Side::Soll, 48400, 8401)
    );
    assert_eq!(b.document_date.to_string(), "2024-01-31");
    assert_eq!(b.text.as_str(), "Test Anzahlung");
    let extras: Vec<(u8, &str)> = b.extras.iter().map(|x| (x.column(), x.value())).collect();
    assert_eq!(
        extras,
        vec![
            (17, "1"),
            (37, "50"),
            (92, "2012"),
            (94, "1"),
            (95, "Projekt 4711"),
            (96, "AG"),
            (97, "3"),
            (101, "8070"),
            (102, "WK")
        ]
    );

    // Line 5: the amount written without decimals.
    let b = &p.bookings[2];
    assert_eq!(
        (b.amount.get(), b.account.get(), b.contra_account.get()),
        (6_408_300, 4400, 85)
    );
    assert_eq!(b.text.as_str(), "Normalabschreibung Gebäude");

    // Line 19: Swiss francs with rate and base amount.
    let b = &p.bookings[16];
    assert_eq!(b.currency.map(|c| c.to_string()).as_deref(), Some("CHF"));
    assert_eq!(
        b.exchange_rate.as_ref().map(ExchangeRate::as_str),
        Some("1,240402")
    );
    assert_eq!(
        (b.amount.get(), b.base_amount.map(Amount::get), b.side),
        (12_400, Some(10_000), Side::Haben)
    );

    // Unpadded BU keys, as DATEV writes them.
    let mut keys: Vec<u16> = p
        .bookings
        .iter()
        .filter_map(|b| b.bu_key.map(BuKey::get))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys, vec![3, 9, 20, 40, 501, 502, 6501, 6502]);
    // Currencies: EUR rows leave column 3 empty.
    let fx: usize = p.bookings.iter().filter(|b| b.currency.is_some()).count();
    assert_eq!(fx, 6);

    // Written back (CR LF, BOM, two decimals) it validates without any finding and parses to
    // the same model.
    let out =
        write_to_vec(&p.header, &p.bookings, Encoding::Utf8Bom).unwrap_or_else(|e| panic!("{e}"));
    let again = validate(&out, &Options::default());
    let remaining: Vec<_> = again
        .findings
        .iter()
        .map(|f| (f.severity, f.code, f.line, f.field))
        .collect();
    // Only what is in DATEV's data itself remains: the two half-filled pairs and the twelve
    // "0 for none" in field 101.
    let mut expected = vec![
        (Severity::Warning, Code::Pairing, 3, 105),
        (Severity::Warning, Code::Pairing, 46, 116),
    ];
    expected.extend(
        [21, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56]
            .map(|l| (Severity::Warning, Code::Format, l, 101)),
    );
    expected.sort_by_key(|&(_, _, line, field)| (line, field));
    assert_eq!(remaining, expected);
    assert_eq!(
        parse(&out, &Options::default()).map(|p2| p2.bookings).ok(),
        Some(p.bookings)
    );
}

/// The other samples are not EXTF files: one error says so (plus the BOM rule for UTF-8
/// files with non-ASCII bytes); the XSDs are used by the DXSO test.
#[test]
fn the_other_samples_are_not_extf() {
    for (rel, non_ascii) in [
        ("README.md", true),
        ("openapi/accounting-clients-2.0.json", false),
        ("openapi/accounting_extf-files-3.0.1.json", true),
        ("openapi/accounting_dxso-jobs-2.1.7.json", true),
        ("xsd/Document_v060.xsd", true),
        ("xsd/Document_types_v060.xsd", true),
        ("xsd/Belegverwaltung_online_ledger_import_v060.xsd", true),
        ("xsd/Belegverwaltung_online_ledger_types_v060.xsd", true),
    ] {
        let bytes = sample(rel);
        let r = validate(&bytes, &Options::default());
        let mut expected = vec![(Code::Encoding, 0, 0), (Code::Format, 1, 1)];
        if !non_ascii {
            expected.remove(0);
        }
        assert_eq!(
            r.findings
                .iter()
                .map(|f| (f.code, f.line, f.field))
                .collect::<Vec<_>>(),
            expected,
            "{rel}"
        );
        assert!(r.findings.iter().all(Finding::is_error));
        assert_eq!(r.rows, 0);
        assert!(parse(&bytes, &UTF8).is_err());
    }
}

/// Guards the list above: a new sample file must get a stated outcome.
#[test]
fn every_sample_file_is_covered() {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(samples_dir())];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap_or_else(|e| panic!("{e}")) {
            let path = e.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(samples_dir())
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                found.push(rel);
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        vec![
            "README.md",
            "extf/EXTF_Buchungsstapel.csv",
            "openapi/accounting-clients-2.0.json",
            "openapi/accounting_dxso-jobs-2.1.7.json",
            "openapi/accounting_extf-files-3.0.1.json",
            "xsd/Belegverwaltung_online_ledger_import_v060.xsd",
            "xsd/Belegverwaltung_online_ledger_types_v060.xsd",
            "xsd/Document_types_v060.xsd",
            "xsd/Document_v060.xsd",
        ]
    );
}
