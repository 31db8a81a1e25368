//! The DATEV online API calls: `accounting:extf-files` 3.0.1, `accounting-clients` 2.0 and
//! `accounting:dxso-jobs` 2.1.7 (datev.md §3, §4).
//!
//! Every request carries `Authorization: Bearer <token>` (RFC 6750 §2.1) and
//! `X-DATEV-Client-Id: <OAuth client_id>` (datev.md §3). Errors are [`ApiError`]s that keep
//! DATEV's body with the bearer token scrubbed.

use crate::auth::Ports;
use crate::config::DatevConfig;
use crate::error::{AffectedElement, ApiError, Operation, datev_code, parse_retry_after};
use crate::ids::{
    AccountingMonth, DatevClientId, DxsoFilename, DxsoJobId, ExtfFilename, ExtfJobId, HeaderText,
    InvalidInput,
};
use crate::token::AccessToken;
use connector::{HttpRequest, HttpResponse, Method};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest EXTF upload DATEV accepts: 50 MB, else 413 / 1008833 (datev.md §1.7).
pub const EXTF_MAX_BYTES: usize = 50 * 1024 * 1024;
/// Largest DXSO file DATEV accepts: 20 MB, else DCO01016 (datev.md §4.3).
pub const DXSO_MAX_BYTES: usize = 20 * 1024 * 1024;

/// One EXTF file to upload with `importExtfFile`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtfUpload {
    /// `Filename` header.
    pub filename: ExtfFilename,
    /// The file bytes as written (the API decides the encoding only by BOM, datev.md §1.2).
    pub content: Vec<u8>,
    /// Optional `Reference-Id` header.
    pub reference_id: Option<HeaderText>,
    /// Optional `Client-Application-Version` header.
    pub client_application_version: Option<HeaderText>,
}

impl fmt::Debug for ExtfUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtfUpload")
            .field("filename", &self.filename)
            .field("content_len", &self.content.len())
            .field("reference_id", &self.reference_id)
            .field(
                "client_application_version",
                &self.client_application_version,
            )
            .finish()
    }
}

impl ExtfUpload {
    /// An upload; rejects an empty file (1008831) and one over 50 MB (1008833) before sending.
    pub fn new(filename: ExtfFilename, content: Vec<u8>) -> Result<Self, InvalidInput> {
        if content.is_empty() {
            return Err(InvalidInput::new("file", "is empty (DATEV 1008831)"));
        }
        if content.len() > EXTF_MAX_BYTES {
            return Err(InvalidInput::new(
                "file",
                "is larger than 50 MB (DATEV 1008833)",
            ));
        }
        Ok(Self {
            filename,
            content,
            reference_id: None,
            client_application_version: None,
        })
    }
}

/// The 202 answer of `importExtfFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtfImportAccepted {
    /// Job id: the last path segment of `Location`.
    pub job_id: ExtfJobId,
    /// `Location` as sent (relative to the server URL).
    pub location: String,
    /// `Retry-After`: minimum seconds before the first status check.
    pub retry_after_s: Option<u64>,
}

/// `Job.result` of extf-files 3.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtfJobResult {
    /// Still being processed.
    Pending,
    /// Accepted by the data centre for the client (datev.md §4.1 "Inference").
    Succeeded,
    /// Rejected; see `validation_details`.
    Failed,
}

/// `ValidationDetails` of a failed EXTF job (extf-files 3.0.1): kept as DATEV sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValidationDetails {
    /// `http://www.datev.de/hilfe/<code>`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// E.g. `Invalid EXTF-header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// E.g. `Fields with error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fields at fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_elements: Vec<AffectedElement>,
}

impl ValidationDetails {
    /// DATEV's code (`1008834` …, datev.md §4.1 table).
    pub fn code(&self) -> Option<&str> {
        datev_code(self.problem_type.as_deref())
    }
}

