//! Spin HTTP component `api`: DATEV connect, batch intake, batch status, client configuration,
//! the approval gate's routes (Verify checks to `twilio_verify_base_url`) and the operator routes
//! (audit trail and replay, stored credentials, connection check).
//!
//! Thin glue around [`flows::api::Api`]: read the request (body capped at
//! [`flows::api::MAX_BODY_BYTES`]), the variables and the ports, and convert the answer. EXTF and
//! DXSO writing and validation go through the imported interface
//! `ml-connector:datev-extf/extf@0.2.0`, which Spin composes in from the `extf` library
//! component (`[component.api.dependencies]`, `spin.md` §9); no copy of that code is linked here.

use flows::api::{AdminSettings, Api, ApiRequest, ApiSettings, Body};
use flows::extf_port as port;
use spin_glue::{IncomingBodyError, SpinHttp, SpinStore, WasiClock, WasiRng, variable};
use spin_sdk::http::{IncomingRequest, Response};

/// Bindings for the imported extf interface. `generate_all` because the Spin SDK generates its
/// own bindings next to these (`spin.md` §4.3). The generated lifting code is `unsafe`; it is
/// allowed in this module only.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "ml-connector:api/api",
        path: ["../../wit/datev-extf", "wit"],
        generate_all,
    });
}

use bindings::ml_connector::datev_extf::extf as w;

/// [`port::ExtfService`] over the imported component: field-by-field copies of the WIT records.
struct ComponentExtf;

