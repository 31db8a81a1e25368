//! Connect flow (PKCE, state, callback, code exchange), sealed storage and leased refresh,
//! against recording HTTP doubles on one `MemoryStore`.

mod common;

use common::*;
use connector::{HttpError, KeyValue, Secret};
use datev::{
    ApiError, CallbackParams, ClientAuthStyle, ClientCredentials, ConnectError, ConnectionState,
    DatevAuth, DatevClientId, DatevErrorBody, Keyring, RefreshOutcome, Retryability, SealedRecord,
    TokenError, VaultError, keys,
};

fn query_of(url: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap()
}

fn param(url: &str, name: &str) -> String {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap()
}

fn callback(state: &str, code: &str) -> CallbackParams {
    CallbackParams {
        state: Some(state.into()),
        code: Some(Secret::new(code)),
        ..Default::default()
    }
}

/// Connects `client()` through `http` (which must answer the code exchange) and returns the
/// state used.
fn connect(w: &World, http: &Scripted<'_>) -> String {
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(http));
    let req = auth.begin_connect(&client()).unwrap();
    auth.complete_connect(&callback(req.state.as_str(), "auth-code-1"))
        .unwrap();
    req.state.as_str().to_owned()
}

#[test]
fn authorization_url_is_exact() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    golden("authorization_url.txt", &format!("{}\n", req.url));
    assert_eq!(req.expires_at_ms, T0 + 600_000);
    assert_eq!(param(&req.url, "state"), req.state.as_str());
    assert_eq!(param(&req.url, "code_challenge_method"), "S256");
    assert_eq!(
        param(&req.url, "scope"),
        "openid offline_access datev:accounting:extf-files-import datev:accounting:clients accounting:clients:read accounting:dxso-jobs"
    );
    // One write (the sealed attempt); the verifier is not readable in the store.
    assert_eq!(w.store.writes(), 1);
    assert_eq!(
        w.store.keys(),
        vec![keys::oauth_attempt(req.state.as_str())]
    );
    assert_eq!(http.count(), 0);
}

#[test]
fn each_attempt_has_a_fresh_state_and_verifier() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let a = auth.begin_connect(&client()).unwrap();
    let b = auth.begin_connect(&client()).unwrap();
    assert_ne!(a.state, b.state);
    assert_ne!(
        param(&a.url, "code_challenge"),
        param(&b.url, "code_challenge")
    );
    assert_eq!(a.state.as_str().len(), 43);
}

#[test]
fn good_callback_exchanges_the_code_with_the_verifier_and_stores_sealed_tokens() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    let challenge = param(&req.url, "code_challenge");
    let connected = auth
        .complete_connect(&callback(req.state.as_str(), "auth-code-1"))
        .unwrap();
    assert_eq!(connected.client, client());
    assert_eq!(connected.expires_at_ms, T0 + 900_000);
    assert_eq!(
        connected.scope.as_deref(),
        Some("openid datev:accounting:extf-files-import")
    );

    let sent = http.requests();
    assert_eq!(sent.len(), 1);
    // The verifier sent hashes to the challenge of the URL (RFC 7636 §4.6).
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&sent[0].body).unwrap();
    let verifier = form
        .iter()
        .find(|(k, _)| k == "code_verifier")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        datev::CodeVerifier::parse(&verifier)
            .unwrap()
            .challenge_s256()
            .as_str(),
        challenge
    );
    golden(
        "token_exchange_basic.http",
        &render(
            &sent[0],
            &[
                (&verifier, "{code_verifier}"),
                ("auth-code-1", "{code}"),
                (
                    "dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0LXZhbHVl",
                    "{base64(test-client-id:test-client-secret-value)}",
                ),
            ],
        ),
    );
    assert_eq!(
        sent[0].header_value("Authorization"),
        Some(
            format!(
                "Basic {}",
                base64_of(&format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            )
            .as_str()
        )
    );
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::Connected { since_ms: T0 }
    );
    let token = auth.access_token(&client()).unwrap();
    assert_eq!(token.secret().expose(), TokenServer::access(1));
    assert_eq!(http.count(), 1, "a fresh token needs no request");
    for secret in [
        TokenServer::access(1),
        TokenServer::refresh(1),
        verifier,
        CLIENT_SECRET.to_owned(),
    ] {
        assert_eq!(
            leaks(&w.store, &secret),
            Vec::<String>::new(),
            "{secret} leaked"
        );
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn state_is_single_use() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    auth.complete_connect(&callback(req.state.as_str(), "auth-code-1"))
        .unwrap();
    let again = auth.complete_connect(&callback(req.state.as_str(), "auth-code-1"));
    assert_eq!(
        again,
        Err(ConnectError::StateAlreadyUsed { client: client() })
    );
    assert_eq!(
        http.count(),
        1,
        "a replayed callback never reaches the token endpoint"
    );
    assert_eq!(
        again.unwrap_err().to_string(),
        "this connect attempt was already used; start again"
    );
}

