//! DATEV's OpenID Connect login (authorize) and token endpoints (datev.md §5).
//!
//! Authorize answers for the simulated user at once (consent per [`crate::config::Consent`]):
//! a `302` to the redirect URI with `code` and `state`, or an HTML error page when the client
//! or redirect URI cannot be trusted (RFC 6749 §4.1.2.1). The token endpoint follows RFC 6749
//! §5.2 for errors and RFC 7636 §4.6 for the PKCE check.

use crate::config::Consent;
use crate::ctx::{Ctx, Req};
use crate::state::{AccessToken, AuthCode, Grant, RefreshToken};
use crate::util::{self, Url, basic_credentials, html_escape, json, media_type, param, pkce_s256};
use base64::Engine as _;
use connector::{HttpResponse, Method};
use serde_json::json;

/// `GET …/authorize`.
pub(crate) fn handle_login(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    if !req.path.ends_with("/authorize") {
        return HttpResponse::new(404, Vec::new());
    }
    if req.method != Method::Get {
        return HttpResponse::new(405, Vec::new()).header("Allow", "GET");
    }
    let q = |name: &str| req.query(name).map(str::to_owned);
    let client_id = q("client_id").unwrap_or_default();
    if client_id != ctx.cfg.datev.client_id {
        ctx.principal = "unknown client_id".into();
        return error_page("invalid_client", "Unknown client_id");
    }
    ctx.principal = format!("client:{client_id}");
    let Some(redirect_uri) = q("redirect_uri") else {
        return error_page("invalid_request", "redirect_uri missing");
    };
    let registered = ctx.cfg.datev.redirect_uris.is_empty()
        || ctx.cfg.datev.redirect_uris.contains(&redirect_uri);
    if Url::parse(&redirect_uri).is_none() || !registered {
        return error_page(
            "invalid_request",
            "redirect_uri is not registered for this client",
        );
    }
    let state = q("state");
    let fail = |error: &str, description: &str| {
        redirect(
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            state.as_deref(),
        )
    };
    if q("response_type").as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let scope = q("scope").unwrap_or_default();
    if scope.trim().is_empty() {
        return fail("invalid_scope", "scope missing");
    }
    let Some(challenge) = q("code_challenge").filter(|c| !c.is_empty()) else {
        return fail("invalid_request", "code_challenge missing");
    };
    if q("code_challenge_method").as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    match state.as_deref() {
        Some(s) if s.len() >= ctx.cfg.datev.min_state_len => {}
        _ => return fail("invalid_request", "state too short"),
    }
    if ctx.cfg.datev.consent == Consent::Deny {
        return fail("access_denied", "The user denied the request");
    }
    let code = ctx.st.rng.token(43);
    let grant = ctx.st.rng.hex(16);
    ctx.st.datev.grants.insert(
        grant.clone(),
        Grant {
            client_id: client_id.clone(),
            scope: scope.clone(),
            revoked: false,
        },
    );
    ctx.st.datev.codes.insert(
        util::sha256_hex(code.as_bytes()),
        AuthCode {
            client_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge,
            scope,
            nonce: q("nonce"),
            issued_ms: ctx.now,
            used: false,
            grant,
        },
    );
    redirect(&redirect_uri, &[("code", &code)], state.as_deref())
}

fn redirect(uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> HttpResponse {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(s) = state {
        all.push(("state".into(), s.into()));
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}{}", util::encode_form(&all));
    HttpResponse::new(302, Vec::new())
        .header("Location", location)
        .header("Cache-Control", "no-store")
}

fn error_page(error: &str, description: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html><title>DATEV login (simulated)</title><h1>{}</h1><p>{}</p>",
        html_escape(error),
        html_escape(description)
    );
    HttpResponse::new(400, body.into_bytes()).header("Content-Type", "text/html;charset=utf-8")
}

/// RFC 6749 §5.2 error.
fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let resp = json(
        status,
        "application/json;charset=UTF-8",
        &json!({"error": error, "error_description": description}),
    )
    .header("Cache-Control", "no-store")
    .header("Pragma", "no-cache");
    if status == 401 {
        resp.header("WWW-Authenticate", "Basic realm=\"DATEV\"")
    } else {
        resp
    }
}

