//! The fixture batch used by the golden, round-trip, DXSO and component tests.
#![allow(dead_code)]

use extf::*;

pub fn d(y: u16, m: u8, day: u8) -> Date {
    Date::new(y, m, day).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// January 2024 for consultant 29098, client 55003 (the numbers of DATEV's sample).
pub fn header() -> Header {
    let mut h = Header::new(
        ok(Timestamp::new(d(2024, 1, 30), 14, 4, 40, 439)),
        ok(ConsultantNumber::new(29098)),
        ok(ClientNumber::new(55003)),
        d(2024, 1, 1),
        ok(AccountLength::new(4)),
        d(2024, 1, 1),
        d(2024, 1, 31),
    );
    h.origin = ok(Origin::new("RE"));
    h.exported_by = ok(UserName::new("mlconnector"));
    h.label = ok(BatchLabel::new("Rechnungsausgang 01/2024"));
    h.initials = ok(Initials::new("WD"));
    h.chart_of_accounts = ok(ChartOfAccounts::new("03"));
    h.application_info = ok(ApplicationInfo::new("ml-connector"));
    h
}

pub fn booking(cents: u64, side: Side, account: u32, contra: u32, day: u8) -> Booking {
    Booking::new(
        ok(Amount::new(cents)),
        side,
        ok(AccountNumber::new(account)),
        ok(AccountNumber::new(contra)),
        d(2024, 1, day),
    )
}

/// Five bookings covering text quoting, umlauts and €, foreign currency, BU key, discount,
/// Belegfeld 2 and extra columns; every character is in Windows-1252.
pub fn bookings() -> Vec<Booking> {
    let mut out = Vec::new();

    let mut b = booking(11_900, Side::Soll, 10000, 8400, 2);
    b.document_field_1 = ok(DocumentField1::new("RE-2024-0001"));
    b.text = ok(BookingText::new("Müller GmbH, \"Beratung\" Jänner"));
    b.extras.insert(ok(ExtraField::new(37, "100")));
    b.extras.insert(ok(ExtraField::new(115, "02012024")));
    b.extras.insert(ok(ExtraField::new(116, "02012024")));
    out.push(b);

    let mut b = booking(2_500_000, Side::Haben, 70000, 3400, 15);
    b.bu_key = Some(ok(BuKey::new(9)));
    b.document_field_1 = ok(DocumentField1::new("ER/4711"));
    b.document_field_2 = ok(DocumentField2::new("310124"));
    b.text = ok(BookingText::new(
        "Wareneingang 19 % Vorsteuer – 25.000,00 €",
    ));
    out.push(b);

    let mut b = booking(12_400, Side::Haben, 8120, 20050, 27);
    b.currency = Some(ok(CurrencyCode::new("CHF")));
    b.exchange_rate = Some(ok(ExchangeRate::new("1,240402")));
    b.base_amount = Some(ok(Amount::new(10_000)));
    b.base_currency = Some(CurrencyCode::EUR);
    b.document_field_1 = ok(DocumentField1::new("20JJ03069"));
    b.text = ok(BookingText::new("Umsatz Schweiz"));
    out.push(b);

    let mut b = booking(11_662, Side::Soll, 1200, 10000, 31);
    b.discount = Some(ok(Discount::new(238)));
    b.document_field_1 = ok(DocumentField1::new("RE-2024-0001"));
    b.text = ok(BookingText::new("Zahlung mit 2% Skonto"));
    b.extras.insert(ok(ExtraField::new(118, "0")));
    out.push(b);

    let mut b = booking(1, Side::Soll, 4930, 1000, 1);
    b.text = ok(BookingText::new("Straße"));
    b.extras.insert(ok(ExtraField::new(48, "Beleg fehlt")));
    b.extras.insert(ok(ExtraField::new(49, "Post")));
    b.extras.insert(ok(ExtraField::new(125, "99999")));
    out.push(b);

    out
}
