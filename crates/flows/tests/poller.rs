//! The datev-poller tick against the simulator: submission, polling with backoff, results into
//! the outbox; token expiry while polling, one refresher, re-consent; DATEV 429/5xx/timeouts;
//! failed, stuck and DXSO jobs; crash at every store write.

mod common;

use common::*;
use connector::audit::{self, AuditEntry};
use connector::job::{self, JobState, Outcome};
use connector::outbox::{AlertResult, Channel, OutboxState};
use connector::time::Day;
use connector::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use datev::backoff::PollPolicy;
use flows::poller::Poller;
use serde_json::json;
use sim::Api as SimApi;

fn audit_log(w: &World) -> Vec<AuditEntry> {
    let day = Day::from_unix_ms(w.now());
    audit::page(&w.store, day, 0, 10_000)
        .unwrap()
        .entries
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn actions(w: &World, prefix: &str) -> Vec<String> {
    audit_log(w)
        .into_iter()
        .filter(|e| e.action.starts_with(prefix))
        .map(|e| e.action)
        .collect()
}

fn job_id(w: &World, batch: u64) -> String {
    w.batch(batch)["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("batch {batch} has no job: {}", w.batch(batch)))
        .to_owned()
}

fn job_sms_keys(job: &str) -> Vec<String> {
    let mut keys = vec![format!("sms-{job}-{ANNA}"), format!("sms-{job}-{BEN}")];
    keys.sort();
    keys
}

fn with_call(job: &str) -> Vec<String> {
    let mut keys = job_sms_keys(job);
    keys.push(format!("call-{job}"));
    keys.sort();
    keys
}

fn problem(status: u16, code: u32, title: &str) -> HttpResponse {
    let body = json!({"type": format!("http://www.datev.de/hilfe/{code}"), "title": title, "detail": "Fields with error", "status": status,
        "affected_elements": [{"name": "Consultant", "reason": "is invalid (11)"}]});
    HttpResponse::new(status, body.to_string().into_bytes())
        .header("Content-Type", "application/json;charset=utf-8")
}

#[test]
fn an_extf_batch_goes_to_datev_and_its_success_to_the_finance_contacts() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("RE 02/2024", 2));
    w.clock.advance_ms(5_000);
    let first = w.tick().unwrap();
    assert_eq!((first.lease, first.submitted, first.polls), (true, 1, 0));
    assert_eq!(w.batch(id)["state"], "submitted");
    // A second instance in the same window does nothing.
    assert!(!w.tick().unwrap().lease);
    let rest = w.ticks(3);
    assert_eq!((rest.polls, rest.finished, rest.alerts), (1, 1, 2));
    let b = w.batch(id);
    assert_eq!(b["state"], "succeeded");
    let states: Vec<&str> = b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        vec![
            "received",
            "approved",
            "submitting",
            "submitted",
            "succeeded"
        ]
    );
    let job = job_id(&w, id);
    assert_eq!(w.outbox_keys(), job_sms_keys(&job));
    let items = w.outbox();
    let ben = items.iter().find(|i| i.to.as_str() == BEN).unwrap();
    assert_eq!(
        (ben.channel, ben.language, ben.state),
        (
            Channel::Sms,
            connector::client_config::Language::En,
            OutboxState::Pending
        )
    );
    assert_eq!(ben.text.result, AlertResult::Succeeded);
    assert_eq!(
        (
            ben.text.reference.as_deref(),
            ben.text.client_name.as_str(),
            ben.text.reason.as_deref()
        ),
        (Some("RE 02/2024"), "Musterholz GmbH", None)
    );
    let record = job::load(&w.store, &job).unwrap().unwrap();
    assert_eq!(
        (record.state, record.status_calls, record.notified),
        (JobState::Finished, 1, true)
    );
    // The upload: the stored file, its name and our Reference-Id.
    let upload = w
        .records(SimApi::DatevExtf)
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let header = |n: &str| {
        upload
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("Reference-Id").as_deref(), Some("mlc-batch-1"));
    assert_eq!(
        header("Filename").as_deref(),
        Some("EXTF_BS_29098_55003_20240201_20240229_1.csv")
    );
    assert_eq!(upload.body_len, w.raw("batch-file:1:0").len());
    assert_eq!(w.imports(), 1);
    assert_eq!(w.assert_api_requests_authenticated(), 2);
    w.assert_no_plaintext_tokens();
    assert_eq!(
        actions(&w, "datev-poller."),
        vec![
            "datev-poller.submit",
            "datev-poller.result",
            "datev-poller.alert"
        ]
    );
    // Nothing more happens.
    let idle = w.ticks(10);
    assert_eq!((idle.polls, idle.submitted, idle.alerts), (0, 0, 0));
}

