//! A world for sender tests: the Twilio simulator in-process, an in-memory store shared by the
//! "poller" (the test enqueues), the "webhook" (callbacks from the simulator go into the inbound
//! queue exactly as `connector::webhook` would put them) and the sender; simulated time that
//! the sender's waits advance.

#![allow(dead_code)]

use connector::audit::{self, AuditEntry};
use connector::batch::BatchId;
use connector::client_config::{self, ClientConfig, ClientId, Contact, Language, PhoneNumber};
use connector::inbound::{self, DedupKey as EventKey};
use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::outbox::{self, AlertResult, AlertText, Channel, DedupKey, OutboxItem};
use connector::schedule::ScheduleConfig;
use connector::time::Day;
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Secret};
use sender::{Ports, Sender, SenderConfig, Sleep, TickReport};
use sim::{Faults, InMemory, PhoneKind, Shared, Sim, SimConfig, TransportFaults, TwilioFaults};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use twilio::{CallbackUrl, TwilioConfig, TwilioSettings};

/// 2026-11-25T12:00:00Z.
pub const T0: u64 = 1_795_608_000_000;
pub const ACCOUNT: &str = "AC00000000000000000000000000000000";
pub const KEY_SID: &str = "SK00000000000000000000000000000000";
pub const KEY_SECRET: &str = "sim-api-key-secret";
pub const FROM: &str = "+15005550006";
pub const HOOK: &str = "https://ml-connector.example/twilio/status";
pub const CLIENT: &str = "29098-55003";
pub const CONTROLLER: &str = "+4917000000001";
/// The cron interval the tests tick at.
pub const TICK_MS: u64 = 10_000;

/// The webhook stand-in: every callback the simulator posts is parsed with
/// `connector::webhook::status_event` and queued with `connector::inbound::enqueue`, deduplicated
/// by `I-Twilio-Idempotency-Token` as the webhook does. `leaky` queues every delivery under its
/// own key instead, as if the webhook's claim had failed each time: the sender must then see
/// duplicates itself.
pub struct Hook {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub leaky: bool,
    pub deliveries: AtomicU64,
}

impl HttpClient for Hook {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let n = self.deliveries.fetch_add(1, Ordering::SeqCst);
        let params = connector::form::parse_form(&req.body)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let event = match connector::webhook::status_event(&params) {
            Ok(e) => e,
            Err(_) => return Ok(HttpResponse::new(400, Vec::new())),
        };
        let token = req
            .header_value("I-Twilio-Idempotency-Token")
            .unwrap_or("none")
            .to_owned();
        let key = if self.leaky {
            EventKey::token(&format!("{token}-{n}"))
        } else {
            EventKey::token(&token)
        }
        .map_err(|e| HttpError::Transport(e.to_string()))?;
        match inbound::enqueue(&*self.store, &key, event, self.clock.now_ms()) {
            Ok(_) => Ok(HttpResponse::new(200, Vec::new())),
            Err(_) => Ok(HttpResponse::new(503, Vec::new())),
        }
    }
}

pub type TestSim = Sim<InMemory, Shared<ManualClock>, Shared<Hook>>;

/// Records every request the sender sends (the simulator answers).
pub struct Tap<'a> {
    pub sim: &'a TestSim,
    pub requests: Mutex<Vec<HttpRequest>>,
}

impl HttpClient for Tap<'_> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(req.clone());
        self.sim.send(req)
    }
}

/// Waiting advances simulated time.
pub struct SimSleep(pub Arc<ManualClock>);

impl Sleep for SimSleep {
    fn sleep_ms(&self, ms: u64) {
        self.0.advance_ms(ms);
    }
}

pub struct World {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub sim: TestSim,
    pub hook: Arc<Hook>,
    pub rng: SeededRng,
    pub config: SenderConfig,
    pub twilio: TwilioConfig,
    pub requests: Mutex<Vec<HttpRequest>>,
    pub schedule: ScheduleConfig,
}

pub fn sender_config() -> SenderConfig {
    SenderConfig {
        status_callback: Some(CallbackUrl::parse(HOOK, "hook").expect("callback url")),
        request_slot_ms: 0,
        ..SenderConfig::default()
    }
}

pub fn twilio_config() -> TwilioConfig {
    sender::config::twilio_config(&TwilioSettings {
        account_sid: ACCOUNT.into(),
        api_key_sid: KEY_SID.into(),
        api_key_secret: Secret::new(KEY_SECRET),
        api_base_url: None,
        verify_base_url: None,
        messaging_service_sid: None,
        from_number: Some(FROM.into()),
        voice_from_number: None,
        verify_service_sid: None,
    })
    .expect("twilio config")
}

impl World {
    pub fn new() -> Self {
        Self::with(SimConfig::default(), false, 1)
    }

