//! [`Sim`]: the simulator as an [`HttpClient`], plus its control surface for tests and the
//! sandbox.

use crate::config::{Faults, SimConfig, TransportFaults};
use crate::ctx::{Ctx, Req};
use crate::datev;
use crate::engine;
use crate::state::{
    Api, CallRecord, CallbackKind, Delivery, ExtfJob, Message, PhoneEntry, PhoneKind, SimState,
    StateError, StateStore,
};
use crate::twilio;
use crate::util::{self, Url};
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Method};

/// Headers worth recording (none carries a secret).
const RECORDED_HEADERS: &[&str] = &[
    "X-DATEV-Client-Id",
    "Filename",
    "Reference-Id",
    "Client-Application-Version",
    "Content-Type",
    "Accept",
    "User-Agent",
];

/// Why a control operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Loading or saving the state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A control call got an unusable argument.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Maps a URL to a simulated service and the path within it.
///
/// Real hosts (`accounting-extf-files.api.datev.de`, `api.twilio.com`, …) and the sandbox
/// layout `/sandbox/<datev|twilio>/<service>/…` on any host are both understood, so the same
/// client code runs against either by changing only its base URLs.
pub fn route(url: &Url) -> Option<(Api, String)> {
    if let Some(rest) = url.path.strip_prefix("/sandbox/") {
        let mut parts = rest.splitn(3, '/');
        let side = parts.next()?;
        let service = parts.next()?;
        let path = format!("/{}", parts.next().unwrap_or(""));
        let api = match (side, service) {
            ("datev", "login") => Api::DatevLogin,
            ("datev", "api") => Api::DatevToken,
            ("datev", "extf-files") => Api::DatevExtf,
            ("datev", "clients") => Api::DatevClients,
            ("datev", "dxso-jobs") => Api::DatevDxso,
            ("twilio", "api") => Api::TwilioApi,
            ("twilio", "verify") => Api::TwilioVerify,
            _ => return None,
        };
        return Some((api, path));
    }
    let host = url.host.as_str();
    let api = match host {
        "login.datev.de" | "secure8.datev.de" => Api::DatevLogin,
        "api.datev.de" | "sandbox-api.datev.de" => Api::DatevToken,
        "signin.datev.de" if url.path.ends_with("/authorize") => Api::DatevLogin,
        "signin.datev.de" => Api::DatevToken,
        "accounting-extf-files.api.datev.de" => Api::DatevExtf,
        "accounting-clients.api.datev.de" => Api::DatevClients,
        "accounting-dxso-jobs.api.datev.de" => Api::DatevDxso,
        h if h.ends_with(".twilio.com") && (h == "api.twilio.com" || h.starts_with("api.")) => {
            Api::TwilioApi
        }
        h if h.ends_with(".twilio.com")
            && (h == "verify.twilio.com" || h.starts_with("verify.")) =>
        {
            Api::TwilioVerify
        }
        _ => return None,
    };
    Some((api, url.path.clone()))
}

/// Result of injecting an inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// SID of the inbound message.
    pub sid: String,
    /// Delivery attempts to the inbound webhook (empty when none is configured).
    pub deliveries: Vec<Delivery>,
}

/// The simulator. `S` keeps the state, `C` is simulated time, `O` delivers callbacks.
#[derive(Debug)]
pub struct Sim<S, C, O> {
    config: SimConfig,
    store: S,
    clock: C,
    outbound: O,
}