#[test]
fn a_failed_job_keeps_datevs_details_and_calls_the_controller() {
    let w = World::with(|c| c.faults.datev.job_failure_permille = 1000).ready();
    let id = w.create_batch(&bookings_batch("RE 02/2024", 1));
    w.ticks(4);
    let b = w.batch(id);
    assert_eq!(b["state"], "failed");
    assert_eq!(b["result"]["code"], "1008837");
    let job = job_id(&w, id);
    assert_eq!(w.outbox_keys(), with_call(&job));
    let call = w
        .outbox()
        .into_iter()
        .find(|i| i.channel == Channel::Call)
        .unwrap();
    assert_eq!(call.to.as_str(), CARL);
    assert_eq!(call.text.result, AlertResult::Failed);
    assert!(
        call.text
            .reason
            .as_deref()
            .unwrap()
            .starts_with("Try again"),
        "{:?}",
        call.text.reason
    );
    let record = job::load(&w.store, &job).unwrap().unwrap();
    let result = record.result.unwrap();
    assert_eq!(
        (result.outcome, result.code.as_deref()),
        (Outcome::Failed, Some("1008837"))
    );
}

#[test]
fn a_job_without_result_is_stuck_after_the_deadline() {
    let mut w = World::with(|c| {
        c.faults.datev.slow_job_permille = 1000;
        c.faults.datev.slow_job_extra_ms = 36_000_000;
    })
    .ready();
    w.poller.poll = PollPolicy::new(2_000, 60_000, 1_000, 600_000).unwrap();
    let id = w.create_batch(&bookings_batch("slow", 1));
    let total = w.ticks(130);
    assert_eq!(w.batch(id)["state"], "stuck");
    let job = job_id(&w, id);
    assert_eq!(w.outbox_keys(), with_call(&job));
    let record = job::load(&w.store, &job).unwrap().unwrap();
    assert_eq!(record.state, JobState::Stuck);
    assert_eq!(record.result.unwrap().reason, "no result after 10 minutes");
    // Backoff with full jitter and a 1-minute cap: 24 calls in 10 minutes, not one per tick (120).
    assert_eq!((record.status_calls, total.polls), (24, 24));
    assert_eq!(
        w.outbox()
            .iter()
            .find(|i| i.channel == Channel::Call)
            .unwrap()
            .text
            .result,
        AlertResult::Stuck
    );
}

#[test]
fn a_dxso_job_is_created_filled_started_and_polled() {
    let w = World::new().ready();
    let id = w.create_batch(&dxso_batch("Rechnung AR-2024-0001"));
    let first = w.ticks(1);
    assert_eq!(
        (first.submitted, w.batch(id)["state"].as_str()),
        (1, Some("submitted"))
    );
    w.ticks(4);
    let b = w.batch(id);
    assert_eq!(b["state"], "succeeded", "{b}");
    assert_eq!(b["job"]["kind"], "dxso");
    let calls: Vec<(String, String)> = w
        .records(SimApi::DatevDxso)
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    let job = job_id(&w, id);
    let base = format!("/platform-sandbox/v2/clients/{CLIENT}/dxso-jobs");
    assert_eq!(
        &calls[..5],
        &[
            ("POST".to_owned(), base.clone()),
            ("POST".to_owned(), format!("{base}/{job}/files")),
            ("POST".to_owned(), format!("{base}/{job}/files")),
            ("POST".to_owned(), format!("{base}/{job}/files")),
            ("PUT".to_owned(), format!("{base}/{job}")),
        ]
    );
    assert!(
        calls[5..]
            .iter()
            .all(|(m, p)| m == "GET" && *p == format!("{base}/{job}")),
        "{calls:?}"
    );
    let st = w.sim.snapshot().unwrap();
    let dxso = &st.datev.dxso_jobs[0];
    assert_eq!(
        dxso.import_type.as_deref(),
        Some("accountsReceivableLedgerImport")
    );
    assert_eq!(dxso.accounting_month.as_deref(), Some("2024-02"));
    assert_eq!(dxso.files.len(), 3);
    assert_eq!(w.outbox_keys(), job_sms_keys(&job));
    w.assert_api_requests_authenticated();
}

