//! Simulated time: scheduled status changes and the callbacks they cause.

use crate::config::SimConfig;
use crate::state::{CallbackKind, EventKind, PendingCallback, PhoneEntry, PhoneKind, SimState};
use crate::time;
use crate::util::Url;

/// Applies every scheduled change due at `now`, in (due time, sequence) order, and moves due
/// callbacks out of the outbox. Returns the callbacks to deliver now, in delivery order.
pub(crate) fn advance(cfg: &SimConfig, st: &mut SimState, now: u64) -> Vec<PendingCallback> {
    loop {
        let next = st
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.due_ms <= now)
            .min_by_key(|(_, e)| (e.due_ms, e.seq))
            .map(|(i, _)| i);
        let Some(i) = next else { break };
        let event = st.events.remove(i);
        match event.kind {
            EventKind::Message {
                sid,
                status,
                error_code,
            } => {
                apply_message_status(cfg, st, event.due_ms, &sid, &status, error_code);
            }
            EventKind::Call { sid, status } => {
                apply_call_status(cfg, st, event.due_ms, &sid, &status)
            }
        }
    }
    let mut due: Vec<PendingCallback> = Vec::new();
    st.outbox.retain(|cb| {
        if cb.due_ms <= now {
            due.push(cb.clone());
            false
        } else {
            true
        }
    });
    due.sort_by_key(|cb| (cb.due_ms, cb.seq));
    due
}

/// Queues a callback at `at` plus the jitter knob, and maybe a duplicate (same idempotency
/// token, as a Twilio retry would carry; twilio.md §7.4).
pub(crate) fn queue_callback(
    st: &mut SimState,
    at: u64,
    url: &str,
    params: Vec<(String, String)>,
    kind: CallbackKind,
    sid: &str,
    status: &str,
) {
    let faults = st.faults.twilio.clone();
    let token = format!("{}-{}", st.rng.hex(8), st.rng.hex(24));
    let copies = if st.rng.chance(faults.callback_duplicate_permille) {
        2
    } else {
        1
    };
    for _ in 0..copies {
        let jitter = if faults.callback_jitter_ms > 0 {
            st.rng.below(faults.callback_jitter_ms + 1)
        } else {
            0
        };
        let seq = st.seq();
        st.outbox.push(PendingCallback {
            due_ms: at + jitter,
            seq,
            url: url.to_owned(),
            params: params.clone(),
            idempotency_token: token.clone(),
            kind,
            sid: sid.to_owned(),
            status: status.to_owned(),
        });
    }
}

fn log_phone(
    st: &mut SimState,
    at: u64,
    kind: PhoneKind,
    from: &str,
    to: &str,
    text: &str,
    sid: &str,
) {
    let seq = st.seq();
    st.phone_log.push(PhoneEntry {
        seq,
        at_ms: at,
        kind,
        from: from.to_owned(),
        to: to.to_owned(),
        text: text.to_owned(),
        sid: sid.to_owned(),
    });
}

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// A message reaches `status`: update the resource, log delivery to the phone, queue the status
/// callback (twilio.md §7.2).
pub(crate) fn apply_message_status(
    cfg: &SimConfig,
    st: &mut SimState,
    at: u64,
    sid: &str,
    status: &str,
    error_code: Option<u32>,
) {
    let Some(m) = st.twilio.messages.iter_mut().find(|m| m.sid == sid) else {
        return;
    };
    m.status = status.to_owned();
    m.date_updated_ms = at;
    if error_code.is_some() {
        m.error_code = error_code;
    }
    if status == "sent" || (status == "failed" && m.date_sent_ms.is_none()) {
        m.date_sent_ms.get_or_insert(at);
    }
    if status == "queued" && m.num_segments == 0 {
        // With a Messaging Service the count is known once a sender is chosen (twilio.md §3.2).
        m.num_segments = crate::twilio::segments::count(&m.body);
    }
    let m = m.clone();
    if status == "delivered" {
        log_phone(st, at, PhoneKind::Sms, &m.from, &m.to, &m.body, &m.sid);
    }
    let Some(url) = m.status_callback.clone() else {
        return;
    };
    let mut params = vec![
        p("AccountSid", cfg.twilio.account_sid.clone()),
        p("ApiVersion", "2010-04-01"),
        p("From", m.from.clone()),
        p("MessageSid", m.sid.clone()),
        p("MessageStatus", status),
        p("SmsSid", m.sid.clone()),
        p("SmsStatus", status),
        p("To", m.to.clone()),
    ];
    if let Some(svc) = &m.messaging_service_sid {
        params.push(p("MessagingServiceSid", svc.clone()));
    }
    if let Some(code) = error_code {
        params.push(p("ErrorCode", code.to_string()));
    }
    if status == "delivered" || status == "undelivered" {
        params.push(p("RawDlrDoneDate", time::dlr_done_date(at)));
    }
    queue_callback(
        st,
        at,
        &url,
        params,
        CallbackKind::MessageStatus,
        &m.sid,
        status,
    );
}

