//! Figures of the sender tick, natively against the Twilio simulator (in-memory store, simulated
//! time): sends per tick, wall time per tick and per send, store writes and Twilio requests per
//! alert, and how long a 429 storm delays a batch of alerts in simulated time.
//!
//! `cargo bench -p sender --bench tick` prints the table; nothing is asserted (a loaded machine
//! changes the wall times, not the counts).

use connector::batch::BatchId;
use connector::client_config::{ClientId, Language, PhoneNumber};
use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::outbox::{self, AlertResult, AlertText, Channel, DedupKey, OutboxItem, OutboxState};
use connector::schedule::ScheduleConfig;
use connector::{Clock, Secret};
use sender::{Ports, Sender, SenderConfig, Sleep};
use sim::{InMemory, Shared, Sim, SimConfig, TransportFaults, Unreachable, Window};
use std::sync::Arc;
use std::time::Instant;
use twilio::{CallbackUrl, TwilioSettings};

const T0: u64 = 1_795_608_000_000;

struct SimSleep(Arc<ManualClock>);

impl Sleep for SimSleep {
    fn sleep_ms(&self, ms: u64) {
        self.0.advance_ms(ms);
    }
}

struct Figures {
    ticks: u64,
    sent: u64,
    tick_wall_ms: Vec<f64>,
    writes: u64,
    requests: u64,
    drained_after_ms: u64,
    rate_limited: u64,
}

fn drain(alerts: usize, max_per_tick: usize, storm_ms: u64) -> Figures {
    let clock = Arc::new(ManualClock::at(T0));
    let store = MemoryStore::new();
    let mut cfg = SimConfig::default();
    cfg.twilio.max_concurrency = Some(1);
    if storm_ms > 0 {
        cfg.faults.twilio.transport = TransportFaults {
            rate_limit_storm: Some(Window {
                from_ms: T0,
                until_ms: T0 + storm_ms,
            }),
            ..TransportFaults::default()
        };
    }
    let sim = Sim::new(
        cfg,
        InMemory::new(),
        Shared(Arc::clone(&clock)),
        Unreachable,
    );
    let twilio = sender::config::twilio_config(&TwilioSettings {
        account_sid: "AC00000000000000000000000000000000".into(),
        api_key_sid: "SK00000000000000000000000000000000".into(),
        api_key_secret: Secret::new("sim-api-key-secret"),
        from_number: Some("+15005550006".into()),
        ..TwilioSettings::default()
    })
    .expect("twilio config");
    let config = SenderConfig {
        max_per_tick,
        request_slot_ms: 250,
        status_callback: Some(
            CallbackUrl::parse("https://hooks.example.com/twilio/status", "cb").expect("url"),
        ),
        ..SenderConfig::default()
    };
    let mut keys = Vec::new();
    for i in 0..alerts {
        let to = PhoneNumber::parse(&format!("+49151{:08}", 30_000_000 + i), "to").expect("to");
        let job = format!("job-{i}");
        let item = OutboxItem::new(
            DedupKey::job_sms(&job, &to),
            Channel::Sms,
            to,
            Language::De,
            AlertText {
                client: ClientId::parse("29098-55003").expect("client"),
                client_name: "Musterholz GmbH".into(),
                batch: BatchId::new(1 + i as u64),
                reference: Some("RE 02/2024".into()),
                datev_job: Some(job),
                result: AlertResult::Failed,
                reason: Some("1008834 Invalid EXTF-header".into()),
            },
            T0,
        );
        outbox::enqueue(&store, &ScheduleConfig::default(), &item, T0).expect("enqueue");
        keys.push(item.dedup_key);
    }
    let writes_before = store.writes();
    let rng = SeededRng::new(9);
    let sleep = SimSleep(Arc::clone(&clock));
    let mut f = Figures {
        ticks: 0,
        sent: 0,
        tick_wall_ms: Vec::new(),
        writes: 0,
        requests: 0,
        drained_after_ms: 0,
        rate_limited: 0,
    };
    while f.ticks < 10_000 {
        let next = (clock.now_ms() / 10_000 + 1) * 10_000;
        clock.set_ms(next);
        let ports = Ports {
            store: &store,
            http: &sim,
            clock: &*clock,
            rng: &rng,
            sleep: &sleep,
        };
        let started = Instant::now();
        let report = Sender::new(ports, twilio.clone(), config.clone())
            .tick(clock.now_secs())
            .expect("tick");
        f.tick_wall_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        f.ticks += 1;
        f.sent += report.sms_sent;
        f.rate_limited += report.rate_limited;
        let done = keys.iter().all(|k| {
            outbox::load(&store, k)
                .ok()
                .flatten()
                .is_some_and(|i| i.state != OutboxState::Pending && i.state != OutboxState::Sending)
        });
        if done {
            break;
        }
    }
    f.drained_after_ms = clock.now_ms() - T0;
    f.writes = store.writes() - writes_before;
    f.requests = sim.records().expect("records").len() as u64;
    f
}

fn main() {
    println!(
        "{:>7} {:>9} {:>8} {:>6} {:>12} {:>12} {:>14} {:>14} {:>6} {:>12}",
        "alerts",
        "per tick",
        "storm s",
        "ticks",
        "sent/tick",
        "ms/tick",
        "writes/alert",
        "requests/alert",
        "429s",
        "drained s"
    );
    for (alerts, per_tick, storm) in [
        (20, 20, 0),
        (50, 50, 0),
        (200, 50, 0),
        (50, 50, 30_000),
        (200, 20, 60_000),
    ] {
        let f = drain(alerts, per_tick, storm);
        let mean = f.tick_wall_ms.iter().sum::<f64>() / f.tick_wall_ms.len().max(1) as f64;
        println!(
            "{alerts:>7} {per_tick:>9} {:>8} {:>6} {:>12.1} {:>12.2} {:>14.1} {:>14.2} {:>6} {:>12.1}",
            storm / 1000,
            f.ticks,
            f.sent as f64 / f.ticks as f64,
            mean,
            f.writes as f64 / alerts as f64,
            f.requests as f64 / alerts as f64,
            f.rate_limited,
            f.drained_after_ms as f64 / 1000.0,
        );
    }
}
