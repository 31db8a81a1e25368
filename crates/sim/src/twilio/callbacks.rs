//! Delivering callbacks: signed exactly as Twilio signs them, retried per the URL's connection
//! overrides (twilio.md §7.5, §8).

use crate::engine::signed_url;
use crate::state::{Delivery, PendingCallback};
use crate::util::{Url, encode_form};
use connector::{HttpClient, HttpError, HttpRequest, Method};

/// Retry policy from the `#rc=…&rp=…` fragment: defaults one retry, on connect failures only.
fn overrides(url: &str) -> (u32, Vec<String>) {
    let mut rc = 1;
    let mut rp = vec!["ct".to_owned()];
    if let Some(fragment) = url.split_once('#').map(|(_, f)| f) {
        for (k, v) in crate::util::decode_form_str(fragment) {
            match k.as_str() {
                "rc" => rc = v.parse::<u32>().map_or(rc, |n| n.min(5)),
                "rp" => rp = v.split(',').map(|s| s.trim().to_owned()).collect(),
                _ => {}
            }
        }
    }
    (rc, rp)
}

fn retry_class(outcome: &Result<u16, HttpError>) -> Option<&'static str> {
    match outcome {
        Ok(s) if (500..600).contains(s) => Some("5xx"),
        Ok(s) if (400..500).contains(s) => Some("4xx"),
        Ok(_) => None,
        Err(HttpError::Connect(_) | HttpError::Denied(_)) => Some("ct"),
        Err(HttpError::Timeout | HttpError::Transport(_)) => Some("rt"),
    }
}

/// Builds the signed request for one callback.
pub(crate) fn request(auth_token: &str, cb: &PendingCallback) -> (String, HttpRequest) {
    let signing = signed_url(&cb.url, cb.kind);
    let target = Url::parse(&cb.url).map_or_else(|| signing.clone(), |u| u.without_fragment());
    let signature = signature::compute_signature(auth_token, &signing, &cb.params);
    let req = HttpRequest::new(Method::Post, target.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .header("I-Twilio-Idempotency-Token", cb.idempotency_token.clone())
        .header("User-Agent", "TwilioProxy/1.1")
        .header("Accept", "*/*")
        .body(encode_form(&cb.params).into_bytes());
    (target, req)
}

/// Delivers one callback through `outbound`, retrying as its URL's overrides say. Sequence
/// numbers of the returned attempts are filled in when they are recorded.
pub(crate) fn deliver<O: HttpClient + ?Sized>(
    outbound: &O,
    auth_token: &str,
    cb: &PendingCallback,
    now: u64,
) -> Vec<Delivery> {
    let (retries, retry_on) = overrides(&cb.url);
    let (target, req) = request(auth_token, cb);
    let mut attempts = Vec::new();
    for attempt in 1..=retries + 1 {
        let outcome = outbound.send(req.clone()).map(|r| r.status);
        let class = retry_class(&outcome);
        attempts.push(Delivery {
            seq: 0,
            at_ms: now,
            url: target.clone(),
            kind: cb.kind,
            sid: cb.sid.clone(),
            status: cb.status.clone(),
            attempt,
            idempotency_token: cb.idempotency_token.clone(),
            response_status: outcome.as_ref().ok().copied(),
            error: outcome.as_ref().err().map(ToString::to_string),
        });
        let retry = class.is_some_and(|c| retry_on.iter().any(|r| r == c || r == "all"));
        if !retry {
            break;
        }
    }
    attempts
}
