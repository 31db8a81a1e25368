//! `accounting-clients` 2.0 (datev.md §4.2, OpenAPI S9): `GET /clients`, `GET /clients/{id}`.

use super::{JSON_UTF8, authorize, link_header, paging, plain_problem, problem, strip_base};
use crate::config::ClientSpec;
use crate::ctx::{Ctx, Req};
use crate::state::Api;
use crate::util::json;
use connector::{HttpResponse, Method};
use serde_json::{Value, json};

/// JSON of a Client (schema `Client`).
pub(crate) fn client_json(c: &ClientSpec) -> Value {
    json!({
        "client_number": c.client_number,
        "consultant_number": c.consultant_number,
        "id": c.id(),
        "name": c.name,
        "services": c.services.iter().map(|s| json!({"name": s.name, "scopes": s.scopes})).collect::<Vec<_>>(),
    })
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let Some(rest) = strip_base(&req.path, "v2") else {
        return HttpResponse::new(404, Vec::new());
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if !matches!(segs.as_slice(), ["clients"] | ["clients", _]) {
        return HttpResponse::new(404, Vec::new());
    }
    if let Err(resp) = authorize(ctx, req, Api::DatevClients, "datev:accounting:clients") {
        return resp;
    }
    if req.method != Method::Get {
        return plain_problem(ctx, 405, "Method Not Allowed");
    }
    match segs.as_slice() {
        ["clients"] => list(ctx, req),
        ["clients", id] => match ctx.cfg.datev.clients.iter().find(|c| c.id() == *id) {
            Some(c) => json(200, JSON_UTF8, &client_json(c)),
            None => HttpResponse::new(404, Vec::new()),
        },
        _ => HttpResponse::new(404, Vec::new()),
    }
}

fn list(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let (skip, top) = match paging(req) {
        Ok(p) => p,
        Err(name) => return invalid_query(ctx, name, "Must be a positive integer"),
    };
    let filter = match req.query("filter").map(parse_filter).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(reason) => return invalid_query(ctx, "filter", &reason),
    };
    let matching: Vec<&ClientSpec> = ctx
        .cfg
        .datev
        .clients
        .iter()
        .filter(|c| {
            filter.iter().all(|(field, value)| match *field {
                "consultant_number" => c.consultant_number == *value,
                _ => c.client_number == *value,
            })
        })
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(top)
        .map(|c| client_json(c))
        .collect();
    let mut resp =
        json(200, JSON_UTF8, &Value::Array(page)).header("Total-Items", total.to_string());
    if let Some(link) = link_header(skip, top, total) {
        resp = resp.header("Link", link);
    }
    resp
}

fn invalid_query(ctx: &mut Ctx<'_>, name: &str, reason: &str) -> HttpResponse {
    problem(
        ctx,
        400,
        1008828,
        "Invalid query parameters",
        "Query parameters are invalid",
        &[(name, reason)],
    )
}

/// `consultant_number eq 29098 and client_number eq 55003` (only `eq`, joined by `and`, values
/// 1–9999999999; datev.md §4.2).
fn parse_filter(filter: &str) -> Result<Vec<(&'static str, u64)>, String> {
    let mut out = Vec::new();
    for clause in filter.split(" and ") {
        let words: Vec<&str> = clause.split_whitespace().collect();
        let [field, op, value] = words.as_slice() else {
            return Err(format!("Invalid filter expression: {clause}"));
        };
        let field = match *field {
            "consultant_number" => "consultant_number",
            "client_number" => "client_number",
            other => return Err(format!("Unknown filter field: {other}")),
        };
        if *op != "eq" {
            return Err(format!("Unsupported operator: {op}"));
        }
        match value.parse::<u64>() {
            Ok(v) if (1..=9_999_999_999).contains(&v) => out.push((field, v)),
            _ => return Err(format!("Value out of range: {value}")),
        }
    }
    Ok(out)
}
