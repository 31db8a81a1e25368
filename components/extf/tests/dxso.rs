//! DXSO output: golden files, and validity against DATEV's XSDs (`../shared/reference/samples/xsd`)
//! with `xmllint --schema` (Debian package `libxml2-utils`, installed by scripts/test.sh).
mod common;

use extf::*;

fn xsd(name: &str) -> String {
    format!(
        "{}/../../../shared/reference/samples/xsd/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Validates `xml` against `schema`; panics with xmllint's output if it is invalid or missing.
fn xmllint(xml: &[u8], schema: &str, name: &str) {
    let (ok, stderr) = run_xmllint(xml, schema, name);
    assert!(
        ok,
        "{name} is not valid against {schema}:\n{stderr}\n{}",
        String::from_utf8_lossy(xml)
    );
    assert!(stderr.contains("validates"), "{stderr}");
}

fn run_xmllint(xml: &[u8], schema: &str, name: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("extf-dxso-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint not runnable ({e}): install Debian's libxml2-utils (apt-get install -y libxml2-utils); scripts/test.sh does")
        });
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn invoice(id: &str, cents: u64, side: Side, debtor: u32, revenue: u32) -> Booking {
    let mut b = common::booking(cents, side, debtor, revenue, 15);
    b.document_field_1 = ok(DocumentField1::new(id));
    b.text = ok(BookingText::new("Beratung <Jänner> & \"Co\""));
    b
}

fn package() -> (Vec<DxsoDocument>, DxsoOptions) {
    let mut ar1 = invoice("RE-2024-0001", 10_000, Side::Soll, 10000, 8400);
    ar1.bu_key = Some(ok(BuKey::new(3)));
    ar1.extras.insert(ok(ExtraField::new(37, "100")));
    ar1.extras.insert(ok(ExtraField::new(115, "10012024")));
    let mut ar2 = invoice("RE-2024-0001", 1_900, Side::Soll, 10000, 8300);
    ar2.extras.insert(ok(ExtraField::new(115, "10012024")));
    ar2.discount = Some(ok(Discount::new(38)));
    let mut ap = invoice("ER/4711", 2_500_000, Side::Haben, 70000, 3400);
    ap.bu_key = Some(ok(BuKey::new(9)));
    ap.document_field_2 = ok(DocumentField2::new("310124"));
    let mut cash = common::booking(2_687, Side::Haben, 1000, 4930, 15);
    cash.text = ok(BookingText::new("Schreibwaren"));
    let docs = vec![
        DxsoDocument {
            kind: LedgerKind::AccountsReceivable,
            datafile: "AR-2024-0001.xml".into(),
            accounting_month: YearMonth {
                year: 2024,
                month: 1,
            },
            folder_name: "Ausgangsrechnungen".into(),
            cash_account: None,
            partner_name: Some("Müller & Söhne GmbH".into()),
            partner_city: Some("Nürnberg".into()),
            images: vec!["AR-2024-0001.pdf".into()],
            description: Some("Rechnung RE-2024-0001".into()),
            bookings: vec![ar1, ar2],
        },
        DxsoDocument {
            kind: LedgerKind::AccountsPayable,
            datafile: "ER-4711.xml".into(),
            accounting_month: YearMonth {
                year: 2024,
                month: 1,
            },
            folder_name: "Eingangsrechnungen".into(),
            cash_account: None,
            partner_name: Some("Großhandel AG".into()),
            partner_city: None,
            images: vec!["ER-4711 Seite 1.pdf".into(), "ER-4711 Seite 2.pdf".into()],
            description: None,
            bookings: vec![ap],
        },
        DxsoDocument {
            kind: LedgerKind::Cash,
            datafile: "Kasse-2024-01-15.xml".into(),
            accounting_month: YearMonth {
                year: 2024,
                month: 1,
            },
            folder_name: String::new(),
            cash_account: Some(1000),
            partner_name: None,
            partner_city: None,
            images: vec![],
            description: None,
            bookings: vec![cash],
        },
    ];
    let opts = DxsoOptions {
        generator_info: "ml-connector".into(),
        generating_system: Some("ml-connector 0.1.0".into()),
        description: Some("Belege Januar 2024".into()),
        client_name: Some("Muster GmbH".into()),
    };
    (docs, opts)
}

fn files() -> Vec<DxsoFile> {
    let (docs, opts) = package();
    ok(write_dxso(&common::header(), &docs, &opts))
}

#[test]
fn dxso_files_validate_against_datev_xsds() {
    let files = files();
    assert_eq!(
        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        vec![
            "document.xml",
            "AR-2024-0001.xml",
            "ER-4711.xml",
            "Kasse-2024-01-15.xml"
        ]
    );
    xmllint(&files[0].content, &xsd("Document_v060.xsd"), "document.xml");
    // The check has teeth: an amount of 0.00 and a missing xml_data are rejected.
    let bad = String::from_utf8_lossy(&files[3].content)
        .replace("<amount>-26.87</amount>", "<amount>0.00</amount>");
    let (valid, stderr) = run_xmllint(
        bad.as_bytes(),
        &xsd("Belegverwaltung_online_ledger_import_v060.xsd"),
        "bad-amount.xml",
    );
    assert!(!valid && stderr.contains("amount"), "{stderr}");
    let bad = String::from_utf8_lossy(&files[0].content).replace(" version=\"6.0\"", "");
    let (valid, stderr) = run_xmllint(
        bad.as_bytes(),
        &xsd("Document_v060.xsd"),
        "bad-document.xml",
    );
    assert!(!valid && stderr.contains("version"), "{stderr}");
    for f in &files[1..] {
        xmllint(
            &f.content,
            &xsd("Belegverwaltung_online_ledger_import_v060.xsd"),
            &f.name,
        );
    }
}

#[test]
fn dxso_golden_files() {
    for f in files() {
        let path = format!(
            "{}/tests/golden/dxso/{}",
            env!("CARGO_MANIFEST_DIR"),
            f.name
        );
        if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
            ok(std::fs::create_dir_all(format!(
                "{}/tests/golden/dxso",
                env!("CARGO_MANIFEST_DIR")
            )));
            ok(std::fs::write(&path, &f.content));
            continue;
        }
        let expected =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (BLESS=1 creates it)"));
        assert_eq!(
            String::from_utf8_lossy(&f.content),
            String::from_utf8_lossy(&expected),
            "{path}"
        );
    }
}

