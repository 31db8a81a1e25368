//! `accounting:dxso-jobs` 2.1.7 (datev.md §4.3, OpenAPI S8): clients, job create, file upload,
//! finalize, cancel, status 0–6, protocol entries.

use super::{JSON_UTF8, authorize, dxso_bare, dxso_error, strip_base};
use crate::config::ClientSpec;
use crate::ctx::{Ctx, Req};
use crate::state::{Api, DxsoFile, DxsoJob};
use crate::time;
use crate::util::{self, json, media_type, multipart};
use base64::Engine as _;
use connector::{HttpResponse, Method};
use serde_json::{Value, json};

/// Largest file (20 MB, DCO01016).
const MAX_FILE: usize = 20 * 1024 * 1024;

/// Status a job shows now (datev.md §4.3: 0 open, 1 processing, 2 ok, 3 critical, 4 partial,
/// 5 cancelled in Belege online, 6 cancellation not possible).
pub(crate) fn status_of(job: &DxsoJob, now: u64) -> u8 {
    if let Some(s) = job.forced_status {
        return s;
    }
    match (job.ready_ms, job.done_ms) {
        (None, _) => 0,
        (Some(_), Some(done)) if now >= done => job.final_status,
        _ => 1,
    }
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let Some(rest) = strip_base(&req.path, "v2") else {
        return HttpResponse::new(404, Vec::new());
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let scope = match segs.as_slice() {
        ["clients"] | ["clients", _] => "accounting:clients:read",
        ["clients", _, "dxso-jobs", ..] if segs.len() <= 5 => "accounting:dxso-jobs",
        _ => return dxso_bare(ctx, 404),
    };
    if let Err(resp) = authorize(ctx, req, Api::DatevDxso, scope) {
        return resp;
    }
    let m = req.method;
    match segs.as_slice() {
        ["clients"] if m == Method::Get => list_clients(ctx),
        ["clients", id] if m == Method::Get => match find_client(ctx, id) {
            Some(c) => json(200, JSON_UTF8, &client_basics(&c)),
            None => dxso_bare(ctx, 404),
        },
        ["clients", id, "dxso-jobs"] if m == Method::Post => create(ctx, req, id),
        ["clients", id, "dxso-jobs", job, "files"] if m == Method::Post => {
            upload(ctx, req, id, job)
        }
        ["clients", id, "dxso-jobs", job] if m == Method::Put => finalize(ctx, req, id, job),
        ["clients", id, "dxso-jobs", job] if m == Method::Delete => delete(ctx, id, job),
        ["clients", id, "dxso-jobs", job] if m == Method::Get => match find_job(ctx, id, job) {
            Some(j) => json(
                200,
                JSON_UTF8,
                &json!({"id": j.id, "status": status_of(&j, ctx.now)}),
            ),
            None => dxso_bare(ctx, 404),
        },
        ["clients", id, "dxso-jobs", job, "protocol-entries"] if m == Method::Get => {
            match find_job(ctx, id, job) {
                Some(j) => json(200, JSON_UTF8, &protocol(&j, ctx.now)),
                None => dxso_bare(ctx, 404),
            }
        }
        // A known path with a method the spec does not list.
        _ => HttpResponse::new(405, Vec::new()),
    }
}

fn find_client(ctx: &Ctx<'_>, id: &str) -> Option<ClientSpec> {
    ctx.cfg.datev.clients.iter().find(|c| c.id() == id).cloned()
}

fn find_job(ctx: &Ctx<'_>, client: &str, job: &str) -> Option<DxsoJob> {
    ctx.st
        .datev
        .dxso_jobs
        .iter()
        .find(|j| j.client_id == client && j.id.eq_ignore_ascii_case(job))
        .cloned()
}

fn list_clients(ctx: &mut Ctx<'_>) -> HttpResponse {
    if ctx.cfg.datev.clients.is_empty() {
        return dxso_bare(ctx, 404);
    }
    let list: Vec<Value> = ctx
        .cfg
        .datev
        .clients
        .iter()
        .map(|c| json!({"client_number": c.client_number, "consultant_number": c.consultant_number, "id": c.id(), "name": c.name}))
        .collect();
    json(200, JSON_UTF8, &Value::Array(list))
}

/// ClientBasics: the last three fiscal years, ledgers available when Belege online is.
fn client_basics(c: &ClientSpec) -> Value {
    let year: i64 = c
        .fiscal_year_start
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(2024);
    let rest = c.fiscal_year_start.get(4..).unwrap_or("-01-01");
    let available = c.document_management;
    let years: Vec<Value> = (0..3)
        .map(|back| {
            let y = year - 2 + back;
            json!({
                "fiscal_year_start": format!("{y}{rest}T00:00:00.000Z"),
                "fiscal_year_end": format!("{y}-12-31T00:00:00.000Z"),
                "account_length": c.account_length,
                "ledgers": {
                    "is_accounts_payable_ledger_available": available,
                    "is_accounts_receivable_ledger_available": available,
                    "is_cash_ledger_available": available,
                },
            })
        })
        .collect();
    json!({
        "client_number": c.client_number,
        "consultant_number": c.consultant_number,
        "id": c.id(),
        "name": c.name,
        "is_document_management_available": available,
        "basic_accounting_information": if available { years } else { Vec::new() },
    })
}

fn create(ctx: &mut Ctx<'_>, req: &Req<'_>, client_id: &str) -> HttpResponse {
    let Some(client) = find_client(ctx, client_id) else {
        return dxso_bare(ctx, 404);
    };
    let body = &req.raw.body;
    let info: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        if media_type(req.raw).as_deref() != Some("application/json") {
            return dxso_error(ctx, 400, "DCO01018", "MissingMandatoryHeaderFault");
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return dxso_error(ctx, 400, "DCO01008", "InvalidMessageBodyFault"),
        }
    };
    let import_type = info
        .get("import_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let month = info
        .get("accounting_month")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if import_type.is_some() != month.is_some() {
        return dxso_error(ctx, 400, "DCO01017", "MissingMandatoryParameterFault");
    }
    let folders: (&str, Vec<&str>) = match import_type.as_deref() {
        None => ("ledger_folder_names", Vec::new()),
        Some("accountsPayableLedgerImport") => ("ledger_folder_names", vec!["Eingangsrechnungen"]),
        Some("accountsReceivableLedgerImport") => {
            ("ledger_folder_names", vec!["Ausgangsrechnungen"])
        }
        Some("cashLedgerImport") => ("cash_ledger_names", vec!["Kasse"]),
        Some(_) => return dxso_error(ctx, 400, "DCO01008", "InvalidMessageBodyFault"),
    };
    if let Some(m) = &month {
        let b = m.as_bytes();
        let ok = b.len() == 7
            && b[4] == b'-'
            && m[..4].bytes().all(|c| c.is_ascii_digit())
            && m[5..].parse::<u32>().is_ok_and(|mm| (1..=12).contains(&mm));
        if !ok {
            return dxso_error(ctx, 400, "DCO01008", "InvalidMessageBodyFault");
        }
    }
    if !client.document_management {
        return dxso_error(ctx, 400, "DCO01002", "InvalidDxsoImportTargetFault");
    }
    let id = ctx.st.rng.hex(32).to_ascii_uppercase();
    ctx.st.datev.dxso_jobs.push(DxsoJob {
        id: id.clone(),
        client_id: client_id.to_owned(),
        import_type,
        accounting_month: month,
        created_ms: ctx.now,
        files: Vec::new(),
        ready_ms: None,
        done_ms: None,
        final_status: 2,
        forced_status: None,
    });
    let mut body = json!({"id": id, "account_length": client.account_length});
    body[folders.0] = json!(folders.1);
    json(201, JSON_UTF8, &body)
}

/// DXSO file names: space `& ( ) + - . _ 0-9 A-Z a-z` and Latin-1 letters `À`–`ÿ` except `×`,
/// `÷`; anything else (decomposed umlauts included) becomes `_` (datev.md §4.3).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            let ok = c.is_ascii_alphanumeric()
                || " &()+-._".contains(c)
                || (('\u{C0}'..='\u{FF}').contains(&c) && c != '×' && c != '÷');
            if ok { c } else { '_' }
        })
        .collect()
}

