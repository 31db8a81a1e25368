//! DXSO for DATEV Unternehmen online (`datev.md` §2): one `LedgerImport` data file per
//! document (schema `Belegverwaltung_online_ledger_import_v060.xsd`, namespace
//! `http://xml.datev.de/bedi/tps/ledger/v060`) and the `document.xml` that lists them (schema
//! `Document_v060.xsd`, namespace `http://xml.datev.de/bedi/tps/document/v06.0`).
//!
//! The same [`Booking`]s as for EXTF are mapped to ledger lines. Columns without a DXSO
//! element are refused with the reason, never dropped.

use std::fmt::Write as _;

use crate::finding::Finding;
use crate::model::{Booking, Date, Header, Side};
use crate::text;

/// Ledger namespace (note `v060`).
pub const LEDGER_NAMESPACE: &str = "http://xml.datev.de/bedi/tps/ledger/v060";
/// Document namespace (note `v06.0`).
pub const DOCUMENT_NAMESPACE: &str = "http://xml.datev.de/bedi/tps/document/v06.0";
/// The fixed `xml_data` attribute of `LedgerImport`.
pub const XML_DATA: &str = "Kopie nur zur Verbuchung berechtigt nicht zum Vorsteuerabzug";

/// Which ledger a data file feeds (`datev.md` §2.2, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// Rechnungsausgangsbuch: Konto = debtor (`bpAccountNo`), Soll = invoice (positive).
    AccountsReceivable,
    /// Rechnungseingangsbuch: Konto = creditor (`bpAccountNo`), Haben = invoice (positive).
    AccountsPayable,
    /// Kassenbuch online: Konto = the cash account, Soll = Einnahme (positive); EUR only.
    Cash,
}

impl LedgerKind {
    fn element(self) -> &'static str {
        match self {
            LedgerKind::AccountsReceivable => "accountsReceivableLedger",
            LedgerKind::AccountsPayable => "accountsPayableLedger",
            LedgerKind::Cash => "cashLedger",
        }
    }
}

/// A month, for property key 1 (accounting period, `YYYY-MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct YearMonth {
    /// Year.
    pub year: u16,
    /// Month 1-12.
    pub month: u8,
}

/// One document: one invoice (or cash receipt) with its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DxsoDocument {
    /// Which ledger.
    pub kind: LedgerKind,
    /// File name of the ledger XML (DXSO file-name rules, must end in `.xml`).
    pub datafile: String,
    /// Property key 1.
    pub accounting_month: YearMonth,
    /// Property key 3: ledger folder (receivables/payables), e.g. `Ausgangsrechnungen`. Must be
    /// empty for cash documents, which name their cash book by account ([`Self::cash_account`]).
    pub folder_name: String,
    /// Property key 2 (cash only, required there): the cash account in Kassenbuch online.
    pub cash_account: Option<u32>,
    /// `customerName` / `supplierName` (1-50 characters).
    pub partner_name: Option<String>,
    /// `customerCity` / `supplierCity` (1-30 characters).
    pub partner_city: Option<String>,
    /// Document image file names (`extension xsi:type="File"`).
    pub images: Vec<String>,
    /// Document description (1-40 characters).
    pub description: Option<String>,
    /// The lines: same Belegdatum, Belegfeld 1 and currency (the `consolidate` attributes).
    pub bookings: Vec<Booking>,
}

/// Package-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DxsoOptions {
    /// `generator_info` (1-40 characters), shown as sender in the invoice lists.
    pub generator_info: String,
    /// `generating_system` / `generatingSystem` (1-40 characters).
    pub generating_system: Option<String>,
    /// `document.xml` header description (1-255 characters).
    pub description: Option<String>,
    /// `document.xml` header clientName (1-36 characters).
    pub client_name: Option<String>,
}

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DxsoFile {
    /// File name (`document.xml` or the document's datafile).
    pub name: String,
    /// UTF-8 XML.
    pub content: Vec<u8>,
}