#[test]
fn consolidation_and_mapping() {
    let files = files();
    let ar = String::from_utf8_lossy(&files[1].content).into_owned();
    assert!(ar.contains("consolidatedAmount=\"119.00\" consolidatedDate=\"2024-01-15\" consolidatedInvoiceId=\"RE-2024-0001\" consolidatedCurrencyCode=\"EUR\" consolidatedDeliveryDate=\"2024-01-10\""), "{ar}");
    assert!(
        ar.contains("<bookingText>Beratung &lt;Jänner&gt; &amp; &quot;Co&quot;</bookingText>"),
        "{ar}"
    );
    assert!(
        ar.contains("<bpAccountNo>10000</bpAccountNo>")
            && ar.contains("<accountNo>8400</accountNo>")
    );
    let ap = String::from_utf8_lossy(&files[2].content).into_owned();
    // Haben on the creditor is a positive incoming invoice.
    assert!(
        ap.contains("<amount>25000.00</amount>")
            && ap.contains("<supplierName>Großhandel AG</supplierName>"),
        "{ap}"
    );
    let cash = String::from_utf8_lossy(&files[3].content).into_owned();
    // Haben on the cash account is an expense: negative.
    assert!(
        cash.contains("<amount>-26.87</amount>") && cash.contains("consolidatedAmount=\"-26.87\""),
        "{cash}"
    );
    let doc = String::from_utf8_lossy(&files[0].content).into_owned();
    assert!(
        doc.contains("<property key=\"2\" value=\"1000\"/>")
            && doc.contains("<date>2024-01-30T14:04:40</date>"),
        "{doc}"
    );
}

#[test]
fn unmappable_input_is_refused_with_the_reason() {
    let (mut docs, opts) = package();
    docs[0].bookings[1].document_field_1 = ok(DocumentField1::new("RE-2024-0002"));
    let Err(DxsoError::Invalid(p)) = write_dxso(&common::header(), &docs, &opts) else {
        panic!()
    };
    assert_eq!((p.document, p.booking, p.field), (1, 2, "invoiceId"));

    let (mut docs, opts) = package();
    docs[0].bookings[0]
        .extras
        .insert(ok(ExtraField::new(20, "BEDI \"x\"")));
    let Err(DxsoError::Invalid(p)) = write_dxso(&common::header(), &docs, &opts) else {
        panic!()
    };
    assert_eq!((p.document, p.booking, p.field), (1, 1, "Beleglink"));

    let (mut docs, opts) = package();
    docs[1].datafile = "ER/4711.xml".into();
    let Err(DxsoError::Invalid(p)) = write_dxso(&common::header(), &docs, &opts) else {
        panic!()
    };
    assert_eq!((p.document, p.field), (2, "datafile"));

    let (mut docs, opts) = package();
    docs[2].bookings[0].currency = Some(ok(CurrencyCode::new("CHF")));
    let Err(DxsoError::Invalid(p)) = write_dxso(&common::header(), &docs, &opts) else {
        panic!()
    };
    assert_eq!((p.document, p.booking, p.field), (3, 1, "currencyCode"));

    let (mut docs, opts) = package();
    docs[0].bookings[0].account = ok(AccountNumber::new(1200));
    let Err(DxsoError::Invalid(p)) = write_dxso(&common::header(), &docs, &opts) else {
        panic!()
    };
    assert_eq!((p.document, p.booking, p.field), (1, 1, "bpAccountNo"));
}