impl<S: StateStore, C: Clock, O: HttpClient> Sim<S, C, O> {
    /// A simulator over `store`, reading time from `clock`, delivering callbacks through
    /// `outbound`.
    pub fn new(config: SimConfig, store: S, clock: C, outbound: O) -> Self {
        Self {
            config,
            store,
            clock,
            outbound,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The outbound port (e.g. a [`crate::Recorder`] to inspect callbacks).
    pub fn outbound(&self) -> &O {
        &self.outbound
    }

    fn init(&self) -> SimState {
        SimState::new(self.config.seed, self.config.faults.clone())
    }

    fn update<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> Result<R, StateError> {
        self.store.update(|| self.init(), f)
    }

    fn read<R>(&self, f: impl FnOnce(&SimState) -> R) -> Result<R, StateError> {
        self.store.read(|| self.init(), f)
    }

    /// Applies everything due by now and delivers due callbacks. Returns the delivery attempts.
    pub fn tick(&self) -> Result<Vec<Delivery>, StateError> {
        let (due, now) = self.update(|st| {
            let now = self.now(st);
            (engine::advance(&self.config, st, now), now)
        })?;
        self.deliver(due, now)
    }

    /// Simulated time: the clock port plus the state's offset.
    fn now(&self, st: &SimState) -> u64 {
        self.clock.now_ms().saturating_add(st.clock_offset_ms)
    }

    /// Current simulated time (ms since the epoch).
    pub fn now_ms(&self) -> Result<u64, StateError> {
        self.read(|st| self.now(st))
    }

    /// Moves simulated time ahead by `ms` (on top of the clock port), applies what became due and
    /// delivers due callbacks. For hosts whose clock is the real one (the sandbox).
    pub fn advance_clock(&self, ms: u64) -> Result<Vec<Delivery>, StateError> {
        self.update(|st| st.clock_offset_ms = st.clock_offset_ms.saturating_add(ms))?;
        self.tick()
    }

    /// Delivers callbacks outside the state lock (a receiver may call back into the simulator)
    /// and records the attempts.
    fn deliver(
        &self,
        due: Vec<crate::state::PendingCallback>,
        now: u64,
    ) -> Result<Vec<Delivery>, StateError> {
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let token = self.config.twilio.auth_token.expose();
        let attempts: Vec<Delivery> = due
            .iter()
            .flat_map(|cb| twilio::callbacks::deliver(&self.outbound, token, cb, now))
            .collect();
        let limit = self.config.record_limit;
        self.update(|st| {
            let mut recorded = Vec::with_capacity(attempts.len());
            for mut d in attempts {
                d.seq = st.seq();
                st.deliveries.push(d.clone());
                recorded.push(d);
            }
            trim(&mut st.deliveries, limit);
            recorded
        })
    }

    /// "The approver replies": an SMS from `from` to the account's number arrives, is logged
    /// and is posted, signed, to the inbound webhook (twilio.md §7.1).
    pub fn inject_inbound_sms(&self, from: &str, body: &str) -> Result<Inbound, SimError> {
        if !twilio::is_e164(from) {
            return Err(SimError::Invalid {
                field: "from",
                reason: format!("{from:?} is not an E.164 number"),
            });
        }
        if body.is_empty() || body.chars().count() > 1600 {
            return Err(SimError::Invalid {
                field: "body",
                reason: "must be 1 to 1600 characters".into(),
            });
        }
        let cfg = &self.config;
        let to = cfg
            .twilio
            .phone_numbers
            .first()
            .cloned()
            .unwrap_or_else(|| "+15005550006".into());
        let (sid, due, now) = self.update(|st| {
            let now = self.now(st);
            let sid = st.rng.sid("SM");
            let segments = twilio::segments::count(body);
            st.twilio.messages.push(Message {
                sid: sid.clone(),
                from: from.to_owned(),
                to: to.clone(),
                body: body.to_owned(),
                status: "received".into(),
                direction: "inbound".into(),
                messaging_service_sid: None,
                status_callback: None,
                num_segments: segments,
                error_code: None,
                date_created_ms: now,
                date_sent_ms: Some(now),
                date_updated_ms: now,
            });
            let seq = st.seq();
            st.phone_log.push(PhoneEntry {
                seq,
                at_ms: now,
                kind: PhoneKind::Reply,
                from: from.to_owned(),
                to: to.clone(),
                text: body.to_owned(),
                sid: sid.clone(),
            });
            trim(&mut st.phone_log, cfg.record_limit);
            if let Some(url) = &cfg.twilio.inbound_sms_url {
                let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
                let params = vec![
                    p("AccountSid", &cfg.twilio.account_sid),
                    p("ApiVersion", "2010-04-01"),
                    p("Body", body),
                    p("From", from),
                    p("MessageSid", &sid),
                    p("NumMedia", "0"),
                    p("NumSegments", &segments.to_string()),
                    p("SmsMessageSid", &sid),
                    p("SmsSid", &sid),
                    p("SmsStatus", "received"),
                    p("To", &to),
                ];
                engine::queue_callback(
                    st,
                    now,
                    url,
                    params,
                    CallbackKind::InboundSms,
                    &sid,
                    "received",
                );
            }
            (sid, engine::advance(cfg, st, now), now)
        })?;
        let deliveries = self.deliver(due, now)?;
        Ok(Inbound { sid, deliveries })
    }

    /// Every SMS and call that reached a phone (and every reply a phone sent), oldest first.
    pub fn phone_log(&self) -> Result<Vec<PhoneEntry>, StateError> {
        self.read(|st| st.phone_log.clone())
    }

    /// Every request answered, oldest first.
    pub fn records(&self) -> Result<Vec<CallRecord>, StateError> {
        self.read(|st| st.records.clone())
    }

    /// Every callback delivery attempt, oldest first.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, StateError> {
        self.read(|st| st.deliveries.clone())
    }

    /// A copy of the whole state.
    pub fn snapshot(&self) -> Result<SimState, StateError> {
        self.read(Clone::clone)
    }

    /// Current fault knobs.
    pub fn faults(&self) -> Result<Faults, StateError> {
        self.read(|st| st.faults.clone())
    }

    /// Changes fault knobs from now on.
    pub fn set_faults(&self, faults: Faults) -> Result<(), StateError> {
        self.update(|st| st.faults = faults)
    }

    /// The user withdraws every DATEV consent: all access and refresh tokens die. Returns how
    /// many grants were live.
    pub fn revoke_datev_grants(&self) -> Result<usize, StateError> {
        self.update(|st| {
            let live: Vec<&mut crate::state::Grant> = st
                .datev
                .grants
                .values_mut()
                .filter(|g| !g.revoked)
                .collect();
            let n = live.len();
            for g in live {
                g.revoked = true;
            }
            n
        })
    }

    /// The code of the newest live verification to `to` (what the approver reads on the phone).
    pub fn verify_code(&self, to: &str) -> Result<Option<String>, StateError> {
        self.read(|st| {
            let now = self.now(st);
            st.twilio
                .verifications
                .iter()
                .rev()
                .find(|v| v.to == to && !v.deleted && now < v.expires_ms)
                .map(|v| v.code.clone())
        })
    }

    /// EXTF jobs, oldest first.
    pub fn extf_jobs(&self) -> Result<Vec<ExtfJob>, StateError> {
        self.read(|st| st.datev.extf_jobs.clone())
    }

    /// The firm acts on a DXSO job in Belege online: `cancelled` true gives status 5
    /// ("cancelled"), false status 6 ("cancellation not possible").
    pub fn cancel_dxso_in_belege_online(
        &self,
        job_id: &str,
        cancelled: bool,
    ) -> Result<(), SimError> {
        let found = self.update(|st| {
            st.datev
                .dxso_jobs
                .iter_mut()
                .find(|j| j.id.eq_ignore_ascii_case(job_id))
                .map(|j| {
                    j.forced_status = Some(if cancelled { 5 } else { 6 });
                })
        })?;
        found.ok_or(SimError::Invalid {
            field: "job_id",
            reason: format!("no DXSO job {job_id}"),
        })
    }

    fn handle(
        &self,
        st: &mut SimState,
        now: u64,
        api: Api,
        path: String,
        url: &Url,
        raw: &HttpRequest,
    ) -> Result<HttpResponse, HttpError> {
        let req = Req {
            method: raw.method,
            path,
            query: url.query_pairs(),
            raw,
        };
        let mut ctx = Ctx {
            cfg: &self.config,
            st,
            now,
            principal: String::new(),
        };
        let transport = if api.is_datev() {
            ctx.st.faults.datev.transport.clone()
        } else {
            ctx.st.faults.twilio.transport.clone()
        };
        let (result, fault) = faulted(&mut ctx, api, &req, &transport);
        let headers = RECORDED_HEADERS
            .iter()
            .filter_map(|name| {
                raw.header_value(name)
                    .map(|v| ((*name).to_owned(), v.to_owned()))
            })
            .collect();
        let seq = ctx.st.seq();
        let record = CallRecord {
            seq,
            at_ms: now,
            api,
            method: raw.method.as_str().to_owned(),
            path: req.path.clone(),
            query: req.query.clone(),
            principal: std::mem::take(&mut ctx.principal),
            headers,
            body_len: raw.body.len(),
            status: result.as_ref().ok().map(|r| r.status),
            fault,
        };
        ctx.st.records.push(record);
        trim(&mut ctx.st.records, self.config.record_limit);
        trim(&mut ctx.st.phone_log, self.config.record_limit);
        result
    }
}

fn trim<T>(list: &mut Vec<T>, limit: usize) {
    if list.len() > limit {
        let excess = list.len() - limit;
        list.drain(..excess);
    }
}

/// Runs the transport faults around the handler (see [`TransportFaults`] for the order).
fn faulted(
    ctx: &mut Ctx<'_>,
    api: Api,
    req: &Req<'_>,
    f: &TransportFaults,
) -> (Result<HttpResponse, HttpError>, Option<String>) {
    if ctx.st.rng.chance(f.connect_error_permille) {
        return (
            Err(HttpError::Connect("injected: connection refused".into())),
            Some("connect error".into()),
        );
    }
    let storm = f.rate_limit_storm.is_some_and(|w| w.contains(ctx.now));
    if storm || ctx.st.rng.chance(f.rate_limit_permille) {
        return (Ok(rate_limited(api, req)), Some("rate limited".into()));
    }
    if !api.is_datev()
        && let Some(max) = ctx.cfg.twilio.max_concurrency
    {
        let now = ctx.now;
        let slots = &mut ctx.st.twilio.in_flight_until;
        slots.retain(|until| *until > now);
        if slots.len() >= max as usize {
            return (Ok(rate_limited(api, req)), Some("concurrency limit".into()));
        }
        slots.push(now + ctx.cfg.twilio.request_ms);
    }
    if ctx.st.rng.chance(f.unavailable_permille) {
        return (Ok(unavailable(ctx, api)), Some("unavailable".into()));
    }
    let resp = dispatch(ctx, api, req);
    if resp.status < 400 && ctx.st.rng.chance(f.server_error_after_effect_permille) {
        return (Ok(server_error(ctx, api)), Some("500 after effect".into()));
    }
    if resp.status < 400 && ctx.st.rng.chance(f.timeout_after_effect_permille) {
        return (Err(HttpError::Timeout), Some("timeout after effect".into()));
    }
    (Ok(resp), None)
}

fn dispatch(ctx: &mut Ctx<'_>, api: Api, req: &Req<'_>) -> HttpResponse {
    match api {
        Api::DatevLogin => datev::oauth::handle_login(ctx, req),
        Api::DatevToken => datev::oauth::handle_token(ctx, req),
        Api::DatevExtf => datev::extf::handle(ctx, req),
        Api::DatevClients => datev::clients::handle(ctx, req),
        Api::DatevDxso => datev::dxso::handle(ctx, req),
        Api::TwilioApi => twilio_api(ctx, req),
        Api::TwilioVerify => match twilio::authenticate(ctx, req) {
            Ok(()) => twilio::verify::handle(ctx, req),
            Err(resp) => resp,
        },
    }
}

/// Paths of the 2010 API without `.json` would answer XML (twilio.md §2.2); that representation
/// is not simulated, so they get a 404 in Twilio's XML error shape.
fn xml_not_found(path: &str) -> HttpResponse {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><RestException><Code>20404</Code><Message>The requested resource {} was not found</Message><MoreInfo>https://www.twilio.com/docs/errors/20404</MoreInfo><Status>404</Status></RestException></TwilioResponse>",
        util::html_escape(path)
    );
    HttpResponse::new(404, body.into_bytes()).header("Content-Type", "application/xml")
}

