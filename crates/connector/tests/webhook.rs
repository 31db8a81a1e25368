//! The webhook end to end over the ports: in-memory store, manual clock, and the native signature
//! library standing in for the signature component.

use connector::audit::{self, AuditEntry, Outcome};
use connector::inbound::{self, DedupKey, Enqueued, InboundEvent, InboundRecord, QueueEntry, Slot};
use connector::keys;
use connector::memory::{ManualClock, MemoryStore, SeededRng};
use connector::webhook::{
    ConfigError, EMPTY_TWIML, MAX_BODY_BYTES, RequestBody, SignatureCheck, SignatureRejection,
    Webhook, WebhookConfig, WebhookRequest,
};
use connector::{HttpResponse, KeyValue, Rng, Secret, StoreError};
use std::cell::RefCell;

const TOKEN: &str = "test-auth-token-0123456789abcdef";
const BASE: &str = "https://hooks.example.com";
const NOON: u64 = 1_795_608_000_000; // 2026-11-25T12:00:00Z
const DAY: &str = "20261125";
const SM: &str = "SM0123456789abcdef0123456789abcdef";
const SM2: &str = "SMfedcba9876543210fedcba9876543210";
const CA: &str = "CA0123456789abcdef0123456789abcdef";
const AC: &str = "AC0123456789abcdef0123456789abcdef";

/// The native library behind the port, mapping its errors one to one.
struct NativeSignatures;

fn map(e: signature::SignatureError) -> SignatureRejection {
    use signature::SignatureError as E;
    match e {
        E::MissingSignature => SignatureRejection::MissingSignature,
        E::MalformedSignature => SignatureRejection::MalformedSignature,
        E::Mismatch => SignatureRejection::Mismatch,
        E::InvalidUrl(why) => SignatureRejection::InvalidUrl(why),
        E::MissingBodyHash => SignatureRejection::MissingBodyHash,
        E::BodyHashMismatch => SignatureRejection::BodyHashMismatch,
    }
}

impl SignatureCheck for NativeSignatures {
    fn validate_form(
        &self,
        t: &Secret,
        url: &str,
        params: &[(String, String)],
        sig: &str,
    ) -> Result<(), SignatureRejection> {
        signature::validate_form(t.expose(), url, params, sig).map_err(map)
    }
    fn validate_json(
        &self,
        t: &Secret,
        url: &str,
        body: &[u8],
        sig: &str,
    ) -> Result<(), SignatureRejection> {
        signature::validate_json(t.expose(), url, body, sig).map_err(map)
    }
}

/// What reading one variable gave.
type Var = Result<Option<String>, String>;
/// Route, parameters, expected reason.
type FieldCase = (&'static str, Vec<(String, String)>, &'static str);

fn config() -> WebhookConfig {
    WebhookConfig::from_variables(Ok(Some(BASE.into())), Ok(Some(TOKEN.into()))).unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn encode(params: &[(String, String)]) -> Vec<u8> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A form POST to `path_with_query`, signed for `BASE` + `path_with_query`.
fn signed(path_with_query: &str, params: &[(String, String)]) -> WebhookRequest {
    let sig = signature::compute_signature(TOKEN, &format!("{BASE}{path_with_query}"), params);
    WebhookRequest {
        method: "POST".into(),
        path_with_query: path_with_query.into(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-twilio-signature".into(), sig),
        ],
        body: RequestBody::Complete(encode(params)),
    }
}

fn delivered() -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", AC),
        ("From", "+4930123456"),
        ("To", "+4915112345678"),
        ("MessageSid", SM),
        ("MessageStatus", "delivered"),
        ("SmsSid", SM),
        ("SmsStatus", "delivered"),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn inbound_yes() -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", AC),
        ("MessageSid", SM2),
        ("From", "+4915112345678"),
        ("To", "+4930123456"),
        ("Body", "YES 4711"),
        ("NumMedia", "0"),
    ])
}

struct Env {
    store: MemoryStore,
    clock: ManualClock,
}

impl Env {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            clock: ManualClock::at(NOON),
        }
    }
    fn send(&self, req: &WebhookRequest) -> HttpResponse {
        self.send_with(Ok(&config()), req)
    }
    fn send_with(
        &self,
        cfg: Result<&WebhookConfig, &ConfigError>,
        req: &WebhookRequest,
    ) -> HttpResponse {
        Webhook {
            store: &self.store,
            clock: &self.clock,
            signatures: &NativeSignatures,
        }
        .handle(cfg, req)
    }
    fn inbound_keys(&self) -> Vec<String> {
        self.store
            .keys()
            .into_iter()
            .filter(|k| k.contains("inbound"))
            .collect()
    }
    fn audit(&self) -> Vec<AuditEntry> {
        let page = audit::page(
            &self.store,
            connector::time::Day::parse(DAY).unwrap(),
            0,
            1000,
        )
        .unwrap();
        page.entries.into_iter().map(|(_, e)| e).collect()
    }
    fn record(&self, slot: u64) -> InboundRecord {
        match inbound::read_slot(&self.store, slot).unwrap() {
            Slot::Event(r) => r,
            other => panic!("slot {slot}: {other:?}"),
        }
    }
}

