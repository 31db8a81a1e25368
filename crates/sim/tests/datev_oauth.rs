//! Contract tests: DATEV login (authorize) and token endpoints (datev.md §5, RFC 6749, RFC 7636).

mod common;
use common::*;
use connector::{HttpRequest, Method};
use serde_json::json;
use sim::{Consent, SimConfig};

fn authorize(w: &World, pairs: &[(&str, &str)]) -> connector::HttpResponse {
    w.send(HttpRequest::new(Method::Get, authorize_url(pairs)))
}

const GOOD: &[(&str, &str)] = &[
    ("response_type", "code"),
    ("client_id", "ml-connector-sim"),
    ("redirect_uri", REDIRECT),
    ("scope", "openid datev:accounting:extf-files-import"),
    ("state", STATE),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
];

fn with(over: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    GOOD.iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .copied()
        .chain(over.iter().copied().filter(|(_, v)| !v.is_empty()))
        .collect()
}

#[test]
fn authorize_redirects_with_code_and_state() {
    let w = world();
    let resp = authorize(&w, GOOD);
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header_value("cache-control"), Some("no-store"));
    let location = resp.header_value("location").unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    let q = location_query(location);
    assert_eq!(param(&q, "state"), Some(STATE));
    assert_eq!(param(&q, "code").unwrap().len(), 43);
}

#[test]
fn authorize_errors_redirect_with_error_and_state() {
    let w = world();
    for (over, error, description) in [
        (
            vec![("code_challenge", "")],
            "invalid_request",
            "code_challenge missing",
        ),
        (
            vec![("code_challenge_method", "plain")],
            "invalid_request",
            "code_challenge_method must be S256",
        ),
        (
            vec![("state", "short")],
            "invalid_request",
            "state too short",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "response_type must be code",
        ),
        (vec![("scope", "")], "invalid_scope", "scope missing"),
    ] {
        let resp = authorize(&w, &with(&over));
        assert_eq!(resp.status, 302, "{over:?}");
        let q = location_query(resp.header_value("location").unwrap());
        assert_eq!(param(&q, "error"), Some(error), "{over:?}");
        assert_eq!(param(&q, "error_description"), Some(description));
        assert_eq!(param(&q, "code"), None);
    }
}

#[test]
fn authorize_refuses_to_redirect_to_unknown_clients_or_uris() {
    let mut cfg = SimConfig::default();
    cfg.datev.redirect_uris = vec![REDIRECT.into()];
    let w = world_with(cfg);
    let resp = authorize(&w, &with(&[("client_id", "someone-else")]));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.header_value("content-type"),
        Some("text/html;charset=utf-8")
    );
    assert!(text(&resp).contains("<h1>invalid_client</h1>"));
    assert_eq!(resp.header_value("location"), None);
    let resp = authorize(&w, &with(&[("redirect_uri", "https://evil.example/cb")]));
    assert_eq!(resp.status, 400);
    assert!(text(&resp).contains("redirect_uri is not registered"));
}

#[test]
fn denied_consent_redirects_access_denied() {
    let mut cfg = SimConfig::default();
    cfg.datev.consent = Consent::Deny;
    let w = world_with(cfg);
    let q = location_query(authorize(&w, GOOD).header_value("location").unwrap());
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some(STATE));
}

