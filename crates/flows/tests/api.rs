//! The api routes against the simulator: DATEV connect (good, denied, bad state, reused,
//! expired), batch intake (bookings, EXTF file, DXSO; findings; risk policy; idempotency),
//! batch status, client configuration, authentication.

mod common;

use common::*;
use connector::audit::{self, AuditEntry, Outcome as AuditOutcome};
use connector::client_config::{ClientConfig, ClientId};
use connector::time::Day;
use connector::{HttpClient, HttpRequest, KeyValue, Method};
use serde_json::{Value, json};
use sim::Consent;

fn body(r: &connector::HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

fn audit_log(w: &World) -> Vec<AuditEntry> {
    let day = Day::from_unix_ms(w.now());
    audit::page(&w.store, day, 0, 1000)
        .unwrap()
        .entries
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn last_audit(w: &World) -> AuditEntry {
    audit_log(w).pop().unwrap()
}

#[test]
fn connect_good_registers_the_client_and_stores_tokens_encrypted() {
    let w = World::new();
    let (answer, _) = w.connect();
    assert_eq!(answer.status, 303);
    assert_eq!(
        answer.header_value("Location"),
        Some("/datev/result?outcome=connected&client=29098-55003")
    );
    let page = w.request(
        "GET",
        "/datev/result?outcome=connected&client=29098-55003",
        &[],
        b"",
    );
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("<h1>DATEV connected</h1>") && html.contains("DATEV client: 29098-55003"),
        "{html}"
    );
    assert_eq!(
        flows::registry::list(&w.store, 10).unwrap(),
        vec![ClientId::parse(CLIENT).unwrap()]
    );
    let log = audit_log(&w);
    let actions: Vec<(&str, &AuditOutcome)> = log
        .iter()
        .map(|e| (e.action.as_str(), &e.outcome))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("api.connect", &AuditOutcome::Ok),
            ("api.callback", &AuditOutcome::Ok)
        ]
    );
    assert_eq!(
        log[1].correlation.get("client").map(String::as_str),
        Some(CLIENT)
    );
    w.assert_no_plaintext_tokens();
    // The authorization URL carried PKCE S256 and the registered redirect URI.
    let authorize = w
        .tap
        .requests()
        .into_iter()
        .find(|r| r.url.contains("/authorize"))
        .unwrap();
    assert!(
        authorize.url.contains("code_challenge_method=S256"),
        "{}",
        authorize.url
    );
    assert!(
        authorize
            .url
            .contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fdatev%2Fcallback"),
        "{}",
        authorize.url
    );
}

#[test]
fn connect_denied_gives_a_clear_page_and_an_audit_entry() {
    let w = World::with(|c| c.datev.consent = Consent::Deny);
    let (answer, _) = w.connect();
    assert_eq!(
        answer.header_value("Location"),
        Some("/datev/result?outcome=denied&client=29098-55003")
    );
    let page = w.request(
        "GET",
        "/datev/result?outcome=denied&client=29098-55003",
        &[],
        b"",
    );
    assert_eq!(page.status, 400);
    assert!(
        String::from_utf8(page.body)
            .unwrap()
            .contains("<h1>Consent denied</h1>")
    );
    let e = last_audit(&w);
    assert_eq!(e.action, "api.callback");
    assert_eq!(
        e.outcome,
        AuditOutcome::Rejected {
            status: Some(303),
            reason: "consent was denied at DATEV".into()
        }
    );
    assert_eq!(w.tap.count(Method::Post, "/token"), 0);
    assert!(flows::registry::list(&w.store, 10).unwrap().is_empty());
}