fn text(resp: &HttpResponse) -> &str {
    std::str::from_utf8(&resp.body).unwrap()
}

// --- accepted ----------------------------------------------------------------------------------

#[test]
fn signed_status_callback_is_queued_once_with_five_writes() {
    let env = Env::new();
    let resp = env.send(&signed("/twilio/status", &delivered()));
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b""[..]));
    assert_eq!(env.store.writes(), 5);
    let claim = format!("claim:inbound:msg:{SM}:delivered");
    assert_eq!(
        env.store.keys(),
        vec![
            format!("audit:{DAY}:1"),
            claim.clone(),
            "inbound:1".into(),
            format!("seq:audit:{DAY}"),
            "seq:inbound".into()
        ]
    );
    let stored = env.store.get("inbound:1").unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&stored).unwrap(),
        format!(
            r#"{{"entry":"event","version":1,"slot":1,"received_at_ms":{NOON},"dedup_key":"msg:{SM}:delivered","event":{{"kind":"message_status","message_sid":"{SM}","status":"delivered","error_code":null,"from":"+4930123456","to":"+4915112345678","account_sid":"{AC}"}},"processing":{{"attempts":0,"last_error":null,"next_attempt_at_ms":null}}}}"#
        )
    );
    assert_eq!(keys::read_counter(&env.store, &claim).unwrap(), 1);
    let audit = env.audit();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "webhook.status");
    assert_eq!(audit[0].subject, format!("message:{SM}"));
    assert_eq!(audit[0].outcome, Outcome::Ok);
    assert_eq!(
        audit[0].correlation.get("slot").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        audit[0].correlation.get("status").map(String::as_str),
        Some("delivered")
    );
}

#[test]
fn the_same_callback_twice_is_queued_once() {
    let env = Env::new();
    let req = signed("/twilio/status", &delivered());
    assert_eq!(env.send(&req).status, 200);
    env.clock.advance_ms(15_000);
    assert_eq!(env.send(&req).status, 200);
    // The duplicate costs only its audit entry.
    assert_eq!(env.store.writes(), 7);
    assert_eq!(inbound::tail(&env.store).unwrap(), 1);
    assert_eq!(
        env.inbound_keys(),
        vec![
            format!("claim:inbound:msg:{SM}:delivered"),
            "inbound:1".to_owned(),
            "seq:inbound".to_owned()
        ]
    );
    let outcomes: Vec<_> = env.audit().into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Ok, Outcome::Duplicate]);
}

#[test]
fn a_later_status_of_the_same_message_is_a_new_event() {
    let env = Env::new();
    let mut sent = delivered();
    sent.iter_mut()
        .filter(|(k, _)| k == "MessageStatus" || k == "SmsStatus")
        .for_each(|(_, v)| *v = "sent".into());
    assert_eq!(env.send(&signed("/twilio/status", &sent)).status, 200);
    assert_eq!(
        env.send(&signed("/twilio/status", &delivered())).status,
        200
    );
    assert_eq!(inbound::tail(&env.store).unwrap(), 2);
    assert_eq!(env.record(1).dedup_key, format!("msg:{SM}:sent"));
    assert_eq!(env.record(2).dedup_key, format!("msg:{SM}:delivered"));
}

#[test]
fn idempotency_token_is_the_dedup_key_when_present() {
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.headers
        .push(("I-Twilio-Idempotency-Token".into(), "a1b2c3d4e5:f6".into()));
    assert_eq!(env.send(&req).status, 200);
    assert_eq!(env.send(&req).status, 200);
    assert_eq!(
        env.inbound_keys(),
        vec![
            "claim:inbound:tok:a1b2c3d4e5%3Af6".to_owned(),
            "inbound:1".to_owned(),
            "seq:inbound".to_owned()
        ]
    );
    assert_eq!(env.record(1).dedup_key, "tok:a1b2c3d4e5%3Af6");
    // The audit keeps only the head of the token.
    assert_eq!(
        env.audit()[0].correlation.get("dedup").map(String::as_str),
        Some("tok:a1b2c3d4…")
    );
}

