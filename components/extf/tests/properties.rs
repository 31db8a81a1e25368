//! Property tests: any valid model round-trips through write and parse; any bytes give findings
//! or errors, never a panic.
mod common;

use extf::*;
use proptest::prelude::*;

fn text_strategy(max: usize, utf8: bool) -> impl Strategy<Value = String> {
    // Quotes and semicolons exercise quoting; umlauts, ß and € are in code page 1252; the
    // decomposed umlaut checks NFC; emoji and CJK only in UTF-8.
    let mut atoms: Vec<&'static str> = vec![
        "a",
        "Z",
        "0",
        " ",
        "\"",
        ";",
        "ä",
        "Ö",
        "ß",
        "€",
        "–",
        "u\u{0308}",
        "'",
        ",",
        "/",
        "%",
    ];
    if utf8 {
        atoms.extend(["😀", "漢", "\u{2028}"]);
    }
    proptest::collection::vec(proptest::sample::select(atoms), 0..=max).prop_map(move |v| {
        let s: String = v.concat();
        // Keep within the limit after NFC (a decomposed umlaut composes to one character).
        extf::to_nfc(&s).chars().take(max).collect()
    })
}

fn doc_number(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9$%/-]{{0,{max}}}"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn booking_strategy(utf8: bool) -> impl Strategy<Value = Booking> {
    (
        (
            1u64..=999_999_999_999,
            any::<bool>(),
            1u32..=99_999,
            1u32..=99_999,
            1u8..=31,
        ),
        (
            proptest::option::of(1u16..=9999),
            doc_number(36),
            doc_number(12),
            proptest::option::of(1u64..=9_999_999_999),
            text_strategy(60, utf8),
        ),
        (
            proptest::option::of((1u64..=999_999_999_999, 1u32..=9999, 2usize..=6)),
            proptest::option::of(text_strategy(36, false).prop_map(|s| {
                s.chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ')
                    .collect::<String>()
            })),
            proptest::option::of(text_strategy(210, utf8)),
            proptest::option::of(1u8..=31),
        ),
    )
        .prop_filter_map(
            "valid booking",
            |(
                (cents, soll, acct, contra, day),
                (bu, f1, f2, disc, text),
                (fx, kost, info, service_day),
            )| {
                let mut b = Booking::new(
                    Amount::new(cents).ok()?,
                    if soll { Side::Soll } else { Side::Haben },
                    AccountNumber::new(acct).ok()?,
                    AccountNumber::new(contra).ok()?,
                    Date::new(2024, 1, day).ok()?,
                );
                b.bu_key = bu.map(BuKey::new).transpose().ok()?;
                b.document_field_1 = DocumentField1::new(&f1).ok()?;
                b.document_field_2 = DocumentField2::new(&f2).ok()?;
                b.discount = disc.map(Discount::new).transpose().ok()?;
                b.text = BookingText::new(&text).ok()?;
                if let Some((base, rate, places)) = fx {
                    b.currency = Some(CurrencyCode::new("USD").ok()?);
                    let r = format!("{},{:0>width$}", rate % 10_000, rate % 1000, width = places);
                    b.exchange_rate = Some(ExchangeRate::new(&r).ok()?);
                    b.base_amount = Some(Amount::new(base).ok()?);
                    b.base_currency = Some(CurrencyCode::EUR);
                }
                if let Some(k) = kost.filter(|k| !k.is_empty()) {
                    b.extras.insert(ExtraField::new(37, &k).ok()?);
                }
                if let Some(i) = info.filter(|i| !i.is_empty()) {
                    b.extras.insert(ExtraField::new(48, "Info").ok()?);
                    b.extras.insert(ExtraField::new(49, &i).ok()?);
                }
                if let Some(day) = service_day {
                    let v = format!("{day:02}012024");
                    b.extras.insert(ExtraField::new(115, &v).ok()?);
                    b.extras.insert(ExtraField::new(116, &v).ok()?);
                }
                Some(b)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_models_round_trip_utf8(bookings in proptest::collection::vec(booking_strategy(true), 0..8)) {
        let bytes = write_to_vec(&common::header(), &bookings, Encoding::Utf8Bom).unwrap_or_else(|e| panic!("{e}"));
        let parsed = parse(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&parsed.header, &common::header());
        prop_assert_eq!(&parsed.bookings, &bookings);
        let again = write_to_vec(&parsed.header, &parsed.bookings, Encoding::Utf8Bom).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn valid_models_round_trip_1252(bookings in proptest::collection::vec(booking_strategy(false), 0..8)) {
        let bytes = write_to_vec(&common::header(), &bookings, Encoding::Windows1252).unwrap_or_else(|e| panic!("{e}"));
        let report = validate(&bytes, &Options::default());
        prop_assert!(report.is_valid(), "{:?}", report.findings);
        let parsed = parse(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&parsed.bookings, &bookings);
        let again = write_to_vec(&parsed.header, &parsed.bookings, Encoding::Windows1252).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), enc in 0u8..3) {
        let options = Options {
            encoding: [InputEncoding::Auto, InputEncoding::Utf8, InputEncoding::Windows1252][usize::from(enc)],
            ..Options::default()
        };
        let report = validate(&bytes, &options);
        let parsed = parse(&bytes, &options);
        prop_assert_eq!(parsed.is_ok(), report.is_valid());
    }

    #[test]
    fn mutated_valid_files_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![b';', b'"', b'\r', b'\n', b'0', b'9', b',', b'a', 0xC3, 0xA4, 0xFF, 0x80, 0x00])), 1..12),
        utf8 in any::<bool>(),
    ) {
        let mut bytes = write_to_vec(&common::header(), &common::bookings(), if utf8 { Encoding::Utf8Bom } else { Encoding::Windows1252 }).unwrap_or_else(|e| panic!("{e}"));
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let report = validate(&bytes, &Options::default());
        match parse(&bytes, &Options::default()) {
            Ok(p) => {
                prop_assert!(report.is_valid());
                prop_assert_eq!(p.warnings, report.findings);
            }
            Err(e) => {
                prop_assert!(!e.findings.is_empty());
                prop_assert_eq!(e.findings, report.findings);
            }
        }
    }
}
