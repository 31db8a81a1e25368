//! Contract tests: DATEV accounting-clients, extf-files and dxso-jobs (datev.md §3–§4).

mod common;
use common::*;
use connector::{HttpRequest, HttpResponse, Method};
use serde_json::{Value, json};

fn problem(resp: &HttpResponse, status: u16, code: u32) -> Value {
    assert_eq!(resp.status, status, "{}", text(resp));
    assert_eq!(
        resp.header_value("content-type"),
        Some("application/json;charset=utf-8")
    );
    let body = body_json(resp);
    assert_eq!(body["type"], format!("http://www.datev.de/hilfe/{code}"));
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"].as_str().unwrap().len(), 36);
    body
}

fn gateway_401(resp: &HttpResponse, more: &str) {
    assert_eq!(resp.status, 401);
    let body = body_json(resp);
    assert_eq!(keys(&body), ["httpCode", "httpMessage", "moreInformation"]);
    assert_eq!(body["httpCode"], "401");
    assert_eq!(body["httpMessage"], "Unauthorized");
    assert!(
        body["moreInformation"].as_str().unwrap().starts_with(more),
        "{body}"
    );
}

#[test]
fn api_calls_need_client_id_and_live_bearer() {
    let w = world();
    let token = w.access_token();
    let url = format!("{EXTF}/clients/29098-55003/extf-files/jobs");
    let no_client =
        HttpRequest::new(Method::Get, &url).header("Authorization", format!("Bearer {token}"));
    gateway_401(&w.send(no_client), "Invalid client id or secret");
    let wrong_client = HttpRequest::new(Method::Get, &url)
        .header("Authorization", format!("Bearer {token}"))
        .header("X-DATEV-Client-Id", "other-app");
    gateway_401(&w.send(wrong_client), "Invalid client id or secret");
    let no_bearer =
        HttpRequest::new(Method::Get, &url).header("X-DATEV-Client-Id", "ml-connector-sim");
    gateway_401(&w.send(no_bearer), "Cannot pass the security checks");
    gateway_401(
        &w.send(datev(Method::Get, &url, "made-up-token")),
        "Cannot pass the security checks",
    );
    assert_eq!(w.send(datev(Method::Get, &url, &token)).status, 200);
    for base in [CLIENTS, DXSO] {
        gateway_401(
            &w.send(datev(Method::Get, &format!("{base}/clients"), "made-up")),
            "Cannot pass",
        );
    }
}

#[test]
fn missing_scope_is_403_in_each_apis_shape() {
    let w = world();
    let t = w.login("openid datev:accounting:clients");
    let token = t["access_token"].as_str().unwrap();
    let resp = w.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55003/extf-files/jobs"),
        token,
    ));
    let body = problem(&resp, 403, 1008829);
    assert_eq!(body["title"], "Missing required scope");
    assert_eq!(
        body["detail"],
        "Missing scope(s) are: datev:accounting:extf-files-import"
    );
    let resp = w.send(datev(Method::Get, &format!("{DXSO}/clients"), token));
    assert_eq!(resp.status, 403);
    let body = body_json(&resp);
    assert_eq!(
        keys(&body),
        ["error", "error_description", "error_uri", "request_id"]
    );
    assert_eq!(body["error"], "#DCO01005");
    assert_eq!(body["error_description"], "restapi.ScopeFault");
    assert_eq!(
        body["error_uri"],
        "https://apps.datev.de/knowledge/help/search?q=DCO01005"
    );
}