fn date(d: port::Date) -> w::Date {
    w::Date {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn date_back(d: w::Date) -> port::Date {
    port::Date {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn header(h: &port::Header) -> w::Header {
    let t = h.created_at.unwrap_or(port::Timestamp {
        date: port::Date {
            year: 2000,
            month: 1,
            day: 1,
        },
        hour: 0,
        minute: 0,
        second: 0,
        millisecond: 0,
    });
    w::Header {
        created_at: w::Timestamp {
            date: date(t.date),
            hour: t.hour,
            minute: t.minute,
            second: t.second,
            millisecond: t.millisecond,
        },
        origin: h.origin.clone(),
        exported_by: h.exported_by.clone(),
        imported_by: h.imported_by.clone(),
        consultant: h.consultant.unwrap_or(0),
        client: h.client.unwrap_or(0),
        fiscal_year_start: date(h.fiscal_year_start),
        account_length: h.account_length,
        period_from: date(h.period_from),
        period_to: date(h.period_to),
        label: h.label.clone(),
        initials: h.initials.clone(),
        booking_type: match h.booking_type {
            port::BookingType::FinancialAccounting => w::BookingType::FinancialAccounting,
            port::BookingType::AnnualStatement => w::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            port::AccountingPurpose::Independent => w::AccountingPurpose::Independent,
            port::AccountingPurpose::Tax => w::AccountingPurpose::Tax,
            port::AccountingPurpose::Calculatory => w::AccountingPurpose::Calculatory,
            port::AccountingPurpose::Commercial => w::AccountingPurpose::Commercial,
            port::AccountingPurpose::Ifrs => w::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency: h.currency.clone(),
        chart_of_accounts: h.chart_of_accounts.clone(),
        industry_solution: h.industry_solution,
        application_info: h.application_info.clone(),
    }
}

fn header_back(h: w::Header) -> port::Header {
    let t = h.created_at;
    port::Header {
        created_at: Some(port::Timestamp {
            date: date_back(t.date),
            hour: t.hour,
            minute: t.minute,
            second: t.second,
            millisecond: t.millisecond,
        }),
        origin: h.origin,
        exported_by: h.exported_by,
        imported_by: h.imported_by,
        consultant: Some(h.consultant),
        client: Some(h.client),
        fiscal_year_start: date_back(h.fiscal_year_start),
        account_length: h.account_length,
        period_from: date_back(h.period_from),
        period_to: date_back(h.period_to),
        label: h.label,
        initials: h.initials,
        booking_type: match h.booking_type {
            w::BookingType::FinancialAccounting => port::BookingType::FinancialAccounting,
            w::BookingType::AnnualStatement => port::BookingType::AnnualStatement,
        },
        purpose: match h.purpose {
            w::AccountingPurpose::Independent => port::AccountingPurpose::Independent,
            w::AccountingPurpose::Tax => port::AccountingPurpose::Tax,
            w::AccountingPurpose::Calculatory => port::AccountingPurpose::Calculatory,
            w::AccountingPurpose::Commercial => port::AccountingPurpose::Commercial,
            w::AccountingPurpose::Ifrs => port::AccountingPurpose::Ifrs,
        },
        festschreibung: h.festschreibung,
        currency: h.currency,
        chart_of_accounts: h.chart_of_accounts,
        industry_solution: h.industry_solution,
        application_info: h.application_info,
    }
}

fn booking(b: &port::Booking) -> w::Booking {
    w::Booking {
        amount_cents: b.amount_cents,
        side: match b.side {
            port::Side::Soll => w::Side::Soll,
            port::Side::Haben => w::Side::Haben,
        },
        currency: b.currency.clone(),
        exchange_rate: b.exchange_rate.clone(),
        base_amount_cents: b.base_amount_cents,
        base_currency: b.base_currency.clone(),
        account: b.account,
        contra_account: b.contra_account,
        bu_key: b.bu_key,
        document_date: date(b.document_date),
        document_field1: b.document_field1.clone(),
        document_field2: (!b.document_field2.is_empty()).then(|| b.document_field2.clone()),
        discount_cents: b.discount_cents,
        text: b.text.clone(),
        extras: (!b.extras.is_empty()).then(|| {
            b.extras
                .iter()
                .map(|x| w::ExtraField {
                    column: x.column,
                    value: x.value.clone(),
                })
                .collect()
        }),
    }
}

fn booking_back(b: w::Booking) -> port::Booking {
    port::Booking {
        amount_cents: b.amount_cents,
        side: match b.side {
            w::Side::Soll => port::Side::Soll,
            w::Side::Haben => port::Side::Haben,
        },
        currency: b.currency,
        exchange_rate: b.exchange_rate,
        base_amount_cents: b.base_amount_cents,
        base_currency: b.base_currency,
        account: b.account,
        contra_account: b.contra_account,
        bu_key: b.bu_key,
        document_date: date_back(b.document_date),
        document_field1: b.document_field1,
        document_field2: b.document_field2.unwrap_or_default(),
        discount_cents: b.discount_cents,
        text: b.text,
        extras: b
            .extras
            .into_iter()
            .flatten()
            .map(|x| port::ExtraField {
                column: x.column,
                value: x.value,
            })
            .collect(),
    }
}

fn code(c: w::Code) -> &'static str {
    match c {
        w::Code::Encoding => "encoding",
        w::Code::LineEnding => "line-ending",
        w::Code::Structure => "structure",
        w::Code::FieldCount => "field-count",
        w::Code::Quoting => "quoting",
        w::Code::Required => "required",
        w::Code::Format => "format",
        w::Code::Range => "range",
        w::Code::TooLong => "too-long",
        w::Code::Charset => "charset",
        w::Code::NotNfc => "not-nfc",
        w::Code::NotWindows1252 => "not-windows-1252",
        w::Code::InvalidDate => "invalid-date",
        w::Code::OutsidePeriod => "outside-period",
        w::Code::FiscalYear => "fiscal-year",
        w::Code::AccountLength => "account-length",
        w::Code::Pairing => "pairing",
        w::Code::Consistency => "consistency",
        w::Code::Unsupported => "unsupported",
        w::Code::Reserved => "reserved",
        w::Code::Limit => "limit",
    }
}

fn finding(f: w::Finding) -> port::Finding {
    port::Finding {
        severity: match f.severity {
            w::Severity::Error => port::Severity::Error,
            w::Severity::Warning => port::Severity::Warning,
        },
        code: code(f.code).to_owned(),
        line: f.line,
        field: f.field,
        field_name: f.field_name,
        value: f.value,
        reason: f.reason,
        document: None,
        booking: None,
    }
}

fn findings(list: Vec<w::Finding>) -> Vec<port::Finding> {
    list.into_iter().map(finding).collect()
}

fn options(max_findings: u32) -> w::ValidateOptions {
    w::ValidateOptions {
        encoding: w::InputEncoding::Auto,
        max_findings,
    }
}

fn file_name_error(e: w::FileNameError) -> String {
    match e {
        w::FileNameError::Empty => "is empty".into(),
        w::FileNameError::TooLong(n) => format!("has {n} characters, at most 60 are allowed"),
        w::FileNameError::MissingPrefix => "does not start with EXTF_".into(),
        w::FileNameError::MissingExtension => "does not end with .csv".into(),
        w::FileNameError::ForbiddenCharacter(c) => format!("contains the character {c:?}"),
    }
}

impl port::ExtfService for ComponentExtf {
    fn write(
        &self,
        h: &port::Header,
        bookings: &[port::Booking],
    ) -> Result<Vec<u8>, port::WriteFailure> {
        let list: Vec<w::Booking> = bookings.iter().map(booking).collect();
        w::write(&header(h), &list, w::Encoding::Utf8Bom).map_err(|e| match e {
            w::WriteError::InvalidHeader(f) => port::WriteFailure::Header(findings(f)),
            w::WriteError::InvalidBooking(f) => port::WriteFailure::Booking(finding(f)),
        })
    }

    fn validate(&self, file: &[u8], max_findings: u32) -> port::Report {
        let r = w::validate(file, options(max_findings));
        port::Report {
            rows: r.rows,
            findings: findings(r.findings),
        }
    }

    fn parse(&self, file: &[u8], max_findings: u32) -> Result<port::Parsed, Vec<port::Finding>> {
        w::parse(file, options(max_findings))
            .map(|p| port::Parsed {
                header: header_back(p.header),
                bookings: p.bookings.into_iter().map(booking_back).collect(),
                warnings: findings(p.warnings),
            })
            .map_err(findings)
    }

    fn file_name(&self, h: &port::Header, sequence: u32) -> Result<String, String> {
        w::file_name(&header(h), sequence).map_err(file_name_error)
    }

    fn write_dxso(
        &self,
        h: &port::Header,
        documents: &[port::DxsoDocument],
        opts: &port::DxsoOptions,
    ) -> Result<Vec<port::DxsoFile>, Vec<port::Finding>> {
        let docs: Vec<w::DxsoDocument> = documents
            .iter()
            .map(|d| w::DxsoDocument {
                kind: match d.kind {
                    port::LedgerKind::AccountsReceivable => w::LedgerKind::AccountsReceivable,
                    port::LedgerKind::AccountsPayable => w::LedgerKind::AccountsPayable,
                    port::LedgerKind::Cash => w::LedgerKind::Cash,
                },
                datafile: d.datafile.clone(),
                accounting_month: w::YearMonth {
                    year: d.accounting_month.year,
                    month: d.accounting_month.month,
                },
                folder_name: d.folder_name.clone(),
                cash_account: d.cash_account,
                partner_name: d.partner_name.clone(),
                partner_city: d.partner_city.clone(),
                images: d.images.clone(),
                description: d.description.clone(),
                bookings: d.bookings.iter().map(booking).collect(),
            })
            .collect();
        let o = w::DxsoOptions {
            generator_info: opts.generator_info.clone(),
            generating_system: opts.generating_system.clone(),
            description: opts.description.clone(),
            client_name: opts.client_name.clone(),
        };
        match w::write_dxso(&header(h), &docs, &o) {
            Ok(files) => Ok(files
                .into_iter()
                .map(|f| port::DxsoFile {
                    name: f.name,
                    content: f.content,
                })
                .collect()),
            Err(w::DxsoError::InvalidHeader(f)) => Err(findings(f)),
            Err(w::DxsoError::Invalid(p)) => {
                let mut f = port::Finding::error("dxso", 0, 0, &p.field, &p.value, p.reason);
                f.document = Some(p.document);
                f.booking = Some(p.booking);
                Err(vec![f])
            }
        }
    }
}

fn lookup(name: &'static str) -> Result<Option<String>, String> {
    variable(name).map_err(|e| e.to_string())
}

/// The HTTP export. `#[http_component]` expands to the `wasi:http/incoming-handler` export with
/// `#[export_name]` and `unsafe` handle conversions, inside this module; `unsafe_code` is allowed
/// here for that reason only.
#[allow(unsafe_code)]
mod entry {
    use super::*;

    /// The HTTP entry point. Never panics: every failure becomes a response.
    #[spin_sdk::http_component]
    fn handle(req: IncomingRequest) -> Response {
        let parts = spin_glue::from_incoming_request(&req);
        let body = match spin_glue::read_incoming_body(&req, flows::api::MAX_BODY_BYTES) {
            Ok(bytes) => Body::Complete(bytes),
            Err(IncomingBodyError::TooLarge(_)) => Body::TooLarge,
            Err(IncomingBodyError::Stream(why)) => Body::Unreadable(why),
        };
        let store = match SpinStore::open_default() {
            Ok(store) => store,
            Err(e) => {
                eprintln!("api: key-value store `default` unavailable: {e}");
                return Response::builder()
                    .status(503)
                    .header("content-type", "application/json")
                    .header("retry-after", "5")
                    .body(r#"{"error":"storage is temporarily unavailable; retry"}"#)
                    .build();
            }
        };
        let hold_ttl_ms = flows::config::hold_ttl_ms(&lookup).unwrap_or_else(|e| {
            eprintln!("api: {e}; using the default");
            connector::approval::DEFAULT_HOLD_TTL_MS
        });
        // Stored DATEV credentials (PUT /settings/datev) replace the variables' OAuth client.
        let datev = flows::config::datev(&lookup).and_then(|mut setup| {
            flows::credentials::apply_datev(&store, &mut setup)
                .map(|_| setup)
                .map_err(|e| flows::ConfigError::Invalid {
                    name: "datev_client_id",
                    reason: format!("stored credentials: {e}"),
                })
        });
        let settings = ApiSettings {
            schedule: flows::config::poller(&lookup)
                .map(|p| p.schedule)
                .unwrap_or_default(),
            // The approval gate's Verify checks: the same effective Twilio settings as the
            // twilio-sender (stored credentials over the variables).
            twilio: flows::credentials::twilio_config(&store, &lookup),
            hold_ttl_ms,
            ..ApiSettings::new(flows::config::admin_token(&lookup), datev)
        };
        let admin = AdminSettings::from_lookup(&lookup);
        let http = SpinHttp::new();
        let ports = datev::Ports {
            store: &store,
            http: &http,
            clock: &WasiClock,
            rng: &WasiRng,
        };
        let request = ApiRequest {
            method: parts.method,
            path_with_query: parts.path_with_query,
            headers: parts.headers,
            body,
        };
        spin_glue::to_spin_response(
            Api::new(&settings, ports, &ComponentExtf)
                .with_admin(&admin)
                .handle(&request),
        )
    }
}
