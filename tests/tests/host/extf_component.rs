//! The built `extf` component (target/components/extf.wasm) in wasmtime with an empty linker:
//! it imports nothing, and for the same inputs it gives byte-identical files, the same
//! findings and the same parse results as the native crate.
//!
//! Build it first: `cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask
//! componentize extf` (the build command in spin.toml).

#[path = "../../../components/extf/tests/common/mod.rs"]
mod common;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

wasmtime::component::bindgen!({
    path: "../wit/datev-extf",
    world: "datev-extf",
    additional_derives: [PartialEq],
});

use exports::ml_connector::datev_extf::extf as w;

fn component_bytes() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/components/extf.wasm"
    );
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}. Build it: cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask componentize extf")
    })
}

struct Instance {
    store: Store<()>,
    bindings: DatevExtf,
}

fn instantiate() -> Instance {
    let engine = Engine::new(&Config::new()).unwrap_or_else(|e| panic!("{e}"));
    let component = Component::new(&engine, component_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let linker: Linker<()> = Linker::new(&engine);
    let mut store = Store::new(&engine, ());
    let bindings = DatevExtf::instantiate(&mut store, &component, &linker)
        .unwrap_or_else(|e| panic!("instantiating with an empty linker: {e}"));
    Instance { store, bindings }
}

fn date(d: extf::Date) -> w::Date {
    w::Date {
        year: d.year(),
        month: d.month(),
        day: d.day(),
    }
}

fn header(h: &extf::Header) -> w::Header {
    let t = h.created_at;
    w::Header {
        created_at: w::Timestamp {
            date: date(t.date()),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millisecond: t.millisecond(),
        },
        origin: h.origin.as_str().into(),
        exported_by: h.exported_by.as_str().into(),
        imported_by: h.imported_by.as_str().into(),
        consultant: h.consultant.get(),
        client: h.client.get(),
        fiscal_year_start: date(h.fiscal_year_start),
        account_length: h.account_length.get(),
        period_from: date(h.period_from),
        period_to: date(h.period_to),
        label: h.label.as_str().into(),
        initials: h.initials.as_str().into(),
        booking_type: w::BookingType::FinancialAccounting,
        purpose: w::AccountingPurpose::Independent,
        festschreibung: h.festschreibung,
        currency: h.currency.as_str().into(),
        chart_of_accounts: h.chart_of_accounts.as_str().into(),
        industry_solution: h.industry_solution.map(|i| i.get()),
        application_info: h.application_info.as_str().into(),
    }
}

fn booking(b: &extf::Booking) -> w::Booking {
    w::Booking {
        amount_cents: b.amount.get(),
        side: match b.side {
            extf::Side::Soll => w::Side::Soll,
            extf::Side::Haben => w::Side::Haben,
        },
        currency: b.currency.map(|c| c.as_str().into()),
        exchange_rate: b.exchange_rate.as_ref().map(|r| r.as_str().into()),
        base_amount_cents: b.base_amount.map(|a| a.get()),
        base_currency: b.base_currency.map(|c| c.as_str().into()),
        account: b.account.get(),
        contra_account: b.contra_account.get(),
        bu_key: b.bu_key.map(|k| k.get()),
        document_date: date(b.document_date),
        document_field1: b.document_field_1.as_str().into(),
        document_field2: (!b.document_field_2.is_empty())
            .then(|| b.document_field_2.as_str().into()),
        discount_cents: b.discount.map(|d| d.get()),
        text: b.text.as_str().into(),
        extras: (!b.extras.is_empty()).then(|| {
            b.extras
                .iter()
                .map(|x| w::ExtraField {
                    column: x.column(),
                    value: x.value().into(),
                })
                .collect()
        }),
    }
}

/// (error?, code name, line, field, field name, value, reason) — comparable across the boundary.
type Flat = (bool, String, u32, u16, String, String, String);

fn flat_native(f: &extf::Finding) -> Flat {
    (
        f.is_error(),
        f.code.as_str().to_owned(),
        f.line,
        f.field,
        f.field_name.into(),
        f.value.clone(),
        f.reason.clone(),
    )
}

fn flat_wit(f: &w::Finding) -> Flat {
    let debug = format!("{:?}", f.code);
    let code = debug.trim_start_matches("Code::");
    // WIT enum case `not-windows1252` is `NotWindows1252` in Rust; compare via kebab-case.
    let mut kebab = String::new();
    for (i, c) in code.char_indices() {
        if c.is_ascii_uppercase() && i > 0 && !code[..i].ends_with(|p: char| p.is_ascii_digit()) {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    let kebab = kebab.replace("windows1252", "windows-1252");
    (
        matches!(f.severity, w::Severity::Error),
        kebab,
        f.line,
        f.field,
        f.field_name.clone(),
        f.value.clone(),
        f.reason.clone(),
    )
}

fn wit_bookings() -> Vec<w::Booking> {
    common::bookings().iter().map(booking).collect()
}

#[test]
fn the_component_imports_nothing() {
    let engine = Engine::new(&Config::new()).unwrap_or_else(|e| panic!("{e}"));
    let component = Component::new(&engine, component_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(imports, Vec::<String>::new());
    let exports: Vec<String> = ty
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(
        exports,
        vec!["ml-connector:datev-extf/extf@0.2.0".to_owned()]
    );
}

#[test]
fn write_is_byte_identical_to_the_native_crate() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let h = header(&common::header());
    for (wenc, nenc) in [
        (w::Encoding::Utf8Bom, extf::Encoding::Utf8Bom),
        (w::Encoding::Windows1252, extf::Encoding::Windows1252),
    ] {
        let from_wasm = api
            .call_write(&mut i.store, &h, &wit_bookings(), wenc)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let native = extf::write_to_vec(&common::header(), &common::bookings(), nenc)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_wasm, native, "{nenc:?}");
        let golden = match nenc {
            extf::Encoding::Utf8Bom => "utf8",
            extf::Encoding::Windows1252 => "1252",
        };
        let path = format!(
            "{}/../components/extf/tests/golden/EXTF_BS_29098_55003_20240101_20240131_{golden}.csv",
            env!("CARGO_MANIFEST_DIR")
        );
        assert_eq!(
            from_wasm,
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        );
    }
}

/// The fixture batch repeated `n` times (the period is January: every date fits).
fn many_bookings(n: usize) -> Vec<extf::Booking> {
    let one = common::bookings();
    one.iter().cycle().take(n).cloned().collect()
}

#[test]
fn the_streaming_writer_gives_the_same_file_in_pieces() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let writer = api.writer();
    let native = many_bookings(257);
    let bookings: Vec<w::Booking> = native.iter().map(booking).collect();
    for (wenc, nenc) in [
        (w::Encoding::Utf8Bom, extf::Encoding::Utf8Bom),
        (w::Encoding::Windows1252, extf::Encoding::Windows1252),
    ] {
        let expected =
            extf::write_to_vec(&common::header(), &native, nenc).unwrap_or_else(|e| panic!("{e}"));
        // Uneven pieces, an empty push, and one booking at a time at the end.
        let w = writer
            .call_start(&mut i.store, &header(&common::header()), wenc)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut file = Vec::new();
        let mut pieces = Vec::new();
        for range in [0..100, 100..100, 100..250, 250..251, 251..257] {
            let part = writer
                .call_push(&mut i.store, w, &bookings[range.clone()])
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{range:?}: {e:?}"));
            pieces.push(part.len());
            file.extend_from_slice(&part);
        }
        assert_eq!(
            writer
                .call_rows(&mut i.store, w)
                .unwrap_or_else(|e| panic!("{e}")),
            257
        );
        let rest = writer
            .call_finish(&mut i.store, w)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rest, Vec::<u8>::new(), "nothing is held back after a push");
        assert_eq!(file, expected, "{nenc:?}");
        // The empty push after 100 rows hands out nothing; every other push something.
        assert_eq!(pieces[1], 0);
        assert!(pieces.iter().enumerate().all(|(k, &n)| k == 1 || n > 0));
    }

    // Finished before any push: the header lines alone, as `write` gives them for no rows.
    let w = writer
        .call_start(
            &mut i.store,
            &header(&common::header()),
            w::Encoding::Utf8Bom,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let only_header = writer
        .call_finish(&mut i.store, w)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        only_header,
        extf::write_to_vec(&common::header(), &[], extf::Encoding::Utf8Bom)
            .unwrap_or_else(|e| panic!("{e}"))
    );
}