#[test]
fn unknown_malformed_and_missing_state() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let forged = "A".repeat(43);
    assert_eq!(
        auth.complete_connect(&callback(&forged, "c")),
        Err(ConnectError::UnknownState)
    );
    assert_eq!(
        auth.complete_connect(&callback("x:y", "c")),
        Err(ConnectError::UnknownState)
    );
    assert_eq!(
        auth.complete_connect(&CallbackParams {
            code: Some(Secret::new("c")),
            ..Default::default()
        }),
        Err(ConnectError::MissingParameter("state"))
    );
    // Probing states costs no store write.
    assert_eq!(w.store.writes(), 0);
}

#[test]
fn callback_query_parsing() {
    let p = CallbackParams::from_query("code=abc%2B1&state=s&session_state=x").unwrap();
    assert_eq!(p.code.as_ref().map(Secret::expose), Some("abc+1"));
    assert_eq!(p.state.as_deref(), Some("s"));
    assert!(!format!("{p:?}").contains("abc"));
    assert_eq!(
        CallbackParams::from_query("state=a&state=b"),
        Err(ConnectError::MalformedCallback(
            "parameter state appears more than once".into()
        ))
    );
    let long = format!("error=access_denied&error_description={}", "d".repeat(500));
    assert_eq!(
        CallbackParams::from_query(&long)
            .unwrap()
            .error_description
            .unwrap()
            .len(),
        200
    );
}

#[test]
fn expired_attempt_is_rejected_and_consumed() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    w.clock.advance_ms(600_000);
    assert_eq!(
        auth.complete_connect(&callback(req.state.as_str(), "c")),
        Err(ConnectError::AttemptExpired { client: client() })
    );
    assert_eq!(
        auth.complete_connect(&callback(req.state.as_str(), "c")),
        Err(ConnectError::StateAlreadyUsed { client: client() })
    );
}

#[test]
fn denied_consent_and_other_authorization_errors() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    let denied = CallbackParams::from_query(&format!(
        "error=access_denied&error_description=The+user+denied&state={}",
        req.state
    ))
    .unwrap();
    assert_eq!(
        auth.complete_connect(&denied),
        Err(ConnectError::ConsentDenied {
            client: client(),
            description: Some("The user denied".into())
        })
    );
    let req = auth.begin_connect(&client()).unwrap();
    let other =
        CallbackParams::from_query(&format!("error=invalid_scope&state={}", req.state)).unwrap();
    assert_eq!(
        auth.complete_connect(&other),
        Err(ConnectError::AuthorizationFailed {
            client: client(),
            error: "invalid_scope".into(),
            description: None
        })
    );
    let req = auth.begin_connect(&client()).unwrap();
    let no_code = CallbackParams::from_query(&format!("state={}", req.state)).unwrap();
    assert_eq!(
        auth.complete_connect(&no_code),
        Err(ConnectError::MissingParameter("code"))
    );
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::NotConnected
    );
    assert_eq!(http.count(), 0);
}