/// `Job` of extf-files 3.0.1 (`getJob`). Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtfJob {
    /// Job id.
    pub id: String,
    /// Processing result.
    pub result: ExtfJobResult,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_details: Option<ValidationDetails>,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Batch label (cut to 250 characters + "..." by DATEV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `Reference-Id` of the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// 21 = booking data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_category_id: Option<i64>,
    /// Number of bookings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_accounting_records: Option<i64>,
    /// Fiscal year start (date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year_begin: Option<String>,
    /// Period start (date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_from: Option<String>,
    /// Period end (date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_to: Option<String>,
    /// Receipt time (date-time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Uploading application's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_application_display_name: Option<String>,
    /// Uploading application's vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_application_vendor: Option<String>,
    /// Uploading application's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_application_version: Option<String>,
}

impl ExtfJob {
    /// The job's progress in the common scale.
    pub fn progress(&self) -> JobProgress {
        match self.result {
            ExtfJobResult::Pending => JobProgress::Pending,
            ExtfJobResult::Succeeded => JobProgress::Succeeded,
            ExtfJobResult::Failed => JobProgress::Failed,
        }
    }
}

/// Progress of an EXTF or DXSO job on one scale, for polling and notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobProgress {
    /// Accepted, not yet processed (EXTF `pending`; DXSO 0 "open, not finalized").
    Pending,
    /// Being processed (DXSO 1).
    Running,
    /// Done without errors (EXTF `succeeded`; DXSO 2).
    Succeeded,
    /// Done, partly with errors (DXSO 4).
    PartiallySucceeded,
    /// Not processed (EXTF `failed`; DXSO 3 "critical errors").
    Failed,
    /// Cancelled in Belege online (DXSO 5).
    Cancelled,
    /// A cancellation in Belege online was not possible (DXSO 6); treated as final and in need
    /// of a person (datev.md §4.3 does not say what follows).
    CancellationNotPossible,
}

impl JobProgress {
    /// True when polling should stop.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobProgress::Pending | JobProgress::Running)
    }
}

/// `DXSoJobStatus.status` (dxso-jobs 2.1.7, datev.md §4.3): an integer 0–6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum DxsoJobStatus {
    /// 0: still open, not finalized.
    Open,
    /// 1: processing started.
    Processing,
    /// 2: processed successfully.
    Processed,
    /// 3: not processed, critical errors.
    NotProcessed,
    /// 4: processed partially, errors.
    PartiallyProcessed,
    /// 5: cancelled in Belege online.
    Cancelled,
    /// 6: not cancelled in Belege online, requirements not fulfilled.
    CancellationNotPossible,
}

impl TryFrom<i64> for DxsoJobStatus {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        Ok(match v {
            0 => DxsoJobStatus::Open,
            1 => DxsoJobStatus::Processing,
            2 => DxsoJobStatus::Processed,
            3 => DxsoJobStatus::NotProcessed,
            4 => DxsoJobStatus::PartiallyProcessed,
            5 => DxsoJobStatus::Cancelled,
            6 => DxsoJobStatus::CancellationNotPossible,
            other => return Err(format!("DXSO status {other} is not one of 0-6")),
        })
    }
}

impl From<DxsoJobStatus> for i64 {
    fn from(s: DxsoJobStatus) -> i64 {
        s.code()
    }
}

impl DxsoJobStatus {
    /// The integer DATEV uses.
    pub fn code(self) -> i64 {
        match self {
            DxsoJobStatus::Open => 0,
            DxsoJobStatus::Processing => 1,
            DxsoJobStatus::Processed => 2,
            DxsoJobStatus::NotProcessed => 3,
            DxsoJobStatus::PartiallyProcessed => 4,
            DxsoJobStatus::Cancelled => 5,
            DxsoJobStatus::CancellationNotPossible => 6,
        }
    }

