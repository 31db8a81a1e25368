//! Verify v2 (twilio.md §6): start, fetch, update, check.

use super::{error, form, is_e164, method_not_allowed, not_found};
use crate::ctx::{Ctx, Req};
use crate::state::{PhoneEntry, PhoneKind, SendAttempt, Verification};
use crate::time;
use crate::util::{json, param};
use connector::{HttpResponse, Method};
use serde_json::{Value, json};

fn verification_json(v: &Verification, account: &str) -> Value {
    json!({
        "sid": v.sid,
        "service_sid": v.service_sid,
        "account_sid": account,
        "to": v.to,
        "channel": v.channel,
        "status": v.status,
        "valid": v.status == "approved",
        "lookup": {},
        "amount": Value::Null,
        "payee": Value::Null,
        "send_code_attempts": v.sends.iter().map(|s| json!({
            "time": time::iso8601(s.time_ms),
            "channel": s.channel,
            "attempt_sid": s.attempt_sid,
        })).collect::<Vec<_>>(),
        "date_created": time::iso8601(v.created_ms),
        "date_updated": time::iso8601(v.updated_ms),
        "sna": Value::Null,
        "url": format!("https://verify.twilio.com/v2/Services/{}/Verifications/{}", v.service_sid, v.sid),
    })
}

fn check_json(v: &Verification, account: &str) -> Value {
    json!({
        "sid": v.sid,
        "service_sid": v.service_sid,
        "account_sid": account,
        "to": v.to,
        "channel": v.channel,
        "status": v.status,
        "valid": v.status == "approved",
        "amount": Value::Null,
        "payee": Value::Null,
        "date_created": time::iso8601(v.created_ms),
        "date_updated": time::iso8601(v.updated_ms),
        "sna_attempts_error_codes": [],
    })
}

/// Expires pending verifications whose 10 minutes are over (they are deleted: 404 from then on).
pub(crate) fn expire(ctx: &mut Ctx<'_>) {
    let now = ctx.now;
    for v in ctx
        .st
        .twilio
        .verifications
        .iter_mut()
        .filter(|v| !v.deleted && now >= v.expires_ms)
    {
        if v.status == "pending" || v.status == "max_attempts_reached" {
            v.status = "expired".into();
        }
        v.deleted = true;
        v.updated_ms = v.expires_ms;
    }
}

pub(crate) fn handle(ctx: &mut Ctx<'_>, req: &Req<'_>) -> HttpResponse {
    let segs: Vec<String> = req.segments().iter().map(|s| (*s).to_owned()).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let ["v2", "Services", service, rest @ ..] = segs.as_slice() else {
        return not_found(&req.path);
    };
    let Some(spec) = ctx
        .cfg
        .twilio
        .verify_services
        .iter()
        .find(|s| s.sid == *service)
        .cloned()
    else {
        return not_found(&req.path);
    };
    expire(ctx);
    match (rest, req.method) {
        // Fetch a service (<https://www.twilio.com/docs/verify/api/service#fetch-a-service>).
        ([], Method::Get) => json(
            200,
            "application/json",
            &serde_json::json!({
                "sid": spec.sid,
                "account_sid": ctx.cfg.twilio.account_sid,
                "friendly_name": spec.friendly_name,
                "code_length": spec.code_length,
                "url": format!("https://verify.twilio.com/v2/Services/{}", spec.sid),
            }),
        ),
        ([], _) => method_not_allowed(),
        (["Verifications"], Method::Post) => start(ctx, req, &spec),
        (["Verifications", sid], Method::Get) => match live(ctx, &spec.sid, sid) {
            Some(i) => json(
                200,
                "application/json",
                &verification_json(&ctx.st.twilio.verifications[i], &ctx.cfg.twilio.account_sid),
            ),
            None => not_found(&req.path),
        },
        (["Verifications", sid], Method::Post) => update(ctx, req, &spec.sid, sid),
        (["VerificationCheck"], Method::Post) => check(ctx, req, &spec.sid),
        (["Verifications"] | ["Verifications", _] | ["VerificationCheck"], _) => {
            method_not_allowed()
        }
        _ => not_found(&req.path),
    }
}

fn live(ctx: &Ctx<'_>, service: &str, sid: &str) -> Option<usize> {
    ctx.st
        .twilio
        .verifications
        .iter()
        .position(|v| v.service_sid == service && v.sid == sid && !v.deleted)
}

