//! `ExtfService` over the native `extf` crate: the same conversions the `extf` component's
//! export makes (`components/extf/src/component.rs`), from this crate's WIT-shaped records.

use extf::columns::{COLUMNS, HEADER_FIELD_NAMES};
use flows::extf_port as p;

pub struct NativeExtf;

fn date_in(d: p::Date) -> Result<extf::Date, extf::ValueError> {
    extf::Date::new(d.year, d.month, d.day)
}

fn date_out(d: extf::Date) -> p::Date {
    p::Date {
        year: d.year(),
        month: d.month(),
        day: d.day(),
    }
}

fn finding_out(f: &extf::Finding) -> p::Finding {
    p::Finding {
        severity: if f.is_error() {
            p::Severity::Error
        } else {
            p::Severity::Warning
        },
        code: f.code.as_str().to_owned(),
        line: f.line,
        field: f.field,
        field_name: f.field_name.to_owned(),
        value: f.value.clone(),
        reason: f.reason.clone(),
        document: None,
        booking: None,
    }
}

fn header_finding(field: u16, value: &str, e: extf::ValueError) -> extf::Finding {
    extf::Finding::error(
        e.code(),
        1,
        field,
        HEADER_FIELD_NAMES[usize::from(field) - 1],
        value,
        e.to_string(),
    )
}

fn header_in(h: &p::Header) -> Result<extf::Header, Vec<p::Finding>> {
    let mut errs = Vec::new();
    macro_rules! take {
        ($field:expr, $value:expr, $r:expr) => {
            match $r {
                Ok(v) => Some(v),
                Err(e) => {
                    let value: String = $value;
                    errs.push(finding_out(&header_finding($field, &value, e)));
                    None
                }
            }
        };
    }
    let t = h.created_at.unwrap_or(p::Timestamp {
        date: p::Date {
            year: 2024,
            month: 1,
            day: 1,
        },
        hour: 0,
        minute: 0,
        second: 0,
        millisecond: 0,
    });
    let created = take!(
        6,
        String::new(),
        date_in(t.date).and_then(|d| extf::Timestamp::new(
            d,
            t.hour,
            t.minute,
            t.second,
            t.millisecond
        ))
    );
    let origin = take!(8, h.origin.clone(), extf::Origin::new(&h.origin));
    let exported_by = take!(
        9,
        h.exported_by.clone(),
        extf::UserName::new(&h.exported_by)
    );
    let imported_by = take!(
        10,
        h.imported_by.clone(),
        extf::UserName::new(&h.imported_by)
    );
    let consultant = take!(
        11,
        String::new(),
        extf::ConsultantNumber::new(h.consultant.unwrap_or(0))
    );
    let client = take!(
        12,
        String::new(),
        extf::ClientNumber::new(h.client.unwrap_or(0))
    );
    let fy = take!(13, String::new(), date_in(h.fiscal_year_start));
    let len = take!(
        14,
        h.account_length.to_string(),
        extf::AccountLength::new(h.account_length)
    );
    let from = take!(15, String::new(), date_in(h.period_from));
    let to = take!(16, String::new(), date_in(h.period_to));
    let label = take!(17, h.label.clone(), extf::BatchLabel::new(&h.label));
    let initials = take!(18, h.initials.clone(), extf::Initials::new(&h.initials));
    let currency = take!(22, h.currency.clone(), extf::CurrencyCode::new(&h.currency));
    let chart = take!(
        27,
        h.chart_of_accounts.clone(),
        extf::ChartOfAccounts::new(&h.chart_of_accounts)
    );
    let industry = match h.industry_solution {
        Some(id) => take!(28, id.to_string(), extf::IndustrySolutionId::new(id)).map(Some),
        None => Some(None),
    };
    let app = take!(
        31,
        h.application_info.clone(),
        extf::ApplicationInfo::new(&h.application_info)
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
        return Err(errs);
    };
    Ok(extf::Header {
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
            p::BookingType::FinancialAccounting => extf::BookingType::FinancialAccounting,
            p::BookingType::AnnualStatement => extf::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            p::AccountingPurpose::Independent => extf::AccountingPurpose::Independent,
            p::AccountingPurpose::Tax => extf::AccountingPurpose::Tax,
            p::AccountingPurpose::Calculatory => extf::AccountingPurpose::Calculatory,
            p::AccountingPurpose::Commercial => extf::AccountingPurpose::Commercial,
            p::AccountingPurpose::Ifrs => extf::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency,
        chart_of_accounts,
        industry_solution,
        application_info,
    })
}