    /// The status in the common scale.
    pub fn progress(self) -> JobProgress {
        match self {
            DxsoJobStatus::Open => JobProgress::Pending,
            DxsoJobStatus::Processing => JobProgress::Running,
            DxsoJobStatus::Processed => JobProgress::Succeeded,
            DxsoJobStatus::NotProcessed => JobProgress::Failed,
            DxsoJobStatus::PartiallyProcessed => JobProgress::PartiallySucceeded,
            DxsoJobStatus::Cancelled => JobProgress::Cancelled,
            DxsoJobStatus::CancellationNotPossible => JobProgress::CancellationNotPossible,
        }
    }
}

/// `DXSoJobStatus` (GET dxso-jobs/{job-id}).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DxsoJobState {
    /// Job id as DATEV echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status 0–6.
    pub status: DxsoJobStatus,
}

/// `import_type` of `DXSoJobCreationInfo` (datev.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DxsoImportType {
    /// Incoming invoices (`accountsPayableLedger` or `invoice` Incoming).
    #[serde(rename = "accountsPayableLedgerImport")]
    AccountsPayableLedger,
    /// Outgoing invoices (`accountsReceivableLedger` or `invoice` Outgoing).
    #[serde(rename = "accountsReceivableLedgerImport")]
    AccountsReceivableLedger,
    /// Cash entries (`cashLedger`).
    #[serde(rename = "cashLedgerImport")]
    CashLedger,
}

/// `DXSoJobCreationInfo`: both fields or neither (datev.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DxsoJobParams {
    /// Data type.
    pub import_type: DxsoImportType,
    /// Accounting month.
    pub accounting_month: AccountingMonth,
}

/// `DXSoJob` (201 of POST dxso-jobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DxsoJobCreated {
    /// Job id.
    pub job_id: DxsoJobId,
    /// Ledger account length of the fiscal year.
    pub account_length: Option<i64>,
    /// Invoice folders (payable/receivable imports).
    pub ledger_folder_names: Vec<String>,
    /// Cash books (cash imports).
    pub cash_ledger_names: Vec<String>,
}

/// `DXSoJob` on the wire.
#[derive(Deserialize)]
struct DxsoJobWire {
    id: String,
    #[serde(default)]
    account_length: Option<i64>,
    #[serde(default)]
    ledger_folder_names: Vec<String>,
    #[serde(default)]
    cash_ledger_names: Vec<String>,
}

/// One file for POST dxso-jobs/{job-id}/files.
#[derive(Clone, PartialEq, Eq)]
pub struct DxsoFile {
    name: DxsoFilename,
    content_type: String,
    content: Vec<u8>,
}

impl fmt::Debug for DxsoFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DxsoFile")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("content_len", &self.content.len())
            .finish()
    }
}

impl DxsoFile {
    /// A file with an explicit part `Content-Type` (`type/subtype[; params]`, visible ASCII);
    /// it must fit the extension (DCO01219). At most 20 MB (DCO01016), not empty.
    pub fn new(
        name: DxsoFilename,
        content_type: &str,
        content: Vec<u8>,
    ) -> Result<Self, InvalidInput> {
        let ct_ok = content_type.split(';').next().is_some_and(|t| {
            let mut it = t.trim().split('/');
            matches!((it.next(), it.next(), it.next()), (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty())
        }) && content_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !ct_ok {
            return Err(InvalidInput::new(
                "content_type",
                "must be type/subtype[; parameters] in visible ASCII",
            ));
        }
        if content.is_empty() {
            return Err(InvalidInput::new("file", "is empty"));
        }
        if content.len() > DXSO_MAX_BYTES {
            return Err(InvalidInput::new(
                "file",
                "is larger than 20 MB (DATEV DCO01016)",
            ));
        }
        Ok(Self {
            name,
            content_type: content_type.to_owned(),
            content,
        })
    }

    /// A file whose part `Content-Type` follows from its extension: `.xml` → `text/xml` (as
    /// in the spec's example part), `.pdf` → `application/pdf`, `.jpg`/`.jpeg` → `image/jpeg`,
    /// `.png` → `image/png`, `.tif`/`.tiff` → `image/tiff`.
    pub fn from_extension(name: DxsoFilename, content: Vec<u8>) -> Result<Self, InvalidInput> {
        let ext = name
            .as_str()
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let ct = match ext.as_str() {
            "xml" => "text/xml",
            "pdf" => "application/pdf",
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "tif" | "tiff" => "image/tiff",
            _ => {
                return Err(InvalidInput::new(
                    "dxso_filename",
                    "has no known extension; give the content type",
                ));
            }
        };
        Self::new(name, ct, content)
    }

    /// The file name.
    pub fn name(&self) -> &DxsoFilename {
        &self.name
    }
}

/// `ProtocolEntry` of dxso-jobs 2.1.7; DATEV keeps them about two months (datev.md §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProtocolEntry {
    /// ISO 8601 time with offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// German display text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Context, e.g. `Beleg-ID Nr. …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `information` | `warning` | `error`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<String>,
    /// File the entry is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// `Service` of an accounting-clients `Client`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientService {
    /// E.g. `Buchungsdatenservice`.
    #[serde(default)]
    pub name: String,
    /// Scope strings (opaque, datev.md §4.2).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `Client` of accounting-clients 2.0 (`getClients`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Technical id `<consultant>-<client>`.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Beraternummer.
    #[serde(default)]
    pub consultant_number: i64,
    /// Mandantennummer.
    #[serde(default)]
    pub client_number: i64,
    /// Booked DATEV services.
    #[serde(default)]
    pub services: Vec<ClientService>,
}