#[test]
fn connect_bad_state_reused_callback_and_expired_attempt() {
    let w = World::new();
    // Bad state: nothing is exchanged.
    let r = w.request(
        "GET",
        "/datev/callback?state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=x",
        &[],
        b"",
    );
    assert_eq!(
        r.header_value("Location"),
        Some("/datev/result?outcome=unknown-state")
    );
    assert!(matches!(
        last_audit(&w).outcome,
        AuditOutcome::Rejected { .. }
    ));
    let r = w.request("GET", "/datev/callback?code=x", &[], b"");
    assert_eq!(
        r.header_value("Location"),
        Some("/datev/result?outcome=malformed")
    );
    // A good connect, then the same callback again.
    let (first, query) = w.connect();
    assert_eq!(
        first.header_value("Location"),
        Some("/datev/result?outcome=connected&client=29098-55003")
    );
    let again = w.request("GET", &format!("/datev/callback?{query}"), &[], b"");
    assert_eq!(
        again.header_value("Location"),
        Some("/datev/result?outcome=already-used&client=29098-55003")
    );
    assert_eq!(w.tap.count(Method::Post, "/token"), 1);
    // An attempt older than its 10 minutes.
    let start = w.admin(
        "GET",
        &format!("/datev/connect?client={CLIENT}"),
        "text/plain",
        b"",
    );
    let consent = w
        .tap
        .send(HttpRequest::new(
            Method::Get,
            start.header_value("Location").unwrap(),
        ))
        .unwrap();
    let query = consent
        .header_value("Location")
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    w.clock.advance_ms(601_000);
    let late = w.request("GET", &format!("/datev/callback?{query}"), &[], b"");
    assert_eq!(
        late.header_value("Location"),
        Some("/datev/result?outcome=expired&client=29098-55003")
    );
    assert_eq!(
        last_audit(&w).outcome,
        AuditOutcome::Rejected {
            status: Some(303),
            reason: "this connect attempt expired; start again".into()
        }
    );
    // The result page never echoes anything but known codes and a valid client id.
    let page = w.request(
        "GET",
        "/datev/result?outcome=<script>&client=<b>x</b>",
        &[],
        b"",
    );
    assert_eq!(page.status, 404);
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<b>"),
        "{html}"
    );
}

#[test]
fn admin_routes_need_the_bearer_token() {
    let w = World::new();
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token-0123456789")],
        vec![("Authorization", "Basic YTpi")],
    ] {
        let r = w.request("POST", "/batches", &headers, b"{}");
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header_value("WWW-Authenticate"),
            Some("Bearer realm=\"ml-connector\"")
        );
        let e = last_audit(&w);
        assert_eq!(e.action, "api.batch-create");
        assert!(matches!(
            e.outcome,
            AuditOutcome::Rejected {
                status: Some(401),
                ..
            }
        ));
    }
    let r = w.request("GET", "/datev/connect?client=29098-55003", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(w.request("DELETE", "/batches", &[], b"").status, 405);
    assert_eq!(w.request("GET", "/nothing", &[], b"").status, 404);
    // No audit entry mentions the token.
    let log = serde_json::to_string(&audit_log(&w)).unwrap();
    assert!(
        !log.contains(ADMIN) && !log.contains("wrong-token"),
        "{log}"
    );
}

#[test]
fn a_good_bookings_batch_is_approved_and_queued() {
    let w = World::new().ready();
    let r = w.post_batch(&bookings_batch("RE 02/2024", 3));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(r.header_value("Location"), Some("/batches/1"));
    assert_eq!(b["state"], "approved");
    assert_eq!(
        b["amounts"],
        json!({"bookings": 3, "total_cents": 35_700, "max_cents": 11_900})
    );
    assert_eq!(b["payload"]["kind"], "extf");
    assert_eq!(
        b["payload"]["file_name"],
        "EXTF_BS_29098_55003_20240201_20240229_1.csv"
    );
    assert_eq!(b["payload"]["rows"], 3);
    let history: Vec<(Value, Value)> = b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["to"].clone(), t["note"].clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (json!("received"), json!("validated by extf")),
            (json!("approved"), json!("risk policy: approved"))
        ]
    );
    // The stored file is what the extf writer produced: UTF-8 with BOM, the client in the header.
    let file = w.raw("batch-file:1:0");
    assert!(
        file.starts_with(b"\xEF\xBB\xBF\"EXTF\";700;21;\"Buchungsstapel\";13;"),
        "{}",
        String::from_utf8_lossy(&file)
    );
    assert!(String::from_utf8_lossy(&file).contains(";29098;55003;20240101;4;20240201;20240229;"));
    // GET shows the same record.
    assert_eq!(w.batch(1), b);
    let plan = connector::schedule::scan(
        &w.store,
        &w.poller.schedule,
        "datev-submit",
        w.now(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        plan.due
            .iter()
            .map(|d| d.entry.item.as_str())
            .collect::<Vec<_>>(),
        vec!["batch:1"]
    );
}