/// Where and why a package cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}, booking {booking}, {field} = {value:?}: {reason}")]
pub struct DxsoProblem {
    /// 1-based document index; 0 = the package.
    pub document: u32,
    /// 1-based booking index; 0 = the document.
    pub booking: u32,
    /// Element or attribute.
    pub field: &'static str,
    /// The value.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// Why [`write_dxso`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DxsoError {
    /// The header breaks a cross-field rule.
    #[error("invalid header: {}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Header(Vec<Finding>),
    /// A document or booking cannot be expressed in DXSO.
    #[error("{0}")]
    Invalid(Box<DxsoProblem>),
}

fn problem(
    document: u32,
    booking: u32,
    field: &'static str,
    value: &str,
    reason: impl Into<String>,
) -> DxsoError {
    DxsoError::Invalid(Box::new(DxsoProblem {
        document,
        booking,
        field,
        value: value.to_owned(),
        reason: reason.into(),
    }))
}

/// Checks a free text: NFC, 1..=max characters, no control characters. Returns the NFC text.
fn free_text(
    doc: u32,
    booking: u32,
    field: &'static str,
    v: &str,
    max: usize,
) -> Result<String, DxsoError> {
    let s = text::to_nfc(v);
    let n = text::char_len(&s);
    if n == 0 || n > max {
        return Err(problem(
            doc,
            booking,
            field,
            v,
            format!("{n} characters, 1 to {max} allowed"),
        ));
    }
    if let Some(c) = s.chars().find(|&c| text::is_control(c)) {
        return Err(problem(
            doc,
            booking,
            field,
            v,
            format!("control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(s.into_owned())
}

/// DXSO file names (`datev.md` §4.3): NFC; space `& ( ) + - . _ 0-9 A-Z a-z` and Latin-1
/// letters `À`-`ÿ` except `×` and `÷`.
fn dxso_file_name(
    doc: u32,
    field: &'static str,
    v: &str,
    extension: Option<&str>,
) -> Result<String, DxsoError> {
    let s = free_text(doc, 0, field, v, 255)?;
    if let Some(c) = s.chars().find(|&c| {
        !(c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '&' | '(' | ')' | '+' | '-' | '.' | '_')
            || (('\u{C0}'..='\u{FF}').contains(&c) && c != '\u{D7}' && c != '\u{F7}'))
    }) {
        return Err(problem(
            doc,
            0,
            field,
            v,
            format!(
                "character {c:?} is not allowed in DXSO file names (space & ( ) + - . _ 0-9 A-Z a-z À-ÿ)"
            ),
        ));
    }
    if let Some(ext) = extension
        && !s.to_ascii_lowercase().ends_with(ext)
    {
        return Err(problem(doc, 0, field, v, format!("must end with {ext}")));
    }
    Ok(s)
}

fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "      <{name}>");
    esc(out, value);
    let _ = writeln!(out, "</{name}>");
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Cents as `[-]int.dd`.
fn decimal(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// `int,frac` (EXTF) as a dot decimal with exactly `places` decimals, or `None` if it has more.
fn comma_to_dot(v: &str, places: usize) -> Option<String> {
    let (i, f) = v.split_once(',').unwrap_or((v, ""));
    if f.len() > places {
        return None;
    }
    let i = i.trim_start_matches('0');
    Some(format!(
        "{}.{f:0<places$}",
        if i.is_empty() { "0" } else { i }
    ))
}

/// Extra columns with a DXSO element: KOST1/KOST2 (37, 38), Kost-Menge (39), Auftragsnummer
/// (95), Leistungsdatum (115), Fälligkeit (117), Steuersatz (119).
const MAPPED_EXTRAS: [u8; 7] = [37, 38, 39, 95, 115, 117, 119];

struct Line {
    date: Date,
    invoice_id: String,
    currency: String,
    cents: i128,
    delivery: Option<String>,
    order: Option<String>,
    xml: String,
}

fn ddmmyyyy_to_iso(v: &str) -> String {
    format!("{}-{}-{}", &v[4..8], &v[2..4], &v[0..2])
}

fn line(
    kind: LedgerKind,
    header: &Header,
    doc: &DxsoDocument,
    di: u32,
    bi: u32,
    b: &Booking,
) -> Result<Line, DxsoError> {
    let p = |field: &'static str, value: &str, reason: &str| problem(di, bi, field, value, reason);
    if b.base_amount.is_some() || b.base_currency.is_some() {
        return Err(p("Basis-Umsatz", "", "columns 5/6 have no DXSO equivalent"));
    }
    if let Some(e) = b
        .extras
        .iter()
        .find(|e| !MAPPED_EXTRAS.contains(&e.column()))
    {
        let name = crate::columns::column(e.column()).map_or("", |c| c.name);
        return Err(p(
            name,
            e.value(),
            "this EXTF column has no DXSO ledger element",
        ));
    }
    let sign: i128 = match (kind, b.side) {
        (LedgerKind::AccountsReceivable | LedgerKind::Cash, Side::Soll) => 1,
        (LedgerKind::AccountsReceivable | LedgerKind::Cash, Side::Haben) => -1,
        (LedgerKind::AccountsPayable, Side::Haben) => 1,
        (LedgerKind::AccountsPayable, Side::Soll) => -1,
    };
    let cents = sign * i128::from(b.amount.get());
    let currency = b.currency.unwrap_or(header.currency).as_str().to_owned();
    if kind == LedgerKind::Cash && currency != "EUR" {
        return Err(p(
            "currencyCode",
            &currency,
            "Kassenbuch online takes EUR only",
        ));
    }
    if kind == LedgerKind::Cash && Some(b.account.get()) != doc.cash_account {
        return Err(p(
            "Konto",
            &b.account.to_string(),
            "a cash line's Konto must be the document's cash account (property key 2)",
        ));
    }
    if kind != LedgerKind::Cash && b.account.get() < 10_000 {
        return Err(p(
            "bpAccountNo",
            &b.account.to_string(),
            "Konto must be the business partner's personal account (10000-999999999)",
        ));
    }
    let mut x = String::with_capacity(512);
    let _ = writeln!(x, "    <{}>", kind.element());
    element(&mut x, "date", &iso(b.document_date));
    element(&mut x, "amount", &decimal(cents));
    if let Some(d) = b.discount {
        if d.get() >= b.amount.get() {
            return Err(p(
                "discountAmount",
                &decimal(i128::from(d.get())),
                "Skonto must be smaller than the amount",
            ));
        }
        element(&mut x, "discountAmount", &decimal(i128::from(d.get())));
    }
    element(&mut x, "accountNo", &b.contra_account.to_string());
    if let Some(k) = b.bu_key {
        element(&mut x, "buCode", &k.to_string());
    }
    if let Some(v) = b.extras.get(39) {
        let v = comma_to_dot(v, 4).ok_or_else(|| p("costAmount", v, "more than 4 decimals"))?;
        element(&mut x, "costAmount", &v);
    }
    for (col, name) in [(37u8, "costCategoryId"), (38, "costCategoryId2")] {
        if let Some(v) = b.extras.get(col) {
            if v.starts_with(' ') || v.ends_with(' ') {
                return Err(p(
                    name,
                    v,
                    "no leading or trailing spaces in DXSO cost centres",
                ));
            }
            element(&mut x, name, v);
        }
    }
    if let Some(v) = b.extras.get(119) {
        let v = comma_to_dot(v, 2).ok_or_else(|| p("tax", v, "more than 2 decimals"))?;
        element(&mut x, "tax", &v);
    }
    element(&mut x, "currencyCode", &currency);
    let invoice_id = b.document_field_1.as_str().to_owned();
    if kind != LedgerKind::Cash && invoice_id.is_empty() {
        return Err(p(
            "invoiceId",
            "",
            "Belegfeld 1 (invoice number) is required for invoice ledgers",
        ));
    }
    if !invoice_id.is_empty() {
        if invoice_id.contains('_') {
            return Err(p(
                "invoiceId",
                &invoice_id,
                "'_' is not allowed in DXSO invoiceId",
            ));
        }
        element(&mut x, "invoiceId", &invoice_id);
    }
    if b.text.is_empty() {
        if kind == LedgerKind::Cash {
            return Err(p(
                "bookingText",
                "",
                "Buchungstext is required for cash lines",
            ));
        }
    } else {
        element(&mut x, "bookingText", b.text.as_str());
    }
    if kind != LedgerKind::Cash {
        if !b.document_field_2.is_empty() {
            if b.document_field_2.as_str().contains('_') {
                return Err(p(
                    "internalInvoiceId",
                    b.document_field_2.as_str(),
                    "'_' is not allowed",
                ));
            }
            element(&mut x, "internalInvoiceId", b.document_field_2.as_str());
        }
        if let Some(r) = &b.exchange_rate {
            let v = comma_to_dot(r.as_str(), 6)
                .ok_or_else(|| p("exchangeRate", r.as_str(), "more than 6 decimals"))?;
            element(&mut x, "exchangeRate", &v);
        }
        if let Some(v) = b.extras.get(117) {
            element(&mut x, "dueDate", &ddmmyyyy_to_iso(v));
        }
        element(&mut x, "bpAccountNo", &b.account.to_string());
        if let Some(v) = b.extras.get(115) {
            element(&mut x, "deliveryDate", &ddmmyyyy_to_iso(v));
        }
        if let Some(v) = b.extras.get(95) {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "$%&*+-./".contains(c))
            {
                return Err(p("orderId", v, "allowed: a-z A-Z 0-9 $ % & * + - . /"));
            }
            element(&mut x, "orderId", v);
        }
        let (name_el, city_el) = if kind == LedgerKind::AccountsReceivable {
            ("customerName", "customerCity")
        } else {
            ("supplierName", "supplierCity")
        };
        if let Some(n) = &doc.partner_name {
            element(&mut x, name_el, &free_text(di, bi, name_el, n, 50)?);
        }
        if let Some(c) = &doc.partner_city {
            element(&mut x, city_el, &free_text(di, bi, city_el, c, 30)?);
        }
    } else {
        for (set, what) in [
            (b.exchange_rate.is_some(), "Kurs"),
            (!b.document_field_2.is_empty(), "Belegfeld 2"),
            (b.extras.get(95).is_some(), "Auftragsnummer"),
            (b.extras.get(115).is_some(), "Leistungsdatum"),
            (b.extras.get(117).is_some(), "Fälligkeit"),
        ] {
            if set {
                return Err(p(what, "", "cash lines have no such element"));
            }
        }
    }
    let _ = writeln!(x, "    </{}>", kind.element());
    Ok(Line {
        date: b.document_date,
        invoice_id,
        currency,
        cents,
        delivery: b.extras.get(115).map(ddmmyyyy_to_iso),
        order: b.extras.get(95).map(str::to_owned),
        xml: x,
    })
}

fn ledger_file(
    header: &Header,
    doc: &DxsoDocument,
    di: u32,
    generator: &str,
    system: Option<&str>,
) -> Result<String, DxsoError> {
    if doc.bookings.is_empty() || doc.bookings.len() > 5000 {
        return Err(problem(
            di,
            0,
            "consolidate",
            &doc.bookings.len().to_string(),
            "a ledger file holds 1 to 5000 lines",
        ));
    }
    let mut lines = Vec::with_capacity(doc.bookings.len());
    for (bi, b) in doc.bookings.iter().enumerate() {
        lines.push(line(doc.kind, header, doc, di, bi as u32 + 1, b)?);
    }
    let first = &lines[0];
    let mut total: i128 = 0;
    for (bi, l) in lines.iter().enumerate() {
        let bi = bi as u32 + 1;
        if l.date != first.date {
            return Err(problem(
                di,
                bi,
                "date",
                &iso(l.date),
                "all lines of one document need the same Belegdatum (consolidatedDate)",
            ));
        }
        if l.invoice_id != first.invoice_id {
            return Err(problem(
                di,
                bi,
                "invoiceId",
                &l.invoice_id,
                "all lines of one document need the same Belegfeld 1 (consolidatedInvoiceId)",
            ));
        }
        if l.currency != first.currency {
            return Err(problem(
                di,
                bi,
                "currencyCode",
                &l.currency,
                "all lines of one document need the same currency (consolidatedCurrencyCode)",
            ));
        }
        total += l.cents;
    }
    if total == 0 || total.unsigned_abs() > 999_999_999_999 {
        return Err(problem(
            di,
            0,
            "consolidatedAmount",
            &decimal(total),
            "the sum of the lines must be non-zero and at most 9999999999.99",
        ));
    }
    let same = |f: fn(&Line) -> Option<&String>| -> Option<String> {
        let v = f(first)?;
        lines.iter().all(|l| f(l) == Some(v)).then(|| v.clone())
    };
    let mut x = String::with_capacity(256 + lines.iter().map(|l| l.xml.len()).sum::<usize>());
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        x,
        "<LedgerImport xmlns=\"{LEDGER_NAMESPACE}\" version=\"6.0\" generator_info=\""
    );
    esc(&mut x, generator);
    x.push('"');
    if let Some(s) = system {
        x.push_str(" generating_system=\"");
        esc(&mut x, s);
        x.push('"');
    }
    let _ = writeln!(x, " xml_data=\"{XML_DATA}\">");
    let _ = write!(
        x,
        "  <consolidate consolidatedAmount=\"{}\" consolidatedDate=\"{}\"",
        decimal(total),
        iso(first.date)
    );
    if !first.invoice_id.is_empty() {
        x.push_str(" consolidatedInvoiceId=\"");
        esc(&mut x, &first.invoice_id);
        x.push('"');
    }
    let _ = write!(x, " consolidatedCurrencyCode=\"{}\"", first.currency);
    if let Some(d) = same(|l| l.delivery.as_ref()) {
        let _ = write!(x, " consolidatedDeliveryDate=\"{d}\"");
    }
    if let Some(o) = same(|l| l.order.as_ref()) {
        x.push_str(" consolidatedOrderId=\"");
        esc(&mut x, &o);
        x.push('"');
    }
    x.push_str(">\n");
    for l in &lines {
        x.push_str(&l.xml);
    }
    x.push_str("  </consolidate>\n</LedgerImport>\n");
    Ok(x)
}

/// Writes `document.xml` and one ledger file per document, in that order.
pub fn write_dxso(
    header: &Header,
    documents: &[DxsoDocument],
    options: &DxsoOptions,
) -> Result<Vec<DxsoFile>, DxsoError> {
    let problems = header.problems();
    if !problems.is_empty() {
        return Err(DxsoError::Header(
            problems
                .into_iter()
                .map(|p| Finding::error(p.code, 1, p.field, p.name, "", p.reason))
                .collect(),
        ));
    }
    if documents.is_empty() || documents.len() > 4999 {
        return Err(problem(
            0,
            0,
            "content",
            &documents.len().to_string(),
            "document.xml holds 1 to 4999 documents",
        ));
    }
    let generator = free_text(0, 0, "generator_info", &options.generator_info, 40)?;
    let system = options
        .generating_system
        .as_deref()
        .map(|s| free_text(0, 0, "generating_system", s, 40))
        .transpose()?;
    let mut files = Vec::with_capacity(documents.len() + 1);
    let mut d = String::with_capacity(1024);
    d.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        d,
        "<archive xmlns=\"{DOCUMENT_NAMESPACE}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"6.0\""
    );
    if let Some(s) = &system {
        d.push_str(" generatingSystem=\"");
        esc(&mut d, s);
        d.push('"');
    }
    d.push_str(">\n  <header>\n");
    let t = header.created_at;
    let _ = writeln!(
        d,
        "    <date>{}T{:02}:{:02}:{:02}</date>",
        iso(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    );
    if let Some(desc) = &options.description {
        let desc = free_text(0, 0, "description", desc, 255)?;
        d.push_str("    <description>");
        esc(&mut d, &desc);
        d.push_str("</description>\n");
    }
    let _ = writeln!(
        d,
        "    <consultantNumber>{}</consultantNumber>",
        header.consultant
    );
    let _ = writeln!(d, "    <clientNumber>{}</clientNumber>", header.client);
    if let Some(name) = &options.client_name {
        let name = free_text(0, 0, "clientName", name, 36)?;
        d.push_str("    <clientName>");
        esc(&mut d, &name);
        d.push_str("</clientName>\n");
    }
    d.push_str("  </header>\n  <content>\n");
    let mut names = std::collections::BTreeSet::new();
    for (i, doc) in documents.iter().enumerate() {
        let di = i as u32 + 1;
        let datafile = dxso_file_name(di, "datafile", &doc.datafile, Some(".xml"))?;
        if datafile.eq_ignore_ascii_case("document.xml") || !names.insert(datafile.to_lowercase()) {
            return Err(problem(
                di,
                0,
                "datafile",
                &datafile,
                "file names must be unique and not document.xml",
            ));
        }
        if doc.images.len() > 49 {
            return Err(problem(
                di,
                0,
                "extension",
                &doc.images.len().to_string(),
                "at most 49 images per document (50 extensions)",
            ));
        }
        let m = doc.accounting_month;
        if !(1..=12).contains(&m.month) || !(1753..=9999).contains(&m.year) {
            return Err(problem(
                di,
                0,
                "property 1",
                &format!("{}-{}", m.year, m.month),
                "not a month",
            ));
        }
        let content = ledger_file(header, doc, di, &generator, system.as_deref())?;
        d.push_str("    <document>\n");
        if let Some(desc) = &doc.description {
            let desc = free_text(di, 0, "description", desc, 40)?;
            d.push_str("      <description>");
            esc(&mut d, &desc);
            d.push_str("</description>\n");
        }
        let _ = write!(
            d,
            "      <extension xsi:type=\"{}\" datafile=\"",
            doc.kind.element()
        );
        esc(&mut d, &datafile);
        d.push_str("\">\n");
        let _ = writeln!(
            d,
            "        <property key=\"1\" value=\"{:04}-{:02}\"/>",
            m.year, m.month
        );
        match doc.kind {
            LedgerKind::Cash => {
                if !doc.folder_name.is_empty() {
                    return Err(problem(
                        di,
                        0,
                        "property 3",
                        &doc.folder_name,
                        "cash documents name the cash book by account (property 2); leave the folder name empty",
                    ));
                }
                let Some(acct) = doc.cash_account.filter(|a| (1..=999_999_999).contains(a)) else {
                    return Err(problem(
                        di,
                        0,
                        "property 2",
                        "",
                        "cash documents need the cash account number (1-999999999)",
                    ));
                };
                let _ = writeln!(d, "        <property key=\"2\" value=\"{acct}\"/>");
                if doc.partner_name.is_some() || doc.partner_city.is_some() {
                    return Err(problem(
                        di,
                        0,
                        "partner",
                        "",
                        "cash lines have no customer or supplier",
                    ));
                }
            }
            _ => {
                let folder = free_text(di, 0, "property 3", &doc.folder_name, 40)?;
                if doc.cash_account.is_some() {
                    return Err(problem(
                        di,
                        0,
                        "property 2",
                        "",
                        "only cash documents have a cash account",
                    ));
                }
                d.push_str("        <property key=\"3\" value=\"");
                esc(&mut d, &folder);
                d.push_str("\"/>\n");
            }
        }
        d.push_str("      </extension>\n");
        for img in &doc.images {
            let img = dxso_file_name(di, "File name", img, None)?;
            if !names.insert(img.to_lowercase()) {
                return Err(problem(
                    di,
                    0,
                    "File name",
                    &img,
                    "file names must be unique in a package",
                ));
            }
            d.push_str("      <extension xsi:type=\"File\" name=\"");
            esc(&mut d, &img);
            d.push_str("\"/>\n");
        }
        d.push_str("    </document>\n");
        files.push(DxsoFile {
            name: datafile,
            content: content.into_bytes(),
        });
    }
    d.push_str("  </content>\n</archive>\n");
    files.insert(
        0,
        DxsoFile {
            name: "document.xml".to_owned(),
            content: d.into_bytes(),
        },
    );
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(11_900), "119.00");
        assert_eq!(decimal(-5), "-0.05");
        assert_eq!(comma_to_dot("1,2404", 6).as_deref(), Some("1.240400"));
        assert_eq!(comma_to_dot("0,830000", 6).as_deref(), Some("0.830000"));
        assert_eq!(comma_to_dot("30", 4).as_deref(), Some("30.0000"));
        assert_eq!(comma_to_dot("1,1234567", 6), None);
        assert_eq!(ddmmyyyy_to_iso("10052018"), "2018-05-10");
    }
}