fn twilio_api(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    if let Err(resp) = twilio::authenticate(ctx, req) {
        return resp;
    }
    let path = req.path.clone();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let ["2010-04-01", "Accounts", file] = segs.as_slice()
        && let Some(account) = file.strip_suffix(".json")
    {
        return fetch_account(ctx, req, account);
    }
    let ["2010-04-01", "Accounts", account, rest @ ..] = segs.as_slice() else {
        return twilio::not_found(&req.path);
    };
    if *account != ctx.cfg.twilio.account_sid {
        // Credentials of one account cannot act on another (twilio.md §1.2).
        return twilio::unauthorized();
    }
    if !req.path.ends_with(".json") {
        return xml_not_found(&req.path);
    }
    let m = req.method;
    match rest {
        ["Messages.json"] if m == Method::Post => twilio::messages::create(ctx, req),
        ["Messages.json"] if m == Method::Get => twilio::messages::list(ctx, req),
        ["Messages", file] if m == Method::Get => {
            twilio::messages::fetch(ctx, req, file.trim_end_matches(".json"))
        }
        ["Calls.json"] if m == Method::Post => twilio::calls::create(ctx, req),
        ["Calls.json"] if m == Method::Get => twilio::calls::list(ctx, req),
        ["Calls", file] if m == Method::Get => {
            twilio::calls::fetch(ctx, req, file.trim_end_matches(".json"))
        }
        ["Calls", file] if m == Method::Post => {
            twilio::calls::update(ctx, req, file.trim_end_matches(".json"))
        }
        ["Messages.json" | "Calls.json"] | ["Messages" | "Calls", _] => {
            twilio::method_not_allowed()
        }
        _ => twilio::not_found(&req.path),
    }
}

