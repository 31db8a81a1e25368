//! The component export: converts between the WIT records of `wit/datev-extf/extf.wit` and the
//! native model, then calls the same functions native callers use. Only compiled for `wasm32`.

use crate::bindings::exports::ml_connector::datev_extf::extf as w;
use crate::columns::{COLUMNS, HEADER_FIELD_NAMES};
use std::cell::RefCell;

use crate::{Code, Finding, Severity, ValueError};

struct Component;

/// The canonical-ABI entry points: wit-bindgen's `export!` expands to `unsafe` extern functions
/// (lifting and lowering arguments), so the workspace's `unsafe_code` lint is allowed for this
/// module only.
#[allow(unsafe_code)]
mod export {
    use super::Component;
    crate::bindings::export!(Component with_types_in crate::bindings);
}

fn date_in(d: w::Date) -> Result<crate::Date, ValueError> {
    crate::Date::new(d.year, d.month, d.day)
}

fn date_out(d: crate::Date) -> w::Date {
    w::Date {
        year: d.year(),
        month: d.month(),
        day: d.day(),
    }
}

/// Collects header conversion errors as line-1 findings.
struct HeaderErrors(Vec<Finding>);

impl HeaderErrors {
    fn take<T>(&mut self, field: u16, value: &str, r: Result<T, ValueError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(Finding::error(
                    e.code(),
                    1,
                    field,
                    HEADER_FIELD_NAMES[usize::from(field) - 1],
                    value,
                    e.to_string(),
                ));
                None
            }
        }
    }
}

fn header_in(h: &w::Header) -> Result<crate::Header, Vec<Finding>> {
    let mut e = HeaderErrors(Vec::new());
    let t = h.created_at;
    let created_value = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        t.date.year, t.date.month, t.date.day, t.hour, t.minute, t.second, t.millisecond
    );
    let created = e.take(
        6,
        &created_value,
        date_in(t.date)
            .and_then(|d| crate::Timestamp::new(d, t.hour, t.minute, t.second, t.millisecond)),
    );
    let origin = e.take(8, &h.origin, crate::Origin::new(&h.origin));
    let exported_by = e.take(9, &h.exported_by, crate::UserName::new(&h.exported_by));
    let imported_by = e.take(10, &h.imported_by, crate::UserName::new(&h.imported_by));
    let consultant = e.take(
        11,
        &h.consultant.to_string(),
        crate::ConsultantNumber::new(h.consultant),
    );
    let client = e.take(
        12,
        &h.client.to_string(),
        crate::ClientNumber::new(h.client),
    );
    let fy = e.take(13, "", date_in(h.fiscal_year_start));
    let len = e.take(
        14,
        &h.account_length.to_string(),
        crate::AccountLength::new(h.account_length),
    );
    let from = e.take(15, "", date_in(h.period_from));
    let to = e.take(16, "", date_in(h.period_to));
    let label = e.take(17, &h.label, crate::BatchLabel::new(&h.label));
    let initials = e.take(18, &h.initials, crate::Initials::new(&h.initials));
    let currency = e.take(22, &h.currency, crate::CurrencyCode::new(&h.currency));
    let chart = e.take(
        27,
        &h.chart_of_accounts,
        crate::ChartOfAccounts::new(&h.chart_of_accounts),
    );
    let industry = match h.industry_solution {
        Some(id) => e
            .take(28, &id.to_string(), crate::IndustrySolutionId::new(id))
            .map(Some),
        None => Some(None),
    };
    let app = e.take(
        31,
        &h.application_info,
        crate::ApplicationInfo::new(&h.application_info),
    );
    let (
        Some(created_at),
        Some(origin),
        Some(exported_by),
        Some(imported_by),
        Some(consultant),
        Some(client),
        Some(fiscal_year_start),
        Some(account_length),
        Some(period_from),
        Some(period_to),
        Some(label),
        Some(initials),
        Some(currency),
        Some(chart_of_accounts),
        Some(industry_solution),
        Some(application_info),
    ) = (
        created,
        origin,
        exported_by,
        imported_by,
        consultant,
        client,
        fy,
        len,
        from,
        to,
        label,
        initials,
        currency,
        chart,
        industry,
        app,
    )
    else {
        return Err(e.0);
    };
    Ok(crate::Header {
        created_at,
        origin,
        exported_by,
        imported_by,
        consultant,
        client,
        fiscal_year_start,
        account_length,
        period_from,
        period_to,
        label,
        initials,
        booking_type: match h.booking_type {
            w::BookingType::FinancialAccounting => crate::BookingType::FinancialAccounting,
            w::BookingType::AnnualStatement => crate::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            w::AccountingPurpose::Independent => crate::AccountingPurpose::Independent,
            w::AccountingPurpose::Tax => crate::AccountingPurpose::Tax,
            w::AccountingPurpose::Calculatory => crate::AccountingPurpose::Calculatory,
            w::AccountingPurpose::Commercial => crate::AccountingPurpose::Commercial,
            w::AccountingPurpose::Ifrs => crate::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency,
        chart_of_accounts,
        industry_solution,
        application_info,
    })
}

