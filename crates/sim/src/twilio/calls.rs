//! Calls (twilio.md §4): create, fetch, list, update (cancel / hang up).

use super::messages::page_json;
use super::{error, form, is_e164, not_found, valid_callback};
use crate::ctx::{Ctx, Req};
use crate::state::{Call, EventKind};
use crate::time;
use crate::util::{json, param, params};
use connector::HttpResponse;
use serde_json::{Value, json};

/// The Call resource (twilio.md §4.2).
pub(crate) fn call_json(c: &Call, account: &str) -> Value {
    json!({
        "account_sid": account,
        "answered_by": Value::Null,
        "api_version": "2010-04-01",
        "caller_name": Value::Null,
        "date_created": time::rfc2822(c.date_created_ms),
        "date_updated": time::rfc2822(c.date_updated_ms),
        "direction": "outbound-api",
        "duration": c.duration_s.map(|d| d.to_string()),
        "end_time": c.end_ms.map(time::rfc2822),
        "forwarded_from": Value::Null,
        "from": c.from,
        "from_formatted": c.from,
        "group_sid": Value::Null,
        "parent_call_sid": Value::Null,
        "phone_number_sid": Value::Null,
        "price": Value::Null,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": c.sid,
        "start_time": c.start_ms.map(time::rfc2822),
        "status": c.status,
        "subresource_uris": {
            "notifications": format!("/2010-04-01/Accounts/{account}/Calls/{}/Notifications.json", c.sid),
            "recordings": format!("/2010-04-01/Accounts/{account}/Calls/{}/Recordings.json", c.sid),
        },
        "to": c.to,
        "to_formatted": c.to,
        "trunk_sid": Value::Null,
        "uri": format!("/2010-04-01/Accounts/{account}/Calls/{}.json", c.sid),
    })
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` → 201.
pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let f = form(req);
    let Some(to) = param(&f, "To").filter(|s| !s.is_empty()).map(str::to_owned) else {
        return error(400, 21201, "No 'To' number is specified");
    };
    if !is_e164(&to) {
        return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    let Some(from) = param(&f, "From")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return error(400, 21213, "No 'From' number is specified");
    };
    if !is_e164(&from) {
        return error(400, 21212, &format!("Invalid 'From' Phone Number: {from}"));
    }
    let owned = &ctx.cfg.twilio.phone_numbers;
    if !owned.is_empty() && !owned.contains(&from) {
        return error(
            400,
            21210,
            &format!(
                "The source phone number provided, {from}, is not yet verified for your account."
            ),
        );
    }
    let twiml = param(&f, "Twiml")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let url = param(&f, "Url")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if twiml.is_none() && url.is_none() && param(&f, "ApplicationSid").is_none() {
        return error(400, 21205, "Url, Twiml or ApplicationSid is required.");
    }
    if twiml.as_deref().is_some_and(|t| t.chars().count() > 4000) {
        return error(400, 21205, "Twiml exceeds 4000 characters.");
    }
    let callback = param(&f, "StatusCallback")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if callback.as_deref().is_some_and(|u| !valid_callback(u)) {
        return error(400, 21609, "Invalid StatusCallback url");
    }
    let mut events: Vec<String> = params(&f, "StatusCallbackEvent")
        .iter()
        .flat_map(|v| v.split([' ', ',']))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if events.is_empty() {
        events.push("completed".into());
    }
    if let Some(bad) = events.iter().find(|e| {
        !matches!(
            e.as_str(),
            "initiated" | "ringing" | "answered" | "completed"
        )
    }) {
        return error(400, 21626, &format!("Invalid StatusCallbackEvent: {bad}"));
    }
    let sid = ctx.st.rng.sid("CA");
    let t = ctx.now;
    let tw = ctx.cfg.twilio.clone();
    let faults = ctx.st.faults.twilio.clone();
    ctx.st.twilio.calls.push(Call {
        sid: sid.clone(),
        from,
        to,
        status: "queued".into(),
        twiml,
        url,
        status_callback: callback,
        callback_events: events,
        next_sequence: 0,
        date_created_ms: t,
        date_updated_ms: t,
        start_ms: None,
        end_ms: None,
        duration_s: None,
    });
    let ev = |status: &str| EventKind::Call {
        sid: sid.clone(),
        status: status.into(),
    };
    ctx.st.schedule(t + tw.call_initiated_ms, ev("initiated"));
    let outcome = if ctx.st.rng.chance(faults.call_failed_permille) {
        "failed"
    } else if ctx.st.rng.chance(faults.call_busy_permille) {
        "busy"
    } else if ctx.st.rng.chance(faults.call_no_answer_permille) {
        "no-answer"
    } else {
        "in-progress"
    };
    if outcome == "failed" {
        ctx.st.schedule(t + tw.call_ringing_ms, ev("failed"));
    } else {
        ctx.st.schedule(t + tw.call_ringing_ms, ev("ringing"));
        ctx.st.schedule(t + tw.call_answered_ms, ev(outcome));
        if outcome == "in-progress" {
            ctx.st.schedule(
                t + tw.call_answered_ms + tw.call_duration_s * 1000,
                ev("completed"),
            );
        }
    }
    let account = tw.account_sid;
    let created = ctx
        .st
        .twilio
        .calls
        .last()
        .map(|c| call_json(c, &account))
        .unwrap_or(Value::Null);
    json(201, "application/json", &created)
}

/// `GET …/Calls/{Sid}.json`.
pub(crate) fn fetch(ctx: &mut Ctx<'_>, req: &Req<'_>, sid: &str) -> HttpResponse {
    let account = &ctx.cfg.twilio.account_sid;
    match ctx.st.twilio.calls.iter().find(|c| c.sid == sid) {
        Some(c) => json(200, "application/json", &call_json(c, account)),
        None => not_found(&req.path),
    }
}

/// `POST …/Calls/{Sid}.json` with `Status=canceled` (queued or ringing) or `Status=completed`
/// (in progress), twilio.md §4.2. Redirects (`Url`, `Twiml`) are not simulated.
pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req<'_>, sid: &str) -> HttpResponse {
    let f = form(req);
    let Some(idx) = ctx.st.twilio.calls.iter().position(|c| c.sid == sid) else {
        return not_found(&req.path);
    };
    let current = ctx.st.twilio.calls[idx].status.clone();
    let target = match (param(&f, "Status"), current.as_str()) {
        (Some("canceled"), "queued" | "ringing") => "canceled",
        (Some("completed"), "in-progress") => "completed",
        (Some("completed"), "queued" | "ringing") => "canceled",
        (Some("canceled" | "completed"), _) => {
            return error(400, 21220, "Call is not in-progress. Cannot redirect.");
        }
        (Some(other), _) => return error(400, 21218, &format!("Invalid Status: {other}")),
        (None, _) => {
            return error(
                400,
                21218,
                "Status is required (Url and Twiml redirects are not simulated)",
            );
        }
    };
    // Later scheduled progress of this call no longer happens.
    ctx.st
        .events
        .retain(|e| !matches!(&e.kind, EventKind::Call { sid: s, .. } if s == sid));
    crate::engine::apply_call_status(ctx.cfg, ctx.st, ctx.now, sid, target);
    let account = ctx.cfg.twilio.account_sid.clone();
    json(
        200,
        "application/json",
        &call_json(&ctx.st.twilio.calls[idx], &account),
    )
}

/// `GET …/Calls.json` with `To`, `From`, `Status`; newest first.
pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let account = ctx.cfg.twilio.account_sid.clone();
    let q = &req.query;
    let page_size = match param(q, "PageSize").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error(400, 20001, "Invalid PageSize"),
    };
    let page = match param(q, "Page").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return error(400, 20001, "Invalid Page"),
    };
    let matching: Vec<&Call> = ctx
        .st
        .twilio
        .calls
        .iter()
        .rev()
        .filter(|c| param(q, "To").is_none_or(|v| c.to == v))
        .filter(|c| param(q, "From").is_none_or(|v| c.from == v))
        .filter(|c| param(q, "Status").is_none_or(|v| c.status == v))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip(page * page_size)
        .take(page_size)
        .map(|c| call_json(c, &account))
        .collect();
    let filters: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "To" | "From" | "Status"))
        .cloned()
        .collect();
    let base = format!("/2010-04-01/Accounts/{account}/Calls.json");
    json(
        200,
        "application/json",
        &page_json(
            "calls",
            &base,
            &filters,
            items,
            page,
            page_size,
            matching.len(),
        ),
    )
}
