//! The built `datev-poller` cron component with the built `api` (composed with `extf`) in the
//! embedded Spin host, DATEV simulated in-process: a batch from `POST /batches` to a finished
//! DATEV job with its notifications in the outbox.
//!
//! Build first: `cargo build --release --target wasm32-wasip2 -p api -p datev-poller` and the
//! extf component (`cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask
//! componentize extf`).

use crate::datev_common;

use connector::outbox::{Channel, OutboxItem, OutboxState};
use connector::{KeyValue, Method};
use datev_common::*;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn outbox(app: &integration_tests::SpinApp) -> Vec<OutboxItem> {
    let store = app.kv("default");
    let mut items: Vec<OutboxItem> = store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("outbox:"))
        .map(|k| serde_json::from_slice(&store.get(&k).unwrap().unwrap()).unwrap())
        .collect();
    items.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
    items
}

fn tick(app: &integration_tests::SpinApp, timestamp: u64) {
    let result = app
        .cron("datev-poller", timestamp)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
}

fn run(
    job_fails: bool,
) -> (
    integration_tests::SpinApp,
    std::sync::Arc<Outbound>,
    u64,
    String,
) {
    let (app, sim) = app(|c| {
        if job_fails {
            c.faults.datev.job_failure_permille = 1000;
        }
    });
    app.prepare("datev-poller")
        .expect("the cron component loads");
    assert_eq!(connect(&app, &sim).status, 303);
    configure(&app);
    let r = admin(
        &app,
        Method::Post,
        "/batches",
        "application/json",
        bookings_batch(2).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = json_body(&r)["id"].as_u64().unwrap();
    let t0 = now_s();
    let mut state = String::new();
    for i in 0..10 {
        tick(&app, t0 + 5 * i);
        let b = json_body(&admin(
            &app,
            Method::Get,
            &format!("/batches/{id}"),
            "text/plain",
            b"",
        ));
        state = b["state"].as_str().unwrap().to_owned();
        if state == "succeeded" || state == "failed" {
            let job = b["job"]["id"].as_str().unwrap().to_owned();
            // The same window again (a second instance): nothing to do.
            tick(&app, t0 + 5 * i);
            return (app, sim, id, job);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("batch {id} still {state}\n{}", app.logs().join("\n"));
}

#[test]
fn a_posted_batch_becomes_a_datev_job_and_sms_to_the_finance_contacts() {
    let (app, sim, id, job) = run(false);
    let b = json_body(&admin(
        &app,
        Method::Get,
        &format!("/batches/{id}"),
        "text/plain",
        b"",
    ));
    assert_eq!(b["state"], "succeeded");
    let items = outbox(&app);
    let keys: Vec<String> = items.iter().map(|i| i.dedup_key.to_string()).collect();
    assert_eq!(
        keys,
        vec![
            format!("sms-{job}-+4915112345678"),
            format!("sms-{job}-+4915187654321")
        ]
    );
    assert!(
        items
            .iter()
            .all(|i| i.channel == Channel::Sms && i.state == OutboxState::Pending)
    );
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("datev-poller: tick") && l.contains("submitted 1")),
        "{}",
        app.logs().join("\n")
    );
    assert_no_plaintext_tokens(&app, &sim);
}

#[test]
fn a_failed_job_also_calls_the_controller() {
    let (app, _, id, job) = run(true);
    let b = json_body(&admin(
        &app,
        Method::Get,
        &format!("/batches/{id}"),
        "text/plain",
        b"",
    ));
    assert_eq!(
        (b["state"].as_str(), b["result"]["code"].as_str()),
        (Some("failed"), Some("1008837"))
    );
    let keys: Vec<String> = outbox(&app)
        .iter()
        .map(|i| i.dedup_key.to_string())
        .collect();
    assert_eq!(
        keys,
        vec![
            format!("call-{job}"),
            format!("sms-{job}-+4915112345678"),
            format!("sms-{job}-+4915187654321")
        ]
    );
    let store = app.kv("default");
    let record: serde_json::Value =
        serde_json::from_slice(&store.get(&format!("job:{job}")).unwrap().unwrap()).unwrap();
    assert_eq!(
        (record["state"].as_str(), record["notified"].as_bool()),
        (Some("finished"), Some(true))
    );
}

#[test]
fn without_configuration_the_tick_fails_loudly() {
    let (mut app, _) = app(|_| {});
    app.set_variable("datev_token_keys", "not-a-key");
    let result = app.cron("datev-poller", now_s()).unwrap();
    let msg = result.unwrap_err();
    assert!(
        msg.starts_with("configuration: variable datev_token_keys:"),
        "{msg}"
    );
    assert!(!msg.contains("not-a-key"), "{msg}");
}