/// `GET /2010-04-01/Accounts/{AC}.json`
/// (<https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource>): the account the
/// credentials belong to; another account's SID gets 401/20003 like any foreign path.
fn fetch_account(ctx: &Ctx<'_>, req: &Req<'_>, account: &str) -> HttpResponse {
    if req.method != Method::Get {
        return twilio::method_not_allowed();
    }
    if account != ctx.cfg.twilio.account_sid {
        return twilio::unauthorized();
    }
    util::json(
        200,
        "application/json",
        &serde_json::json!({
            "sid": account,
            "friendly_name": "ml-connector simulator",
            "status": "active",
            "type": "Full",
            "uri": format!("/2010-04-01/Accounts/{account}.json"),
        }),
    )
}

fn rate_limited(api: Api, req: &Req<'_>) -> HttpResponse {
    if api.is_datev() {
        // DATEV publishes no rate limits (datev.md §6); the gateway shape with a Retry-After
        // is this simulator's choice.
        return datev::gateway_error(429, "Too Many Requests", "Rate Limit exceeded")
            .header("Retry-After", "5");
    }
    let resp = twilio::error(429, 20429, "Too Many Requests");
    // Only Verify's create documents these headers (twilio.md §9).
    if api == Api::TwilioVerify
        && req.method == Method::Post
        && req.path.ends_with("/Verifications")
    {
        resp.header("Retry-After", "1")
            .header("Twilio-Reached-Rate-Limit", "concurrency")
    } else {
        resp
    }
}