impl Client {
    /// The id as a validated [`DatevClientId`].
    pub fn client_id(&self) -> Result<DatevClientId, InvalidInput> {
        DatevClientId::parse(&self.id)
    }

    /// True when the client books Buchungsdatenservice, which EXTF uploads need (datev.md §4.2).
    pub fn has_buchungsdatenservice(&self) -> bool {
        self.services
            .iter()
            .any(|s| s.name == "Buchungsdatenservice")
    }
}

/// Query of `getClients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientsQuery {
    /// Only this client (`filter=consultant_number eq … and client_number eq …`).
    pub only: Option<DatevClientId>,
    /// Entries to skip.
    pub skip: u32,
    /// Page size 1–100; `None` = DATEV's default (100).
    pub top: Option<u8>,
}

/// One page of `getClients`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsPage {
    /// The clients.
    pub clients: Vec<Client>,
    /// `Total-Items`.
    pub total_items: Option<u64>,
    /// `skip` of the `rel="next"` link, if any.
    pub next_skip: Option<u32>,
}

/// One page of `getJobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtfJobsPage {
    /// The jobs, oldest first as DATEV lists them.
    pub jobs: Vec<ExtfJob>,
    /// `Total-Items`.
    pub total_items: Option<u64>,
    /// `skip` of the `rel="next"` link, if any.
    pub next_skip: Option<u32>,
}

/// The API client. Each call takes the access token explicitly (from
/// [`crate::DatevAuth::access_token`]).
#[derive(Debug, Clone, Copy)]
pub struct DatevApi<'a> {
    config: &'a DatevConfig,
    ports: Ports<'a>,
}