#[test]
fn code_exchange_returns_tokens() {
    let w = world();
    let code = w.authorize_code("openid datev:accounting:extf-files-import");
    let resp = w.send(token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header_value("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(resp.header_value("cache-control"), Some("no-store"));
    assert_eq!(resp.header_value("pragma"), Some("no-cache"));
    let body = body_json(&resp);
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "openid datev:accounting:extf-files-import");
    assert_eq!(body["id_token"].as_str().unwrap().split('.').count(), 3);
    // No openid scope, no ID token.
    let body = w.login("datev:accounting:extf-files-import");
    assert!(body.get("id_token").is_none());
}

fn oauth_error(resp: &connector::HttpResponse, status: u16, error: &str) {
    assert_eq!(resp.status, status, "{}", text(resp));
    let body = body_json(resp);
    assert_eq!(keys(&body), ["error", "error_description"]);
    assert_eq!(body["error"], error);
}

#[test]
fn wrong_verifier_reused_code_and_wrong_redirect_are_invalid_grant() {
    let w = world();
    let code = w.authorize_code(SCOPES);
    let exchange = |code: &str, redirect: &str, verifier: &str| {
        w.send(token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]))
    };
    oauth_error(
        &exchange(
            &code,
            REDIRECT,
            "wrong-verifier-wrong-verifier-wrong-verifier",
        ),
        400,
        "invalid_grant",
    );
    oauth_error(
        &exchange(&code, "https://ml-connector.example/other", VERIFIER),
        400,
        "invalid_grant",
    );
    // The failed attempts did not consume the code.
    let first = exchange(&code, REDIRECT, VERIFIER);
    assert_eq!(first.status, 200);
    let access = body_json(&first)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reused = exchange(&code, REDIRECT, VERIFIER);
    oauth_error(&reused, 400, "invalid_grant");
    assert_eq!(
        body_json(&reused)["error_description"],
        "Authorization code already used"
    );
    // Reuse revoked what the code had produced (RFC 6749 §4.1.2).
    let api = w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), &access));
    assert_eq!(api.status, 401);
}

#[test]
fn missing_verifier_unknown_and_expired_codes() {
    let w = world();
    let code = w.authorize_code(SCOPES);
    let resp = w.send(token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ]));
    oauth_error(&resp, 400, "invalid_grant");
    let resp = w.send(token_request(&[
        ("grant_type", "authorization_code"),
        ("code", "no-such-code"),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]));
    oauth_error(&resp, 400, "invalid_grant");
    w.advance(600_000);
    let resp = w.send(token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]));
    oauth_error(&resp, 400, "invalid_grant");
    assert_eq!(
        body_json(&resp)["error_description"],
        "Authorization code expired"
    );
}

#[test]
fn client_authentication_styles() {
    let w = world();
    let code = w.authorize_code(SCOPES);
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // No credentials.
    let req = HttpRequest::new(Method::Post, TOKEN)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&pairs));
    let resp = w.send(req.clone());
    oauth_error(&resp, 401, "invalid_client");
    assert_eq!(
        resp.header_value("www-authenticate"),
        Some("Basic realm=\"DATEV\"")
    );
    // Credentials in the body: DATEV wants Basic (datev.md §5.2, S14).
    let mut body_pairs = pairs.to_vec();
    body_pairs.extend([
        ("client_id", "ml-connector-sim"),
        ("client_secret", "sim-client-secret"),
    ]);
    let post = HttpRequest::new(Method::Post, TOKEN)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&body_pairs));
    oauth_error(&w.send(post.clone()), 401, "invalid_client");
    // Wrong secret.
    let wrong = req
        .clone()
        .header("Authorization", basic("ml-connector-sim", "nope"));
    oauth_error(&w.send(wrong), 401, "invalid_client");
    // Not a form.
    let json_req = HttpRequest::new(Method::Post, TOKEN)
        .header(
            "Authorization",
            basic("ml-connector-sim", "sim-client-secret"),
        )
        .header("Content-Type", "application/json")
        .body(json!({"grant_type": "authorization_code"}).to_string());
    oauth_error(&w.send(json_req), 400, "invalid_request");
    // With the knob, client_secret_post works.
    let mut cfg = SimConfig::default();
    cfg.datev.accept_client_secret_post = true;
    let w2 = world_with(cfg);
    let code2 = w2.authorize_code(SCOPES);
    let mut pairs2 = vec![
        ("grant_type", "authorization_code"),
        ("code", code2.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    pairs2.extend([
        ("client_id", "ml-connector-sim"),
        ("client_secret", "sim-client-secret"),
    ]);
    let post2 = HttpRequest::new(Method::Post, TOKEN)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&pairs2));
    assert_eq!(w2.send(post2).status, 200);
}

