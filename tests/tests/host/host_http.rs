//! Test host: HTTP trigger routing, Spin's headers, composition, logs, traps.

use crate::host_support;

use std::collections::BTreeMap;

use connector::{HttpRequest, Method};
use host_support::{get, probe_app, text};

/// The probe's echo, parsed: request line, headers grouped by name (values in the order
/// received; the order *between* names is not Spin's to keep — wasmtime-wasi-http reorders the
/// map when it strips the forbidden `host` header), body.
#[derive(Debug, PartialEq, Eq)]
struct Echo {
    request_line: String,
    headers: BTreeMap<String, Vec<String>>,
    body: String,
}

fn parse_echo(text: &str) -> Echo {
    let (head, body) = text.split_once("\n\n").expect("echo has a blank line");
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line").to_owned();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let (n, v) = line
            .split_once(": ")
            .unwrap_or((line.trim_end_matches(':'), ""));
        headers.entry(n.to_owned()).or_default().push(v.to_owned());
    }
    Echo {
        request_line,
        headers,
        body: body.to_owned(),
    }
}

fn echo(request_line: &str, headers: &[(&str, &str)], body: &str) -> Echo {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in headers {
        map.entry((*n).to_owned())
            .or_default()
            .push((*v).to_owned());
    }
    Echo {
        request_line: request_line.to_owned(),
        headers: map,
        body: body.to_owned(),
    }
}

#[test]
fn wildcard_route_gets_spins_headers() {
    let app = probe_app();
    let resp = get(&app, "/probe/some/path?x=1");
    assert_eq!(resp.status, 200);
    // `host` is not there: wasmtime-wasi-http keeps forbidden headers out of guests; the
    // authority is in the URI.
    assert_eq!(
        parse_echo(&text(&resp)),
        echo(
            "GET http://127.0.0.1:3000/probe/some/path?x=1",
            &[
                ("spin-path-info", "/some/path"),
                ("spin-full-url", "http://127.0.0.1:3000/probe/some/path?x=1"),
                ("spin-matched-route", "/probe/..."),
                ("spin-base-path", "/"),
                ("spin-raw-component-route", "/probe/..."),
                ("spin-component-route", "/probe"),
                ("spin-client-addr", "127.0.0.1:54321"),
            ],
            ""
        )
    );
}

#[test]
fn named_segment_route_adds_path_match_header() {
    let app = probe_app();
    let resp = get(&app, "/users/42/edit");
    assert_eq!(
        parse_echo(&text(&resp)),
        echo(
            "GET http://127.0.0.1:3000/users/42/edit",
            &[
                ("spin-path-info", ""),
                ("spin-full-url", "http://127.0.0.1:3000/users/42/edit"),
                ("spin-matched-route", "/users/:id/edit"),
                ("spin-base-path", "/"),
                ("spin-raw-component-route", "/users/:id/edit"),
                ("spin-component-route", "/users/:id/edit"),
                ("spin-client-addr", "127.0.0.1:54321"),
                ("spin-path-match-id", "42"),
            ],
            ""
        )
    );
}

#[test]
fn exact_routes_match_only_themselves_and_unrouted_paths_get_404() {
    let app = probe_app();
    let exact = get(&app, "/exact");
    assert_eq!(exact.status, 200);
    assert!(
        text(&exact).contains("spin-matched-route: /exact\n"),
        "{}",
        text(&exact)
    );
    for path in ["/exact/more", "/nothing", "/", "/users/42", "/probe-x"] {
        let resp = get(&app, path);
        assert_eq!((resp.status, resp.body.len()), (404, 0), "{path}");
    }
}