#[test]
fn a_partly_processed_dxso_job_calls_the_controller_with_the_protocol() {
    let w = World::with(|c| c.faults.datev.dxso_partial_permille = 1000).ready();
    let id = w.create_batch(&dxso_batch("Rechnung AR-2024-0001"));
    w.ticks(8);
    let b = w.batch(id);
    assert_eq!(b["state"], "succeeded");
    assert_eq!(b["result"]["code"], "DXSO status 4");
    let job = job_id(&w, id);
    assert_eq!(w.outbox_keys(), with_call(&job));
    assert_eq!(w.outbox()[0].text.result, AlertResult::PartiallySucceeded);
    let record = job::load(&w.store, &job).unwrap().unwrap();
    assert!(!record.result.unwrap().details.is_empty());
}

#[test]
fn the_token_expires_in_the_middle_of_polling() {
    let w = World::with(|c| {
        c.faults.datev.slow_job_permille = 1000;
        c.faults.datev.slow_job_extra_ms = 40 * 60_000;
    })
    .ready();
    let id = w.create_batch(&bookings_batch("long", 1));
    let total = w.ticks(12 * 60);
    assert_eq!(w.batch(id)["state"], "succeeded");
    // 60 minutes with 15-minute tokens: refreshed before each expiry, never too late.
    assert_eq!(total.refreshed, 4);
    assert_eq!(w.tap.count(Method::Post, "/token"), 5);
    let unauthorized = w
        .records(SimApi::DatevExtf)
        .into_iter()
        .filter(|r| r.status == Some(401) || r.principal.starts_with("expired"))
        .count();
    assert_eq!(unauthorized, 0);
    w.assert_api_requests_authenticated();
    w.assert_no_plaintext_tokens();
    assert_eq!(actions(&w, "datev-poller.token-refresh").len(), 4);
}

/// Runs `during` when the first request whose URL contains `needle` is in flight, then sends
/// it.
struct Interleave<'a> {
    inner: &'a dyn HttpClient,
    needle: &'static str,
    during: Box<dyn Fn() + 'a>,
    fired: std::cell::Cell<bool>,
}

impl HttpClient for Interleave<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if req.url.contains(self.needle) && !self.fired.replace(true) {
            (self.during)();
        }
        self.inner.send(req)
    }
}

#[test]
fn an_overlapping_tick_never_uploads_the_same_batch_twice() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("overlap", 1));
    w.clock.advance_ms(5_000);
    let b_report = std::cell::RefCell::new(None);
    let slow = Interleave {
        inner: &w.tap,
        needle: "/extf-files/import",
        during: Box::new(|| {
            // The next tick starts while this one's upload is still in flight.
            *b_report.borrow_mut() = Some(w.poller().tick(w.now() / 1000 + 5).unwrap());
        }),
        fired: std::cell::Cell::new(false),
    };
    let ports = datev::Ports {
        store: &w.store,
        http: &slow,
        clock: &*w.clock,
        rng: &w.rng,
    };
    let a = Poller::new(&w.poller, &w.setup, ports)
        .tick(w.now() / 1000)
        .unwrap();
    drop(slow);
    let b = b_report.into_inner().unwrap();
    assert_eq!(
        (a.lease, a.submitted, b.lease, b.submitted),
        (true, 1, true, 0)
    );
    w.ticks(3);
    assert_eq!(w.batch(id)["state"], "succeeded");
    assert_eq!(w.imports(), 1);
    assert_eq!(w.outbox().len(), 2);
}