#[test]
fn rejected_code_is_a_typed_token_exchange_error_without_secrets() {
    let w = World::new();
    let http = Scripted::queue(vec![Ok(json(
        400,
        r#"{"error":"invalid_grant","error_description":"code auth-code-used was already redeemed"}"#,
    ))]);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    let req = auth.begin_connect(&client()).unwrap();
    let err = auth
        .complete_connect(&callback(req.state.as_str(), "auth-code-used"))
        .unwrap_err();
    match &err {
        ConnectError::TokenExchange { client: c, source } => {
            assert_eq!(*c, client());
            assert_eq!(source.oauth_error(), Some("invalid_grant"));
            assert_eq!(source.retryability(), Retryability::Permanent);
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("auth-code-used"), "{shown}");
    assert!(
        shown.contains("code [redacted] was already redeemed"),
        "{shown}"
    );
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::NotConnected
    );
}

#[test]
fn body_style_and_public_client_token_requests() {
    for (name, creds) in [
        (
            "token_exchange_body.http",
            ClientCredentials::Confidential {
                secret: Secret::new(CLIENT_SECRET),
                style: ClientAuthStyle::Body,
            },
        ),
        ("token_exchange_public.http", ClientCredentials::Public),
    ] {
        let w = World::with(creds);
        let server = TokenServer::new();
        let http = Scripted::new(|r| server.answer(r));
        connect(&w, &http);
        let sent = http.requests();
        assert_eq!(sent[0].header_value("Authorization"), None);
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&sent[0].body).unwrap();
        let verifier = form
            .iter()
            .find(|(k, _)| k == "code_verifier")
            .unwrap()
            .1
            .clone();
        golden(
            name,
            &render(
                &sent[0],
                &[
                    (&verifier, "{code_verifier}"),
                    ("auth-code-1", "{code}"),
                    (CLIENT_SECRET, "{client_secret}"),
                ],
            ),
        );
    }
}

#[test]
fn refresh_waits_for_the_margin_then_rotates_and_stores_first() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    // 900 s token, 120 s margin: at 780 s exactly the margin is left — still fresh.
    w.clock.advance_ms(780_000);
    assert_eq!(
        auth.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Fresh {
            expires_at_ms: T0 + 900_000
        }
    );
    assert_eq!(http.count(), 1);
    w.clock.advance_ms(1);
    let now = T0 + 780_001;
    assert_eq!(
        auth.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Refreshed {
            expires_at_ms: now + 900_000
        }
    );
    let sent = http.requests();
    assert_eq!(sent.len(), 2);
    golden(
        "token_refresh_basic.http",
        &render(
            &sent[1],
            &[
                (&TokenServer::refresh(1), "{refresh_token_1}"),
                (
                    "dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0LXZhbHVl",
                    "{base64(test-client-id:test-client-secret-value)}",
                ),
            ],
        ),
    );
    // The rotated pair is what a new reader gets (it was stored before returning).
    let other_http = Scripted::none();
    let reader = DatevAuth::new(&w.config, &w.ring, w.ports(&other_http));
    assert_eq!(
        reader.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(2)
    );
    for secret in [
        TokenServer::access(1),
        TokenServer::refresh(1),
        TokenServer::access(2),
        TokenServer::refresh(2),
    ] {
        assert_eq!(
            leaks(&w.store, &secret),
            Vec::<String>::new(),
            "{secret} leaked"
        );
    }
    // The refresher held windows w and w+1.
    let window = now / 30_000;
    assert_eq!(
        w.store
            .get(&keys::refresh_lease(&client(), window))
            .unwrap(),
        Some(1i64.to_le_bytes().to_vec())
    );
    assert_eq!(
        w.store
            .get(&keys::refresh_lease(&client(), window + 1))
            .unwrap(),
        Some(1i64.to_le_bytes().to_vec())
    );
}