fn start(
    ctx: &mut Ctx<'_>,
    req: &Req<'_>,
    spec: &crate::config::VerifyServiceSpec,
) -> HttpResponse {
    let f = form(req);
    let to = param(&f, "To").unwrap_or("").to_owned();
    if !is_e164(&to) {
        return error(400, 60200, "Invalid parameter: To");
    }
    // Only the phone channels are simulated.
    let channel = param(&f, "Channel").unwrap_or("").to_owned();
    if channel != "sms" && channel != "call" {
        return error(400, 60200, "Invalid parameter: Channel");
    }
    let custom = param(&f, "CustomCode").map(str::to_owned);
    if custom
        .as_deref()
        .is_some_and(|c| !(4..=10).contains(&c.chars().count()))
    {
        return error(400, 60200, "Invalid parameter: CustomCode");
    }
    if let Some(locale) = param(&f, "Locale") {
        let b = locale.as_bytes();
        let ok = (b.len() == 2 && b.iter().all(u8::is_ascii_lowercase))
            || (b.len() == 5 && b[2] == b'-' && b[..2].iter().all(u8::is_ascii_lowercase));
        if !ok {
            return error(404, 20404, &format!("Locale {locale} is not supported"));
        }
    }
    let now = ctx.now;
    let tw = ctx.cfg.twilio.clone();
    let attempt_sid = ctx.st.rng.sid("VL");
    let attempt = SendAttempt {
        attempt_sid,
        channel: channel.clone(),
        time_ms: now,
    };
    let existing = ctx
        .st
        .twilio
        .verifications
        .iter()
        .position(|v| v.service_sid == spec.sid && v.to == to && !v.deleted);
    let idx = match existing {
        Some(i) => {
            // A resend within the window reuses the code and counts toward the send limit.
            if ctx.st.twilio.verifications[i].sends.len() as u32 >= tw.verify_max_sends {
                return error(429, 60203, "Max send attempts reached");
            }
            let v = &mut ctx.st.twilio.verifications[i];
            v.sends.push(attempt);
            v.channel = channel.clone();
            v.updated_ms = now;
            i
        }
        None => {
            let sid = ctx.st.rng.sid("VE");
            let code = custom.unwrap_or_else(|| ctx.st.rng.digits(spec.code_length.clamp(4, 10)));
            ctx.st.twilio.verifications.push(Verification {
                sid,
                service_sid: spec.sid.clone(),
                to: to.clone(),
                channel: channel.clone(),
                code,
                status: "pending".into(),
                created_ms: now,
                updated_ms: now,
                expires_ms: now + tw.verify_ttl_s * 1000,
                wrong_checks: 0,
                sends: vec![attempt],
                deleted: false,
            });
            ctx.st.twilio.verifications.len() - 1
        }
    };
    let v = ctx.st.twilio.verifications[idx].clone();
    let (kind, text) = if channel == "sms" {
        (
            PhoneKind::VerifySms,
            format!(
                "Your {} verification code is: {}",
                spec.friendly_name, v.code
            ),
        )
    } else {
        let spoken: Vec<String> = v.code.chars().map(String::from).collect();
        (
            PhoneKind::VerifyCall,
            format!(
                "Your {} verification code is {}",
                spec.friendly_name,
                spoken.join(" ")
            ),
        )
    };
    let seq = ctx.st.seq();
    ctx.st.phone_log.push(PhoneEntry {
        seq,
        at_ms: now,
        kind,
        from: "Twilio Verify".into(),
        to,
        text,
        sid: v.sid.clone(),
    });
    json(
        201,
        "application/json",
        &verification_json(&v, &tw.account_sid),
    )
}

fn update(ctx: &mut Ctx<'_>, req: &Req<'_>, service: &str, sid: &str) -> HttpResponse {
    let f = form(req);
    let Some(i) = live(ctx, service, sid) else {
        return not_found(&req.path);
    };
    let status = match param(&f, "Status") {
        Some(s @ ("canceled" | "approved")) => s.to_owned(),
        _ => return error(400, 60200, "Invalid parameter: Status"),
    };
    let now = ctx.now;
    let v = &mut ctx.st.twilio.verifications[i];
    v.status = status;
    v.updated_ms = now;
    v.deleted = true;
    let v = v.clone();
    json(
        200,
        "application/json",
        &verification_json(&v, &ctx.cfg.twilio.account_sid),
    )
}

fn check(ctx: &mut Ctx<'_>, req: &Req<'_>, service: &str) -> HttpResponse {
    let f = form(req);
    let to = param(&f, "To").filter(|s| !s.is_empty());
    let vsid = param(&f, "VerificationSid").filter(|s| !s.is_empty());
    if to.is_none() && vsid.is_none() {
        return error(
            400,
            60221,
            "Either a 'To' number or 'VerificationSid' must be specified",
        );
    }
    let code = param(&f, "Code").unwrap_or("");
    if !(4..=10).contains(&code.chars().count()) {
        return error(400, 60200, "Invalid parameter: Code");
    }
    let found = ctx.st.twilio.verifications.iter().rposition(|v| {
        v.service_sid == service
            && !v.deleted
            && vsid.is_none_or(|s| v.sid == s)
            && to.is_none_or(|t| v.to == t)
    });
    let Some(i) = found else {
        return not_found(&req.path);
    };
    let now = ctx.now;
    let max = ctx.cfg.twilio.verify_max_checks;
    let v = &mut ctx.st.twilio.verifications[i];
    if v.wrong_checks >= max {
        v.status = "max_attempts_reached".into();
        return error(429, 60202, "Max check attempts reached");
    }
    v.updated_ms = now;
    if v.code == code {
        v.status = "approved".into();
        // Approved verifications are deleted: a repeated check gets 404 (twilio.md §6.3).
        v.deleted = true;
    } else {
        v.wrong_checks += 1;
    }
    let v = v.clone();
    json(
        200,
        "application/json",
        &check_json(&v, &ctx.cfg.twilio.account_sid),
    )
}
