//! The Twilio side: Messages and Calls (REST API 2010-04-01), Verify v2, callbacks.

pub(crate) mod callbacks;
pub(crate) mod calls;
pub(crate) mod messages;
pub(crate) mod segments;
pub(crate) mod verify;

use crate::ctx::{Ctx, Req};
use crate::util::{self, basic_credentials, json, media_type};
use connector::HttpResponse;
use serde_json::json;

/// Twilio's error body (twilio.md §2.3).
pub(crate) fn error(status: u16, code: u32, message: &str) -> HttpResponse {
    json(
        status,
        "application/json",
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

/// 401 / 20003 (twilio.md §1.2). The message text is not documented; "Authenticate" is what
/// third parties show.
pub(crate) fn unauthorized() -> HttpResponse {
    error(401, 20003, "Authenticate").header("WWW-Authenticate", "Basic realm=\"Twilio API\"")
}

/// 404 / 20404 for a path.
pub(crate) fn not_found(path: &str) -> HttpResponse {
    error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

/// 405 for a known resource with another method.
pub(crate) fn method_not_allowed() -> HttpResponse {
    error(405, 20004, "Method not allowed")
}

/// HTTP Basic with an API key (`SK…` + secret) or the Account SID + Auth Token (twilio.md §1.1).
pub(crate) fn authenticate(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<(), HttpResponse> {
    let tw = &ctx.cfg.twilio;
    let Some((user, pass)) = basic_credentials(req.raw) else {
        ctx.principal = "no credentials".into();
        return Err(unauthorized());
    };
    if user == tw.account_sid && tw.auth_token.matches(&pass) {
        ctx.principal = format!("account:{user}");
        return Ok(());
    }
    if tw
        .api_keys
        .iter()
        .any(|k| k.sid == user && k.secret.matches(&pass))
    {
        ctx.principal = format!("key:{user}");
        return Ok(());
    }
    ctx.principal = format!("bad credentials for {user}");
    Err(unauthorized())
}

/// The form parameters of a write. Twilio reads only form bodies (multipart works too); a JSON
/// body is ignored, so its request fails on the first required parameter (twilio.md §2.1).
pub(crate) fn form(req: &Req<'_>) -> Vec<(String, String)> {
    match media_type(req.raw).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            util::decode_form_str(&String::from_utf8_lossy(&req.raw.body))
        }
        Some("multipart/form-data") => util::multipart(req.raw)
            .map(|parts| {
                parts
                    .into_iter()
                    .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// E.164 pre-check `^\+[1-9]\d{1,14}$` (twilio.md §11).
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// A `To` Twilio accepts for messages: E.164 or a channel address with an E.164 number
/// (`whatsapp:+…`, twilio.md §3.1).
pub(crate) fn is_message_address(to: &str) -> bool {
    match to.split_once(':') {
        Some((channel, number)) => {
            matches!(channel, "whatsapp" | "messenger" | "rcs") && is_e164(number)
        }
        None => is_e164(to),
    }
}

/// Alphanumeric sender ID: 1–11 letters, digits and spaces with at least one letter.
pub(crate) fn is_alphanumeric_sender(from: &str) -> bool {
    (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A callback URL Twilio accepts: absolute http(s), host without underscores (twilio.md §3.1).
pub(crate) fn valid_callback(url: &str) -> bool {
    util::Url::parse(url).is_some_and(|u| !u.host.contains('_'))
}

/// The account's default sender (first owned number).
pub(crate) fn default_number(ctx: &Ctx<'_>) -> String {
    ctx.cfg
        .twilio
        .phone_numbers
        .first()
        .cloned()
        .unwrap_or_else(|| "+15005550006".into())
}