#[test]
fn the_risk_policy_holds_over_the_threshold_flagged_and_unconfigured() {
    let w = World::new().connected();
    // No configuration yet: held, nobody could be told.
    let b = body(&w.post_batch(&bookings_batch("A", 1)));
    assert_eq!(
        (b["state"].as_str(), b["risk"]["reasons"].clone()),
        (Some("held"), json!([{"reason": "unconfigured"}]))
    );
    w.configure(Some(30_000));
    let b = body(&w.post_batch(&bookings_batch("B", 2)));
    assert_eq!(b["state"], "approved");
    let b = body(&w.post_batch(&bookings_batch("C", 3)));
    assert_eq!(b["state"], "held");
    assert_eq!(
        b["risk"]["reasons"],
        json!([{"reason": "over_threshold", "total_cents": 35_700, "threshold_cents": 30_000}])
    );
    assert_eq!(
        b["history"][1]["note"],
        "risk policy: held (over_threshold)"
    );
    let mut flagged = bookings_batch("D", 1);
    flagged["high_risk"] = json!(true);
    let b = body(&w.post_batch(&flagged));
    assert_eq!(
        (b["state"].as_str(), b["risk"]["reasons"].clone()),
        (Some("held"), json!([{"reason": "flagged"}]))
    );
    // Held batches are not queued for submission.
    let plan = connector::schedule::scan(
        &w.store,
        &w.poller.schedule,
        "datev-submit",
        w.now(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        plan.due
            .iter()
            .map(|d| d.entry.item.as_str())
            .collect::<Vec<_>>(),
        vec!["batch:2"]
    );
}

#[test]
fn a_bad_batch_gets_422_with_every_finding() {
    let w = World::new().ready();
    let mut batch = bookings_batch("bad", 4);
    batch["bookings"][0]["text"] = json!("x".repeat(61));
    batch["bookings"][2]["document_date"] = json!("2024-03-15");
    let r = w.post_batch(&batch);
    assert_eq!(r.status, 422);
    let findings = body(&r)["findings"].as_array().unwrap().clone();
    let located: Vec<(u64, u64, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["field"].as_u64().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(located, vec![(3, 14, "error"), (5, 10, "error")]);
    // A header naming another consultant.
    let mut other = bookings_batch("other", 1);
    other["header"]["consultant"] = json!(12345);
    let r = w.post_batch(&other);
    assert_eq!(r.status, 422);
    let f = &body(&r)["findings"][0];
    assert_eq!(
        (f["line"].as_u64(), f["field"].as_u64(), f["value"].as_str()),
        (Some(1), Some(11), Some("12345"))
    );
    // Schema errors name the field.
    let r = w.post_batch(
        &json!({"client": CLIENT, "reference": "x", "kind": "bookings", "bookings": []}),
    );
    assert_eq!(r.status, 422);
    assert!(
        body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("missing field `header`")
    );
    let r = w.admin("POST", "/batches", "application/json", b"{not json");
    assert_eq!(r.status, 400);
    let mut bad_client = bookings_batch("x", 1);
    bad_client["client"] = json!("55003");
    let r = w.post_batch(&bad_client);
    assert_eq!(
        (r.status, body(&r)["field"].as_str()),
        (422, Some("client"))
    );
    let r = w.admin("POST", "/batches", "application/xml", b"<x/>");
    assert_eq!(r.status, 415);
    assert_eq!(
        w.store
            .keys()
            .iter()
            .filter(|k| k.starts_with("batch:"))
            .count(),
        0
    );
}

#[test]
fn a_ready_extf_file_is_validated_and_stored() {
    let w = World::new().ready();
    // Write a file through the extf writer, then post it raw.
    let id = w.create_batch(&bookings_batch("source", 2));
    let file = w.raw(&format!("batch-file:{id}:0"));
    let r = w.admin(
        "POST",
        &format!("/batches?client={CLIENT}&reference=Datei%2002"),
        "text/csv",
        &file,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(
        (
            b["payload"]["source"].as_str(),
            b["amounts"]["total_cents"].as_u64(),
            b["reference"].as_str()
        ),
        (Some("file"), Some(23_800), Some("Datei 02"))
    );
    // For another client the header does not fit.
    let r = w.admin(
        "POST",
        "/batches?client=29098-55004&reference=x",
        "text/csv",
        &file,
    );
    assert_eq!(r.status, 422);
    assert_eq!(body(&r)["findings"][0]["field"], 12);
    // A broken file: every finding of the validator.
    let broken = String::from_utf8_lossy(&file)
        .replace(";4;20240201", ";9;20240201")
        .replace(";0;0;\"EUR\"", ";7;0;\"EUR\"");
    let r = w.admin(
        "POST",
        &format!("/batches?client={CLIENT}&reference=x"),
        "text/csv",
        broken.as_bytes(),
    );
    assert_eq!(r.status, 422);
    let fields: Vec<u64> = body(&r)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["field"].as_u64().unwrap())
        .collect();
    assert_eq!(fields, vec![14, 20]);
    // As base64 in JSON too.
    use base64::Engine as _;
    let r = w.post_batch(&json!({"client": CLIENT, "reference": "b64", "kind": "extf_file", "file_base64": base64::engine::general_purpose::STANDARD.encode(&file)}));
    assert_eq!(r.status, 201);
}

#[test]
fn a_dxso_batch_stores_the_package_and_its_images() {
    let w = World::new().ready();
    let r = w.post_batch(&dxso_batch("Rechnung AR-2024-0001"));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(b["payload"]["kind"], "dxso");
    assert_eq!(
        b["payload"]["import_type"],
        "accountsReceivableLedgerImport"
    );
    assert_eq!(b["payload"]["accounting_month"], "2024-02");
    let names: Vec<&str> = b["payload"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["document.xml", "AR-2024-0001.xml", "AR-2024-0001.pdf"]
    );
    assert_eq!(w.raw("batch-file:1:2"), b"%PDF-1.4 invoice AR-2024-0001");
    // An image named but not attached, and an attachment nobody names.
    let mut bad = dxso_batch("x");
    bad["attachments"][0]["name"] = json!("other.pdf");
    let r = w.post_batch(&bad);
    assert_eq!(r.status, 422);
    let reasons: Vec<String> = body(&r)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "the document names this image but no attachment has it",
            "no document names this attachment"
        ]
    );
}