#[test]
fn call_callbacks_dedup_on_sid_status_and_sequence_number() {
    let env = Env::new();
    let call = |status: &str, seq: &str| {
        pairs(&[
            ("CallSid", CA),
            ("AccountSid", AC),
            ("CallStatus", status),
            ("SequenceNumber", seq),
            ("From", "+4930123456"),
            ("To", "+4915112345678"),
        ])
    };
    assert_eq!(
        env.send(&signed("/twilio/status", &call("ringing", "1")))
            .status,
        200
    );
    assert_eq!(
        env.send(&signed("/twilio/status", &call("completed", "3")))
            .status,
        200
    );
    assert_eq!(
        env.send(&signed("/twilio/status", &call("completed", "3")))
            .status,
        200
    );
    assert_eq!(inbound::tail(&env.store).unwrap(), 2);
    let r = env.record(2);
    assert_eq!(r.dedup_key, format!("call:{CA}:completed:3"));
    match r.event {
        InboundEvent::CallStatus(e) => {
            assert_eq!(
                (e.call_sid.as_str(), e.status.as_str(), e.sequence_number),
                (CA, "completed", Some(3))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        env.audit()[1]
            .correlation
            .get("sequence")
            .map(String::as_str),
        Some("3")
    );
}

#[test]
fn inbound_sms_gets_empty_twiml_and_its_body_stays_out_of_the_audit() {
    let env = Env::new();
    let resp = env.send(&signed("/twilio/inbound", &inbound_yes()));
    assert_eq!(resp.status, 200);
    assert_eq!(text(&resp), EMPTY_TWIML);
    assert_eq!(
        text(&resp),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    assert_eq!(resp.header_value("content-type"), Some("text/xml"));
    match env.record(1).event {
        InboundEvent::InboundSms(sms) => {
            assert_eq!(
                (sms.from.as_str(), sms.to.as_str(), sms.body.as_str()),
                ("+4915112345678", "+4930123456", "YES 4711")
            );
            assert_eq!(sms.num_media, Some(0));
            assert!(
                !format!("{sms:?}").contains("YES"),
                "Debug must not show the body"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(env.record(1).dedup_key, format!("sms:{SM2}"));
    // Duplicate: same TwiML, not queued again.
    assert_eq!(
        text(&env.send(&signed("/twilio/inbound", &inbound_yes()))),
        EMPTY_TWIML
    );
    assert_eq!(inbound::tail(&env.store).unwrap(), 1);
    for (key, value) in env.store.dump() {
        let value = String::from_utf8_lossy(&value);
        if key.starts_with("audit:") {
            assert!(
                !value.contains("YES 4711") && !value.contains("4711"),
                "{key}: {value}"
            );
        }
        assert!(!value.contains(TOKEN), "{key} holds the auth token");
    }
}

#[test]
fn signed_json_body_with_valid_body_hash_is_accepted() {
    let env = Env::new();
    let body = format!(
        r#"{{"MessageSid":"{SM}","MessageStatus":"undelivered","ErrorCode":30003,"To":"+4915112345678"}}"#
    );
    let hash = sha256_hex(body.as_bytes());
    let path = format!("/twilio/status?bodySHA256={hash}");
    let sig = signature::compute_signature(TOKEN, &format!("{BASE}{path}"), &[]);
    let req = WebhookRequest {
        method: "POST".into(),
        path_with_query: path,
        headers: vec![
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("X-Twilio-Signature".into(), sig),
        ],
        body: RequestBody::Complete(body.clone().into_bytes()),
    };
    assert_eq!(env.send(&req).status, 200);
    match env.record(1).event {
        InboundEvent::MessageStatus(e) => {
            assert_eq!(
                (e.status.as_str(), e.error_code, e.from),
                ("undelivered", Some(30003), None)
            );
        }
        other => panic!("{other:?}"),
    }
    // The same signature with a changed body fails the hash check.
    let mut tampered = req.clone();
    tampered.body = RequestBody::Complete(body.replace("30003", "30004").into_bytes());
    assert_eq!(env.send(&tampered).status, 403);
    // No bodySHA256 in the URL: cannot be validated.
    let sig = signature::compute_signature(TOKEN, &format!("{BASE}/twilio/status"), &[]);
    let mut no_hash = req.clone();
    no_hash.path_with_query = "/twilio/status".into();
    no_hash.headers[1].1 = sig;
    assert_eq!(env.send(&no_hash).status, 403);
    assert_eq!(inbound::tail(&env.store).unwrap(), 1);
}

/// Lowercase hex SHA-256, computed independently of the code under test.
fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = sha256(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// FIPS 180-4 SHA-256, for computing test `bodySHA256` values independently of the code under test.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn sha256_helper_matches_twilio_vector() {
    // twilio.md §8.6: body `{"property": "value", "boolean": true}`.
    assert_eq!(
        sha256_hex(br#"{"property": "value", "boolean": true}"#),
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    );
}

// --- rejected ----------------------------------------------------------------------------------

/// Asserts a rejection: exact status, nothing queued, exactly one audit entry with that status.
fn assert_rejected(env: &Env, resp: &HttpResponse, status: u16, body: &str) {
    assert_eq!((resp.status, text(resp)), (status, body));
    assert_eq!(env.inbound_keys(), Vec::<String>::new());
    let audit = env.audit();
    assert_eq!(audit.len(), 1);
    let got = match &audit[0].outcome {
        Outcome::Rejected { status, .. } | Outcome::Failed { status, .. } => *status,
        other => panic!("{other:?}"),
    };
    assert_eq!(got, Some(status));
    // Rejected requests cost the two audit writes only.
    assert_eq!(env.store.writes(), 2);
}

#[test]
fn tampered_parameter_is_forbidden() {
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    let mut tampered = delivered();
    tampered[4].1 = "failed".into();
    req.body = RequestBody::Complete(encode(&tampered));
    let resp = env.send(&req);
    assert_rejected(&env, &resp, 403, "forbidden\n");
    let entry = &env.audit()[0];
    assert_eq!(
        entry.outcome,
        Outcome::Rejected {
            status: Some(403),
            reason: "signature mismatch".into()
        }
    );
    assert_eq!(
        entry.correlation.get("claimed_sid").map(String::as_str),
        Some(SM)
    );
    assert_eq!(entry.subject, "route:/twilio/status");
    assert!(matches!(
        entry.actor,
        connector::audit::Actor::Unverified { .. }
    ));
}

#[test]
fn signature_for_another_url_is_forbidden() {
    let env = Env::new();
    // Signed for the path without the query Twilio actually called.
    let mut req = signed("/twilio/status", &delivered());
    req.path_with_query = "/twilio/status?item=sms-J1".into();
    assert_rejected(&env, &env.send(&req), 403, "forbidden\n");
    // Signed for the Spin-internal URL instead of the public one.
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    let sig =
        signature::compute_signature(TOKEN, "http://127.0.0.1:3000/twilio/status", &delivered());
    req.headers[1].1 = sig;
    assert_rejected(&env, &env.send(&req), 403, "forbidden\n");
}

#[test]
fn missing_or_repeated_signature_header_is_forbidden() {
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.headers.retain(|(n, _)| n != "x-twilio-signature");
    assert_rejected(&env, &env.send(&req), 403, "forbidden\n");
    assert_eq!(
        env.audit()[0].outcome,
        Outcome::Rejected {
            status: Some(403),
            reason: "X-Twilio-Signature missing".into()
        }
    );
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    let sig = req.headers[1].1.clone();
    req.headers.push(("X-Twilio-Signature".into(), sig));
    assert_rejected(&env, &env.send(&req), 403, "forbidden\n");
}

#[test]
fn plain_http_forwarding_is_forbidden_even_when_signed() {
    for (name, value) in [
        ("X-Forwarded-Proto", "http"),
        ("x-forwarded-proto", "HTTP"),
        ("X-Forwarded-Proto", "https, http"),
        ("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43"),
    ] {
        let env = Env::new();
        let mut req = signed("/twilio/status", &delivered());
        req.headers.push((name.into(), value.into()));
        assert_rejected(&env, &env.send(&req), 403, "forbidden\n");
        assert_eq!(
            env.audit()[0].outcome,
            Outcome::Rejected {
                status: Some(403),
                reason: "forwarded over plain http".into()
            }
        );
    }
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.headers
        .push(("X-Forwarded-Proto".into(), "https".into()));
    req.headers.push(("Forwarded".into(), "proto=https".into()));
    assert_eq!(env.send(&req).status, 200);
}

#[test]
fn http_public_base_url_makes_the_webhook_refuse() {
    let env = Env::new();
    let cfg = WebhookConfig::from_variables(
        Ok(Some("http://hooks.example.com".into())),
        Ok(Some(TOKEN.into())),
    );
    let err = cfg.unwrap_err();
    assert_eq!(
        err,
        ConfigError::NotHttps {
            scheme: "http".into()
        }
    );
    let resp = env.send_with(Err(&err), &signed("/twilio/status", &delivered()));
    assert_rejected(
        &env,
        &resp,
        500,
        "webhook refuses to serve: public_base_url must start with https:// (Twilio signs the public https URL, and callbacks must not travel in clear); it uses \"http\"\n",
    );
    assert!(matches!(
        env.audit()[0].outcome,
        Outcome::Failed {
            status: Some(500),
            ..
        }
    ));
}

#[test]
fn config_errors_name_the_variable() {
    let cases: Vec<(Var, Var, ConfigError)> = vec![
        (
            Ok(None),
            Ok(Some(TOKEN.into())),
            ConfigError::Missing {
                name: "public_base_url",
            },
        ),
        (
            Ok(Some(BASE.into())),
            Ok(Some(String::new())),
            ConfigError::Missing {
                name: "twilio_auth_token",
            },
        ),
        (
            Ok(Some(BASE.into())),
            Err("vault sealed".into()),
            ConfigError::Unreadable {
                name: "twilio_auth_token",
                reason: "vault sealed".into(),
            },
        ),
        (
            Ok(Some("hooks.example.com".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::NotHttps {
                scheme: "(none)".into(),
            },
        ),
        (
            Ok(Some("HTTP://hooks.example.com".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::NotHttps {
                scheme: "HTTP".into(),
            },
        ),
        (
            Ok(Some("https://hooks.example.com:8443x".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("port is not a number up to 65535"),
        ),
        (
            Ok(Some("https://hooks.example.com:65536".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("port is not a number up to 65535"),
        ),
        (
            Ok(Some("https://hooks.example.com?x=1".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("has a query or fragment"),
        ),
        (
            Ok(Some("https://user:pw@hooks.example.com".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("has userinfo"),
        ),
        (
            Ok(Some("https:///x".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("has no host"),
        ),
        (
            Ok(Some("https://hooks.example.com /".into())),
            Ok(Some(TOKEN.into())),
            ConfigError::InvalidBaseUrl("contains whitespace"),
        ),
    ];
    for (base, token, want) in cases {
        assert_eq!(
            WebhookConfig::from_variables(base, token).unwrap_err(),
            want
        );
    }
    // A trailing slash and a path prefix are fine.
    let cfg = WebhookConfig::from_variables(
        Ok(Some("https://example.com/connector/".into())),
        Ok(Some(TOKEN.into())),
    )
    .unwrap();
    assert_eq!(
        cfg.public_base_url.url_for("/twilio/status?a=1"),
        "https://example.com/connector/twilio/status?a=1"
    );
    assert!(!format!("{cfg:?}").contains(TOKEN));
    let v6 = WebhookConfig::from_variables(
        Ok(Some("https://[2001:db8::1]:8443".into())),
        Ok(Some(TOKEN.into())),
    )
    .unwrap();
    assert_eq!(v6.public_base_url.as_str(), "https://[2001:db8::1]:8443");
}

#[test]
fn oversized_body_is_413_by_length_header_or_by_size() {
    let env = Env::new();
    let mut req = signed("/twilio/inbound", &inbound_yes());
    req.body = RequestBody::TooLarge;
    assert_rejected(
        &env,
        &env.send(&req),
        413,
        "payload too large: the limit is 65536 bytes\n",
    );

    let env = Env::new();
    let mut big = inbound_yes();
    big[4].1 = "x".repeat(MAX_BODY_BYTES);
    let req = signed("/twilio/inbound", &big);
    assert_rejected(
        &env,
        &env.send(&req),
        413,
        "payload too large: the limit is 65536 bytes\n",
    );

    let env = Env::new();
    let mut req = signed("/twilio/inbound", &inbound_yes());
    req.headers
        .push(("Content-Length".into(), (MAX_BODY_BYTES + 1).to_string()));
    assert_rejected(
        &env,
        &env.send(&req),
        413,
        "payload too large: the limit is 65536 bytes\n",
    );
}

#[test]
fn wrong_content_type_is_415() {
    for ct in [
        None,
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let env = Env::new();
        let mut req = signed("/twilio/status", &delivered());
        req.headers.retain(|(n, _)| n != "content-type");
        if let Some(ct) = ct {
            req.headers.push(("Content-Type".into(), ct.into()));
        }
        assert_rejected(
            &env,
            &env.send(&req),
            415,
            "unsupported media type: use application/x-www-form-urlencoded or application/json\n",
        );
    }
}

#[test]
fn malformed_form_is_400_naming_the_pair() {
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.body = RequestBody::Complete(b"MessageSid=SM1&MessageStatus=%zz".to_vec());
    assert_rejected(
        &env,
        &env.send(&req),
        400,
        "bad request: form pair 2: invalid percent-escape\n",
    );
}

#[test]
fn signed_but_incomplete_callbacks_are_400_naming_the_field() {
    let cases: Vec<FieldCase> = vec![
        (
            "/twilio/status",
            pairs(&[("MessageStatus", "delivered")]),
            "MessageSid: missing",
        ),
        (
            "/twilio/status",
            pairs(&[("MessageSid", "SM123"), ("MessageStatus", "delivered")]),
            "MessageSid: expected SM or MM followed by 32 hexadecimal digits",
        ),
        (
            "/twilio/status",
            pairs(&[("MessageSid", SM)]),
            "MessageStatus: missing",
        ),
        (
            "/twilio/status",
            pairs(&[("CallSid", CA)]),
            "CallStatus: missing",
        ),
        (
            "/twilio/status",
            pairs(&[
                ("CallSid", CA),
                ("CallStatus", "completed"),
                ("SequenceNumber", "-1"),
            ]),
            "SequenceNumber: not a non-negative decimal integer",
        ),
        (
            "/twilio/status",
            pairs(&[("MessageSid", SM), ("MessageStatus", "Delivered!")]),
            "MessageStatus: not a status value",
        ),
        (
            "/twilio/status",
            pairs(&[
                ("MessageSid", SM),
                ("MessageSid", SM),
                ("MessageStatus", "sent"),
            ]),
            "MessageSid: given more than once",
        ),
        (
            "/twilio/status",
            pairs(&[
                ("MessageSid", SM),
                ("MessageStatus", "failed"),
                ("ErrorCode", "3x"),
            ]),
            "ErrorCode: not a non-negative decimal integer",
        ),
        (
            "/twilio/inbound",
            pairs(&[("MessageSid", SM), ("To", "+4930123456")]),
            "From: missing",
        ),
    ];
    for (path, params, reason) in cases {
        let env = Env::new();
        let resp = env.send(&signed(path, &params));
        assert_rejected(&env, &resp, 400, &format!("bad request: {reason}\n"));
        // The signature was valid, so Twilio is the actor.
        assert_eq!(
            env.audit()[0].actor,
            connector::audit::Actor::Twilio,
            "{reason}"
        );
    }
}

#[test]
fn other_methods_and_paths() {
    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.method = "GET".into();
    let resp = env.send(&req);
    assert_rejected(&env, &resp, 405, "method not allowed: use POST\n");
    assert_eq!(resp.header_value("allow"), Some("POST"));

    let env = Env::new();
    let req = signed("/twilio/status/", &delivered());
    assert_rejected(&env, &env.send(&req), 404, "not found\n");
    assert_eq!(
        env.audit()[0].correlation.get("path").map(String::as_str),
        Some("/twilio/status/")
    );

    let env = Env::new();
    let mut req = signed("/twilio/status", &delivered());
    req.path_with_query = "/twilio/status?a=\u{e9}".into();
    assert_rejected(
        &env,
        &env.send(&req),
        400,
        "bad request: request target is not printable ASCII\n",
    );
}

// --- store failures ----------------------------------------------------------------------------

/// One Twilio delivery with retries: after a 5xx the store heals and Twilio redelivers.
fn deliver_with_retries(env: &Env, req: &WebhookRequest) -> Vec<u16> {
    let mut statuses = Vec::new();
    loop {
        let status = env.send(req).status;
        statuses.push(status);
        env.store.heal();
        if status < 500 || statuses.len() == 3 {
            return statuses;
        }
        env.clock.advance_ms(5_000);
    }
}

/// What a queue processor would apply: each dedup key once (`claim:applied:<key>`).
fn apply_all(store: &MemoryStore) -> Vec<String> {
    let mut applied = Vec::new();
    for slot in 1..=inbound::tail(store).unwrap() {
        if let Slot::Event(r) = inbound::read_slot(store, slot).unwrap()
            && store.claim(&keys::applied_claim(&r.dedup_key)).unwrap()
        {
            applied.push(r.dedup_key);
        }
    }
    applied
}

fn live_events(store: &MemoryStore) -> usize {
    (1..=inbound::tail(store).unwrap())
        .filter(|s| matches!(inbound::read_slot(store, *s).unwrap(), Slot::Event(_)))
        .count()
}

#[test]
fn a_store_failure_at_any_write_loses_nothing_and_applies_once() {
    let req = signed("/twilio/status", &delivered());
    let key = format!("msg:{SM}:delivered");
    // (writes that succeed before the failure, statuses Twilio sees, live records, audit entries)
    let expected: [(u64, &[u16], usize, usize); 6] = [
        (0, &[503, 200], 1, 1), // slot increment fails; its audit entry too (store down)
        (1, &[503, 200], 1, 1), // record write fails: slot 1 stays empty
        (2, &[503, 200], 2, 1), // claim fails after the record: the retry queues a second copy
        (3, &[200], 1, 0),      // audit sequence fails: accepted, the entry goes to stderr
        (4, &[200], 1, 0),      // audit entry write fails: accepted, a gap in the day's log
        (5, &[200], 1, 1),      // nothing fails
    ];
    for (n, statuses, live, audit_entries) in expected {
        let env = Env::new();
        env.store.fail_after(n);
        assert_eq!(
            deliver_with_retries(&env, &req),
            statuses,
            "fail_after({n})"
        );
        // A later redelivery is a duplicate and is not queued.
        assert_eq!(env.send(&req).status, 200);
        assert_eq!(
            live_events(&env.store),
            live,
            "fail_after({n}) live records"
        );
        assert_eq!(
            apply_all(&env.store),
            vec![key.clone()],
            "fail_after({n}) applied"
        );
        assert_eq!(
            apply_all(&env.store),
            Vec::<String>::new(),
            "fail_after({n}) second pass"
        );
        // Audit: one entry per answered request that could be written, plus the final duplicate.
        assert_eq!(
            env.audit().len(),
            audit_entries + 1,
            "fail_after({n}) audit entries"
        );
    }
}

#[test]
fn a_store_failure_while_rejecting_keeps_the_answer() {
    let env = Env::new();
    env.store.fail_after(0);
    let mut req = signed("/twilio/status", &delivered());
    req.headers.retain(|(n, _)| n != "x-twilio-signature");
    assert_eq!(env.send(&req).status, 403);
    assert_eq!(env.store.keys(), Vec::<String>::new());
}

#[test]
fn a_failing_duplicate_check_is_503_not_a_duplicate() {
    /// A store whose reads fail.
    struct ReadFails(MemoryStore);
    impl KeyValue for ReadFails {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Err(StoreError::Other("database is locked".into()))
        }
        fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
            self.0.set(k, v)
        }
        fn delete(&self, k: &str) -> Result<(), StoreError> {
            self.0.delete(k)
        }
        fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
            self.0.increment(k, d)
        }
    }
    let store = ReadFails(MemoryStore::new());
    let clock = ManualClock::at(NOON);
    let resp = Webhook {
        store: &store,
        clock: &clock,
        signatures: &NativeSignatures,
    }
    .handle(Ok(&config()), &signed("/twilio/status", &delivered()));
    assert_eq!(
        (resp.status, resp.header_value("retry-after")),
        (503, Some("5"))
    );
    assert_eq!(store.0.get("seq:inbound").unwrap(), None);
}

// --- concurrency -------------------------------------------------------------------------------

/// A store that runs `hook` just before the first increment of a `claim:` key, to interleave a
/// second delivery exactly where a race would.
struct Racing<'a> {
    inner: &'a MemoryStore,
    hook: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl KeyValue for Racing<'_> {
    fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(k)
    }
    fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        self.inner.set(k, v)
    }
    fn delete(&self, k: &str) -> Result<(), StoreError> {
        self.inner.delete(k)
    }
    fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
        if k.starts_with("claim:") {
            let hook = self.hook.borrow_mut().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        self.inner.increment(k, d)
    }
}

#[test]
fn concurrent_duplicate_loses_the_claim_and_tombstones_its_slot() {
    let store = MemoryStore::new();
    let event = connector::webhook::status_event(&delivered()).unwrap();
    let dedup = event.natural_key();
    let (e2, d2) = (event.clone(), dedup.clone());
    let winner = RefCell::new(None);
    let racing = Racing {
        inner: &store,
        hook: RefCell::new(Some(Box::new(|| {
            *winner.borrow_mut() = Some(inbound::enqueue(&store, &d2, e2, NOON + 1).unwrap());
        }))),
    };
    let loser = inbound::enqueue(&racing, &dedup, event, NOON).unwrap();
    drop(racing);
    assert_eq!(winner.into_inner(), Some(Enqueued::Queued { slot: 2 }));
    assert_eq!(
        loser,
        Enqueued::Duplicate {
            released_slot: Some(1)
        }
    );
    assert_eq!(
        inbound::read_slot(&store, 1).unwrap(),
        Slot::Tombstone(inbound::Tombstone {
            version: 1,
            slot: 1,
            dedup_key: dedup.as_key()
        })
    );
    assert!(
        matches!(inbound::read_slot(&store, 2).unwrap(), Slot::Event(r) if r.received_at_ms == NOON + 1)
    );
    assert_eq!(live_events(&store), 1);
    // 3 writes for the winner, 4 for the loser (slot, record, claim, tombstone).
    assert_eq!(store.writes(), 7);
}

#[test]
fn dedup_keys_are_distinct_per_kind() {
    let sid = connector::inbound::Sid::parse(SM, &["SM", "MM"], "MessageSid").unwrap();
    let status = connector::inbound::Status::parse("delivered", "MessageStatus").unwrap();
    let keys: Vec<String> = [
        DedupKey::MessageStatus {
            sid: sid.clone(),
            status: status.clone(),
        },
        DedupKey::InboundSms { sid: sid.clone() },
        DedupKey::token(&format!("msg:{SM}:delivered")).unwrap(),
    ]
    .iter()
    .map(DedupKey::as_key)
    .collect();
    assert_eq!(
        keys,
        vec![
            format!("msg:{SM}:delivered"),
            format!("sms:{SM}"),
            format!("tok:msg%3A{SM}%3Adelivered")
        ]
    );
    assert!(DedupKey::token(&"x".repeat(257)).is_err());
}

// --- queue processor support -------------------------------------------------------------------

#[test]
fn cursor_waits_for_a_missing_slot_then_skips_it() {
    let store = MemoryStore::new();
    let mut cursor = inbound::load_cursor(&store).unwrap();
    assert_eq!(cursor.next_slot, 1);
    assert_eq!(
        cursor.decide_missing(NOON, 60_000),
        inbound::MissingSlot::Wait
    );
    assert_eq!(
        cursor.decide_missing(NOON + 59_999, 60_000),
        inbound::MissingSlot::Wait
    );
    assert_eq!(
        cursor.decide_missing(NOON + 60_000, 60_000),
        inbound::MissingSlot::Skip
    );
    cursor.advance();
    inbound::save_cursor(&store, &cursor).unwrap();
    let loaded = inbound::load_cursor(&store).unwrap();
    assert_eq!((loaded.next_slot, loaded.missing_since_ms), (2, None));
    assert_eq!(
        std::str::from_utf8(&store.get("cursor:inbound").unwrap().unwrap()).unwrap(),
        r#"{"version":1,"next_slot":2,"missing_since_ms":null}"#
    );
}

#[test]
fn records_round_trip_and_old_records_without_processing_state_load() {
    let env = Env::new();
    env.send(&signed("/twilio/inbound", &inbound_yes()));
    let raw = env.store.get("inbound:1").unwrap().unwrap();
    let entry: QueueEntry = serde_json::from_slice(&raw).unwrap();
    assert_eq!(serde_json::to_vec(&entry).unwrap(), raw);
    let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v.as_object_mut().unwrap().remove("processing");
    let without: QueueEntry = serde_json::from_value(v).unwrap();
    assert_eq!(without, entry);
}

// --- robustness --------------------------------------------------------------------------------

#[test]
fn no_panic_on_arbitrary_input() {
    let rng = SeededRng::new(0x7e57);
    let env = Env::new();
    let methods = ["POST", "GET", "PUT", "", "P\u{f6}ST"];
    let paths = [
        "/twilio/status",
        "/twilio/inbound",
        "/twilio/status?bodySHA256=zz",
        "/",
        "",
        "/twilio/inbound?%%%",
    ];
    let cts = [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/xml",
        "APPLICATION/JSON;;",
        "",
    ];
    for i in 0..3000u64 {
        let pick = |n: usize| (rng.next_u64() % n as u64) as usize;
        let len = pick(300);
        let mut body = vec![0u8; len];
        rng.fill(&mut body);
        if i % 3 == 0 {
            // Mostly-valid forms with junk values exercise the field validation.
            body = encode(&pairs(&[
                ("MessageSid", SM),
                ("MessageStatus", "x"),
                ("CallStatus", "y"),
                ("Body", "z"),
            ]));
            let cut = pick(body.len() + 1);
            body.truncate(cut);
        }
        let mut headers = vec![("content-type".to_owned(), cts[pick(cts.len())].to_owned())];
        if pick(2) == 0 {
            headers.push((
                "x-twilio-signature".into(),
                String::from_utf8_lossy(&body[..len.min(body.len()).min(28)]).into_owned(),
            ));
        }
        if pick(5) == 0 {
            headers.push(("x-forwarded-proto".into(), "h\u{1F600}".into()));
        }
        let req = WebhookRequest {
            method: methods[pick(methods.len())].into(),
            path_with_query: paths[pick(paths.len())].into(),
            headers,
            body: RequestBody::Complete(body),
        };
        let status = env.send(&req).status;
        assert!(
            [200, 400, 403, 404, 405, 413, 415].contains(&status),
            "{status}"
        );
    }
}