/// `A-Z a-z 0-9 - . _ ~` stay, everything else `%XX` (RFC 3986 §2.3 unreserved).
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl<'a> DatevApi<'a> {
    /// Binds configuration and ports (the store is not used).
    pub fn new(config: &'a DatevConfig, ports: Ports<'a>) -> Self {
        Self { config, ports }
    }

    fn request(&self, method: Method, url: String, token: &AccessToken) -> HttpRequest {
        HttpRequest::new(method, url)
            .header(
                "Authorization",
                format!("Bearer {}", token.secret().expose()),
            )
            .header("X-DATEV-Client-Id", self.config.oauth.client_id.as_str())
            .header("Accept", "application/json")
    }

    fn send(
        &self,
        operation: Operation,
        req: HttpRequest,
        token: &AccessToken,
        ok: &[u16],
    ) -> Result<HttpResponse, ApiError> {
        let resp = self
            .ports
            .http
            .send(req)
            .map_err(|source| ApiError::Transport { operation, source })?;
        if ok.contains(&resp.status) {
            Ok(resp)
        } else {
            let secrets = [token.secret().expose(), self.secret_of_client()];
            Err(ApiError::from_response(
                operation,
                &resp,
                self.ports.clock.now_ms(),
                &secrets,
            ))
        }
    }

    fn secret_of_client(&self) -> &str {
        match &self.config.oauth.credentials {
            crate::config::ClientCredentials::Confidential { secret, .. } => secret.expose(),
            crate::config::ClientCredentials::Public => "",
        }
    }

    fn json<T: DeserializeOwned>(operation: Operation, resp: &HttpResponse) -> Result<T, ApiError> {
        serde_json::from_slice(&resp.body).map_err(|e| ApiError::UnexpectedResponse {
            operation,
            status: resp.status,
            reason: format!("body does not match the OpenAPI schema: {e}"),
        })
    }

    fn extf_client(&self, client: &DatevClientId) -> String {
        format!(
            "{}/clients/{}/extf-files",
            self.config.endpoints.extf_files, client
        )
    }

    fn dxso_job_url(&self, client: &DatevClientId, job: &DxsoJobId) -> String {
        format!(
            "{}/clients/{}/dxso-jobs/{}",
            self.config.endpoints.dxso_jobs, client, job
        )
    }

    /// `importExtfFile`: `POST /clients/{client-id}/extf-files/import` with the raw file as
    /// `application/octet-stream` and the `Filename` (plus optional `Reference-Id`,
    /// `Client-Application-Version`) headers. 202 → job id from `Location`, `Retry-After`
    /// (datev.md §4.1).
    pub fn import_extf(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        upload: &ExtfUpload,
    ) -> Result<ExtfImportAccepted, ApiError> {
        const OP: Operation = Operation::ImportExtfFile;
        let mut req = self
            .request(
                Method::Post,
                format!("{}/import", self.extf_client(client)),
                token,
            )
            .header("Content-Type", "application/octet-stream")
            .header("Filename", upload.filename.as_str());
        if let Some(r) = &upload.reference_id {
            req = req.header("Reference-Id", r.as_str());
        }
        if let Some(v) = &upload.client_application_version {
            req = req.header("Client-Application-Version", v.as_str());
        }
        let resp = self.send(OP, req.body(upload.content.clone()), token, &[202])?;
        let unexpected = |reason: &str| ApiError::UnexpectedResponse {
            operation: OP,
            status: resp.status,
            reason: reason.into(),
        };
        let location = resp
            .header_value("Location")
            .ok_or_else(|| unexpected("202 without Location"))?
            .to_owned();
        let path = location.split(['?', '#']).next().unwrap_or("");
        let (prefix, last) = path
            .rsplit_once('/')
            .ok_or_else(|| unexpected("Location is not a job URL"))?;
        if !prefix.ends_with("/extf-files/jobs") {
            return Err(unexpected(
                "Location is not a .../extf-files/jobs/{job-id} URL",
            ));
        }
        let job_id =
            ExtfJobId::parse(last).map_err(|_| unexpected("Location ends in an invalid job id"))?;
        let retry_after_s = resp
            .header_value("Retry-After")
            .and_then(|v| parse_retry_after(v, self.ports.clock.now_ms()));
        Ok(ExtfImportAccepted {
            job_id,
            location,
            retry_after_s,
        })
    }

    /// `getJob`: `GET /clients/{client-id}/extf-files/jobs/{job-id}` → [`ExtfJob`] with
    /// `result` and `validation_details` (datev.md §4.1).
    pub fn extf_job(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &ExtfJobId,
    ) -> Result<ExtfJob, ApiError> {
        const OP: Operation = Operation::GetExtfJob;
        let req = self.request(
            Method::Get,
            format!("{}/jobs/{}", self.extf_client(client), job),
            token,
        );
        let resp = self.send(OP, req, token, &[200])?;
        Self::json(OP, &resp)
    }

    /// `getJobs`: `GET /clients/{client-id}/extf-files/jobs?skip=&top=` → one page of
    /// [`ExtfJob`]s with `Total-Items` and the `rel="next"` link's `skip` (extf-files 3.0.1,
    /// datev.md §3 paging). Used to find an upload again by its `Reference-Id` after an
    /// ambiguous `importExtfFile`.
    pub fn list_extf_jobs(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        skip: u32,
        top: u8,
    ) -> Result<ExtfJobsPage, ApiError> {
        const OP: Operation = Operation::GetExtfJobs;
        let url = format!(
            "{}/jobs?skip={skip}&top={}",
            self.extf_client(client),
            top.clamp(1, 100)
        );
        let resp = self.send(OP, self.request(Method::Get, url, token), token, &[200])?;
        let jobs: Vec<ExtfJob> = Self::json(OP, &resp)?;
        let total_items = resp
            .header_value("Total-Items")
            .and_then(|v| v.trim().parse().ok());
        let next_skip = resp.header_value("Link").and_then(next_link_skip);
        Ok(ExtfJobsPage {
            jobs,
            total_items,
            next_skip,
        })
    }

    /// `getClients` of accounting-clients 2.0: `GET /clients?filter=&skip=&top=` (datev.md
    /// §4.2), with `Total-Items` and the `rel="next"` link's `skip`.
    pub fn list_clients(
        &self,
        token: &AccessToken,
        query: &ClientsQuery,
    ) -> Result<ClientsPage, ApiError> {
        const OP: Operation = Operation::GetClients;
        let mut params: Vec<String> = Vec::new();
        if let Some(c) = query.only {
            let filter = format!(
                "consultant_number eq {} and client_number eq {}",
                c.consultant_number(),
                c.client_number()
            );
            params.push(format!("filter={}", pct(&filter)));
        }
        if query.skip > 0 {
            params.push(format!("skip={}", query.skip));
        }
        if let Some(top) = query.top {
            params.push(format!("top={}", top.clamp(1, 100)));
        }
        let mut url = format!("{}/clients", self.config.endpoints.accounting_clients);
        if !params.is_empty() {
            url = format!("{url}?{}", params.join("&"));
        }
        let resp = self.send(OP, self.request(Method::Get, url, token), token, &[200])?;
        let clients: Vec<Client> = Self::json(OP, &resp)?;
        let total_items = resp
            .header_value("Total-Items")
            .and_then(|v| v.trim().parse().ok());
        let next_skip = resp.header_value("Link").and_then(next_link_skip);
        Ok(ClientsPage {
            clients,
            total_items,
            next_skip,
        })
    }

    /// dxso-jobs `POST /clients/{client-id}/dxso-jobs` with `{}` or
    /// `{"import_type":…,"accounting_month":"YYYY-MM"}` → 201 [`DxsoJobCreated`] (datev.md §4.3).
    pub fn create_dxso_job(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        params: Option<&DxsoJobParams>,
    ) -> Result<DxsoJobCreated, ApiError> {
        const OP: Operation = Operation::CreateDxsoJob;
        // Field order as in the spec's `DXSoJobCreationInfo`.
        #[derive(Serialize)]
        struct CreationInfo {
            import_type: DxsoImportType,
            accounting_month: String,
        }
        let body = match params {
            None => b"{}".to_vec(),
            Some(p) => serde_json::to_vec(&CreationInfo {
                import_type: p.import_type,
                accounting_month: p.accounting_month.to_string(),
            })
            .map_err(|e| ApiError::InvalidRequest {
                operation: OP,
                source: InvalidInput::new("dxso_job_params", e.to_string()),
            })?,
        };
        let req = self
            .request(
                Method::Post,
                format!(
                    "{}/clients/{}/dxso-jobs",
                    self.config.endpoints.dxso_jobs, client
                ),
                token,
            )
            .header("Content-Type", "application/json")
            .body(body);
        let resp = self.send(OP, req, token, &[201])?;
        let wire: DxsoJobWire = Self::json(OP, &resp)?;
        let job_id = DxsoJobId::parse(&wire.id).map_err(|e| ApiError::UnexpectedResponse {
            operation: OP,
            status: resp.status,
            reason: e.to_string(),
        })?;
        Ok(DxsoJobCreated {
            job_id,
            account_length: wire.account_length,
            ledger_folder_names: wire.ledger_folder_names,
            cash_ledger_names: wire.cash_ledger_names,
        })
    }

    /// dxso-jobs `POST /clients/{client-id}/dxso-jobs/{job-id}/files`: one file per request as
    /// `multipart/form-data` (RFC 7578) in part `files` → 201 (datev.md §4.3). The boundary is
    /// random (from the `Rng` port) and checked not to occur in the file.
    pub fn upload_dxso_file(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
        file: &DxsoFile,
    ) -> Result<(), ApiError> {
        const OP: Operation = Operation::UploadDxsoFile;
        let boundary =
            self.boundary_for(&file.content)
                .ok_or_else(|| ApiError::InvalidRequest {
                    operation: OP,
                    source: InvalidInput::new(
                        "file",
                        "contains every generated multipart boundary",
                    ),
                })?;
        let mut body = Vec::with_capacity(file.content.len() + 256);
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n",
                file.name.as_str()
            )
            .as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", file.content_type).as_bytes());
        body.extend_from_slice(&file.content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .request(
                Method::Post,
                format!("{}/files", self.dxso_job_url(client, job)),
                token,
            )
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(OP, req, token, &[201]).map(drop)
    }

    fn boundary_for(&self, content: &[u8]) -> Option<String> {
        // 128 random bits: a clash with the content is practically impossible, but checking is
        // cheap and a file could be crafted to contain a guessed boundary.
        for _ in 0..8 {
            let mut b = [0u8; 16];
            self.ports.rng.fill(&mut b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let boundary = format!("datev-part-{hex}");
            if !content
                .windows(boundary.len())
                .any(|w| w == boundary.as_bytes())
            {
                return Some(boundary);
            }
        }
        None
    }

    /// dxso-jobs `PUT /clients/{client-id}/dxso-jobs/{job-id}` with
    /// `Content-Type: application/merge-patch+json` and `{"ready":"true"}` → 204: processing
    /// starts (datev.md §4.3).
    pub fn start_dxso_job(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
    ) -> Result<(), ApiError> {
        let req = self
            .request(Method::Put, self.dxso_job_url(client, job), token)
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"ready":"true"}"#);
        self.send(Operation::StartDxsoJob, req, token, &[204])
            .map(drop)
    }

    /// dxso-jobs `GET /clients/{client-id}/dxso-jobs/{job-id}` → status 0–6 (datev.md §4.3).
    pub fn dxso_job_status(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
    ) -> Result<DxsoJobState, ApiError> {
        const OP: Operation = Operation::GetDxsoJob;
        let resp = self.send(
            OP,
            self.request(Method::Get, self.dxso_job_url(client, job), token),
            token,
            &[200],
        )?;
        Self::json(OP, &resp)
    }

    /// dxso-jobs `GET /clients/{client-id}/dxso-jobs/{job-id}/protocol-entries` (datev.md §4.3).
    pub fn dxso_protocol(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
    ) -> Result<Vec<ProtocolEntry>, ApiError> {
        const OP: Operation = Operation::GetDxsoProtocol;
        let url = format!("{}/protocol-entries", self.dxso_job_url(client, job));
        let resp = self.send(OP, self.request(Method::Get, url, token), token, &[200])?;
        Self::json(OP, &resp)
    }

    /// dxso-jobs `DELETE /clients/{client-id}/dxso-jobs/{job-id}` → 204; only while status is 0
    /// (datev.md §4.3).
    pub fn delete_dxso_job(
        &self,
        token: &AccessToken,
        client: &DatevClientId,
        job: &DxsoJobId,
    ) -> Result<(), ApiError> {
        let req = self.request(Method::Delete, self.dxso_job_url(client, job), token);
        self.send(Operation::DeleteDxsoJob, req, token, &[204])
            .map(drop)
    }
}

