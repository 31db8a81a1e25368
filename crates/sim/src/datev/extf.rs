//! `accounting:extf-files` 3.0.1 (datev.md §4.1, OpenAPI S7): import, job list, job status.

use super::{
    JSON_UTF8, authorize, link_header, paging, plain_problem, problem, strip_base, valid_client_id,
};
use crate::ctx::{Ctx, Req};
use crate::extf_check;
use crate::state::{AffectedElement, Api, ExtfJob, ValidationDetails};
use crate::time;
use crate::util::{self, json, media_type};
use base64::Engine as _;
use connector::{HttpResponse, Method};
use serde_json::{Value, json};

/// Largest accepted file (50 MB, datev.md §1.7).
const MAX_FILE: usize = 50 * 1024 * 1024;

pub(crate) fn handle(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let Some(rest) = strip_base(&req.path, "v3") else {
        return HttpResponse::new(404, Vec::new());
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let client_id = match segs.as_slice() {
        ["clients", id, "extf-files", "import"]
        | ["clients", id, "extf-files", "jobs"]
        | ["clients", id, "extf-files", "jobs", _] => *id,
        _ => return HttpResponse::new(404, Vec::new()),
    };
    if let Err(resp) = authorize(
        ctx,
        req,
        Api::DatevExtf,
        "datev:accounting:extf-files-import",
    ) {
        return resp;
    }
    let expected = match segs.as_slice() {
        [.., "import"] => Method::Post,
        _ => Method::Get,
    };
    if req.method != expected {
        return plain_problem(ctx, 405, "Method Not Allowed");
    }
    if !valid_client_id(client_id) {
        return problem(
            ctx,
            400,
            1008835,
            "Invalid request URI path",
            "Request-URI contains one or more invalid path segments",
            &[("client-id", "Path segment client-id is invalid")],
        );
    }
    if !ctx.cfg.datev.clients.iter().any(|c| c.id() == client_id) {
        return HttpResponse::new(404, Vec::new());
    }
    match segs.as_slice() {
        [.., "import"] => import(ctx, req, client_id),
        [.., "jobs"] => list(ctx, req, client_id),
        [.., "jobs", job] => match ctx
            .st
            .datev
            .extf_jobs
            .iter()
            .find(|j| j.id == *job && j.client_id == client_id)
        {
            Some(j) => json(200, JSON_UTF8, &job_json(j, ctx.now)),
            None => HttpResponse::new(404, Vec::new()),
        },
        _ => HttpResponse::new(404, Vec::new()),
    }
}

/// `Filename` must match `EXTF_.{0,51}\.csv` (datev.md §1.3). `.csv` is matched case-sensitively,
/// as the pattern is written.
fn valid_filename(name: &str) -> bool {
    name.strip_prefix("EXTF_")
        .and_then(|rest| rest.strip_suffix(".csv"))
        .is_some_and(|middle| middle.chars().count() <= 51 && !middle.contains(['\r', '\n']))
}

/// `Reference-Id` / `Client-Application-Version`: `[-0-9A-Za-z_äöüÄÖÜß_. +?;]{0,254}`.
fn valid_reference(value: &str) -> bool {
    value.chars().count() <= 254
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_. +?;äöüÄÖÜß".contains(c))
}

fn import(ctx: &mut Ctx<'_>, req: &Req<'_>, client_id: &str) -> HttpResponse {
    if media_type(req.raw).as_deref() != Some("application/octet-stream") {
        return plain_problem(ctx, 415, "Unsupported Media Type");
    }
    let body = &req.raw.body;
    if body.is_empty() {
        return problem(
            ctx,
            400,
            1008831,
            "Invalid message-body",
            "Message body for request is missing",
            &[],
        );
    }
    if body.len() > MAX_FILE {
        return problem(
            ctx,
            413,
            1008833,
            "Invalid file",
            "File size exceeds 50 MB",
            &[],
        );
    }
    let filename = req
        .raw
        .header_value("filename")
        .unwrap_or("")
        .trim()
        .to_owned();
    if filename.is_empty() {
        return problem(
            ctx,
            400,
            1008832,
            "Invalid header fields",
            "Filename is empty",
            &[("Filename", "Filename is empty")],
        );
    }
    if !valid_filename(&filename) {
        let reason = "Filename must conform to following pattern'EXTF_.{0,51}.csv";
        return problem(
            ctx,
            400,
            1008832,
            "Invalid header fields",
            reason,
            &[("Filename", reason)],
        );
    }
    let reference_id = req.raw.header_value("reference-id").map(str::to_owned);
    if reference_id.as_deref().is_some_and(|r| !valid_reference(r)) {
        let reason =
            "Reference-Id must conform to following pattern'[-0-9A-Za-z_äöüÄÖÜß_. +\\?;]{0,254}";
        return problem(
            ctx,
            400,
            1008832,
            "Invalid header fields",
            reason,
            &[("Reference-Id", reason)],
        );
    }
    let version = req
        .raw
        .header_value("client-application-version")
        .map(str::to_owned);
    if version.as_deref().is_some_and(|v| !valid_reference(v)) {
        let reason = "Client-Application-Version must conform to following pattern'[-0-9A-Za-z_äöüÄÖÜß_. +\\?;]{0,254}";
        return problem(
            ctx,
            400,
            1008832,
            "Invalid header fields",
            reason,
            &[("Client-Application-Version", reason)],
        );
    }
    let (consultant, client) = client_id.split_once('-').unwrap_or((client_id, ""));
    let checked = extf_check::check(
        body,
        consultant.parse().unwrap_or(0),
        client.parse().unwrap_or(0),
    );
    let spec = ctx.cfg.datev.clients.iter().find(|c| c.id() == client_id);
    let faults = ctx.st.faults.datev.clone();
    let mut failure = checked.failure;
    if failure.is_none() && !spec.is_some_and(|c| c.has_service("Buchungsdatenservice")) {
        failure = Some(ValidationDetails::new(
            1008838,
            "Missing permission",
            "Permission for this client id missing or expired",
            vec![AffectedElement::new(
                "client-id",
                "Buchungsdatenservice is not booked for this client",
            )],
        ));
    }
    if failure.is_none() && ctx.st.rng.chance(faults.reject_file_permille) {
        failure = Some(ValidationDetails::new(
            1008833,
            "Invalid file",
            "The file could not be read",
            vec![AffectedElement::new(
                "file",
                "only Windows-1252, UTF-8, UTF16LE, UTF16BE supported",
            )],
        ));
    }
    if failure.is_none() && ctx.st.rng.chance(faults.job_failure_permille) {
        failure = Some(ValidationDetails::new(
            1008837,
            "Try again",
            "An internal error occurred. Job failed. Try again",
            Vec::new(),
        ));
    }
    let mut processing = ctx.cfg.datev.extf_processing_ms;
    if ctx.st.rng.chance(faults.slow_job_permille) {
        processing += faults.slow_job_extra_ms;
    }
    let id = ctx.st.rng.uuid();
    let job = ExtfJob {
        id: id.clone(),
        client_id: client_id.to_owned(),
        filename,
        reference_id,
        client_application_version: version,
        created_ms: ctx.now,
        ready_ms: ctx.now + processing,
        failure,
        header: checked.header,
        size: body.len(),
        sha256: util::sha256_hex(body),
        bytes_b64: ctx
            .cfg
            .keep_upload_bytes
            .then(|| base64::engine::general_purpose::STANDARD.encode(body)),
    };
    ctx.st.datev.extf_jobs.push(job);
    let mut resp = HttpResponse::new(202, Vec::new()).header(
        "Location",
        format!("/clients/{client_id}/extf-files/jobs/{id}"),
    );
    if let Some(secs) = ctx.cfg.datev.retry_after_s {
        resp = resp.header("Retry-After", secs.to_string());
    }
    resp
}

fn list(ctx: &mut Ctx<'_>, req: &Req<'_>, client_id: &str) -> HttpResponse {
    let (skip, top) = match paging(req) {
        Ok(p) => p,
        Err(name) => {
            return problem(
                ctx,
                400,
                1008828,
                "Invalid query parameters",
                "Query parameters are invalid",
                &[(name, "Must be a positive integer")],
            );
        }
    };
    let jobs: Vec<&ExtfJob> = ctx
        .st
        .datev
        .extf_jobs
        .iter()
        .filter(|j| j.client_id == client_id)
        .collect();
    let total = jobs.len();
    let page: Vec<Value> = jobs
        .iter()
        .skip(skip)
        .take(top)
        .map(|j| job_json(j, ctx.now))
        .collect();
    let mut resp =
        json(200, JSON_UTF8, &Value::Array(page)).header("Total-Items", total.to_string());
    if let Some(link) = link_header(skip, top, total) {
        resp = resp.header("Link", link);
    }
    resp
}

/// The Job schema; nulls omitted (datev.md §3). Header-derived fields appear once processed.
pub(crate) fn job_json(job: &ExtfJob, now: u64) -> Value {
    let done = now >= job.ready_ms;
    let result = match (done, &job.failure) {
        (false, _) => "pending",
        (true, None) => "succeeded",
        (true, Some(_)) => "failed",
    };
    let mut v = json!({
        "id": job.id,
        "filename": job.filename,
        "result": result,
        "timestamp": time::iso8601(job.created_ms),
    });
    if let Some(r) = &job.reference_id {
        v["reference_id"] = json!(r);
    }
    if let Some(r) = &job.client_application_version {
        v["client_application_version"] = json!(r);
    }
    if done {
        let h = &job.header;
        if !h.label.is_empty() {
            v["label"] = json!(h.label);
        }
        if let Some(c) = h.data_category_id {
            v["data_category_id"] = json!(c);
        }
        for (key, value) in [
            ("fiscal_year_begin", &h.fiscal_year_begin),
            ("date_from", &h.date_from),
            ("date_to", &h.date_to),
        ] {
            if let Some(d) = value {
                v[key] = json!(d);
            }
        }
        v["number_of_accounting_records"] = json!(h.number_of_accounting_records);
        if let Some(f) = &job.failure {
            v["validation_details"] = json!(f);
        }
    }
    v
}
