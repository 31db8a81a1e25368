//! The built `twilio-sender` cron component in the embedded Spin host, Twilio simulated
//! in-process (wall clock): it empties an outbox of 50 alerts, every alert reaches its phone
//! once, and the status callbacks the simulator sends (queued the way the webhook queues them)
//! move every item to `delivered` on the next tick.
//!
//! Build first: `cargo build --release --target wasm32-wasip2 -p twilio-sender`.

use connector::batch::BatchId;
use connector::client_config::{ClientId, Language, PhoneNumber};
use connector::inbound::{self, DedupKey as EventKey};
use connector::outbox::{self, AlertResult, AlertText, Channel, DedupKey, OutboxItem, OutboxState};
use connector::schedule::ScheduleConfig;
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse};
use integration_tests::{HostStore, SpinApp};
use sim::{InMemory, PhoneKind, Sim, SimConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The wall clock, as the guest sees it.
struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// Where the simulator posts status callbacks: parsed and queued exactly as the webhook
/// component does after its signature check (`connector::webhook::status_event`, then
/// `connector::inbound::enqueue` under the `I-Twilio-Idempotency-Token`).
struct Webhook(Arc<HostStore>, AtomicU64);

impl HttpClient for Webhook {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let params = connector::form::parse_form(&req.body)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let event = connector::webhook::status_event(&params)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let token = req
            .header_value("I-Twilio-Idempotency-Token")
            .unwrap_or("none");
        let key = EventKey::token(token).map_err(|e| HttpError::Transport(e.to_string()))?;
        let before = self.0.writes();
        inbound::enqueue(&*self.0, &key, event, SystemClock.now_ms())
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        // The sender is blocked in its request while this runs: these writes are the webhook's.
        self.1.fetch_add(self.0.writes() - before, Ordering::SeqCst);
        Ok(HttpResponse::new(200, Vec::new()))
    }
}

type WallSim = Sim<InMemory, SystemClock, Webhook>;

/// The simulator as the app's outbound HTTP (it routes `/sandbox/twilio/api/...`, the
/// component's default `twilio_api_base_url`).
struct Outbound(WallSim);

impl HttpClient for Outbound {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.send(req)
    }
}

fn phone(n: &str) -> PhoneNumber {
    PhoneNumber::parse(n, "test").unwrap()
}

fn alert(i: usize, now: u64) -> OutboxItem {
    let to = phone(&format!("+49151{:08}", 20_000_000 + i));
    let job = format!("job-{i}");
    OutboxItem::new(
        DedupKey::job_sms(&job, &to),
        Channel::Sms,
        to,
        if i.is_multiple_of(2) {
            Language::De
        } else {
            Language::En
        },
        AlertText {
            client: ClientId::parse("29098-55003").unwrap(),
            client_name: "Musterholz GmbH".into(),
            batch: BatchId::new(4000 + i as u64),
            reference: Some(format!("RE {i:02}/2026")),
            datev_job: Some(job),
            result: if i.is_multiple_of(3) {
                AlertResult::Failed
            } else {
                AlertResult::Succeeded
            },
            reason: i
                .is_multiple_of(3)
                .then(|| "1008834 Invalid EXTF-header".to_owned()),
        },
        now,
    )
}

fn tick(app: &SpinApp, timestamp: u64) {
    let result = app
        .cron("twilio-sender", timestamp)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", app.logs().join("\n")));
    assert_eq!(result, Ok(()), "{}", app.logs().join("\n"));
}

#[test]
fn the_sender_wasm_empties_an_outbox_of_50_alerts_against_the_simulator() {
    let mut app = SpinApp::workspace().unwrap_or_else(|e| panic!("loading spin.toml: {e:#}"));
    let store = app.kv("default");
    let mut cfg = SimConfig {
        seed: 5,
        ..SimConfig::default()
    };
    // The simulator's own phones answer at once (the wall clock runs in this test).
    cfg.twilio.sms_sending_ms = 0;
    cfg.twilio.sms_sent_ms = 0;
    cfg.twilio.sms_delivered_ms = 0;
    let sim = Arc::new(Outbound(Sim::new(
        cfg,
        InMemory::new(),
        SystemClock,
        Webhook(Arc::clone(&store), AtomicU64::new(0)),
    )));
    app.set_outbound(sim.clone());
    app.set_variable("public_base_url", "https://hooks.example.com");
    app.set_variable("twilio_api_key_secret", "sim-api-key-secret");
    app.set_variable("sender_max_per_tick", "50");
    app.set_variable("sender_request_slot_ms", "0");
    app.prepare("twilio-sender")
        .expect("the cron component loads");

    let now = SystemClock.now_ms();
    let items: Vec<OutboxItem> = (0..50).map(|i| alert(i, now)).collect();
    for item in &items {
        outbox::enqueue(&*store, &ScheduleConfig::default(), item, now).unwrap();
    }
    let writes_before = store.writes();
    let hook_writes = || sim.0.outbound().1.load(Ordering::SeqCst);
    let t0 = now / 1000;
    let started = Instant::now();
    tick(&app, t0);
    let first_tick = started.elapsed();
    let writes = store.writes() - writes_before - hook_writes();
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("twilio-sender: tick") && l.contains("sms 50")),
        "{}",
        app.logs().join("\n")
    );
    for item in &items {
        let now = outbox::load(&*store, &item.dedup_key).unwrap().unwrap();
        assert_eq!(now.state, OutboxState::Sent, "{}", item.dedup_key);
        assert!(
            now.twilio_sid
                .as_deref()
                .is_some_and(|s| s.starts_with("SM"))
        );
    }
    // The same window again (a second instance): nothing happens.
    tick(&app, t0);
    let records = sim.0.records().unwrap();
    assert_eq!(records.len(), 50, "one create per alert");
    assert!(
        records
            .iter()
            .all(|r| r.status == Some(201) && r.principal.starts_with("key:SK"))
    );

    // The phones got every alert once; the callbacks are queued; the next tick applies them.
    sim.0.tick().unwrap();
    let mut to: Vec<String> = sim
        .0
        .phone_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == PhoneKind::Sms)
        .map(|e| e.to)
        .collect();
    to.sort();
    let mut want: Vec<String> = items.iter().map(|i| i.to.to_string()).collect();
    want.sort();
    assert_eq!(to, want);
    let (writes_before, hooked) = (store.writes(), hook_writes());
    let started = Instant::now();
    tick(&app, t0 + 10);
    let second_tick = started.elapsed();
    let status_writes = store.writes() - writes_before - (hook_writes() - hooked);
    for item in &items {
        let now = outbox::load(&*store, &item.dedup_key).unwrap().unwrap();
        assert_eq!(now.state, OutboxState::Delivered, "{}", item.dedup_key);
    }
    // Nothing left to do, no secret stored.
    tick(&app, t0 + 20);
    assert_eq!(sim.0.records().unwrap().len(), 50);
    assert!(
        store
            .dump()
            .values()
            .all(|v| !v.windows(18).any(|w| w == b"sim-api-key-secret"))
    );
    println!(
        "twilio-sender.wasm: 50 SMS in one tick in {:?} ({:.1} ms per send, {writes} store \
         writes by the sender, {:.1} per alert); the status tick in {second_tick:?} \
         ({status_writes} writes)",
        first_tick,
        first_tick.as_secs_f64() * 1000.0 / 50.0,
        writes as f64 / 50.0,
    );
}