#[test]
fn two_concurrent_pollers_refresh_once() {
    let w = World::new().ready();
    w.clock.advance_ms(800_000);
    let b_report = std::cell::RefCell::new(None);
    let slow = Interleave {
        inner: &w.tap,
        needle: "/token",
        during: Box::new(|| {
            // Another instance ticks (the next window) while the first refresh is in flight.
            *b_report.borrow_mut() = Some(w.poller().tick(w.now() / 1000 + 5).unwrap());
        }),
        fired: std::cell::Cell::new(false),
    };
    let ports = datev::Ports {
        store: &w.store,
        http: &slow,
        clock: &*w.clock,
        rng: &w.rng,
    };
    let a = Poller::new(&w.poller, &w.setup, ports)
        .tick(w.now() / 1000)
        .unwrap();
    drop(slow);
    let b = b_report.into_inner().unwrap();
    assert_eq!((a.lease, a.refreshed), (true, 1));
    assert_eq!((b.lease, b.refreshed), (true, 0));
    assert_eq!(w.tap.requests().iter().filter(|r| r.url.ends_with("/token") && r.body.starts_with(b"grant_type=refresh_token")).count(), 1);
    // The rotated token works for both.
    let id = w.create_batch(&bookings_batch("after", 1));
    w.ticks(4);
    assert_eq!(w.batch(id)["state"], "succeeded");
}

#[test]
fn invalid_grant_means_reconsent_and_exactly_one_alert() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("waits", 1));
    assert_eq!(w.sim.revoke_datev_grants().unwrap(), 1);
    w.clock.advance_ms(790_000);
    let total = w.ticks(40);
    assert_eq!(total.submitted, 0);
    assert_eq!(w.imports(), 0);
    let b = w.batch(id);
    assert_eq!(b["state"], "approved");
    assert_eq!(
        b["submission"]["last_error"],
        "the DATEV connection needs re-consent"
    );
    let keys = w.outbox_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("sms-reconsent-29098-55003-") && keys[0].ends_with(CARL),
        "{keys:?}"
    );
    let alert = &w.outbox()[0];
    assert_eq!(
        (alert.to.as_str(), alert.text.result),
        (CARL, AlertResult::NeedsReconsent)
    );
    assert_eq!(actions(&w, "datev-poller.reconsent").len(), 1);
    // Indexed once for the sender, not again on every tick.
    let plan = connector::schedule::scan(
        &w.store,
        &w.poller.schedule,
        "outbox",
        w.now(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(plan.due.len(), 1);
    assert_eq!(
        w.tap
            .requests()
            .iter()
            .filter(|r| r.body.starts_with(b"grant_type=refresh_token"))
            .count(),
        1
    );
    // A person connects again: the waiting batch goes out.
    let (answer, _) = w.connect();
    assert_eq!(
        answer.header_value("Location"),
        Some(format!("/datev/result?outcome=connected&client={CLIENT}").as_str())
    );
    w.ticks(70);
    assert_eq!(w.batch(id)["state"], "succeeded");
    assert_eq!(w.outbox().len(), 3);
}

#[test]
fn polling_honours_retry_after_and_survives_5xx_and_timeouts() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("faults", 1));
    let rate_limited = HttpResponse::new(
        429,
        br#"{"httpCode":"429","httpMessage":"Too Many Requests"}"#.to_vec(),
    )
    .header("Retry-After", "30");
    w.tap.fail("GET http://127.0.0.1:3000/sandbox/datev/extf-files/platform-sandbox/v3/clients/29098-55003/extf-files/jobs/", 0, false, Ok(rate_limited));
    w.tap.fail(
        "extf-files/jobs/",
        1,
        false,
        Ok(HttpResponse::new(503, b"busy".to_vec())),
    );
    w.tap
        .fail("extf-files/jobs/", 2, true, Err(HttpError::Timeout));
    w.tap.fail(
        "extf-files/jobs/",
        3,
        false,
        Ok(HttpResponse::new(500, b"oops".to_vec())),
    );
    let clock = &w.clock;
    let mut times = Vec::new();
    for _ in 0..60 {
        clock.advance_ms(5_000);
        let before = w.tap.requests().len();
        w.tick().unwrap();
        if w.tap.requests()[before..]
            .iter()
            .any(|r| r.url.contains("/extf-files/jobs/"))
        {
            times.push(w.now());
        }
        if w.batch(id)["state"] == "succeeded" {
            break;
        }
    }
    assert_eq!(w.batch(id)["state"], "succeeded");
    assert_eq!(times.len(), 5, "{times:?}");
    assert!(
        times[1] - times[0] >= 30_000,
        "Retry-After ignored: {times:?}"
    );
    let job = job::load(&w.store, &job_id(&w, id)).unwrap().unwrap();
    assert_eq!((job.status_calls, job.errors_in_row), (5, 0));
    let failures: Vec<String> = audit_log(&w)
        .into_iter()
        .filter(|e| e.action == "datev-poller.poll")
        .map(|e| match e.outcome {
            audit::Outcome::Failed { reason, .. } => reason.split(':').next().unwrap().to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(failures, vec!["getJob", "getJob", "getJob", "getJob"]);
}

#[test]
fn an_ambiguous_upload_is_found_again_not_sent_twice() {
    for answer in [
        Err(HttpError::Timeout),
        Ok(HttpResponse::new(500, b"internal".to_vec())),
    ] {
        let w = World::new().ready();
        let id = w.create_batch(&bookings_batch("ambiguous", 1));
        w.tap.fail("/extf-files/import", 0, true, answer.clone());
        w.ticks(1);
        let b = w.batch(id);
        assert_eq!(
            (b["state"].as_str(), b["submission"]["ambiguous"].as_bool()),
            (Some("submitting"), Some(true))
        );
        w.ticks(10);
        assert_eq!(w.batch(id)["state"], "succeeded");
        assert_eq!(w.imports(), 1, "{answer:?}");
        assert_eq!(
            w.tap.count(Method::Get, "/extf-files/jobs?skip=0&top=100"),
            1
        );
        assert_eq!(actions(&w, "datev-poller.reconcile").len(), 1);
        assert_eq!(w.outbox().len(), 2);
    }
}

#[test]
fn a_retryable_upload_error_is_retried_with_backoff() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("retry", 1));
    let busy = HttpResponse::new(503, b"unavailable".to_vec()).header("Retry-After", "20");
    w.tap.fail("/extf-files/import", 0, false, Ok(busy));
    w.tap.fail(
        "/extf-files/import",
        1,
        false,
        Err(HttpError::Connect("refused".into())),
    );
    let total = w.ticks(20);
    assert_eq!(total.submit_retries, 2);
    assert_eq!(w.batch(id)["state"], "succeeded");
    assert_eq!(w.imports(), 1);
    assert_eq!(w.tap.count(Method::Post, "/extf-files/import"), 3);
    let b = w.batch(id);
    assert_eq!(b["submission"]["attempt"], 3);
    let states: Vec<&str> = b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        vec![
            "received",
            "approved",
            "submitting",
            "approved",
            "submitting",
            "approved",
            "submitting",
            "submitted",
            "succeeded"
        ]
    );
}