fn header_out(h: &crate::Header) -> w::Header {
    let t = h.created_at;
    w::Header {
        created_at: w::Timestamp {
            date: date_out(t.date()),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millisecond: t.millisecond(),
        },
        origin: h.origin.as_str().to_owned(),
        exported_by: h.exported_by.as_str().to_owned(),
        imported_by: h.imported_by.as_str().to_owned(),
        consultant: h.consultant.get(),
        client: h.client.get(),
        fiscal_year_start: date_out(h.fiscal_year_start),
        account_length: h.account_length.get(),
        period_from: date_out(h.period_from),
        period_to: date_out(h.period_to),
        label: h.label.as_str().to_owned(),
        initials: h.initials.as_str().to_owned(),
        booking_type: match h.booking_type {
            crate::BookingType::FinancialAccounting => w::BookingType::FinancialAccounting,
            crate::BookingType::AnnualStatement => w::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            crate::AccountingPurpose::Independent => w::AccountingPurpose::Independent,
            crate::AccountingPurpose::Tax => w::AccountingPurpose::Tax,
            crate::AccountingPurpose::Calculatory => w::AccountingPurpose::Calculatory,
            crate::AccountingPurpose::Commercial => w::AccountingPurpose::Commercial,
            crate::AccountingPurpose::Ifrs => w::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency: h.currency.as_str().to_owned(),
        chart_of_accounts: h.chart_of_accounts.as_str().to_owned(),
        industry_solution: h.industry_solution.map(|i| i.get()),
        application_info: h.application_info.as_str().to_owned(),
    }
}

/// A booking conversion error: the column and the error.
type ColumnError = (u8, String, ValueError);

fn booking_in(b: w::Booking) -> Result<crate::Booking, ColumnError> {
    // The value is rendered only on error: formatting it for every booking cost more than
    // writing the row.
    fn at<'v>(
        col: u8,
        value: impl FnOnce() -> String + 'v,
    ) -> impl FnOnce(ValueError) -> ColumnError + 'v {
        move |e| (col, value(), e)
    }
    let mut out = crate::Booking::new(
        crate::Amount::new(b.amount_cents).map_err(at(1, || b.amount_cents.to_string()))?,
        match b.side {
            w::Side::Soll => crate::Side::Soll,
            w::Side::Haben => crate::Side::Haben,
        },
        crate::AccountNumber::new(b.account).map_err(at(7, || b.account.to_string()))?,
        crate::AccountNumber::new(b.contra_account)
            .map_err(at(8, || b.contra_account.to_string()))?,
        date_in(b.document_date).map_err(at(10, String::new))?,
    );
    if let Some(c) = &b.currency {
        out.currency = Some(crate::CurrencyCode::new(c).map_err(at(3, || c.clone()))?);
    }
    if let Some(r) = &b.exchange_rate {
        out.exchange_rate = Some(crate::ExchangeRate::new(r).map_err(at(4, || r.clone()))?);
    }
    if let Some(a) = b.base_amount_cents {
        out.base_amount = Some(crate::Amount::new(a).map_err(at(5, || a.to_string()))?);
    }
    if let Some(c) = &b.base_currency {
        out.base_currency = Some(crate::CurrencyCode::new(c).map_err(at(6, || c.clone()))?);
    }
    if let Some(k) = b.bu_key {
        out.bu_key = Some(crate::BuKey::new(k).map_err(at(9, || k.to_string()))?);
    }
    // The lifted strings are moved into the model, not copied (one allocation each saved).
    out.document_field_1 =
        crate::DocumentField1::from_string(b.document_field1).map_err(|(e, v)| (11, v, e))?;
    if let Some(f) = b.document_field2 {
        out.document_field_2 =
            crate::DocumentField2::from_string(f).map_err(|(e, v)| (12, v, e))?;
    }
    if let Some(d) = b.discount_cents {
        out.discount = Some(crate::Discount::new(d).map_err(at(13, || d.to_string()))?);
    }
    out.text = crate::BookingText::from_string(b.text).map_err(|(e, v)| (14, v, e))?;
    for x in b.extras.iter().flatten() {
        if out.extras.get(x.column).is_some() {
            return Err((
                x.column,
                x.value.clone(),
                ValueError::Invalid {
                    what: "column",
                    reason: "given twice".to_owned(),
                },
            ));
        }
        out.extras.insert(
            crate::ExtraField::new(x.column, &x.value).map_err(at(x.column, || x.value.clone()))?,
        );
    }
    Ok(out)
}