#[test]
fn a_refused_push_writes_none_of_its_rows_and_the_writer_goes_on() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let writer = api.writer();
    let native = many_bookings(30);
    let bookings: Vec<w::Booking> = native.iter().map(booking).collect();
    let w = writer
        .call_start(
            &mut i.store,
            &header(&common::header()),
            w::Encoding::Windows1252,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut file = writer
        .call_push(&mut i.store, w, &bookings[..10])
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));

    // The 6th booking of the second push (file index 15, line 18) cannot be Windows-1252; a
    // conversion error (Belegfeld 1 charset) is refused the same way.
    let mut refused = |spoil: &dyn Fn(&mut [w::Booking])| {
        let mut bad = bookings[10..20].to_vec();
        spoil(&mut bad);
        match writer.call_push(&mut i.store, w, &bad) {
            Ok(Err(w::WriteError::InvalidBooking(f))) => (f.code, f.line, f.field, f.value),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        refused(&|b| b[5].text = "Party 🎉".into()),
        (w::Code::NotWindows1252, 18, 14, "Party 🎉".to_owned())
    );
    assert_eq!(
        refused(&|b| b[9].document_field1 = "RE 1".into()),
        (w::Code::Charset, 22, 11, "RE 1".to_owned())
    );
    assert_eq!(
        writer
            .call_rows(&mut i.store, w)
            .unwrap_or_else(|e| panic!("{e}")),
        10,
        "the refused pushes left no rows behind"
    );

    // The corrected pushes continue the file as if the refusals never happened.
    for range in [10..20, 20..30] {
        let part = writer
            .call_push(&mut i.store, w, &bookings[range])
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        file.extend_from_slice(&part);
    }
    file.extend(
        writer
            .call_finish(&mut i.store, w)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(
        file,
        extf::write_to_vec(&common::header(), &native, extf::Encoding::Windows1252)
            .unwrap_or_else(|e| panic!("{e}"))
    );

    // A header the writer refuses is a typed error from `start`, as from `write`.
    let mut h = header(&common::header());
    h.account_length = 9;
    let Ok(Err(w::WriteError::InvalidHeader(f))) =
        writer.call_start(&mut i.store, &h, w::Encoding::Utf8Bom)
    else {
        panic!()
    };
    assert_eq!(
        f.iter().map(|f| (f.code, f.field)).collect::<Vec<_>>(),
        vec![(w::Code::Range, 14)]
    );
}

#[test]
fn typed_errors_cross_the_boundary() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let mut bookings = wit_bookings();
    bookings[1].text = "Party 🎉".into();
    let err = api
        .call_write(
            &mut i.store,
            &header(&common::header()),
            &bookings,
            w::Encoding::Windows1252,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let Err(w::WriteError::InvalidBooking(f)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (f.code, f.line, f.field, f.field_name.as_str()),
        (w::Code::NotWindows1252, 4, 14, "Buchungstext")
    );

    bookings[1].text = "x".repeat(61);
    let Ok(Err(w::WriteError::InvalidBooking(f))) = api.call_write(
        &mut i.store,
        &header(&common::header()),
        &bookings,
        w::Encoding::Utf8Bom,
    ) else {
        panic!()
    };
    assert_eq!((f.code, f.line, f.field), (w::Code::TooLong, 4, 14));

    let mut h = header(&common::header());
    h.consultant = 12;
    h.label = "a-b".into();
    let Ok(Err(w::WriteError::InvalidHeader(f))) =
        api.call_write(&mut i.store, &h, &[], w::Encoding::Utf8Bom)
    else {
        panic!()
    };
    assert_eq!(
        f.iter().map(|f| (f.code, f.field)).collect::<Vec<_>>(),
        vec![(w::Code::Range, 11), (w::Code::Charset, 17)]
    );

    let r = api
        .call_check_file_name(&mut i.store, "EXTF_a b.csv")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r, Err(w::FileNameError::ForbiddenCharacter(" ".into())));
    let r = api
        .call_check_file_name(&mut i.store, "EXTF_x.CSV")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r, Err(w::FileNameError::MissingExtension));
    let name = api
        .call_file_name(&mut i.store, &header(&common::header()), 7)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        name.as_deref(),
        Ok("EXTF_BS_29098_55003_20240101_20240131_7.csv")
    );
}

