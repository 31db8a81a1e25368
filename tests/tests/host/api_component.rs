//! The built `api` component, composed with the built `extf` component as `spin.toml` says,
//! in the embedded Spin host with the DATEV simulator as its outbound HTTP: connect, batch
//! intake validated through the imported extf interface, batch status, authentication.
//!
//! Build first (the build commands in spin.toml): `cargo build --release --target wasm32-wasip2
//! -p api` and `cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask
//! componentize extf`.

use crate::datev_common;

use connector::{HttpRequest, KeyValue, Method};
use datev_common::*;
use serde_json::json;

#[test]
fn api_imports_the_extf_interface_instead_of_linking_it() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/wasm32-wasip2/release/api.wasm"
    );
    let wasm = std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; build it: cargo build --release --target wasm32-wasip2 -p api")
    });
    let imports = integration_tests::component_imports(&wasm).expect("a component");
    assert!(
        imports
            .iter()
            .any(|i| i == "ml-connector:datev-extf/extf@0.2.0"),
        "{imports:?}"
    );
    let (app, _) = app(|_| {});
    app.prepare("api")
        .expect("composes with the extf component");
}

#[test]
fn connect_stores_the_tokens_sealed_and_says_so() {
    let (app, sim) = app(|_| {});
    let done = connect(&app, &sim);
    assert_eq!(done.status, 303);
    assert_eq!(
        done.header_value("Location"),
        Some("/datev/result?outcome=connected&client=29098-55003")
    );
    let page = send(
        &app,
        HttpRequest::new(
            Method::Get,
            format!("{LISTENER}/datev/result?outcome=connected&client={CLIENT}"),
        ),
    );
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<h1>DATEV connected</h1>"));
    let store = app.kv("default");
    let record = store
        .get("token:datev:29098-55003")
        .unwrap()
        .expect("connection record");
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["state"], "connected");
    assert_no_plaintext_tokens(&app, &sim);
    // A second use of the same callback is refused with a page and an audit entry.
    let again = connect_again_with_used_state(&app, &sim);
    assert_eq!(
        again,
        "/datev/result?outcome=already-used&client=29098-55003"
    );
    assert_no_plaintext_tokens(&app, &sim);
}

fn connect_again_with_used_state(app: &integration_tests::SpinApp, sim: &Outbound) -> String {
    let start = admin(
        app,
        Method::Get,
        &format!("/datev/connect?client={CLIENT}"),
        "text/plain",
        b"",
    );
    let consent = sim.send_request(start.header_value("Location").unwrap());
    let callback = send(app, HttpRequest::new(Method::Get, consent.clone()));
    assert_eq!(
        callback.header_value("Location"),
        Some("/datev/result?outcome=connected&client=29098-55003")
    );
    let replay = send(app, HttpRequest::new(Method::Get, consent));
    replay.header_value("Location").unwrap().to_owned()
}

trait Browser {
    fn send_request(&self, url: &str) -> String;
}

impl Browser for Outbound {
    fn send_request(&self, url: &str) -> String {
        use connector::HttpClient;
        let r = self.send(HttpRequest::new(Method::Get, url)).unwrap();
        r.header_value("Location").unwrap().to_owned()
    }
}

#[test]
fn batches_are_validated_by_the_extf_component() {
    let (app, sim) = app(|_| {});
    assert_eq!(connect(&app, &sim).status, 303);
    configure(&app);
    // Every finding, from the composed component.
    let mut bad = bookings_batch(3);
    bad["bookings"][0]["text"] = json!("x".repeat(61));
    bad["bookings"][2]["account"] = json!(0);
    let r = admin(
        &app,
        Method::Post,
        "/batches",
        "application/json",
        bad.to_string().as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let findings = json_body(&r)["findings"].as_array().unwrap().clone();
    let at: Vec<(u64, u64)> = findings
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["field"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, vec![(3, 14), (5, 7)]);
    // A good batch: written by the component, approved by the policy.
    let r = admin(
        &app,
        Method::Post,
        "/batches",
        "application/json",
        bookings_batch(2).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = json_body(&r);
    assert_eq!(
        (b["id"].as_u64(), b["state"].as_str()),
        (Some(1), Some("approved"))
    );
    assert_eq!(
        b["payload"]["file_name"],
        "EXTF_BS_29098_55003_20240201_20240229_1.csv"
    );
    let file = app.kv("default").get("batch-file:1:0").unwrap().unwrap();
    assert!(file.starts_with(b"\xEF\xBB\xBF\"EXTF\";700;21;\"Buchungsstapel\";13;"));
    // The written file, posted as a ready file, passes the component's validator too.
    let r = admin(
        &app,
        Method::Post,
        &format!("/batches?client={CLIENT}&reference=file"),
        "text/csv",
        &file,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = admin(&app, Method::Get, "/batches/1", "text/plain", b"");
    assert_eq!(json_body(&r)["history"][1]["to"], "approved");
    // Without the admin token: 401, nothing stored.
    let r = send(
        &app,
        HttpRequest::new(Method::Post, format!("{LISTENER}/batches"))
            .header("Content-Type", "application/json")
            .body(bookings_batch(1).to_string()),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        app.kv("default")
            .keys()
            .iter()
            .filter(|k| k.starts_with("batch:"))
            .count(),
        2
    );
}