#[test]
fn clients_list_paging_and_filter() {
    let w = world();
    let token = w.access_token();
    let resp = w.send(datev(Method::Get, &format!("{CLIENTS}/clients"), &token));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header_value("total-items"), Some("3"));
    assert_eq!(resp.header_value("link"), None);
    let body = body_json(&resp);
    assert_eq!(
        body[0],
        json!({
            "client_number": 55003,
            "consultant_number": 29098,
            "id": "29098-55003",
            "name": "Musterholz",
            "services": [
                {"name": "Belegbilderservice", "scopes": ["accounting:documents"]},
                {"name": "Buchungsdatenservice", "scopes": ["datev:accounting:extf-files-import"]}
            ]
        })
    );
    let resp = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients?skip=1&top=1"),
        &token,
    ));
    assert_eq!(
        resp.header_value("link"),
        Some("<?skip=0&top=1>;rel=\"prev\", <?skip=2&top=1>;rel=\"next\"")
    );
    assert_eq!(body_json(&resp)[0]["id"], "29098-55004");
    let filter = "consultant_number%20eq%2029098%20and%20client_number%20eq%2055004";
    let resp = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients?filter={filter}"),
        &token,
    ));
    assert_eq!(resp.header_value("total-items"), Some("1"));
    let bad = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients?filter=name%20ne%201"),
        &token,
    ));
    let body = problem(&bad, 400, 1008828);
    assert_eq!(
        body["affected_elements"],
        json!([{"name": "filter", "reason": "Unknown filter field: name"}])
    );
    let bad = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients?top=0"),
        &token,
    ));
    assert_eq!(
        problem(&bad, 400, 1008828)["affected_elements"][0]["name"],
        "top"
    );
    let one = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients/29098-55004"),
        &token,
    ));
    assert_eq!(body_json(&one)["name"], "Testholz");
    let missing = w.send(datev(
        Method::Get,
        &format!("{CLIENTS}/clients/1-1"),
        &token,
    ));
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    let post = w.send(datev(Method::Post, &format!("{CLIENTS}/clients"), &token));
    assert_eq!(post.status, 405);
    assert_eq!(keys(&body_json(&post)), ["request_id", "status", "title"]);
}

#[test]
fn extf_import_is_202_with_location_then_pending_then_succeeded() {
    let w = world();
    let token = w.access_token();
    let resp = w.send(extf_upload(&token, "29098-55003", sample_extf()));
    assert_eq!(resp.status, 202);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header_value("retry-after"), Some("5"));
    let location = resp.header_value("location").unwrap().to_owned();
    let job_id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/clients/29098-55003/extf-files/jobs/{job_id}")
    );
    assert_eq!(job_id.len(), 36);
    let job_url = format!("{EXTF}{location}");
    let pending = body_json(&w.send(datev(Method::Get, &job_url, &token)));
    assert_eq!(
        pending,
        json!({
            "id": job_id,
            "filename": "EXTF_Buchungsstapel_2024.csv",
            "reference_id": "batch-42",
            "result": "pending",
            "timestamp": "2024-03-01T10:00:00Z",
        })
    );
    w.advance(3_000);
    let done = w.send(datev(Method::Get, &job_url, &token));
    assert_eq!(done.status, 200);
    assert_eq!(
        done.header_value("content-type"),
        Some("application/json;charset=utf-8")
    );
    let done = body_json(&done);
    assert_eq!(done["result"], "succeeded");
    assert_eq!(done["label"], "Buchungsstapel");
    assert_eq!(done["data_category_id"], 21);
    assert_eq!(done["fiscal_year_begin"], "2024-01-01");
    assert_eq!(done["date_from"], "2024-01-01");
    assert_eq!(done["date_to"], "2024-08-31");
    assert_eq!(done["number_of_accounting_records"], 52);
    assert!(done.get("validation_details").is_none());
    // The uploaded bytes are kept for assertions.
    let jobs = w.sim.extf_jobs().unwrap();
    assert_eq!(jobs[0].size, sample_extf().len());
    // Listing.
    let list = w.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55003/extf-files/jobs"),
        &token,
    ));
    assert_eq!(list.header_value("total-items"), Some("1"));
    assert_eq!(body_json(&list)[0]["id"], job_id);
    let other = w.send(datev(
        Method::Get,
        &format!("{EXTF}/clients/29098-55004/extf-files/jobs/{job_id}"),
        &token,
    ));
    assert_eq!(other.status, 404);
}

#[test]
fn bad_header_fails_the_job_with_validation_details() {
    let w = world();
    let token = w.access_token();
    // Uploaded to the wrong client: header says 29098-55003.
    let resp = w.send(extf_upload(&token, "29098-55004", sample_extf()));
    assert_eq!(resp.status, 202);
    let url = format!("{EXTF}{}", resp.header_value("location").unwrap());
    w.advance(3_000);
    let job = body_json(&w.send(datev(Method::Get, &url, &token)));
    assert_eq!(job["result"], "failed");
    assert_eq!(
        job["validation_details"],
        json!({
            "type": "http://www.datev.de/hilfe/1008834",
            "title": "Invalid EXTF-header",
            "detail": "Fields with error",
            "affected_elements": [{"name": "Client", "reason": "client-number in the header not matching the upload request (12)"}]
        })
    );
}

