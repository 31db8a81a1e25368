//! Messages (twilio.md §3): create, fetch, list.

use super::{
    default_number, error, form, is_alphanumeric_sender, is_e164, is_message_address, not_found,
    segments, valid_callback,
};
use crate::ctx::{Ctx, Req};
use crate::state::{EventKind, Message};
use crate::time;
use crate::util::{self, json, param, params};
use connector::HttpResponse;
use serde_json::{Value, json};

/// Resource URI of a message.
fn uri(account: &str, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json")
}

/// The Message resource (twilio.md §3.2); counts are strings, timestamps RFC 2822.
pub(crate) fn message_json(m: &Message, account: &str) -> Value {
    json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": time::rfc2822(m.date_created_ms),
        "date_sent": m.date_sent_ms.map(time::rfc2822),
        "date_updated": time::rfc2822(m.date_updated_ms),
        "direction": m.direction,
        "error_code": m.error_code,
        "error_message": Value::Null,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": m.num_segments.to_string(),
        "price": Value::Null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{account}/Messages/{}/Media.json", m.sid)},
        "to": m.to,
        "uri": uri(account, &m.sid),
    })
}

/// Records a create attempt Twilio rejected with 400: since 2024 they appear in message lists as
/// failed records (twilio.md §3.4, SUP-VIS).
fn reject(
    ctx: &mut Ctx<'_>,
    to: &str,
    from: &str,
    body: &str,
    code: u32,
    message: &str,
) -> HttpResponse {
    let sid = ctx.st.rng.sid("SM");
    ctx.st.twilio.messages.push(Message {
        sid,
        from: from.to_owned(),
        to: to.to_owned(),
        body: body.to_owned(),
        status: "failed".into(),
        direction: "outbound-api".into(),
        messaging_service_sid: None,
        status_callback: None,
        num_segments: 0,
        error_code: Some(code),
        date_created_ms: ctx.now,
        date_sent_ms: None,
        date_updated_ms: ctx.now,
    });
    error(400, code, message)
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` → 201.
pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let f = form(req);
    let Some(to) = param(&f, "To").filter(|t| !t.is_empty()).map(str::to_owned) else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    let body = param(&f, "Body").unwrap_or("").to_owned();
    let service = param(&f, "MessagingServiceSid")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let from_param = param(&f, "From")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let from = from_param.clone().unwrap_or_default();
    if !is_message_address(&to) {
        return reject(
            ctx,
            &to,
            &from,
            &body,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if from_param.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    if let Some(from) = &from_param {
        if !(is_message_address(from) || is_alphanumeric_sender(from)) {
            return reject(
                ctx,
                &to,
                from,
                &body,
                21212,
                "Invalid From Number (caller ID)",
            );
        }
        let owned = &ctx.cfg.twilio.phone_numbers;
        if !owned.is_empty() && is_e164(from) && !owned.contains(from) {
            let msg = format!(
                "The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account."
            );
            return reject(ctx, &to, from, &body, 21606, &msg);
        }
    }
    let media = params(&f, "MediaUrl");
    if body.is_empty() && media.is_empty() && param(&f, "ContentSid").is_none() {
        return error(400, 21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let callback = param(&f, "StatusCallback")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if callback.as_deref().is_some_and(|u| !valid_callback(u)) {
        return error(400, 21609, "Invalid StatusCallback url");
    }
    let sid = ctx.st.rng.sid("SM");
    let tw = ctx.cfg.twilio.clone();
    let t = ctx.now;
    let faults = ctx.st.faults.twilio.clone();
    let (first, segments_now) = if service.is_some() {
        ("accepted", 0)
    } else {
        ("queued", segments::count(&body))
    };
    ctx.st.twilio.messages.push(Message {
        sid: sid.clone(),
        from: from_param.unwrap_or_else(|| default_number(ctx)),
        to,
        body: body.clone(),
        status: first.into(),
        direction: "outbound-api".into(),
        messaging_service_sid: service.clone(),
        status_callback: callback,
        num_segments: segments_now,
        error_code: None,
        date_created_ms: t,
        date_sent_ms: None,
        date_updated_ms: t,
    });
    let ev = |status: &str, error_code: Option<u32>| EventKind::Message {
        sid: sid.clone(),
        status: status.into(),
        error_code,
    };
    if service.is_some() {
        ctx.st
            .schedule(t + tw.sms_sending_ms / 2, ev("queued", None));
    }
    if ctx.st.rng.chance(faults.sms_failed_permille) {
        ctx.st
            .schedule(t + tw.sms_sending_ms, ev("failed", Some(30008)));
    } else {
        ctx.st.schedule(t + tw.sms_sending_ms, ev("sending", None));
        ctx.st.schedule(t + tw.sms_sent_ms, ev("sent", None));
        if ctx.st.rng.chance(faults.sms_undelivered_permille) {
            ctx.st
                .schedule(t + tw.sms_delivered_ms, ev("undelivered", Some(30003)));
        } else {
            ctx.st
                .schedule(t + tw.sms_delivered_ms, ev("delivered", None));
        }
    }
    let account = tw.account_sid;
    let created = ctx
        .st
        .twilio
        .messages
        .last()
        .map(|m| message_json(m, &account))
        .unwrap_or(Value::Null);
    json(201, "application/json", &created)
}

/// `GET …/Messages/{Sid}.json`.
pub(crate) fn fetch(ctx: &mut Ctx<'_>, req: &Req<'_>, sid: &str) -> HttpResponse {
    let account = &ctx.cfg.twilio.account_sid;
    match ctx.st.twilio.messages.iter().find(|m| m.sid == sid) {
        Some(m) => json(200, "application/json", &message_json(m, account)),
        None => not_found(&req.path),
    }
}

/// The day a message counts as sent for `DateSent` filters: `date_sent`, or for messages not
/// yet sent (and rejected attempts) `date_created`, so reconciliation finds them (twilio.md §14
/// leaves this open).
fn sent_day(m: &Message) -> String {
    time::date(m.date_sent_ms.unwrap_or(m.date_created_ms))
}

/// `GET …/Messages.json` with `To`, `From`, `DateSent`, `DateSent<`, `DateSent>`, `PageSize`,
/// `Page`; newest first, paged as twilio.md §2.4.
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
    let matching: Vec<&Message> = ctx
        .st
        .twilio
        .messages
        .iter()
        .rev()
        .filter(|m| param(q, "To").is_none_or(|to| m.to == to))
        .filter(|m| param(q, "From").is_none_or(|from| m.from == from))
        .filter(|m| param(q, "DateSent").is_none_or(|d| sent_day(m) == d))
        .filter(|m| param(q, "DateSent<").is_none_or(|d| sent_day(m).as_str() <= d))
        .filter(|m| param(q, "DateSent>").is_none_or(|d| sent_day(m).as_str() >= d))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip(page * page_size)
        .take(page_size)
        .map(|m| message_json(m, &account))
        .collect();
    let filters: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "To" | "From" | "DateSent" | "DateSent<" | "DateSent>"
            )
        })
        .cloned()
        .collect();
    let base = format!("/2010-04-01/Accounts/{account}/Messages.json");
    json(
        200,
        "application/json",
        &page_json(
            "messages",
            &base,
            &filters,
            items,
            page,
            page_size,
            matching.len(),
        ),
    )
}

/// A 2010 API list page (twilio.md §2.4).
pub(crate) fn page_json(
    key: &str,
    base: &str,
    filters: &[(String, String)],
    items: Vec<Value>,
    page: usize,
    page_size: usize,
    total: usize,
) -> Value {
    let page_uri = |p: usize| {
        let mut pairs = filters.to_vec();
        pairs.push(("PageSize".into(), page_size.to_string()));
        pairs.push(("Page".into(), p.to_string()));
        format!("{base}?{}", util::encode_form(&pairs))
    };
    let start = page * page_size;
    let count = items.len();
    let has_next = start + count < total;
    json!({
        key: items,
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "next_page_uri": if has_next { Value::String(page_uri(page + 1)) } else { Value::Null },
        "previous_page_uri": if page > 0 { Value::String(page_uri(page - 1)) } else { Value::Null },
        "page": page,
        "page_size": page_size,
        "start": start,
        "end": (start + count).saturating_sub(1),
    })
}
