//! Test host: cron ticks (`handle-cron-event` of fermyon:spin-cron@2.0.0) and what a cron
//! instance may reach (full URLs only: no chaining, no `self`).

use crate::host_support;

use connector::KeyValue;
use host_support::{Recorder, probe_app};

fn value(app: &integration_tests::SpinApp, key: &str) -> Option<String> {
    app.kv("default")
        .get(key)
        .expect("store readable")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

#[test]
fn each_tick_runs_a_fresh_instance_with_its_timestamp() {
    let app = probe_app();
    assert_eq!(
        app.cron("probe-cron", 1_700_000_000).expect("no trap"),
        Ok(())
    );
    assert_eq!(
        app.cron("probe-cron", 1_700_000_300).expect("no trap"),
        Ok(())
    );
    let store = app.kv("default");
    assert_eq!(
        store.get("cron:ticks").unwrap(),
        Some(2i64.to_le_bytes().to_vec())
    );
    assert_eq!(value(&app, "cron:last").as_deref(), Some("1700000300"));
    assert_eq!(value(&app, "cron:fetch"), None);
}

#[test]
fn a_guest_error_is_returned_as_ok_err() {
    let mut app = probe_app();
    app.set_variable("cron_fail", "yes");
    assert_eq!(
        app.cron("probe-cron", 42).expect("no trap"),
        Err("asked to fail at 42".to_owned())
    );
    assert_eq!(value(&app, "cron:last").as_deref(), Some("42"));
}

#[test]
fn full_urls_reach_the_client() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    app.set_variable("cron_fetch_url", "https://api.example.com/tick");
    assert_eq!(app.cron("probe-cron", 1).expect("no trap"), Ok(()));
    assert_eq!(
        value(&app, "cron:fetch").as_deref(),
        Some("status: 200\npong")
    );
    assert_eq!(rec.seen().len(), 1);
    assert_eq!(rec.seen()[0].url, "https://api.example.com/tick");
}

#[test]
fn chaining_and_self_do_not_work_from_cron() {
    let mut app = probe_app();
    let rec = Recorder::pong();
    app.set_outbound(rec.clone());
    // Allowed by the manifest, but outside the HTTP trigger `*.spin.internal` goes to DNS.
    app.set_variable("cron_fetch_url", "http://probe.spin.internal/?op=headers");
    assert_eq!(app.cron("probe-cron", 1).expect("no trap"), Ok(()));
    let out = value(&app, "cron:fetch").unwrap_or_default();
    assert!(
        out.starts_with("error: ") && out.contains("DnsError"),
        "{out}"
    );
    // A relative URL has no origin outside the HTTP trigger.
    app.set_variable("cron_fetch_url", "/probe/?op=headers");
    assert_eq!(app.cron("probe-cron", 2).expect("no trap"), Ok(()));
    let out = value(&app, "cron:fetch").unwrap_or_default();
    assert!(out.contains("HttpRequestUriInvalid"), "{out}");
    assert!(rec.seen().is_empty());
}

#[test]
fn only_components_with_a_cron_trigger_can_tick() {
    let app = probe_app();
    let err = app
        .cron("probe", 1)
        .expect_err("probe has only an HTTP trigger");
    assert!(
        format!("{err:#}").contains("has no [[trigger.cron]] entry"),
        "{err:#}"
    );
    let err = app.cron("nope", 1).expect_err("unknown component");
    assert!(
        format!("{err:#}").contains("no [[trigger.cron]]"),
        "{err:#}"
    );
}