#[test]
fn client_without_buchungsdatenservice_gets_1008838() {
    let w = world();
    let token = w.access_token();
    let file = replace_bytes(&sample_extf(), b";29098;55003;", b";455148;3;");
    let resp = w.send(extf_upload(&token, "455148-3", file));
    let url = format!("{EXTF}{}", resp.header_value("location").unwrap());
    w.advance(3_000);
    let job = body_json(&w.send(datev(Method::Get, &url, &token)));
    assert_eq!(
        job["validation_details"]["type"],
        "http://www.datev.de/hilfe/1008838"
    );
}

#[test]
fn import_request_errors() {
    let w = world();
    let token = w.access_token();
    let base = extf_upload(&token, "29098-55003", sample_extf());
    let mut r = base.clone();
    r.headers.retain(|(n, _)| n != "Content-Type");
    let resp = w.send(r.header("Content-Type", "text/csv"));
    assert_eq!(resp.status, 415);
    assert_eq!(body_json(&resp)["title"], "Unsupported Media Type");
    let resp = w.send(base.clone().body(Vec::new()));
    assert_eq!(
        problem(&resp, 400, 1008831)["detail"],
        "Message body for request is missing"
    );
    let mut r = base.clone();
    r.headers.retain(|(n, _)| n != "Filename");
    assert_eq!(
        problem(&w.send(r.clone()), 400, 1008832)["detail"],
        "Filename is empty"
    );
    let resp = w.send(r.header("Filename", "Buchungen.csv"));
    let body = problem(&resp, 400, 1008832);
    assert_eq!(body["affected_elements"][0]["name"], "Filename");
    let mut r = base.clone();
    r.headers.retain(|(n, _)| n != "Reference-Id");
    let resp = w.send(r.header("Reference-Id", "bad/slash"));
    assert_eq!(
        problem(&resp, 400, 1008832)["affected_elements"][0]["name"],
        "Reference-Id"
    );
    let mut r = base.clone();
    r.url = format!("{EXTF}/clients/not-a-client/extf-files/import");
    let body = problem(&w.send(r), 400, 1008835);
    assert_eq!(
        body["affected_elements"],
        json!([{"name": "client-id", "reason": "Path segment client-id is invalid"}])
    );
    let mut r = base.clone();
    r.url = format!("{EXTF}/clients/1-1/extf-files/import");
    assert_eq!(w.send(r).status, 404);
    let mut r = base;
    r.method = Method::Get;
    assert_eq!(w.send(r).status, 405);
    // Nothing was accepted.
    assert!(w.sim.extf_jobs().unwrap().is_empty());
}

#[test]
fn row_errors_from_the_extf_validator_fail_the_job() {
    let w = world();
    let token = w.access_token();
    // DATEV's sample as published: LF line ends, UTF-8 without BOM, two unpaired fields.
    let raw = include_bytes!("data/EXTF_Buchungsstapel.csv").to_vec();
    let resp = w.send(extf_upload(&token, "29098-55003", raw));
    let url = format!("{EXTF}{}", resp.header_value("location").unwrap());
    w.advance(3_000);
    let job = body_json(&w.send(datev(Method::Get, &url, &token)));
    assert_eq!(job["result"], "failed");
    let details = &job["validation_details"];
    assert_eq!(details["type"], "http://www.datev.de/hilfe/1008833");
    assert_eq!(details["title"], "Invalid file");
    let elements = details["affected_elements"].as_array().unwrap();
    // First the encoding: UTF-8 without BOM is read as Windows-1252 (datev.md §1.2); the row
    // findings follow the `extf` validator's own rules.
    assert_eq!(elements[0]["name"], "file");
    assert!((1..=20).contains(&elements.len()));
    assert!(
        details["detail"]
            .as_str()
            .unwrap()
            .ends_with(" error(s) in the file")
    );
}

#[test]
fn retry_after_is_optional() {
    let mut cfg = sim::SimConfig::default();
    cfg.datev.retry_after_s = None;
    let w = world_with(cfg);
    let token = w.access_token();
    let resp = w.send(extf_upload(&token, "29098-55003", sample_extf()));
    assert_eq!(resp.status, 202);
    assert_eq!(resp.header_value("retry-after"), None);
}