fn booking_out(b: &crate::Booking) -> w::Booking {
    w::Booking {
        amount_cents: b.amount.get(),
        side: match b.side {
            crate::Side::Soll => w::Side::Soll,
            crate::Side::Haben => w::Side::Haben,
        },
        currency: b.currency.map(|c| c.as_str().to_owned()),
        exchange_rate: b.exchange_rate.as_ref().map(|r| r.as_str().to_owned()),
        base_amount_cents: b.base_amount.map(|a| a.get()),
        base_currency: b.base_currency.map(|c| c.as_str().to_owned()),
        account: b.account.get(),
        contra_account: b.contra_account.get(),
        bu_key: b.bu_key.map(|k| k.get()),
        document_date: date_out(b.document_date),
        document_field1: b.document_field_1.as_str().to_owned(),
        document_field2: (!b.document_field_2.is_empty())
            .then(|| b.document_field_2.as_str().to_owned()),
        discount_cents: b.discount.map(|d| d.get()),
        text: b.text.as_str().to_owned(),
        extras: (!b.extras.is_empty()).then(|| {
            b.extras
                .iter()
                .map(|x| w::ExtraField {
                    column: x.column(),
                    value: x.value().to_owned(),
                })
                .collect()
        }),
    }
}

fn column_finding(line: u32, (col, value, e): ColumnError) -> Finding {
    let name = COLUMNS
        .get(usize::from(col).wrapping_sub(1))
        .map_or("", |c| c.name);
    Finding::error(e.code(), line, u16::from(col), name, &value, e.to_string())
}

fn finding_out(f: &Finding) -> w::Finding {
    w::Finding {
        severity: match f.severity {
            Severity::Error => w::Severity::Error,
            Severity::Warning => w::Severity::Warning,
        },
        code: match f.code {
            Code::Encoding => w::Code::Encoding,
            Code::LineEnding => w::Code::LineEnding,
            Code::Structure => w::Code::Structure,
            Code::FieldCount => w::Code::FieldCount,
            Code::Quoting => w::Code::Quoting,
            Code::Required => w::Code::Required,
            Code::Format => w::Code::Format,
            Code::Range => w::Code::Range,
            Code::TooLong => w::Code::TooLong,
            Code::Charset => w::Code::Charset,
            Code::NotNfc => w::Code::NotNfc,
            Code::NotWindows1252 => w::Code::NotWindows1252,
            Code::InvalidDate => w::Code::InvalidDate,
            Code::OutsidePeriod => w::Code::OutsidePeriod,
            Code::FiscalYear => w::Code::FiscalYear,
            Code::AccountLength => w::Code::AccountLength,
            Code::Pairing => w::Code::Pairing,
            Code::Consistency => w::Code::Consistency,
            Code::Unsupported => w::Code::Unsupported,
            Code::Reserved => w::Code::Reserved,
            Code::Limit => w::Code::Limit,
        },
        line: f.line,
        field: f.field,
        field_name: f.field_name.to_owned(),
        value: f.value.clone(),
        reason: f.reason.clone(),
    }
}

fn findings_out(f: &[Finding]) -> Vec<w::Finding> {
    f.iter().map(finding_out).collect()
}

fn options_in(o: w::ValidateOptions) -> crate::Options {
    crate::Options {
        encoding: match o.encoding {
            w::InputEncoding::Auto => crate::InputEncoding::Auto,
            w::InputEncoding::Utf8 => crate::InputEncoding::Utf8,
            w::InputEncoding::Windows1252 => crate::InputEncoding::Windows1252,
        },
        max_findings: o.max_findings as usize,
    }
}