/// A call reaches `status` (`initiated` is a callback-only state): update the resource, log an
/// answered call, queue the callbacks asked for with `StatusCallbackEvent` (twilio.md §7.3).
pub(crate) fn apply_call_status(
    cfg: &SimConfig,
    st: &mut SimState,
    at: u64,
    sid: &str,
    status: &str,
) {
    let Some(c) = st.twilio.calls.iter_mut().find(|c| c.sid == sid) else {
        return;
    };
    if status != "initiated" {
        c.status = status.to_owned();
    }
    c.date_updated_ms = at;
    let final_status = matches!(
        status,
        "completed" | "busy" | "no-answer" | "failed" | "canceled"
    );
    match status {
        "in-progress" => c.start_ms = Some(at),
        "completed" => {
            c.end_ms = Some(at);
            c.duration_s = Some(c.start_ms.map_or(0, |s| at.saturating_sub(s) / 1000));
        }
        _ if final_status => {
            c.end_ms = Some(at);
            c.duration_s = Some(0);
        }
        _ => {}
    }
    let event = match status {
        "initiated" => "initiated",
        "ringing" => "ringing",
        "in-progress" => "answered",
        _ => "completed",
    };
    let wanted = c.callback_events.iter().any(|e| e == event);
    let sequence = c.next_sequence;
    if wanted && c.status_callback.is_some() {
        c.next_sequence += 1;
    }
    let c = c.clone();
    if status == "in-progress" {
        let text = c
            .twiml
            .clone()
            .or_else(|| c.url.clone())
            .unwrap_or_default();
        log_phone(st, at, PhoneKind::Call, &c.from, &c.to, &text, &c.sid);
    }
    let Some(url) = c.status_callback.clone().filter(|_| wanted) else {
        return;
    };
    let mut params = vec![
        p("AccountSid", cfg.twilio.account_sid.clone()),
        p("ApiVersion", "2010-04-01"),
        p("CallSid", c.sid.clone()),
        p("CallStatus", status),
        p("Called", c.to.clone()),
        p("Caller", c.from.clone()),
        p("CallbackSource", "call-progress-events"),
        p("Direction", "outbound-api"),
        p("From", c.from.clone()),
        p("SequenceNumber", sequence.to_string()),
        p("Timestamp", time::rfc2822(at)),
        p("To", c.to.clone()),
    ];
    if final_status {
        let secs = c.duration_s.unwrap_or(0);
        params.push(p("CallDuration", secs.to_string()));
        params.push(p("Duration", secs.div_ceil(60).to_string()));
    }
    queue_callback(
        st,
        at,
        &url,
        params,
        CallbackKind::CallStatus,
        &c.sid,
        status,
    );
}

/// The URL Twilio signs for a callback: without `user:pass@` and fragment; voice callbacks over
/// HTTPS also drop an explicit port (twilio.md §8.4).
pub(crate) fn signed_url(raw: &str, kind: CallbackKind) -> String {
    match Url::parse(raw) {
        Some(mut u) => {
            if kind == CallbackKind::CallStatus && u.scheme == "https" {
                u.port = None;
            }
            u.without_fragment()
        }
        None => raw.split('#').next().unwrap_or(raw).to_owned(),
    }
}