#[test]
fn two_concurrent_refreshers_make_one_refresh() {
    let w = World::new();
    let server = TokenServer::new();
    let token_http = Scripted::new(|r| server.answer(r));
    connect(&w, &token_http);
    w.clock.advance_ms(800_000);

    // B runs while A's refresh request is in flight.
    let b_http = Scripted::none();
    let b = DatevAuth::new(&w.config, &w.ring, w.ports(&b_http));
    let b_results = std::cell::RefCell::new(Vec::new());
    let a_http = Interleave {
        inner: &token_http,
        during: Box::new(|| b_results.borrow_mut().push(b.refresh_if_due(&client()))),
    };
    let a = DatevAuth::new(&w.config, &w.ring, w.ports(&a_http));
    let a_token = a.access_token(&client()).unwrap();
    assert_eq!(a_token.secret().expose(), TokenServer::access(2));
    assert_eq!(
        b_results.borrow().clone(),
        vec![Ok(RefreshOutcome::HeldByOther {
            expires_at_ms: T0 + 900_000
        })],
        "B reuses the still-valid stored token"
    );
    assert_eq!(
        server.issued(),
        2,
        "one code exchange and exactly one refresh"
    );
    assert_eq!(b_http.count(), 0);
    // Afterwards B re-reads the rotated result.
    assert_eq!(
        b.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(2)
    );
}

#[test]
fn a_refresh_in_flight_across_a_window_boundary_is_not_repeated() {
    let w = World::new();
    let server = TokenServer::new();
    let token_http = Scripted::new(|r| server.answer(r));
    connect(&w, &token_http);
    // A starts 1 ms before a window boundary; B arrives in the next window while A's request is
    // in flight. With a single-window lease B would refresh with the same (rotating) token.
    let start = (T0 + 800_000) / 30_000 * 30_000 + 29_999;
    w.clock.set_ms(start);
    let b_http = Scripted::none();
    let b = DatevAuth::new(&w.config, &w.ring, w.ports(&b_http));
    let b_results = std::cell::RefCell::new(Vec::new());
    let a_http = Interleave {
        inner: &token_http,
        during: Box::new(|| {
            w.clock.advance_ms(2);
            b_results.borrow_mut().push(b.refresh_if_due(&client()));
        }),
    };
    let a = DatevAuth::new(&w.config, &w.ring, w.ports(&a_http));
    assert_eq!(
        a.refresh_if_due(&client()).unwrap(),
        RefreshOutcome::Refreshed {
            expires_at_ms: start + 2 + 900_000
        }
    );
    assert_eq!(
        b_results.borrow().clone(),
        vec![Ok(RefreshOutcome::HeldByOther {
            expires_at_ms: T0 + 900_000
        })]
    );
    assert_eq!(server.issued(), 2);
}

#[test]
fn lost_lease_with_an_expired_token_asks_to_retry() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    w.clock.advance_ms(900_000);
    let now = T0 + 900_000;
    // Someone else holds this window.
    w.store
        .increment(&keys::refresh_lease(&client(), now / 30_000), 1)
        .unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::RefreshInProgress)
    );
    assert_eq!(http.count(), 1);
}