/// `POST /token` (and `/access_token` of `datev_idp_next`), `POST /revoke`.
pub(crate) fn handle_token(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let revoke = req.path.ends_with("/revoke");
    if !(revoke || req.path.ends_with("/token") || req.path.ends_with("/access_token")) {
        return HttpResponse::new(404, Vec::new());
    }
    if req.method != Method::Post {
        return HttpResponse::new(405, Vec::new()).header("Allow", "POST");
    }
    if media_type(req.raw).as_deref() != Some("application/x-www-form-urlencoded") {
        return oauth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let form = util::decode_form_str(&String::from_utf8_lossy(&req.raw.body));
    if let Err(resp) = client_auth(ctx, req, &form) {
        return resp;
    }
    if revoke {
        return revoke_token(ctx, &form);
    }
    match param(&form, "grant_type") {
        Some("authorization_code") => exchange_code(ctx, &form),
        Some("refresh_token") => refresh(ctx, &form),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("grant_type {other} is not supported"),
        ),
        None => oauth_error(400, "invalid_request", "grant_type missing"),
    }
}

fn form_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// Client authentication: HTTP Basic (`client_secret_basic`). Credentials in the body
/// (`client_secret_post`) get 401 `invalid_client` unless the knob allows them (datev.md §5.2).
fn client_auth(
    ctx: &mut Ctx<'_>,
    req: &Req<'_>,
    form: &[(String, String)],
) -> Result<(), HttpResponse> {
    let cfg = &ctx.cfg.datev;
    let presented = match basic_credentials(req.raw) {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
        Some((id, secret)) => Some((form_decode(&id), form_decode(&secret))),
        None => match (param(form, "client_id"), param(form, "client_secret")) {
            (Some(id), Some(secret)) if cfg.accept_client_secret_post => {
                Some((id.to_owned(), secret.to_owned()))
            }
            (Some(_), Some(_)) => {
                ctx.principal = "client credentials in body".into();
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication failed: use HTTP Basic",
                ));
            }
            _ => None,
        },
    };
    match presented {
        Some((id, secret)) if id == cfg.client_id && cfg.client_secret.matches(&secret) => {
            ctx.principal = format!("client:{id}");
            Ok(())
        }
        Some((id, _)) => {
            ctx.principal = format!("bad credentials for client:{id}");
            Err(oauth_error(
                401,
                "invalid_client",
                "Client authentication failed",
            ))
        }
        None => {
            ctx.principal = "no client credentials".into();
            Err(oauth_error(
                401,
                "invalid_client",
                "Client authentication failed",
            ))
        }
    }
}