/// `skip` of the `rel="next"` entry of a `Link` header such as
/// `<?skip=0&top=100>;rel="prev", <?skip=200&top=100>;rel="next"` (datev.md §3 paging).
fn next_link_skip(link: &str) -> Option<u32> {
    link.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let query = target.trim_start_matches('<').split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("skip=")?.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_link_skip(r#"<?skip=0&top=100>;rel="prev", <?skip=200&top=100>;rel="next""#),
            Some(200)
        );
        assert_eq!(next_link_skip(r#"<?skip=0&top=100>;rel="prev""#), None);
        assert_eq!(next_link_skip("garbage"), None);
    }

    #[test]
    fn dxso_status_codes() {
        for code in 0..=6 {
            let s = DxsoJobStatus::try_from(code).unwrap();
            assert_eq!(s.code(), code);
        }
        assert!(DxsoJobStatus::try_from(7).is_err());
        assert!(!DxsoJobStatus::Processing.progress().is_terminal());
        assert!(!DxsoJobStatus::Open.progress().is_terminal());
        assert_eq!(
            DxsoJobStatus::PartiallyProcessed.progress(),
            JobProgress::PartiallySucceeded
        );
        assert!(DxsoJobStatus::PartiallyProcessed.progress().is_terminal());
        let st: DxsoJobState = serde_json::from_str(r#"{"id":"X","status":4}"#).unwrap();
        assert_eq!(st.status, DxsoJobStatus::PartiallyProcessed);
        assert!(serde_json::from_str::<DxsoJobState>(r#"{"status":9}"#).is_err());
    }

    #[test]
    fn extf_job_from_the_spec_shape() {
        let job: ExtfJob = serde_json::from_str(
            r#"{"id":"5656-zyxv-trew-ijkl","result":"failed","filename":"EXTF_AusgangsrechnungenMaerz.CSV",
                "validation_details":{"type":"http://www.datev.de/hilfe/1008834","title":"Invalid EXTF-header",
                "detail":"Fields with error","affected_elements":[{"name":"DATEV Format Identifier","reason":"must be 'EXTF'"}]},
                "timestamp":"2020-04-13T17:55:42Z","data_category_id":21,"number_of_accounting_records":127,"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(job.progress(), JobProgress::Failed);
        let d = job.validation_details.as_ref().unwrap();
        assert_eq!(d.code(), Some("1008834"));
        assert_eq!(
            d.affected_elements[0].reason.as_deref(),
            Some("must be 'EXTF'")
        );
        assert!(serde_json::from_str::<ExtfJob>(r#"{"id":"x","result":"done"}"#).is_err());
    }

    #[test]
    fn dxso_file_types() {
        let n = |s: &str| DxsoFilename::parse(s).unwrap();
        assert_eq!(
            DxsoFile::from_extension(n("a.XML"), b"x".to_vec())
                .unwrap()
                .content_type,
            "text/xml"
        );
        assert!(DxsoFile::from_extension(n("a.doc"), b"x".to_vec()).is_err());
        assert!(DxsoFile::new(n("a.xml"), "text/xml; charset=Cp1252", b"x".to_vec()).is_ok());
        assert_eq!(
            DxsoFile::new(n("a.xml"), "text", b"x".to_vec())
                .unwrap_err()
                .field,
            "content_type"
        );
        assert_eq!(
            DxsoFile::new(n("a.xml"), "text/xml\r\nX: y", b"x".to_vec())
                .unwrap_err()
                .field,
            "content_type"
        );
        assert_eq!(
            DxsoFile::new(n("a.xml"), "text/xml", Vec::new())
                .unwrap_err()
                .field,
            "file"
        );
        assert_eq!(
            ExtfUpload::new(ExtfFilename::parse("EXTF_a.csv").unwrap(), Vec::new())
                .unwrap_err()
                .field,
            "file"
        );
    }
}