#[test]
fn invalid_grant_marks_needs_reconsent_once_and_stops_calling() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    server.revoke();
    w.clock.advance_ms(800_000);
    let now = T0 + 800_000;
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::NeedsReconsent {
            since_ms: now,
            newly_marked: true
        })
    );
    assert_eq!(http.count(), 2);
    // Later calls (even in a later window) do not call DATEV and do not re-mark.
    w.clock.advance_ms(120_000);
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::NeedsReconsent {
            since_ms: now,
            newly_marked: false
        })
    );
    assert_eq!(
        auth.refresh_if_due(&client()),
        Err(TokenError::NeedsReconsent {
            since_ms: now,
            newly_marked: false
        })
    );
    assert_eq!(http.count(), 2);
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::NeedsReconsent {
            since_ms: now,
            reason: "invalid_grant".into()
        }
    );
    // The dead tokens are gone from the store.
    let record = w.store.get(&keys::token(&client())).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(record).unwrap(),
        format!(
            r#"{{"version":1,"state":"needs_reconsent","since_ms":{now},"reason":"invalid_grant"}}"#
        )
    );
    // A new consent heals it.
    connect(&w, &http);
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::Connected {
            since_ms: now + 120_000
        }
    );
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(2)
    );
}

#[test]
fn a_reconnect_racing_a_dead_refresh_is_not_marked() {
    let w = World::new();
    let server = TokenServer::new();
    let token_http = Scripted::new(|r| server.answer(r));
    connect(&w, &token_http);
    server.revoke();
    w.clock.advance_ms(800_000);
    // While the doomed refresh is in flight, the user connects again.
    let reconnect_http = Scripted::new(|r| server.answer(r));
    let a_http = Interleave {
        inner: &token_http,
        during: Box::new(|| drop(connect(&w, &reconnect_http))),
    };
    let a = DatevAuth::new(&w.config, &w.ring, w.ports(&a_http));
    assert_eq!(
        a.refresh_if_due(&client()),
        Err(TokenError::RefreshInProgress)
    );
    assert_eq!(
        a.connection_state(&client()).unwrap(),
        ConnectionState::Connected {
            since_ms: T0 + 800_000
        }
    );
}

#[test]
fn failed_refresh_keeps_a_valid_token_and_retries_two_windows_later() {
    let w = World::new();
    let server = TokenServer::new();
    let outage = std::cell::Cell::new(true);
    let http = Scripted::new(|r| {
        if outage.get() && r.body.starts_with(b"grant_type=refresh_token") {
            Ok(json(
                503,
                r#"{"title":"Service Unavailable","request_id":"r-1","status":503}"#,
            )
            .header("Retry-After", "20"))
        } else {
            server.answer(r)
        }
    });
    connect(&w, &http);
    w.clock.set_ms(T0 + 810_000 / 30_000 * 30_000);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    match auth.refresh_if_due(&client()).unwrap() {
        RefreshOutcome::FailedStillValid {
            expires_at_ms,
            error,
        } => {
            assert_eq!(expires_at_ms, T0 + 900_000);
            assert_eq!(error.status(), Some(503));
            assert_eq!(error.retry_after_s(), Some(20));
            assert_eq!(error.retryability(), Retryability::Retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(1)
    );
    assert_eq!(
        http.count(),
        2,
        "the next window is still held by the failed refresher"
    );
    outage.set(false);
    w.clock.advance_ms(30_000);
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(1)
    );
    assert_eq!(http.count(), 2);
    w.clock.advance_ms(30_000);
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(2)
    );
    assert_eq!(http.count(), 3);
}