    pub fn with(cfg: SimConfig, leaky: bool, seed: u64) -> Self {
        let clock = Arc::new(ManualClock::at(T0));
        let store = Arc::new(MemoryStore::new());
        let hook = Arc::new(Hook {
            store: Arc::clone(&store),
            clock: Arc::clone(&clock),
            leaky,
            deliveries: AtomicU64::new(0),
        });
        let sim = Sim::new(
            cfg,
            InMemory::new(),
            Shared(Arc::clone(&clock)),
            Shared(Arc::clone(&hook)),
        );
        Self {
            store,
            clock,
            sim,
            hook,
            rng: SeededRng::new(seed),
            config: sender_config(),
            twilio: twilio_config(),
            requests: Mutex::new(Vec::new()),
            schedule: ScheduleConfig::default(),
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn transport_faults(&self, transport: TransportFaults) {
        let mut f = self.sim.faults().expect("faults");
        f.twilio.transport = transport;
        self.sim.set_faults(f).expect("set faults");
    }

    pub fn twilio_faults(&self, twilio: TwilioFaults) {
        self.sim
            .set_faults(Faults {
                twilio,
                ..Faults::default()
            })
            .expect("set faults");
    }

    /// One cron tick of the sender.
    pub fn tick(&self) -> TickReport {
        self.try_tick().expect("tick")
    }

    pub fn try_tick(&self) -> Result<TickReport, sender::TickError> {
        let tap = Tap {
            sim: &self.sim,
            requests: Mutex::new(Vec::new()),
        };
        let sleep = SimSleep(Arc::clone(&self.clock));
        let ports = Ports {
            store: &*self.store,
            http: &tap,
            clock: &*self.clock,
            rng: &self.rng,
            sleep: &sleep,
        };
        let sender = Sender::new(ports, self.twilio.clone(), self.config.clone());
        let report = sender.tick(self.clock.now_secs());
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tap.requests.into_inner().unwrap_or_else(|e| e.into_inner()));
        report
    }

    /// Lets simulated time pass and the simulator deliver what fell due.
    pub fn advance(&self, ms: u64) {
        self.clock.advance_ms(ms);
        self.sim.tick().expect("sim tick");
    }

    /// Ticks every `TICK_MS` until every item is final (or `max_ticks`). Returns the reports.
    pub fn run(&self, keys: &[DedupKey], max_ticks: usize) -> Vec<TickReport> {
        let mut reports = Vec::new();
        for _ in 0..max_ticks {
            // The next cron tick fires on the next interval boundary.
            let next = (self.now() / TICK_MS + 1) * TICK_MS;
            self.advance(next - self.now());
            reports.push(self.tick());
            if keys.iter().all(|k| {
                matches!(
                    self.item(k).state,
                    outbox::OutboxState::Delivered | outbox::OutboxState::Failed
                )
            }) {
                break;
            }
        }
        reports
    }

    pub fn sent_requests(&self) -> Vec<HttpRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn item(&self, key: &DedupKey) -> OutboxItem {
        outbox::load(&*self.store, key)
            .expect("load")
            .expect("item exists")
    }

    pub fn enqueue(&self, item: &OutboxItem) {
        outbox::enqueue(&*self.store, &self.schedule, item, self.now()).expect("enqueue");
    }

    pub fn save_client(&self, controller: Option<&str>) {
        let config = ClientConfig {
            controller: controller.map(|p| Contact {
                name: "Controller".into(),
                phone: phone(p),
                language: Some(Language::De),
            }),
            ..client_config_base()
        };
        client_config::save(&*self.store, &config).expect("save client");
    }

    pub fn phone_log(&self, kind: PhoneKind) -> Vec<sim::PhoneEntry> {
        self.sim
            .phone_log()
            .expect("phone log")
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// Every audit entry of the test's days, in order.
    pub fn audit(&self) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let first = Day::from_unix_ms(T0);
        let last = Day::from_unix_ms(self.now());
        let mut day = first;
        let mut ms = T0;
        loop {
            let mut after = 0;
            loop {
                let page = audit::page(&*self.store, day, after, 500).expect("audit page");
                out.extend(page.entries.into_iter().map(|(_, e)| e));
                match page.next_after {
                    Some(n) => after = n,
                    None => break,
                }
            }
            if day >= last {
                break;
            }
            ms += 86_400_000;
            day = Day::from_unix_ms(ms);
        }
        out
    }

    pub fn audit_actions(&self, action: &str) -> Vec<AuditEntry> {
        self.audit()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    /// The raw store, as text, for "no secret, no whole number" scans.
    pub fn store_text(&self) -> String {
        self.store
            .dump()
            .into_iter()
            .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(&v)))
            .collect()
    }
}

pub fn phone(p: &str) -> PhoneNumber {
    PhoneNumber::parse(p, "test").expect("test number")
}

pub fn client_config_base() -> ClientConfig {
    serde_json::from_value(serde_json::json!({
        "version": 1,
        "client": CLIENT,
        "name": "Musterholz GmbH",
        "language": "de",
    }))
    .expect("client config")
}

pub fn text(job: &str, result: AlertResult) -> AlertText {
    AlertText {
        client: ClientId::parse(CLIENT).expect("client"),
        client_name: "Musterholz GmbH".into(),
        batch: BatchId::new(4711),
        reference: Some("RE 02/2024".into()),
        datev_job: Some(job.into()),
        result,
        reason: (result != AlertResult::Succeeded).then(|| "1008834 Invalid EXTF-header".into()),
    }
}

/// A job SMS to `to`, as the poller enqueues it.
pub fn sms(job: &str, to: &str, result: AlertResult, now: u64) -> OutboxItem {
    OutboxItem::new(
        DedupKey::job_sms(job, &phone(to)),
        Channel::Sms,
        phone(to),
        Language::De,
        text(job, result),
        now,
    )
}

/// A job's call to the controller.
pub fn call(job: &str, to: &str, now: u64) -> OutboxItem {
    OutboxItem::new(
        DedupKey::job_call(job),
        Channel::Call,
        phone(to),
        Language::En,
        text(job, AlertResult::Failed),
        now,
    )
}

/// `n` distinct German mobile numbers.
pub fn numbers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("+49151{:08}", 10_000_000 + i))
        .collect()
}