/// Expected part content types per extension; `None` for unsupported file types (DCO01015).
fn allowed_types(name: &str) -> Option<&'static [&'static str]> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "xml" => &["text/xml", "application/xml"],
        "pdf" => &["application/pdf"],
        "jpg" | "jpeg" => &["image/jpeg"],
        "png" => &["image/png"],
        "tif" | "tiff" => &["image/tiff"],
        _ => return None,
    })
}

fn upload(ctx: &mut Ctx<'_>, req: &Req<'_>, client_id: &str, job_id: &str) -> HttpResponse {
    let Some(job) = find_job(ctx, client_id, job_id) else {
        return dxso_bare(ctx, 404);
    };
    if status_of(&job, ctx.now) != 0 {
        return dxso_error(ctx, 400, "DCO01007", "InvalidDxsoJobStateFault");
    }
    if media_type(req.raw).as_deref() != Some("multipart/form-data") {
        return dxso_error(ctx, 400, "DCO01004", "MultipartUploadFault");
    }
    let parts = match multipart(req.raw) {
        Ok(p) => p,
        Err(_) => return dxso_error(ctx, 400, "DCO01004", "MultipartUploadFault"),
    };
    let files: Vec<_> = parts.into_iter().filter(|p| p.name == "files").collect();
    let [part] = files.as_slice() else {
        // None, or more than one file in one request (one file per request).
        return dxso_error(ctx, 400, "DCO01004", "MultipartUploadFault");
    };
    let Some(raw_name) = part.filename.as_deref().filter(|n| !n.is_empty()) else {
        return dxso_error(ctx, 400, "DCO01004", "MultipartUploadFault");
    };
    let filename = sanitize(raw_name);
    let Some(types) = allowed_types(&filename) else {
        return dxso_error(ctx, 400, "DCO01015", "UnsupportedFileTypeFault");
    };
    if part.data.len() > MAX_FILE {
        return dxso_error(ctx, 400, "DCO01016", "FileSizeFault");
    }
    if let Some(ct) = &part.content_type {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !types.contains(&media.as_str()) {
            return dxso_error(
                ctx,
                400,
                "DCO01219",
                "ContentTypeDoesNotMatchFileExtensionFault",
            );
        }
    }
    let file = DxsoFile {
        filename,
        content_type: part.content_type.clone(),
        size: part.data.len(),
        sha256: util::sha256_hex(&part.data),
        received_ms: ctx.now,
        bytes_b64: ctx
            .cfg
            .keep_upload_bytes
            .then(|| base64::engine::general_purpose::STANDARD.encode(&part.data)),
    };
    if let Some(j) = ctx.st.datev.dxso_jobs.iter_mut().find(|j| j.id == job.id) {
        j.files.push(file);
    }
    json(201, "application/json", &json!({}))
}