#[test]
fn a_refused_upload_fails_the_batch_and_alerts_by_batch() {
    let w = World::new().ready();
    let id = w.create_batch(&bookings_batch("refused", 1));
    w.tap.fail(
        "/extf-files/import",
        0,
        false,
        Ok(problem(400, 1008834, "Invalid EXTF-header")),
    );
    let total = w.ticks(6);
    assert_eq!(total.refused, 1);
    let b = w.batch(id);
    assert_eq!(
        (b["state"].as_str(), b["result"]["code"].as_str()),
        (Some("failed"), Some("1008834"))
    );
    assert_eq!(
        b["result"]["details"],
        json!(["Consultant: is invalid (11)"])
    );
    let mut expected = vec![
        format!("sms-batch1-{ANNA}"),
        format!("sms-batch1-{BEN}"),
        "call-batch1".to_owned(),
    ];
    expected.sort();
    assert_eq!(w.outbox_keys(), expected);
    assert_eq!(w.imports(), 0);
}

/// Runs a whole batch with the store failing after `fail_after` writes (if given), then healed;
/// returns the world after it settled.
fn crash_run(fail_after: Option<u64>, dxso: bool) -> World {
    let w = World::with(|c| {
        if dxso {
            c.faults.datev.dxso_critical_permille = 1000;
        } else {
            c.faults.datev.job_failure_permille = 1000;
        }
    })
    .ready();
    let id = if dxso {
        w.create_batch(&dxso_batch("crash"))
    } else {
        w.create_batch(&bookings_batch("crash", 1))
    };
    assert_eq!(id, 1);
    if let Some(n) = fail_after {
        w.store.fail_after(n);
        for _ in 0..40 {
            w.clock.advance_ms(5_000);
            if w.tick().is_err() {
                break;
            }
        }
        w.store.heal();
    }
    w.ticks(80);
    w
}