#[test]
fn client_headers_come_first_and_spin_appends_its_own() {
    // Spin appends to the client's headers, so a forged `spin-full-url` stays first.
    let app = probe_app();
    let req = HttpRequest::new(Method::Post, "https://hooks.example.test/probe/x")
        .header("spin-full-url", "https://forged.example/")
        .header("X-Custom", "a")
        .header("x-custom", "b")
        .body("payload");
    let resp = app.http(req).expect("request served");
    assert_eq!(
        parse_echo(&text(&resp)),
        echo(
            "POST https://hooks.example.test/probe/x",
            &[
                ("spin-full-url", "https://forged.example/"),
                ("spin-full-url", "https://hooks.example.test/probe/x"),
                ("x-custom", "a"),
                ("x-custom", "b"),
                ("spin-path-info", "/x"),
                ("spin-matched-route", "/probe/..."),
                ("spin-base-path", "/"),
                ("spin-raw-component-route", "/probe/..."),
                ("spin-component-route", "/probe"),
                ("spin-client-addr", "127.0.0.1:54321"),
            ],
            "payload"
        )
    );
}

#[test]
fn explicit_host_header_drives_spin_full_url() {
    let app = probe_app();
    let req = HttpRequest::new(Method::Get, "http://127.0.0.1:3000/probe/h?q=1")
        .header("Host", "public.example.test");
    let body = text(&app.http(req).expect("served"));
    assert!(
        body.starts_with("GET http://public.example.test/probe/h?q=1\n"),
        "{body}"
    );
    assert!(
        body.contains("spin-full-url: http://public.example.test/probe/h?q=1\n"),
        "{body}"
    );
}

#[test]
fn status_repeated_headers_and_body_come_back_unchanged() {
    let app = probe_app();
    let req = HttpRequest::new(
        Method::Put,
        "http://127.0.0.1:3000/probe/?op=status&code=201",
    )
    .body(vec![0u8, 159, 146, 150]);
    let resp = app.http(req).expect("served");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, vec![0u8, 159, 146, 150]);
    let probe: Vec<&str> = resp
        .headers
        .iter()
        .filter(|(n, _)| n == "x-probe")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(probe, ["one", "two"]);
}

#[test]
fn dependencies_are_composed_from_component_and_path_sources() {
    let app = probe_app();
    // probe: `{ component = "probe-lib" }` under the exact interface@version key.
    assert_eq!(text(&get(&app, "/probe/?op=add&a=40&b=2")), "42");
    assert_eq!(
        text(&get(&app, "/probe/?op=greet&name=Spin")),
        "hello, Spin"
    );
    // probe-b: `{ path = ... }` under the package key `ml-connector:probe-lib`.
    assert_eq!(text(&get(&app, "/b/?op=add&a=4294967295&b=2")), "1");
    // probe-nokv: `{ component = ... }` under `interface` without version.
    assert_eq!(text(&get(&app, "/exact?op=greet&name=x")), "hello, x");
}

#[test]
fn guest_output_is_captured_per_component() {
    let app = probe_app();
    assert_eq!(text(&get(&app, "/probe/?op=log&msg=hi%20there")), "logged");
    let logs = app.logs();
    assert!(
        logs.contains(&"[probe stdout] stdout: hi there".to_owned()),
        "{logs:#?}"
    );
    assert!(
        logs.contains(&"[probe stderr] stderr: hi there".to_owned()),
        "{logs:#?}"
    );
}

#[test]
fn a_trap_is_an_error_carrying_the_panic_message() {
    let app = probe_app();
    let err = app
        .http(HttpRequest::new(
            Method::Get,
            "http://127.0.0.1:3000/probe/?op=trap",
        ))
        .expect_err("a trapping guest is an error");
    let msg = format!("{err:#}");
    assert!(msg.contains("probe asked to trap"), "{msg}");
    // The next request gets a fresh instance and works.
    assert_eq!(get(&app, "/probe/?op=add&a=1&b=1").status, 200);
}

#[test]
fn url_must_be_absolute() {
    let app = probe_app();
    let err = app
        .http(HttpRequest::new(Method::Get, "/probe/"))
        .expect_err("relative URL");
    assert!(format!("{err:#}").contains("must be absolute"), "{err:#}");
}

#[test]
fn works_when_called_from_inside_a_tokio_runtime() {
    let app = probe_app();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let status = rt.block_on(async { get(&app, "/probe/?op=add&a=1&b=2").status });
    assert_eq!(status, 200);
}