fn multipart(name: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----sim-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn dxso_error(resp: &HttpResponse, status: u16, code: &str) {
    assert_eq!(resp.status, status, "{}", text(resp));
    let body = body_json(resp);
    assert_eq!(body["error"], format!("#{code}"), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("restapi.")
    );
}

struct Dxso<'a> {
    w: &'a World,
    token: String,
}

impl Dxso<'_> {
    fn create(&self, body: Option<Value>) -> HttpResponse {
        let mut req = datev(
            Method::Post,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs"),
            &self.token,
        );
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        self.w.send(req)
    }
    fn upload(&self, job: &str, name: &str, ct: &str) -> HttpResponse {
        let (content_type, body) = multipart(name, ct, b"<archive/>");
        self.w.send(
            datev(
                Method::Post,
                &format!("{DXSO}/clients/29098-55003/dxso-jobs/{job}/files"),
                &self.token,
            )
            .header("Content-Type", content_type)
            .body(body),
        )
    }
    fn ready(&self, job: &str, body: &str) -> HttpResponse {
        self.w.send(
            datev(
                Method::Put,
                &format!("{DXSO}/clients/29098-55003/dxso-jobs/{job}"),
                &self.token,
            )
            .header("Content-Type", "application/merge-patch+json")
            .body(body.as_bytes().to_vec()),
        )
    }
    fn status(&self, job: &str) -> Value {
        let resp = self.w.send(datev(
            Method::Get,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs/{job}"),
            &self.token,
        ));
        assert_eq!(resp.status, 200);
        body_json(&resp)
    }
}