#[test]
fn unsupported_grant_types() {
    let w = world();
    oauth_error(
        &w.send(token_request(&[("grant_type", "client_credentials")])),
        400,
        "unsupported_grant_type",
    );
    oauth_error(
        &w.send(token_request(&[("code", "x")])),
        400,
        "invalid_request",
    );
}

#[test]
fn refresh_rotates_and_used_refresh_tokens_are_dead() {
    let w = world();
    let first = w.login(SCOPES);
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let a1 = first["access_token"].as_str().unwrap().to_owned();
    // Access tokens live 900 s of simulated time.
    w.advance(899_000);
    assert_eq!(
        w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), &a1))
            .status,
        200
    );
    w.advance(1_000);
    let expired = w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), &a1));
    assert_eq!(expired.status, 401);
    let refreshed = w.send(token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &r1),
    ]));
    assert_eq!(refreshed.status, 200);
    let second = body_json(&refreshed);
    assert_eq!(
        keys(&second),
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    // The used refresh token is dead; the new one works once.
    oauth_error(
        &w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
        ])),
        400,
        "invalid_grant",
    );
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), a2))
            .status,
        200
    );
    assert_eq!(
        w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2)
        ]))
        .status,
        200
    );
    oauth_error(
        &w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
        ])),
        400,
        "invalid_grant",
    );
}

#[test]
fn refresh_token_lifetime_depends_on_offline_access() {
    let w = world();
    let short = w.login("openid datev:accounting:clients");
    let long = w.login(SCOPES);
    w.advance(11 * 3600 * 1000);
    let r = |t: &serde_json::Value| t["refresh_token"].as_str().unwrap().to_owned();
    oauth_error(
        &w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r(&short)),
        ])),
        400,
        "invalid_grant",
    );
    assert_eq!(
        w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r(&long))
        ]))
        .status,
        200
    );
}

#[test]
fn revocation_ends_the_grant() {
    let w = world();
    let t = w.login(SCOPES);
    let refresh = t["refresh_token"].as_str().unwrap();
    let access = t["access_token"].as_str().unwrap();
    let req = HttpRequest::new(Method::Post, REVOKE)
        .header(
            "Authorization",
            basic("ml-connector-sim", "sim-client-secret"),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("token", refresh),
            ("token_type_hint", "refresh_token"),
        ]));
    let resp = w.send(req);
    assert_eq!(resp.status, 200);
    assert!(resp.body.is_empty());
    assert_eq!(
        w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), access))
            .status,
        401
    );
    oauth_error(
        &w.send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
        ])),
        400,
        "invalid_grant",
    );
}

#[test]
fn user_revocation_through_the_control_surface() {
    let w = world();
    let t = w.login(SCOPES);
    assert_eq!(w.sim.revoke_datev_grants().unwrap(), 1);
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), access))
            .status,
        401
    );
}

#[test]
fn sandbox_paths_reach_the_same_endpoints() {
    let w = world();
    let url = authorize_url(GOOD).replace(
        AUTHORIZE,
        "http://127.0.0.1:3000/sandbox/datev/login/openidsandbox/authorize",
    );
    let resp = w.send(HttpRequest::new(Method::Get, url));
    assert_eq!(resp.status, 302);
    let code = param(
        &location_query(resp.header_value("location").unwrap()),
        "code",
    )
    .unwrap()
    .to_owned();
    let mut req = token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    req.url = "http://127.0.0.1:3000/sandbox/datev/api/token".into();
    assert_eq!(w.send(req).status, 200);
}

#[test]
fn calls_are_recorded_without_secrets() {
    let w = world();
    let t = w.login(SCOPES);
    let records = w.sim.records().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].api, sim::Api::DatevLogin);
    assert_eq!(records[0].status, Some(302));
    assert_eq!(records[1].api, sim::Api::DatevToken);
    assert_eq!(records[1].path, "/token");
    assert_eq!(records[1].principal, "client:ml-connector-sim");
    let dump = format!("{:?}", w.sim.snapshot().unwrap());
    for secret in [
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
        "sim-client-secret",
    ] {
        assert!(!dump.contains(secret), "state contains a secret");
    }
}
