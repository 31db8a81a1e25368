//! The offline sandbox's HTTP surface, host-independent so it is tested natively; the
//! `components/sandbox` Spin component only converts requests and supplies the ports.
//!
//! Routes (all under `/sandbox`, all 404 when the sandbox is disabled):
//! - `/sandbox/datev/<login|api|extf-files|clients|dxso-jobs>/…`, `/sandbox/twilio/<api|verify>/…`:
//!   the simulator (see [`crate::route`]).
//! - `GET /sandbox/phone`: HTML page of what the phones received, with a reply form.
//! - `GET /sandbox/phone.json`: the phone log as JSON.
//! - `POST /sandbox/phone/reply` (form `From`, `Body`): a phone answers by SMS; `303` back to
//!   the page.
//! - `POST /sandbox/tick`: apply due status changes and deliver due callbacks.
//! - `POST /sandbox/clock?advance_ms=N`: move simulated time ahead (the sandbox runs on the
//!   real clock; this skips waiting for jobs, deliveries and expiries).
//! - `GET /sandbox/records.json`, `GET /sandbox/deliveries.json`: request and callback logs.
//! - `GET /sandbox/faults.json`, `PUT /sandbox/faults.json` (JSON [`crate::Faults`]): fault knobs.

use crate::config::Faults;
use crate::sim::Sim;
use crate::state::{PhoneEntry, PhoneKind, StateStore};
use crate::time;
use crate::util::{self, Url, html_escape, media_type};
use connector::{Clock, HttpClient, HttpError, HttpRequest, HttpResponse, Method};

/// Sandbox switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// `sandbox_enabled`: outside sandbox mode every route answers 404.
    pub enabled: bool,
}

fn text(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .header("Content-Type", "text/plain;charset=utf-8")
}

fn not_found() -> HttpResponse {
    text(404, "not found")
}

fn json_ok<T: serde::Serialize>(value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => HttpResponse::new(200, body).header("Content-Type", "application/json"),
        Err(e) => text(500, &format!("cannot encode JSON: {e}")),
    }
}

/// Answers one request to `/sandbox/…`.
pub fn handle<S: StateStore, C: Clock, O: HttpClient>(
    sim: &Sim<S, C, O>,
    settings: &SandboxSettings,
    req: HttpRequest,
) -> HttpResponse {
    if !settings.enabled {
        return not_found();
    }
    let Some(url) = Url::parse(&req.url) else {
        return text(400, "request URL is not absolute");
    };
    let path = url.path.trim_end_matches('/').to_owned();
    if path.starts_with("/sandbox/datev/") || path.starts_with("/sandbox/twilio/") {
        return match sim.send(req) {
            Ok(resp) => resp,
            // A transport fault cannot be reproduced over real HTTP without hanging the caller;
            // it becomes a gateway error the client sees as a failed exchange.
            Err(HttpError::Timeout) => {
                text(504, "sandbox: injected timeout (the request took effect)")
                    .header("X-Sandbox-Fault", "timeout")
            }
            Err(e) => text(502, &format!("sandbox: {e}")).header("X-Sandbox-Fault", "transport"),
        };
    }
    let result = match (req.method, path.as_str()) {
        (Method::Get, "/sandbox") => Ok(index_page()),
        (Method::Get, "/sandbox/phone") => sim.tick().and_then(|_| sim.phone_log()).map(|log| {
            HttpResponse::new(200, phone_page(&log).into_bytes())
                .header("Content-Type", "text/html;charset=utf-8")
        }),
        (Method::Get, "/sandbox/phone.json") => sim
            .tick()
            .and_then(|_| sim.phone_log())
            .map(|log| json_ok(&log)),
        (Method::Post, "/sandbox/phone/reply") => return reply(sim, &req),
        (Method::Post, "/sandbox/tick") => sim.tick().map(|d| json_ok(&d)),
        (Method::Post, "/sandbox/clock") => return advance(sim, &url),
        (Method::Get, "/sandbox/records.json") => sim.records().map(|r| json_ok(&r)),
        (Method::Get, "/sandbox/deliveries.json") => sim.deliveries().map(|d| json_ok(&d)),
        (Method::Get, "/sandbox/faults.json") => sim.faults().map(|f| json_ok(&f)),
        (Method::Put, "/sandbox/faults.json") => {
            match serde_json::from_slice::<Faults>(&req.body) {
                Ok(f) => sim.set_faults(f.clone()).map(|()| json_ok(&f)),
                Err(e) => return text(400, &format!("faults: {e}")),
            }
        }
        _ => return not_found(),
    };
    result.unwrap_or_else(|e| text(503, &format!("sandbox state unavailable, retry: {e}")))
}

/// `POST /sandbox/clock?advance_ms=N`: skip simulated time ahead (at most 30 days at once).
fn advance<S: StateStore, C: Clock, O: HttpClient>(sim: &Sim<S, C, O>, url: &Url) -> HttpResponse {
    const MAX: u64 = 30 * 86_400_000;
    let pairs = url.query_pairs();
    let ms = match util::param(&pairs, "advance_ms").map(str::parse::<u64>) {
        Some(Ok(ms)) if (1..=MAX).contains(&ms) => ms,
        _ => {
            return text(
                400,
                &format!("clock: advance_ms must be an integer from 1 to {MAX}"),
            );
        }
    };
    match sim
        .advance_clock(ms)
        .and_then(|d| sim.now_ms().map(|now| (d, now)))
    {
        Ok((deliveries, now)) => json_ok(&serde_json::json!({
            "now": time::iso8601(now),
            "now_ms": now,
            "deliveries": deliveries.len(),
        })),
        Err(e) => text(503, &format!("sandbox state unavailable, retry: {e}")),
    }
}