fn source_out(e: crate::SourceEncoding) -> w::SourceEncoding {
    match e {
        crate::SourceEncoding::Utf8Bom => w::SourceEncoding::Utf8Bom,
        crate::SourceEncoding::Utf8NoBom => w::SourceEncoding::Utf8NoBom,
        crate::SourceEncoding::Windows1252 => w::SourceEncoding::Windows1252,
        crate::SourceEncoding::Utf16Le => w::SourceEncoding::Utf16Le,
        crate::SourceEncoding::Utf16Be => w::SourceEncoding::Utf16Be,
    }
}

fn file_name_error(e: crate::FileNameError) -> w::FileNameError {
    match e {
        crate::FileNameError::Empty => w::FileNameError::Empty,
        crate::FileNameError::TooLong(n) => {
            w::FileNameError::TooLong(u32::try_from(n).unwrap_or(u32::MAX))
        }
        crate::FileNameError::MissingPrefix => w::FileNameError::MissingPrefix,
        crate::FileNameError::MissingExtension => w::FileNameError::MissingExtension,
        crate::FileNameError::ForbiddenCharacter(c) => {
            w::FileNameError::ForbiddenCharacter(c.to_string())
        }
    }
}

fn write_error_out(e: crate::WriteError) -> w::WriteError {
    match e {
        crate::WriteError::Header(f) => w::WriteError::InvalidHeader(findings_out(&f)),
        crate::WriteError::Field(f) => w::WriteError::InvalidBooking(finding_out(&f)),
        // Writing into a Vec cannot fail; map it anyway rather than panic.
        crate::WriteError::Io(e) => w::WriteError::InvalidBooking(finding_out(&Finding::error(
            Code::Limit,
            0,
            0,
            "",
            "",
            e.to_string(),
        ))),
    }
}

fn start_writer(
    header: &w::Header,
    encoding: w::Encoding,
    capacity: usize,
) -> Result<crate::Writer<Vec<u8>>, w::WriteError> {
    let header = header_in(header).map_err(|f| w::WriteError::InvalidHeader(findings_out(&f)))?;
    let encoding = match encoding {
        w::Encoding::Utf8Bom => crate::Encoding::Utf8Bom,
        w::Encoding::Windows1252 => crate::Encoding::Windows1252,
    };
    crate::Writer::in_memory(&header, encoding, capacity).map_err(write_error_out)
}

/// Converts and writes `bookings` as the next rows; stops at the first refused booking.
fn write_rows(
    writer: &mut crate::Writer<Vec<u8>>,
    bookings: Vec<w::Booking>,
) -> Result<(), w::WriteError> {
    for b in bookings {
        let b = booking_in(b).map_err(|e| {
            // The line this row would have had (the writer counts the rows it wrote).
            let line = writer.rows_written().saturating_add(3);
            w::WriteError::InvalidBooking(finding_out(&column_finding(line, e)))
        })?;
        writer.write_booking(&b).map_err(write_error_out)?;
    }
    Ok(())
}

/// The `writer` resource: an in-memory writer whose buffer is handed out after every push.
struct StreamWriter(RefCell<crate::Writer<Vec<u8>>>);

impl w::GuestWriter for StreamWriter {
    fn start(header: w::Header, encoding: w::Encoding) -> Result<w::Writer, w::WriteError> {
        // The first push usually brings a chunk of rows; its buffer is then reused.
        let writer = start_writer(&header, encoding, 64 * 1024)?;
        Ok(w::Writer::new(StreamWriter(RefCell::new(writer))))
    }

    fn push(&self, bookings: Vec<w::Booking>) -> Result<Vec<u8>, w::WriteError> {
        let mut writer = self.0.borrow_mut();
        let mark = writer.mark();
        if let Err(e) = write_rows(&mut writer, bookings) {
            writer.rewind(mark);
            return Err(e);
        }
        Ok(writer.take_written())
    }

    fn rows(&self) -> u32 {
        self.0.borrow().rows_written()
    }

    fn finish(this: w::Writer) -> Vec<u8> {
        this.into_inner::<StreamWriter>()
            .0
            .into_inner()
            .finish_vec()
    }
}

impl w::Guest for Component {
    type Writer = StreamWriter;

    fn write(
        header: w::Header,
        bookings: Vec<w::Booking>,
        encoding: w::Encoding,
    ) -> Result<Vec<u8>, w::WriteError> {
        // Rows are about 330-360 bytes; reserving avoids re-copying a growing file (capped, so
        // a huge batch grows as before instead of failing one big allocation).
        let estimate = bookings.len().saturating_mul(360).min(1 << 28) + 4096;
        let mut writer = start_writer(&header, encoding, estimate)?;
        write_rows(&mut writer, bookings)?;
        Ok(writer.finish_vec())
    }