#[test]
fn validate_and_parse_agree_with_the_native_crate() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let good = extf::write_to_vec(
        &common::header(),
        &common::bookings(),
        extf::Encoding::Windows1252,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sample_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/samples/extf/EXTF_Buchungsstapel.csv"
    );
    let sample = std::fs::read(sample_path).unwrap_or_else(|e| panic!("{sample_path}: {e}"));
    let mut broken = good.clone();
    broken.extend_from_slice(b"0,00;\"X\";;\r\n");
    let opts = w::ValidateOptions {
        encoding: w::InputEncoding::Auto,
        max_findings: 10_000,
    };
    let utf8 = w::ValidateOptions {
        encoding: w::InputEncoding::Utf8,
        max_findings: 10_000,
    };
    for (bytes, wopts, nenc) in [
        (&good, opts, extf::InputEncoding::Auto),
        (&broken, opts, extf::InputEncoding::Auto),
        (&sample, opts, extf::InputEncoding::Auto),
        (&sample, utf8, extf::InputEncoding::Utf8),
    ] {
        let nopts = extf::Options {
            encoding: nenc,
            max_findings: 10_000,
        };
        let native = extf::validate(bytes, &nopts);
        let report = api
            .call_validate(&mut i.store, bytes, wopts)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.rows, native.rows);
        assert_eq!(
            report.findings.iter().map(flat_wit).collect::<Vec<_>>(),
            native.findings.iter().map(flat_native).collect::<Vec<_>>()
        );
        let parsed = api
            .call_parse(&mut i.store, bytes, wopts)
            .unwrap_or_else(|e| panic!("{e}"));
        match (parsed, extf::parse(bytes, &nopts)) {
            (Ok(p), Ok(n)) => {
                assert_eq!(
                    p.bookings,
                    n.bookings.iter().map(booking).collect::<Vec<_>>()
                );
                assert_eq!(p.header, header(&n.header));
            }
            (Err(p), Err(n)) => assert_eq!(p.len(), n.findings.len()),
            (p, n) => panic!("component and native disagree: {p:?} vs {n:?}"),
        }
    }
}

