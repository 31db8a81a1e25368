//! Test host: outbound HTTP — allowed_outbound_hosts, the outbound client, service chaining and
//! `self` requests (spin.md §6).

use crate::host_support;

use connector::{HttpError, Method};
use host_support::{Recorder, enc, get, probe_app, text};

fn fetch(app: &integration_tests::SpinApp, from: &str, url: &str) -> String {
    text(&get(app, &format!("{from}?op=fetch&url={}", enc(url))))
}

#[test]
fn an_allowed_url_reaches_the_client_without_host() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    assert_eq!(
        fetch(&app, "/probe/", "https://api.example.com/v1/x?y=1"),
        "status: 200\npong"
    );
    let seen = rec.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::Get);
    assert_eq!(seen[0].url, "https://api.example.com/v1/x?y=1");
    assert_eq!(
        seen[0].headers,
        [("x-probe-outbound".to_owned(), "1".to_owned())]
    );
    assert!(seen[0].body.is_empty());
}

#[test]
fn a_post_body_is_passed_through() {
    let mut app = probe_app();
    let rec = Recorder::with(|req| Ok(connector::HttpResponse::new(201, req.body.clone())));
    app.set_outbound(rec.clone());
    let resp = text(&get(
        &app,
        "/probe/?op=fetch&url=https%3A%2F%2Fapi.example.com%2Fp&body=hello",
    ));
    assert_eq!(resp, "status: 201\nhello");
    assert_eq!(rec.seen()[0].method, Method::Post);
    assert_eq!(rec.seen()[0].body, b"hello");
}

#[test]
fn denied_requests_never_reach_the_client() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    for url in [
        "https://evil.example.com/",
        "https://api.example.com:8443/",
        "http://api.example.com/",
        "https://sub.api.example.com/",
    ] {
        let out = fetch(&app, "/probe/", url);
        assert!(
            out.starts_with("error: ") && out.contains("HttpRequestDenied"),
            "{url}: {out}"
        );
    }
    // probe-b has no allowed_outbound_hosts at all.
    let out = fetch(&app, "/b/", "https://api.example.com/");
    assert!(out.contains("HttpRequestDenied"), "{out}");
    assert!(rec.seen().is_empty());
}

#[test]
fn templated_hosts_follow_the_variable() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    app.set_variable("api_host", "other.example.test");
    assert!(fetch(&app, "/probe/", "https://api.example.com/").contains("HttpRequestDenied"));
    assert_eq!(
        fetch(&app, "/probe/", "https://other.example.test/"),
        "status: 200\npong"
    );
    assert_eq!(rec.seen().len(), 1);
}

#[test]
fn client_failures_become_wasi_http_error_codes() {
    let mut app = probe_app();
    // No client: nothing listens.
    assert!(fetch(&app, "/probe/", "https://api.example.com/").contains("ConnectionRefused"));
    for (error, code) in [
        (HttpError::Connect("refused".into()), "ConnectionRefused"),
        (HttpError::Timeout, "ConnectionReadTimeout"),
        (HttpError::Transport("reset".into()), "ConnectionTerminated"),
        (HttpError::Denied("policy".into()), "HttpRequestDenied"),
    ] {
        let e = error.clone();
        app.set_outbound(Recorder::with(move |_| Err(e.clone())));
        let out = fetch(&app, "/probe/", "https://api.example.com/");
        assert!(out.contains(code), "{error:?}: {out}");
    }
}

#[test]
fn service_chaining_goes_to_the_component_in_process() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    let out = fetch(
        &app,
        "/probe/",
        "http://probe-b.spin.internal/chained/p?op=headers",
    );
    let (status, echo) = out.split_once('\n').expect("status line");
    assert_eq!(status, "status: 200");
    let mut lines: Vec<&str> = echo.lines().collect();
    assert_eq!(
        lines.remove(0),
        "GET http://probe-b.spin.internal/chained/p?op=headers"
    );
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "",
            "spin-base-path: /",
            "spin-client-addr: 0.0.0.0:0",
            "spin-component-route: ",
            "spin-full-url: http://localhost/chained/p?op=headers",
            "spin-matched-route: /...",
            "spin-path-info: /chained/p",
            "spin-raw-component-route: /...",
            "x-probe-outbound: 1",
        ]
    );
    assert!(rec.seen().is_empty());
}

#[test]
fn private_routes_are_reachable_only_by_chaining() {
    let app = probe_app();
    assert_eq!(
        fetch(
            &app,
            "/probe/",
            "http://probe-private.spin.internal/?op=add&a=1&b=2"
        ),
        "status: 200\n3"
    );
    // There is no public route to it.
    assert_eq!(get(&app, "/probe-private/?op=add&a=1&b=2").status, 404);
}

#[test]
fn chaining_needs_permission_and_a_known_http_component() {
    let app = probe_app();
    assert!(fetch(&app, "/b/", "http://probe.spin.internal/").contains("HttpRequestDenied"));
    assert!(fetch(&app, "/probe/", "http://nope.spin.internal/").contains("DestinationNotFound"));
    // probe-cron has only a cron trigger.
    assert!(
        fetch(&app, "/probe/", "http://probe-cron.spin.internal/").contains("DestinationNotFound")
    );
}

#[test]
fn self_requests_go_back_through_the_router() {
    let app = probe_app();
    for url in [
        "/probe/selfcall?op=headers",
        "http://self.alt/probe/selfcall?op=headers",
    ] {
        let out = fetch(&app, "/probe/", url);
        assert!(
            out.starts_with("status: 200\nGET http://127.0.0.1:3000/probe/selfcall?op=headers\n"),
            "{url}: {out}"
        );
        assert!(
            out.contains("\nspin-full-url: http://127.0.0.1:3000/probe/selfcall?op=headers\n"),
            "{out}"
        );
        assert!(out.contains("\nspin-path-info: /selfcall\n"), "{out}");
    }
    assert_eq!(fetch(&app, "/probe/", "/nowhere"), "status: 404\n");
    // probe-b has no `http://self`.
    assert!(fetch(&app, "/b/", "/probe/").contains("HttpRequestDenied"));
}