fn finalize(ctx: &mut Ctx<'_>, req: &Req<'_>, client_id: &str, job_id: &str) -> HttpResponse {
    let Some(job) = find_job(ctx, client_id, job_id) else {
        return dxso_bare(ctx, 404);
    };
    if media_type(req.raw).as_deref() != Some("application/merge-patch+json") {
        return dxso_error(ctx, 400, "DCO01018", "MissingMandatoryHeaderFault");
    }
    let ready = serde_json::from_slice::<Value>(&req.raw.body).ok();
    match ready.as_ref().and_then(|v| v.get("ready")) {
        Some(Value::String(s)) if s == "true" => {}
        Some(_) => return dxso_error(ctx, 400, "DCO01001", "InvalidResourceModificationFault"),
        None => return dxso_error(ctx, 400, "DCO01008", "InvalidMessageBodyFault"),
    }
    if status_of(&job, ctx.now) != 0 {
        return dxso_error(ctx, 400, "DCO01007", "InvalidDxsoJobStateFault");
    }
    let faults = ctx.st.faults.datev.clone();
    let has_document = job
        .files
        .iter()
        .any(|f| f.filename.eq_ignore_ascii_case("document.xml"));
    let final_status = if !has_document || ctx.st.rng.chance(faults.dxso_critical_permille) {
        3
    } else if ctx.st.rng.chance(faults.dxso_partial_permille) {
        4
    } else {
        2
    };
    let mut processing = ctx.cfg.datev.dxso_processing_ms;
    if ctx.st.rng.chance(faults.slow_job_permille) {
        processing += faults.slow_job_extra_ms;
    }
    let now = ctx.now;
    if let Some(j) = ctx.st.datev.dxso_jobs.iter_mut().find(|j| j.id == job.id) {
        j.ready_ms = Some(now);
        j.done_ms = Some(now + processing);
        j.final_status = final_status;
    }
    HttpResponse::new(204, Vec::new())
}

fn delete(ctx: &mut Ctx<'_>, client_id: &str, job_id: &str) -> HttpResponse {
    let Some(job) = find_job(ctx, client_id, job_id) else {
        return dxso_bare(ctx, 404);
    };
    if status_of(&job, ctx.now) != 0 {
        return dxso_error(ctx, 400, "DCO01007", "InvalidDxsoJobStateFault");
    }
    ctx.st.datev.dxso_jobs.retain(|j| j.id != job.id);
    HttpResponse::new(204, Vec::new())
}

/// Protocol entries: one "wurde empfangen!" per file, then the outcome once processed. DATEV's
/// texts are display messages that may change (datev.md §4.3); these imitate their style.
fn protocol(job: &DxsoJob, now: u64) -> Value {
    let entry = |time_ms: u64, text: &str, kind: &str, filename: &str| json!({"time": time::iso8601_millis(time_ms), "text": text, "type": kind, "filename": filename});
    let mut out: Vec<Value> = job
        .files
        .iter()
        .map(|f| {
            entry(
                f.received_ms,
                "wurde empfangen!",
                "information",
                &f.filename,
            )
        })
        .collect();
    let status = status_of(job, now);
    let at = job.done_ms.unwrap_or(now);
    match status {
        2 | 4 => {
            for f in job
                .files
                .iter()
                .filter(|f| !f.filename.eq_ignore_ascii_case("document.xml"))
            {
                out.push(entry(
                    at,
                    "wurde in die Belegverwaltung übernommen!",
                    "information",
                    &f.filename,
                ));
            }
            if status == 4 {
                out.push(entry(
                    at,
                    "Beleg konnte nicht übernommen werden.",
                    "error",
                    "",
                ));
            }
        }
        3 => {
            let text = if job
                .files
                .iter()
                .any(|f| f.filename.eq_ignore_ascii_case("document.xml"))
            {
                "Der Import wurde wegen kritischer Fehler abgebrochen."
            } else {
                "Die Datei document.xml fehlt."
            };
            out.push(entry(at, text, "error", ""));
        }
        5 => out.push(entry(
            now,
            "Der Datentransfer wurde in Belege online storniert.",
            "information",
            "",
        )),
        6 => out.push(entry(
            now,
            "Der Datentransfer konnte nicht storniert werden.",
            "warning",
            "",
        )),
        _ => {}
    }
    Value::Array(out)
}