#[test]
fn failed_refresh_after_expiry_is_an_error() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| {
        if r.body.starts_with(b"grant_type=refresh_token") {
            Err(HttpError::Timeout)
        } else {
            server.answer(r)
        }
    });
    connect(&w, &http);
    w.clock.advance_ms(1_000_000);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    match auth.access_token(&client()) {
        Err(TokenError::Refresh(e)) => {
            assert_eq!(
                e,
                ApiError::Transport {
                    operation: datev::Operation::TokenRefresh,
                    source: HttpError::Timeout
                }
            );
            assert_eq!(e.retryability(), Retryability::Ambiguous);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_store_error_after_refresh_is_not_done() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    w.clock.advance_ms(800_000);
    // The two lease claims succeed, the token write fails.
    w.store.fail_after(2);
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    assert!(matches!(
        auth.access_token(&client()),
        Err(TokenError::Store(_))
    ));
    w.store.heal();
    // The old pair is still stored; the new access token was never handed out.
    let reader_http = Scripted::none();
    let reader = DatevAuth::new(&w.config, &w.ring, w.ports(&reader_http));
    w.clock.set_ms(T0);
    assert_eq!(
        reader.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(1)
    );
}

#[test]
fn sealed_records_fail_closed() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    let key = keys::token(&client());
    let original = w.store.get(&key).unwrap().unwrap();
    let none = Scripted::none();

    // Wrong key id: the record's k1 is not configured.
    let other_ring = Keyring::parse(&format!("k2:{K2}")).unwrap();
    let auth = DatevAuth::new(&w.config, &other_ring, w.ports(&none));
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::Vault(VaultError::UnknownKeyId("k1".into())))
    );

    // Same id, other key material.
    let impostor = Keyring::parse(&format!("k1:{K2}")).unwrap();
    let auth = DatevAuth::new(&w.config, &impostor, w.ports(&none));
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::Vault(VaultError::Authentication))
    );

    // Tampered ciphertext: flip one base64url character of it.
    let mut v: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let ct = v["tokens"]["ciphertext"].as_str().unwrap().to_owned();
    let flipped: String = ct
        .char_indices()
        .map(|(i, c)| {
            if i == 10 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    v["tokens"]["ciphertext"] = serde_json::Value::String(flipped);
    w.store.set(&key, &serde_json::to_vec(&v).unwrap()).unwrap();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&none));
    assert_eq!(
        auth.access_token(&client()),
        Err(TokenError::Vault(VaultError::Authentication))
    );

    // Wrong associated data: the intact record copied to another client's key.
    let other_client = DatevClientId::parse("455148-2").unwrap();
    w.store.set(&keys::token(&other_client), &original).unwrap();
    assert_eq!(
        auth.access_token(&other_client),
        Err(TokenError::Vault(VaultError::Authentication))
    );

    // The intact record still opens.
    w.store.set(&key, &original).unwrap();
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(1)
    );
}

#[test]
fn key_rotation_reads_old_records_and_rewrites_with_the_current_key() {
    let w = World::new();
    let server = TokenServer::new();
    let http = Scripted::new(|r| server.answer(r));
    connect(&w, &http);
    let rotated = Keyring::parse(&format!("k2:{K2},k1:{K1}")).unwrap();
    let auth = DatevAuth::new(&w.config, &rotated, w.ports(&http));
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(1)
    );
    w.clock.advance_ms(800_000);
    assert_eq!(
        auth.access_token(&client()).unwrap().secret().expose(),
        TokenServer::access(2)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&w.store.get(&keys::token(&client())).unwrap().unwrap()).unwrap();
    let sealed = SealedRecord::from_slice(&serde_json::to_vec(&v["tokens"]).unwrap()).unwrap();
    assert_eq!(sealed.key_id(), "k2");
    assert!(!rotated.needs_reseal(&sealed));
}

#[test]
fn nothing_prints_a_secret() {
    let w = World::new();
    let shown = format!("{:?} {:?}", w.config, w.ring);
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert!(shown.contains("[redacted]"));
    let err = ApiError::Status {
        operation: datev::Operation::TokenRefresh,
        status: 400,
        body: Box::new(DatevErrorBody::Empty),
        retry_after_s: None,
    };
    assert_eq!(
        err.to_string(),
        "token (refresh_token): DATEV answered HTTP 400"
    );
}

#[test]
fn not_connected() {
    let w = World::new();
    let http = Scripted::none();
    let auth = DatevAuth::new(&w.config, &w.ring, w.ports(&http));
    assert_eq!(auth.access_token(&client()), Err(TokenError::NotConnected));
    assert_eq!(
        auth.connection_state(&client()).unwrap(),
        ConnectionState::NotConnected
    );
}