fn unavailable(ctx: &mut Ctx<'_>, api: Api) -> HttpResponse {
    match api {
        Api::DatevExtf | Api::DatevClients => datev::plain_problem(ctx, 503, "Service Unavailable"),
        // dxso-jobs documents 503 without a body (maintenance).
        Api::DatevDxso => HttpResponse::new(503, Vec::new()),
        Api::DatevLogin | Api::DatevToken => util::json(
            503,
            "application/json;charset=UTF-8",
            &serde_json::json!({"error": "temporarily_unavailable", "error_description": "Service Unavailable"}),
        ),
        Api::TwilioApi | Api::TwilioVerify => twilio::error(503, 20503, "Service Unavailable"),
    }
}

fn server_error(ctx: &mut Ctx<'_>, api: Api) -> HttpResponse {
    match api {
        Api::DatevExtf | Api::DatevClients => {
            datev::plain_problem(ctx, 500, "Internal Server Error")
        }
        Api::DatevDxso => datev::dxso_bare(ctx, 500),
        Api::DatevLogin | Api::DatevToken => util::json(
            500,
            "application/json;charset=UTF-8",
            &serde_json::json!({"error": "server_error", "error_description": "Internal Server Error"}),
        ),
        Api::TwilioApi | Api::TwilioVerify => twilio::error(500, 20500, "Internal Server Error"),
    }
}

impl<S: StateStore, C: Clock, O: HttpClient> HttpClient for Sim<S, C, O> {
    /// Answers one request as DATEV or Twilio would, after applying everything due by now
    /// (and delivering due callbacks through the outbound port).
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = Url::parse(&req.url)
            .ok_or_else(|| HttpError::Connect(format!("invalid URL {:?}", req.url)))?;
        let (api, path) = route(&url)
            .ok_or_else(|| HttpError::Connect(format!("no simulated service at {}", url.host)))?;
        let (result, due, now) = self
            .update(|st| {
                let now = self.now(st);
                let due = engine::advance(&self.config, st, now);
                (self.handle(st, now, api, path, &url, &req), due, now)
            })
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        self.deliver(due, now)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        result
    }
}