#[test]
fn dxso_job_lifecycle() {
    let w = world();
    let d = Dxso {
        w: &w,
        token: w.access_token(),
    };
    let resp = d.create(Some(
        json!({"import_type": "accountsReceivableLedgerImport", "accounting_month": "2024-02"}),
    ));
    assert_eq!(resp.status, 201);
    let created = body_json(&resp);
    assert_eq!(
        keys(&created),
        ["account_length", "id", "ledger_folder_names"]
    );
    assert_eq!(created["account_length"], 4);
    assert_eq!(
        created["ledger_folder_names"],
        json!(["Ausgangsrechnungen"])
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
    assert_eq!(d.status(&id), json!({"id": id, "status": 0}));
    let up = d.upload(&id, "AR-2024-0001.xml", "text/xml; charset=Cp1252");
    assert_eq!(up.status, 201);
    assert_eq!(body_json(&up), json!({}));
    assert_eq!(d.upload(&id, "document.xml", "text/xml").status, 201);
    assert_eq!(d.ready(&id, r#"{"ready":"true"}"#).status, 204);
    assert_eq!(d.status(&id)["status"], 1);
    // Finalized: no more files, no delete, no second ready.
    dxso_error(&d.upload(&id, "late.xml", "text/xml"), 400, "DCO01007");
    dxso_error(&d.ready(&id, r#"{"ready":"true"}"#), 400, "DCO01007");
    let del = w.send(datev(
        Method::Delete,
        &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}"),
        &d.token,
    ));
    dxso_error(&del, 400, "DCO01007");
    w.advance(5_000);
    assert_eq!(d.status(&id)["status"], 2);
    let protocol = w.send(datev(
        Method::Get,
        &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}/protocol-entries"),
        &d.token,
    ));
    let entries = body_json(&protocol);
    assert_eq!(
        entries[0],
        json!({"time": "2024-03-01T10:00:00.000Z", "text": "wurde empfangen!", "type": "information", "filename": "AR-2024-0001.xml"})
    );
    assert_eq!(entries.as_array().unwrap().len(), 3);
    // The firm cancels it in Belege online.
    w.sim.cancel_dxso_in_belege_online(&id, true).unwrap();
    assert_eq!(d.status(&id)["status"], 5);
    w.sim.cancel_dxso_in_belege_online(&id, false).unwrap();
    assert_eq!(d.status(&id)["status"], 6);
}

#[test]
fn dxso_without_document_xml_is_status_3_and_delete_works_while_open() {
    let w = world();
    let d = Dxso {
        w: &w,
        token: w.access_token(),
    };
    let id = body_json(&d.create(None))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(d.upload(&id, "AR-1.xml", "text/xml").status, 201);
    assert_eq!(d.ready(&id, r#"{"ready":"true"}"#).status, 204);
    w.advance(5_000);
    assert_eq!(d.status(&id)["status"], 3);
    let open = body_json(&d.create(Some(json!({}))))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{DXSO}/clients/29098-55003/dxso-jobs/{open}");
    assert_eq!(w.send(datev(Method::Delete, &url, &d.token)).status, 204);
    let gone = w.send(datev(Method::Get, &url, &d.token));
    assert_eq!(gone.status, 404);
    assert_eq!(keys(&body_json(&gone)), ["request_id"]);
}

#[test]
fn dxso_request_errors() {
    let w = world();
    let d = Dxso {
        w: &w,
        token: w.access_token(),
    };
    dxso_error(
        &d.create(Some(json!({"import_type": "cashLedgerImport"}))),
        400,
        "DCO01017",
    );
    dxso_error(
        &d.create(Some(
            json!({"import_type": "bogus", "accounting_month": "2024-02"}),
        )),
        400,
        "DCO01008",
    );
    dxso_error(
        &d.create(Some(
            json!({"import_type": "cashLedgerImport", "accounting_month": "2024-13"}),
        )),
        400,
        "DCO01008",
    );
    let cash = d.create(Some(
        json!({"import_type": "cashLedgerImport", "accounting_month": "2024-02"}),
    ));
    assert_eq!(body_json(&cash)["cash_ledger_names"], json!(["Kasse"]));
    let no_ct = w.send(
        datev(
            Method::Post,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs"),
            &d.token,
        )
        .body(b"{}".to_vec()),
    );
    dxso_error(&no_ct, 400, "DCO01018");
    // Testholz has no Belege online.
    let t = w.send(datev(
        Method::Post,
        &format!("{DXSO}/clients/29098-55004/dxso-jobs"),
        &d.token,
    ));
    dxso_error(&t, 400, "DCO01002");
    let id = body_json(&d.create(None))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    dxso_error(
        &d.upload(&id, "virus.exe", "application/octet-stream"),
        400,
        "DCO01015",
    );
    dxso_error(&d.upload(&id, "scan.pdf", "text/xml"), 400, "DCO01219");
    let no_part = w.send(
        datev(
            Method::Post,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}/files"),
            &d.token,
        )
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(b"--x--\r\n".to_vec()),
    );
    dxso_error(&no_part, 400, "DCO01004");
    dxso_error(&d.ready(&id, r#"{"ready":true}"#), 400, "DCO01001");
    let wrong_ct = w.send(
        datev(
            Method::Put,
            &format!("{DXSO}/clients/29098-55003/dxso-jobs/{id}"),
            &d.token,
        )
        .header("Content-Type", "application/json")
        .body(br#"{"ready":"true"}"#.to_vec()),
    );
    dxso_error(&wrong_ct, 400, "DCO01018");
    let unknown = d.upload("00000000000000000000000000000000", "a.xml", "text/xml");
    assert_eq!(unknown.status, 404);
    // A decomposed umlaut is replaced, not rejected.
    assert_eq!(
        d.upload(&id, "Rechnung-u\u{308}.xml", "text/xml").status,
        201
    );
    let job = &w
        .sim
        .snapshot()
        .unwrap()
        .datev
        .dxso_jobs
        .iter()
        .find(|j| j.id == id)
        .unwrap()
        .clone();
    assert_eq!(job.files[0].filename, "Rechnung-u_.xml");
}

#[test]
fn dxso_clients() {
    let w = world();
    let token = w.access_token();
    let list = body_json(&w.send(datev(Method::Get, &format!("{DXSO}/clients"), &token)));
    assert_eq!(
        list[0],
        json!({"client_number": 55003, "consultant_number": 29098, "id": "29098-55003", "name": "Musterholz"})
    );
    let basics = body_json(&w.send(datev(
        Method::Get,
        &format!("{DXSO}/clients/29098-55003"),
        &token,
    )));
    assert_eq!(basics["is_document_management_available"], true);
    let years = basics["basic_accounting_information"].as_array().unwrap();
    assert_eq!(years.len(), 3);
    assert_eq!(years[2]["fiscal_year_start"], "2024-01-01T00:00:00.000Z");
    assert_eq!(years[2]["account_length"], 4);
    let missing = w.send(datev(Method::Get, &format!("{DXSO}/clients/1-1"), &token));
    assert_eq!(missing.status, 404);
}