fn assert_exactly_once(w: &World, dxso: bool, label: &str) {
    let b = w.batch(1);
    assert_eq!(b["state"], "failed", "{label}: {b}");
    let job = job_id(w, 1);
    assert_eq!(w.outbox_keys(), with_call(&job), "{label}");
    for item in w.outbox() {
        assert_eq!(
            (item.state, item.attempts),
            (OutboxState::Pending, 0),
            "{label}"
        );
    }
    assert!(
        job::load(&w.store, &job).unwrap().unwrap().notified,
        "{label}"
    );
    if dxso {
        let st = w.sim.snapshot().unwrap();
        let started: Vec<&sim::DxsoJob> = st
            .datev
            .dxso_jobs
            .iter()
            .filter(|j| j.ready_ms.is_some())
            .collect();
        assert_eq!(started.len(), 1, "{label}: jobs started");
        assert_eq!(started[0].id, job, "{label}");
        assert_eq!(
            w.tap.count(Method::Put, "/dxso-jobs/"),
            1,
            "{label}: PUT ready"
        );
    } else {
        assert_eq!(w.imports(), 1, "{label}: uploads");
        assert_eq!(
            w.sim.snapshot().unwrap().datev.extf_jobs.len(),
            1,
            "{label}"
        );
    }
}

fn crash_everywhere(dxso: bool) {
    let clean = crash_run(None, dxso);
    assert_exactly_once(&clean, dxso, "clean");
    // Writes of the clean run after the batch existed: connect + config + intake came before.
    let setup = {
        let w = World::with(|_| {}).ready();
        if dxso {
            w.create_batch(&dxso_batch("crash"))
        } else {
            w.create_batch(&bookings_batch("crash", 1))
        };
        w.store.writes()
    };
    let total = clean.store.writes() - setup;
    assert!(total > 30, "{total}");
    // Runs in which a crash hit the window between DATEV's answer and recording it, so the
    // next tick had to reconcile (EXTF) or start over (DXSO).
    let mut recovered = 0;
    for n in 0..total {
        let w = crash_run(Some(n), dxso);
        assert_exactly_once(&w, dxso, &format!("failing after {n} of {total} writes"));
        let attempts = w.batch(1)["submission"]["attempt"].as_u64().unwrap();
        if !actions(&w, "datev-poller.reconcile").is_empty() || attempts > 1 {
            recovered += 1;
        }
    }
    println!("crash points: {total}, of which {recovered} needed reconciliation or a new attempt");
    assert!(recovered >= 1, "no crash hit the upload window");
}

#[test]
fn crash_at_every_write_extf() {
    crash_everywhere(false);
}

#[test]
fn crash_at_every_write_dxso() {
    crash_everywhere(true);
}

#[test]
fn status_calls_per_job_grow_with_the_log_of_the_duration() {
    let mut figures = Vec::new();
    for (label, ms) in [
        ("10 s", 10_000u64),
        ("2 min", 120_000),
        ("30 min", 1_800_000),
    ] {
        let w = World::with(|c| c.datev.extf_processing_ms = ms).ready();
        let id = w.create_batch(&bookings_batch("duration", 1));
        let mut ticks = 0;
        while w.batch(id)["state"] != "succeeded" {
            w.ticks(1);
            ticks += 1;
            assert!(ticks < 2_000);
        }
        let calls = job::load(&w.store, &job_id(&w, id))
            .unwrap()
            .unwrap()
            .status_calls;
        println!("DATEV status calls for a job of {label}: {calls} (poller ticks: {ticks})");
        figures.push(calls);
    }
    assert_eq!(figures, vec![2, 7, 13]);
}

#[test]
fn store_failures_abort_the_tick_and_nothing_is_claimed_as_done() {
    let w = World::new().ready();
    w.create_batch(&bookings_batch("x", 1));
    w.store.fail_after(0);
    w.clock.advance_ms(5_000);
    assert!(matches!(w.tick(), Err(flows::TickError::Store(_))));
    w.store.heal();
    assert_eq!(w.imports(), 0);
    w.ticks(4);
    assert_eq!(w.batch(1)["state"], "succeeded");
}

#[test]
fn the_poller_keeps_a_minute_of_lease_keys_however_long_it_runs() {
    let w = World::new().ready();
    // An hour of 5-second ticks.
    w.ticks(720);
    let leases: Vec<String> = w
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("lease:datev-poller:"))
        .collect();
    // Twelve windows (60 s) are kept; everything older was deleted by a later holder.
    assert_eq!(leases.len(), 12, "{leases:?}");
}