    fn validate(file: Vec<u8>, options: w::ValidateOptions) -> w::Report {
        let r = crate::validate(&file, &options_in(options));
        w::Report {
            encoding: source_out(r.encoding),
            rows: r.rows,
            findings: findings_out(&r.findings),
        }
    }

    fn parse(file: Vec<u8>, options: w::ValidateOptions) -> Result<w::Parsed, Vec<w::Finding>> {
        match crate::parse(&file, &options_in(options)) {
            Ok(p) => Ok(w::Parsed {
                header: header_out(&p.header),
                bookings: p.bookings.iter().map(booking_out).collect(),
                encoding: source_out(p.encoding),
                warnings: findings_out(&p.warnings),
            }),
            Err(e) => Err(findings_out(&e.findings)),
        }
    }

    fn file_name(header: w::Header, sequence: u32) -> Result<String, w::FileNameError> {
        // The name uses only numbers and dates of the header; a header that fails its own
        // checks still yields a name from those fields.
        let d = |d: w::Date| format!("{:04}{:02}{:02}", d.year, d.month, d.day);
        let name = format!(
            "EXTF_BS_{}_{}_{}_{}_{}.csv",
            header.consultant,
            header.client,
            d(header.period_from),
            d(header.period_to),
            sequence
        );
        crate::FileName::new(&name)
            .map(|n| n.as_str().to_owned())
            .map_err(file_name_error)
    }

    fn check_file_name(name: String) -> Result<(), w::FileNameError> {
        crate::FileName::new(&name)
            .map(|_| ())
            .map_err(file_name_error)
    }

    fn write_dxso(
        header: w::Header,
        documents: Vec<w::DxsoDocument>,
        options: w::DxsoOptions,
    ) -> Result<Vec<w::DxsoFile>, w::DxsoError> {
        let header =
            header_in(&header).map_err(|f| w::DxsoError::InvalidHeader(findings_out(&f)))?;
        let mut docs = Vec::with_capacity(documents.len());
        for (di, d) in documents.into_iter().enumerate() {
            let mut bookings = Vec::with_capacity(d.bookings.len());
            for (bi, b) in d.bookings.into_iter().enumerate() {
                let b = booking_in(b).map_err(|(col, value, e)| {
                    w::DxsoError::Invalid(w::DxsoProblem {
                        document: u32::try_from(di + 1).unwrap_or(u32::MAX),
                        booking: u32::try_from(bi + 1).unwrap_or(u32::MAX),
                        field: COLUMNS
                            .get(usize::from(col).wrapping_sub(1))
                            .map_or("", |c| c.name)
                            .to_owned(),
                        value,
                        reason: e.to_string(),
                    })
                })?;
                bookings.push(b);
            }
            docs.push(crate::DxsoDocument {
                kind: match d.kind {
                    w::LedgerKind::AccountsReceivable => crate::LedgerKind::AccountsReceivable,
                    w::LedgerKind::AccountsPayable => crate::LedgerKind::AccountsPayable,
                    w::LedgerKind::Cash => crate::LedgerKind::Cash,
                },
                datafile: d.datafile,
                accounting_month: crate::YearMonth {
                    year: d.accounting_month.year,
                    month: d.accounting_month.month,
                },
                folder_name: d.folder_name,
                cash_account: d.cash_account,
                partner_name: d.partner_name,
                partner_city: d.partner_city,
                images: d.images,
                description: d.description,
                bookings,
            });
        }
        let options = crate::DxsoOptions {
            generator_info: options.generator_info,
            generating_system: options.generating_system,
            description: options.description,
            client_name: options.client_name,
        };
        match crate::write_dxso(&header, &docs, &options) {
            Ok(files) => Ok(files
                .into_iter()
                .map(|f| w::DxsoFile {
                    name: f.name,
                    content: f.content,
                })
                .collect()),
            Err(crate::DxsoError::Header(f)) => Err(w::DxsoError::InvalidHeader(findings_out(&f))),
            Err(crate::DxsoError::Invalid(p)) => Err(w::DxsoError::Invalid(w::DxsoProblem {
                document: p.document,
                booking: p.booking,
                field: p.field.to_owned(),
                value: p.value,
                reason: p.reason,
            })),
        }
    }
}
