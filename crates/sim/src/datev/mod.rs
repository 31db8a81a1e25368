//! The DATEV side: OAuth2 (login + token endpoints) and the three accounting APIs.

pub(crate) mod clients;
pub(crate) mod dxso;
pub(crate) mod extf;
pub(crate) mod oauth;

use crate::ctx::{Ctx, Req};
use crate::state::{AccessToken, Api};
use crate::util::{self, bearer, json};
use connector::HttpResponse;
use serde_json::json;

/// Media type of the accounting APIs (datev.md §3).
pub(crate) const JSON_UTF8: &str = "application/json;charset=utf-8";

/// ProblemDetails (extf-files, accounting-clients; datev.md §3) with a DATEV error code.
pub(crate) fn problem(
    ctx: &mut Ctx<'_>,
    status: u16,
    code: u32,
    title: &str,
    detail: &str,
    affected: &[(&str, &str)],
) -> HttpResponse {
    let request_id = ctx.request_id();
    let mut body = json!({
        "type": format!("http://www.datev.de/hilfe/{code}"),
        "title": title,
        "detail": detail,
        "request_id": request_id,
        "status": status,
    });
    if !affected.is_empty() {
        body["affected_elements"] = affected
            .iter()
            .map(|(name, reason)| json!({"name": name, "reason": reason}))
            .collect();
    }
    json(status, JSON_UTF8, &body)
}

/// ProblemDetails without a code, as the spec's 405/406/415/500/503 examples
/// (`{title, request_id, status}`).
pub(crate) fn plain_problem(ctx: &mut Ctx<'_>, status: u16, title: &str) -> HttpResponse {
    let request_id = ctx.request_id();
    json(
        status,
        JSON_UTF8,
        &json!({"title": title, "request_id": request_id, "status": status}),
    )
}

/// DXSO ErrorMessage (`#DCO…` codes, datev.md §4.3).
pub(crate) fn dxso_error(ctx: &mut Ctx<'_>, status: u16, code: &str, fault: &str) -> HttpResponse {
    let request_id = ctx.request_id();
    json(
        status,
        JSON_UTF8,
        &json!({
            "error": format!("#{code}"),
            "error_description": format!("restapi.{fault}"),
            "error_uri": format!("https://apps.datev.de/knowledge/help/search?q={code}"),
            "request_id": request_id,
        }),
    )
}

/// DXSO answer that carries only a request id (403 without access, 404).
pub(crate) fn dxso_bare(ctx: &mut Ctx<'_>, status: u16) -> HttpResponse {
    let request_id = ctx.request_id();
    json(status, JSON_UTF8, &json!({"request_id": request_id}))
}

/// The API gateway's own error shape (`{httpCode, httpMessage, moreInformation}`, datev.md §3,
/// S13). DATEV's exact 401 text is not documented (datev.md §8); "Invalid client id or secret"
/// is what S15 saw without `X-DATEV-Client-Id`.
pub(crate) fn gateway_error(status: u16, message: &str, more: &str) -> HttpResponse {
    json(
        status,
        "application/json",
        &json!({"httpCode": status.to_string(), "httpMessage": message, "moreInformation": more}),
    )
}

const INVALID_CLIENT: &str = "Invalid client id or secret";
const BAD_TOKEN: &str = "Cannot pass the security checks that are required by the target API or \
                         operation, Enable debug headers for more details.";

/// Checks `X-DATEV-Client-Id` and the bearer token of an API call (datev.md §3); `Err` is the
/// 401 (or, for a live token without `scope`, the API's 403) to answer.
pub(crate) fn authorize(
    ctx: &mut Ctx<'_>,
    req: &Req<'_>,
    api: Api,
    scope: &str,
) -> Result<AccessToken, HttpResponse> {
    let client_ok = req
        .raw
        .header_value("x-datev-client-id")
        .is_some_and(|id| id.trim() == ctx.cfg.datev.client_id);
    if !client_ok {
        ctx.principal = "no valid X-DATEV-Client-Id".into();
        return Err(gateway_error(401, "Unauthorized", INVALID_CLIENT));
    }
    let Some(token) = bearer(req.raw) else {
        ctx.principal = "no bearer token".into();
        return Err(gateway_error(401, "Unauthorized", BAD_TOKEN));
    };
    let hash = util::sha256_hex(token.as_bytes());
    // Fault: the user withdraws consent right before this call.
    let revocation = ctx.st.faults.datev.token_revocation_permille;
    if let Some(grant) = ctx
        .st
        .datev
        .access_tokens
        .get(&hash)
        .map(|t| t.grant.clone())
        && ctx.st.rng.chance(revocation)
    {
        oauth::revoke_grant(ctx, &grant);
    }
    let live = ctx.st.datev.access_tokens.get(&hash).filter(|t| {
        t.expires_ms > ctx.now
            && t.client_id == ctx.cfg.datev.client_id
            && ctx
                .st
                .datev
                .grants
                .get(&t.grant)
                .is_some_and(|g| !g.revoked)
    });
    let Some(token) = live.cloned() else {
        ctx.principal = "expired, revoked or unknown bearer token".into();
        return Err(gateway_error(401, "Unauthorized", BAD_TOKEN));
    };
    ctx.principal = format!("client:{}", token.client_id);
    if !token.scope.split(' ').any(|s| s == scope) {
        return Err(match api {
            Api::DatevDxso => dxso_error(ctx, 403, "DCO01005", "ScopeFault"),
            _ => problem(
                ctx,
                403,
                1008829,
                "Missing required scope",
                &format!("Missing scope(s) are: {scope}"),
                &[],
            ),
        });
    }
    Ok(token)
}

/// True for a syntactically valid client id `<Beraternummer>-<Mandantennummer>`
/// (1001–9999999 and 1–99999, datev.md §1.4 fields 11/12).
pub(crate) fn valid_client_id(id: &str) -> bool {
    let Some((consultant, client)) = id.split_once('-') else {
        return false;
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    digits(consultant, 7) && digits(client, 5)
}

/// Reads `skip`/`top` (datev.md §3 paging): `Err` names the bad parameter.
pub(crate) fn paging(req: &Req<'_>) -> Result<(usize, usize), &'static str> {
    let skip = match req.query("skip") {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| "skip")?,
    };
    let top = match req.query("top") {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => return Err("top"),
            Ok(n) => n.min(100),
        },
    };
    Ok((skip, top))
}

/// `Link` header for a page (`<?skip=0&top=100>;rel="prev", <?skip=200&top=100>;rel="next"`).
pub(crate) fn link_header(skip: usize, top: usize, total: usize) -> Option<String> {
    let mut links = Vec::new();
    if skip > 0 {
        links.push(format!(
            "<?skip={}&top={top}>;rel=\"prev\"",
            skip.saturating_sub(top)
        ));
    }
    if skip + top < total {
        links.push(format!("<?skip={}&top={top}>;rel=\"next\"", skip + top));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// Strips the server base (`/platform/vN` or `/platform-sandbox/vN`) from an API path.
pub(crate) fn strip_base<'a>(path: &'a str, version: &str) -> Option<&'a str> {
    path.strip_prefix(&format!("/platform/{version}"))
        .or_else(|| path.strip_prefix(&format!("/platform-sandbox/{version}")))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}