fn reply<S: StateStore, C: Clock, O: HttpClient>(
    sim: &Sim<S, C, O>,
    req: &HttpRequest,
) -> HttpResponse {
    if media_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
        return text(
            415,
            "reply: send a form (application/x-www-form-urlencoded) with From and Body",
        );
    }
    let form = util::decode_form_str(&String::from_utf8_lossy(&req.body));
    let from = util::param(&form, "From").unwrap_or("").trim();
    let body = util::param(&form, "Body").unwrap_or("");
    match sim.inject_inbound_sms(from, body) {
        Ok(_) => HttpResponse::new(303, Vec::new()).header("Location", "/sandbox/phone"),
        Err(crate::SimError::Invalid { field, reason }) => {
            text(400, &format!("reply: {field}: {reason}"))
        }
        Err(e) => text(503, &format!("sandbox state unavailable, retry: {e}")),
    }
}

fn index_page() -> HttpResponse {
    let body = "<!doctype html><meta charset=utf-8><title>ml-connector sandbox</title>\
<h1>ml-connector sandbox</h1><p>Simulated DATEV and Twilio, offline.</p>\
<ul><li><a href=\"/sandbox/phone\">Phones</a>: what was received, and a reply form</li>\
<li><a href=\"/sandbox/records.json\">Requests</a> the simulator answered</li>\
<li><a href=\"/sandbox/deliveries.json\">Callbacks</a> it delivered</li>\
<li><a href=\"/sandbox/faults.json\">Fault knobs</a> (PUT JSON to change)</li></ul>";
    HttpResponse::new(200, body.as_bytes().to_vec())
        .header("Content-Type", "text/html;charset=utf-8")
}

fn kind_label(kind: PhoneKind) -> &'static str {
    match kind {
        PhoneKind::Sms => "SMS",
        PhoneKind::Call => "Call",
        PhoneKind::VerifySms => "Verify SMS",
        PhoneKind::VerifyCall => "Verify call",
        PhoneKind::Reply => "Reply sent",
    }
}

/// The phone page: newest first, plus a form to answer from a phone.
pub fn phone_page(log: &[PhoneEntry]) -> String {
    let mut rows = String::new();
    for e in log.iter().rev() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td><code>{}</code></td></tr>\n",
            html_escape(&time::iso8601(e.at_ms)),
            kind_label(e.kind),
            html_escape(&e.from),
            html_escape(&e.to),
            html_escape(&e.text),
            html_escape(&e.sid),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=6>No phone has received anything yet.</td></tr>\n");
    }
    let mut phones: Vec<&str> = log
        .iter()
        .filter(|e| e.kind != PhoneKind::Reply)
        .map(|e| e.to.as_str())
        .collect();
    phones.sort_unstable();
    phones.dedup();
    let options: String = phones
        .iter()
        .map(|p| format!("<option value=\"{0}\">{0}</option>", html_escape(p)))
        .collect();
    format!(
        "<!doctype html><meta charset=utf-8><title>Sandbox phones</title>\
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}pre{{margin:0;white-space:pre-wrap}}</style>\
<h1>Sandbox phones</h1>\
<form method=post action=\"/sandbox/phone/reply\"><label>From <input name=From list=phones placeholder=\"+4917100000000\" required></label>\
<datalist id=phones>{options}</datalist> <label>Text <input name=Body placeholder=\"YES 4711\" required></label> <button>Send reply</button></form>\
<table><tr><th>Time (UTC)</th><th>What</th><th>From</th><th>To</th><th>Text</th><th>SID</th></tr>\n{rows}</table>"
    )
}

/// An outbound port that sends requests for the public base URL to an internal address
/// (Spin service chaining, `http://webhook.spin.internal`), leaving everything else alone.
/// Twilio signs for the public URL; the sandbox delivers inside Spin.
#[derive(Debug, Clone)]
pub struct Rewrite<O> {
    from_prefix: String,
    to_prefix: String,
    inner: O,
}

impl<O> Rewrite<O> {
    /// Requests whose URL starts with `from_prefix` go to `to_prefix` + the rest.
    pub fn new(from_prefix: impl Into<String>, to_prefix: impl Into<String>, inner: O) -> Self {
        Self {
            from_prefix: from_prefix.into().trim_end_matches('/').to_owned(),
            to_prefix: to_prefix.into().trim_end_matches('/').to_owned(),
            inner,
        }
    }
}

impl<O: HttpClient> HttpClient for Rewrite<O> {
    fn send(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if let Some(rest) = req.url.strip_prefix(&self.from_prefix)
            && (rest.is_empty() || rest.starts_with(['/', '?']))
        {
            req.url = format!("{}{rest}", self.to_prefix);
        }
        self.inner.send(req)
    }
}