#[test]
fn write_dxso_is_byte_identical_to_the_native_crate() {
    let mut i = instantiate();
    let api = i.bindings.ml_connector_datev_extf_extf();
    let b = common::booking(11_900, extf::Side::Soll, 10000, 8400, 2);
    let mut b = b;
    b.document_field_1 =
        extf::DocumentField1::new("RE-2024-0001").unwrap_or_else(|e| panic!("{e}"));
    b.text = extf::BookingText::new("Beratung Jänner").unwrap_or_else(|e| panic!("{e}"));
    let native_doc = extf::DxsoDocument {
        kind: extf::LedgerKind::AccountsReceivable,
        datafile: "AR-2024-0001.xml".into(),
        accounting_month: extf::YearMonth {
            year: 2024,
            month: 1,
        },
        folder_name: "Ausgangsrechnungen".into(),
        cash_account: None,
        partner_name: Some("Müller & Söhne GmbH".into()),
        partner_city: Some("Nürnberg".into()),
        images: vec!["AR-2024-0001.pdf".into()],
        description: Some("Rechnung 1".into()),
        bookings: vec![b.clone()],
    };
    let native_opts = extf::DxsoOptions {
        generator_info: "ml-connector".into(),
        generating_system: Some("ml-connector 0.1".into()),
        description: None,
        client_name: None,
    };
    let native = extf::write_dxso(&common::header(), &[native_doc], &native_opts)
        .unwrap_or_else(|e| panic!("{e}"));
    let doc = w::DxsoDocument {
        kind: w::LedgerKind::AccountsReceivable,
        datafile: "AR-2024-0001.xml".into(),
        accounting_month: w::YearMonth {
            year: 2024,
            month: 1,
        },
        folder_name: "Ausgangsrechnungen".into(),
        cash_account: None,
        partner_name: Some("Müller & Söhne GmbH".into()),
        partner_city: Some("Nürnberg".into()),
        images: vec!["AR-2024-0001.pdf".into()],
        description: Some("Rechnung 1".into()),
        bookings: vec![booking(&b)],
    };
    let opts = w::DxsoOptions {
        generator_info: "ml-connector".into(),
        generating_system: Some("ml-connector 0.1".into()),
        description: None,
        client_name: None,
    };
    let files = api
        .call_write_dxso(&mut i.store, &header(&common::header()), &[doc], &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        files
            .iter()
            .map(|f| (f.name.clone(), f.content.clone()))
            .collect::<Vec<_>>(),
        native
            .iter()
            .map(|f| (f.name.clone(), f.content.clone()))
            .collect::<Vec<_>>()
    );
}