fn exchange_code(ctx: &mut Ctx<'_>, form: &[(String, String)]) -> HttpResponse {
    let Some(code) = param(form, "code") else {
        return oauth_error(400, "invalid_request", "code missing");
    };
    let hash = util::sha256_hex(code.as_bytes());
    let Some(stored) = ctx.st.datev.codes.get(&hash).cloned() else {
        return oauth_error(400, "invalid_grant", "Invalid authorization code");
    };
    if stored.used {
        // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
        revoke_grant(ctx, &stored.grant);
        return oauth_error(400, "invalid_grant", "Authorization code already used");
    }
    if ctx.now >= stored.issued_ms + ctx.cfg.datev.code_ttl_s * 1000 {
        return oauth_error(400, "invalid_grant", "Authorization code expired");
    }
    if stored.client_id != ctx.cfg.datev.client_id {
        return oauth_error(
            400,
            "invalid_grant",
            "Authorization code was issued to another client",
        );
    }
    if param(form, "redirect_uri") != Some(stored.redirect_uri.as_str()) {
        return oauth_error(
            400,
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let verified =
        param(form, "code_verifier").is_some_and(|v| pkce_s256(v) == stored.code_challenge);
    if !verified {
        return oauth_error(400, "invalid_grant", "PKCE verification failed");
    }
    if let Some(c) = ctx.st.datev.codes.get_mut(&hash) {
        c.used = true;
    }
    issue(
        ctx,
        &stored.grant,
        &stored.scope,
        stored.nonce.as_deref(),
        true,
    )
}

fn refresh(ctx: &mut Ctx<'_>, form: &[(String, String)]) -> HttpResponse {
    let Some(token) = param(form, "refresh_token") else {
        return oauth_error(400, "invalid_request", "refresh_token missing");
    };
    let hash = util::sha256_hex(token.as_bytes());
    let Some(stored) = ctx.st.datev.refresh_tokens.get(&hash).cloned() else {
        return oauth_error(400, "invalid_grant", "Invalid refresh token");
    };
    let revoked = ctx
        .st
        .datev
        .grants
        .get(&stored.grant)
        .is_none_or(|g| g.revoked);
    if stored.used
        || revoked
        || ctx.now >= stored.expires_ms
        || stored.client_id != ctx.cfg.datev.client_id
    {
        return oauth_error(400, "invalid_grant", "Invalid refresh token");
    }
    if let Some(t) = ctx.st.datev.refresh_tokens.get_mut(&hash) {
        t.used = true;
    }
    issue(ctx, &stored.grant, &stored.scope, None, false)
}

/// Issues an access token (900 s) and a rotated refresh token under `grant`.
fn issue(
    ctx: &mut Ctx<'_>,
    grant: &str,
    scope: &str,
    nonce: Option<&str>,
    with_id_token: bool,
) -> HttpResponse {
    let cfg = &ctx.cfg.datev;
    let access = ctx.st.rng.token(43);
    let refresh = ctx.st.rng.token(43);
    let offline = scope.split(' ').any(|s| s == "offline_access");
    let refresh_ttl = if offline {
        cfg.offline_refresh_ttl_s
    } else {
        cfg.refresh_ttl_s
    };
    ctx.st.datev.access_tokens.insert(
        util::sha256_hex(access.as_bytes()),
        AccessToken {
            client_id: cfg.client_id.clone(),
            scope: scope.to_owned(),
            grant: grant.to_owned(),
            expires_ms: ctx.now + cfg.access_token_ttl_s * 1000,
        },
    );
    ctx.st.datev.refresh_tokens.insert(
        util::sha256_hex(refresh.as_bytes()),
        RefreshToken {
            client_id: cfg.client_id.clone(),
            scope: scope.to_owned(),
            grant: grant.to_owned(),
            expires_ms: ctx.now + refresh_ttl * 1000,
            used: false,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": cfg.access_token_ttl_s,
        "refresh_token": refresh,
        "scope": scope,
    });
    if with_id_token && scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = json!(id_token(ctx, grant, nonce));
    }
    purge(ctx);
    json(200, "application/json;charset=UTF-8", &body)
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

/// An ID token shaped like DATEV's (RS256 JWT, datev.md §5.1). The signature is not a real
/// RSA signature: nothing in ml-connector verifies ID tokens.
fn id_token(ctx: &mut Ctx<'_>, grant: &str, nonce: Option<&str>) -> String {
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let secs = ctx.now / 1000;
    let mut claims = json!({
        "iss": "https://login.datev.de/openidsandbox",
        "sub": format!("sim-user-{grant}"),
        "aud": ctx.cfg.datev.client_id,
        "iat": secs,
        "exp": secs + ctx.cfg.datev.access_token_ttl_s,
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    let sig = ctx.st.rng.token(86);
    format!(
        "{}.{}.{sig}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&claims)
    )
}

/// RFC 7009: revoking a refresh token ends its grant; revoking an access token ends that token.
/// Unknown tokens are not an error.
fn revoke_token(ctx: &mut Ctx<'_>, form: &[(String, String)]) -> HttpResponse {
    let Some(token) = param(form, "token") else {
        return oauth_error(400, "invalid_request", "token missing");
    };
    let hash = util::sha256_hex(token.as_bytes());
    if let Some(grant) = ctx
        .st
        .datev
        .refresh_tokens
        .get(&hash)
        .map(|t| t.grant.clone())
    {
        revoke_grant(ctx, &grant);
    }
    ctx.st.datev.access_tokens.remove(&hash);
    HttpResponse::new(200, Vec::new())
}

/// Marks a grant revoked: every token issued under it stops working.
pub(crate) fn revoke_grant(ctx: &mut Ctx<'_>, grant: &str) {
    if let Some(g) = ctx.st.datev.grants.get_mut(grant) {
        g.revoked = true;
    }
}

/// Drops tokens and codes that can no longer be used, keeping the persisted state small.
fn purge(ctx: &mut Ctx<'_>) {
    let now = ctx.now;
    let code_ttl = ctx.cfg.datev.code_ttl_s * 1000;
    let d = &mut ctx.st.datev;
    d.access_tokens.retain(|_, t| t.expires_ms > now);
    d.refresh_tokens
        .retain(|_, t| t.expires_ms > now && !t.used);
    d.codes.retain(|_, c| c.issued_ms + code_ttl > now);
}