fn header_out(h: &extf::Header) -> p::Header {
    let t = h.created_at;
    p::Header {
        created_at: Some(p::Timestamp {
            date: date_out(t.date()),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millisecond: t.millisecond(),
        }),
        origin: h.origin.as_str().to_owned(),
        exported_by: h.exported_by.as_str().to_owned(),
        imported_by: h.imported_by.as_str().to_owned(),
        consultant: Some(h.consultant.get()),
        client: Some(h.client.get()),
        fiscal_year_start: date_out(h.fiscal_year_start),
        account_length: h.account_length.get(),
        period_from: date_out(h.period_from),
        period_to: date_out(h.period_to),
        label: h.label.as_str().to_owned(),
        initials: h.initials.as_str().to_owned(),
        booking_type: match h.booking_type {
            extf::BookingType::FinancialAccounting => p::BookingType::FinancialAccounting,
            extf::BookingType::AnnualStatement => p::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            extf::AccountingPurpose::Independent => p::AccountingPurpose::Independent,
            extf::AccountingPurpose::Tax => p::AccountingPurpose::Tax,
            extf::AccountingPurpose::Calculatory => p::AccountingPurpose::Calculatory,
            extf::AccountingPurpose::Commercial => p::AccountingPurpose::Commercial,
            extf::AccountingPurpose::Ifrs => p::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency: h.currency.as_str().to_owned(),
        chart_of_accounts: h.chart_of_accounts.as_str().to_owned(),
        industry_solution: h.industry_solution.map(|i| i.get()),
        application_info: h.application_info.as_str().to_owned(),
    }
}

type ColumnError = (u8, String, extf::ValueError);

fn booking_in(b: &p::Booking) -> Result<extf::Booking, ColumnError> {
    let at = |col: u8, value: String| move |e: extf::ValueError| (col, value, e);
    let mut out = extf::Booking::new(
        extf::Amount::new(b.amount_cents).map_err(at(1, b.amount_cents.to_string()))?,
        match b.side {
            p::Side::Soll => extf::Side::Soll,
            p::Side::Haben => extf::Side::Haben,
        },
        extf::AccountNumber::new(b.account).map_err(at(7, b.account.to_string()))?,
        extf::AccountNumber::new(b.contra_account).map_err(at(8, b.contra_account.to_string()))?,
        date_in(b.document_date).map_err(at(10, b.document_date.to_string()))?,
    );
    if let Some(c) = &b.currency {
        out.currency = Some(extf::CurrencyCode::new(c).map_err(at(3, c.clone()))?);
    }
    if let Some(r) = &b.exchange_rate {
        out.exchange_rate = Some(extf::ExchangeRate::new(r).map_err(at(4, r.clone()))?);
    }
    if let Some(a) = b.base_amount_cents {
        out.base_amount = Some(extf::Amount::new(a).map_err(at(5, a.to_string()))?);
    }
    if let Some(c) = &b.base_currency {
        out.base_currency = Some(extf::CurrencyCode::new(c).map_err(at(6, c.clone()))?);
    }
    if let Some(k) = b.bu_key {
        out.bu_key = Some(extf::BuKey::new(k).map_err(at(9, k.to_string()))?);
    }
    out.document_field_1 =
        extf::DocumentField1::new(&b.document_field1).map_err(at(11, b.document_field1.clone()))?;
    out.document_field_2 =
        extf::DocumentField2::new(&b.document_field2).map_err(at(12, b.document_field2.clone()))?;
    if let Some(d) = b.discount_cents {
        out.discount = Some(extf::Discount::new(d).map_err(at(13, d.to_string()))?);
    }
    out.text = extf::BookingText::new(&b.text).map_err(at(14, b.text.clone()))?;
    for x in &b.extras {
        out.extras.insert(
            extf::ExtraField::new(x.column, &x.value).map_err(at(x.column, x.value.clone()))?,
        );
    }
    Ok(out)
}

fn booking_out(b: &extf::Booking) -> p::Booking {
    p::Booking {
        amount_cents: b.amount.get(),
        side: match b.side {
            extf::Side::Soll => p::Side::Soll,
            extf::Side::Haben => p::Side::Haben,
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
        document_field2: b.document_field_2.as_str().to_owned(),
        discount_cents: b.discount.map(|d| d.get()),
        text: b.text.as_str().to_owned(),
        extras: b
            .extras
            .iter()
            .map(|x| p::ExtraField {
                column: x.column(),
                value: x.value().to_owned(),
            })
            .collect(),
    }
}

fn column_finding(line: u32, (col, value, e): ColumnError) -> p::Finding {
    let name = COLUMNS
        .get(usize::from(col).wrapping_sub(1))
        .map_or("", |c| c.name);
    finding_out(&extf::Finding::error(
        e.code(),
        line,
        u16::from(col),
        name,
        &value,
        e.to_string(),
    ))
}

fn options() -> extf::Options {
    extf::Options {
        encoding: extf::InputEncoding::Auto,
        max_findings: 1_000,
    }
}

impl p::ExtfService for NativeExtf {
    fn write(
        &self,
        header: &p::Header,
        bookings: &[p::Booking],
    ) -> Result<Vec<u8>, p::WriteFailure> {
        let header = header_in(header).map_err(p::WriteFailure::Header)?;
        let to_port = |e: extf::WriteError| match e {
            extf::WriteError::Header(f) => {
                p::WriteFailure::Header(f.iter().map(finding_out).collect())
            }
            extf::WriteError::Field(f) => p::WriteFailure::Booking(finding_out(&f)),
            extf::WriteError::Io(e) => {
                p::WriteFailure::Booking(p::Finding::error("limit", 0, 0, "", "", e.to_string()))
            }
        };
        let mut writer =
            extf::Writer::new(Vec::new(), &header, extf::Encoding::Utf8Bom).map_err(to_port)?;
        for (i, b) in bookings.iter().enumerate() {
            let b = booking_in(b)
                .map_err(|e| p::WriteFailure::Booking(column_finding(3 + i as u32, e)))?;
            writer.write_booking(&b).map_err(to_port)?;
        }
        writer.finish().map_err(to_port)
    }

    fn validate(&self, file: &[u8], _max_findings: u32) -> p::Report {
        let r = extf::validate(file, &options());
        p::Report {
            rows: r.rows,
            findings: r.findings.iter().map(finding_out).collect(),
        }
    }

    fn parse(&self, file: &[u8], _max_findings: u32) -> Result<p::Parsed, Vec<p::Finding>> {
        match extf::parse(file, &options()) {
            Ok(parsed) => Ok(p::Parsed {
                header: header_out(&parsed.header),
                bookings: parsed.bookings.iter().map(booking_out).collect(),
                warnings: parsed.warnings.iter().map(finding_out).collect(),
            }),
            Err(e) => Err(e.findings.iter().map(finding_out).collect()),
        }
    }

    fn file_name(&self, header: &p::Header, sequence: u32) -> Result<String, String> {
        let d = |d: p::Date| format!("{:04}{:02}{:02}", d.year, d.month, d.day);
        let name = format!(
            "EXTF_BS_{}_{}_{}_{}_{}.csv",
            header.consultant.unwrap_or(0),
            header.client.unwrap_or(0),
            d(header.period_from),
            d(header.period_to),
            sequence
        );
        extf::FileName::new(&name)
            .map(|n| n.as_str().to_owned())
            .map_err(|e| e.to_string())
    }

    fn write_dxso(
        &self,
        header: &p::Header,
        documents: &[p::DxsoDocument],
        options: &p::DxsoOptions,
    ) -> Result<Vec<p::DxsoFile>, Vec<p::Finding>> {
        let header = header_in(header)?;
        let mut docs = Vec::new();
        for (di, d) in documents.iter().enumerate() {
            let mut bookings = Vec::new();
            for (bi, b) in d.bookings.iter().enumerate() {
                let b = booking_in(b).map_err(|(col, value, e)| {
                    let mut f = p::Finding::error(
                        "dxso",
                        0,
                        u16::from(col),
                        COLUMNS
                            .get(usize::from(col).wrapping_sub(1))
                            .map_or("", |c| c.name),
                        &value,
                        e.to_string(),
                    );
                    f.document = Some(di as u32 + 1);
                    f.booking = Some(bi as u32 + 1);
                    vec![f]
                })?;
                bookings.push(b);
            }
            docs.push(extf::DxsoDocument {
                kind: match d.kind {
                    p::LedgerKind::AccountsReceivable => extf::LedgerKind::AccountsReceivable,
                    p::LedgerKind::AccountsPayable => extf::LedgerKind::AccountsPayable,
                    p::LedgerKind::Cash => extf::LedgerKind::Cash,
                },
                datafile: d.datafile.clone(),
                accounting_month: extf::YearMonth {
                    year: d.accounting_month.year,
                    month: d.accounting_month.month,
                },
                folder_name: d.folder_name.clone(),
                cash_account: d.cash_account,
                partner_name: d.partner_name.clone(),
                partner_city: d.partner_city.clone(),
                images: d.images.clone(),
                description: d.description.clone(),
                bookings,
            });
        }
        let options = extf::DxsoOptions {
            generator_info: options.generator_info.clone(),
            generating_system: options.generating_system.clone(),
            description: options.description.clone(),
            client_name: options.client_name.clone(),
        };
        match extf::write_dxso(&header, &docs, &options) {
            Ok(files) => Ok(files
                .into_iter()
                .map(|f| p::DxsoFile {
                    name: f.name,
                    content: f.content,
                })
                .collect()),
            Err(extf::DxsoError::Header(f)) => Err(f.iter().map(finding_out).collect()),
            Err(extf::DxsoError::Invalid(problem)) => {
                let mut f = p::Finding::error(
                    "dxso",
                    0,
                    0,
                    problem.field,
                    &problem.value,
                    problem.reason.clone(),
                );
                f.document = Some(problem.document);
                f.booking = Some(problem.booking);
                Err(vec![f])
            }
        }
    }
}