#[test]
fn idempotency_key_replays_refuses_reuse_and_conflicts() {
    let w = World::new().ready();
    let batch = bookings_batch("idem", 1).to_string();
    let auth = format!("Bearer {ADMIN}");
    let post = |key: &str, body: &str| {
        w.request(
            "POST",
            "/batches",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            body.as_bytes(),
        )
    };
    let first = post("order-17", &batch);
    assert_eq!(first.status, 201);
    let again = post("order-17", &batch);
    assert_eq!(again.status, 200);
    assert_eq!(again.header_value("Idempotent-Replayed"), Some("true"));
    assert_eq!(body(&again), body(&first));
    let other = post("order-17", &bookings_batch("idem", 2).to_string());
    assert_eq!(
        (other.status, body(&other)["field"].as_str()),
        (422, Some("Idempotency-Key"))
    );
    assert_eq!(
        w.store
            .keys()
            .iter()
            .filter(|k| k.starts_with("batch:"))
            .count(),
        1
    );
    // A request that crashed after its claims but before its mapping blocks the key, for at
    // most two windows.
    let window = w.now() / 300_000;
    w.store
        .increment(&format!("claim:idem:order-18:{window}"), 1)
        .unwrap();
    let blocked = post("order-18", &batch);
    assert_eq!(blocked.status, 409);
    assert_eq!(blocked.header_value("Retry-After"), Some("5"));
    w.clock.advance_ms(600_000);
    assert_eq!(post("order-18", &batch).status, 201);
    // A creation interrupted after its mapping is finished by the retry, with the same id.
    w.store.fail_after(4);
    assert_eq!(post("order-19", &batch).status, 503);
    w.store.heal();
    let done = post("order-19", &batch);
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(body(&done)["id"], 3);
    assert_eq!(post("order-19", &batch).status, 200);
    let bad = post("", &batch);
    assert_eq!(bad.status, 400);
}

#[test]
fn client_configuration_normalises_numbers() {
    let w = World::new();
    w.configure(Some(5));
    let r = w.admin("GET", &format!("/clients/{CLIENT}"), "text/plain", b"");
    let c: ClientConfig = serde_json::from_slice(&r.body).unwrap();
    let phones: Vec<&str> = c
        .finance_contacts
        .iter()
        .map(|c| c.phone.as_str())
        .collect();
    assert_eq!(phones, vec![ANNA, BEN]);
    assert_eq!(c.controller.unwrap().phone.as_str(), CARL);
    let bad = json!({"name": "X", "finance_contacts": [{"name": "A", "phone": "12"}]});
    let r = w.admin(
        "PUT",
        &format!("/clients/{CLIENT}"),
        "application/json",
        bad.to_string().as_bytes(),
    );
    assert_eq!(r.status, 422);
    assert_eq!(body(&r)["field"], "finance_contacts[0].phone");
    let r = w.admin("GET", "/clients/29098-1", "text/plain", b"");
    assert_eq!(r.status, 404);
}

#[test]
fn a_store_failure_is_503_not_success() {
    let w = World::new().ready();
    w.store.fail_after(0);
    let r = w.post_batch(&bookings_batch("x", 1));
    assert_eq!(r.status, 503);
    assert_eq!(r.header_value("Retry-After"), Some("5"));
}
