//! Exact request bytes and response handling of every API call, through a recording double.

mod common;

use common::*;
use connector::{HttpError, HttpResponse, Secret};
use datev::{
    AccessToken, AccountingMonth, ApiError, ClientsQuery, DatevApi, DatevClientId, DatevErrorBody,
    DxsoFile, DxsoFilename, DxsoImportType, DxsoJobId, DxsoJobParams, DxsoJobStatus, ExtfFilename,
    ExtfJobId, ExtfJobResult, ExtfUpload, HeaderText, JobProgress, Operation, Retryability,
};

const BEARER: &str = "AT-test-bearer-token-value";

fn token() -> AccessToken {
    AccessToken::new(Secret::new(BEARER), T0 + 900_000)
}

fn subs() -> Vec<(&'static str, &'static str)> {
    vec![(BEARER, "{access_token}")]
}

fn upload() -> ExtfUpload {
    let mut u = ExtfUpload::new(
        ExtfFilename::parse("EXTF_BS_20240101_1.csv").unwrap(),
        b"\xEF\xBB\xBF\"EXTF\";700;21;\"Buchungsstapel\";13\r\n".to_vec(),
    )
    .unwrap();
    u.reference_id = Some(HeaderText::reference_id("batch-42").unwrap());
    u.client_application_version = Some(HeaderText::client_application_version("0.1.0").unwrap());
    u
}

fn assert_auth_headers(http: &Scripted<'_>) {
    for r in http.requests() {
        assert_eq!(
            r.header_value("Authorization"),
            Some(format!("Bearer {BEARER}").as_str()),
            "{}",
            r.url
        );
        assert_eq!(
            r.header_value("X-DATEV-Client-Id"),
            Some(CLIENT_ID),
            "{}",
            r.url
        );
    }
}

#[test]
fn extf_import_request_and_accepted_answer() {
    let w = World::new();
    let http = Scripted::queue(vec![Ok(HttpResponse::new(202, Vec::new())
        .header(
            "Location",
            "/clients/455148-1/extf-files/jobs/8a772151-6c21-40fe-96ae-4d42cbeeda5a",
        )
        .header("Retry-After", "5"))]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let accepted = api.import_extf(&token(), &client(), &upload()).unwrap();
    assert_eq!(
        accepted.job_id,
        ExtfJobId::parse("8a772151-6c21-40fe-96ae-4d42cbeeda5a").unwrap()
    );
    assert_eq!(accepted.retry_after_s, Some(5));
    assert_eq!(
        accepted.location,
        "/clients/455148-1/extf-files/jobs/8a772151-6c21-40fe-96ae-4d42cbeeda5a"
    );
    let sent = http.requests();
    golden("extf_import.http", &render(&sent[0], &subs()));
    assert_eq!(
        sent[0].body,
        upload().content,
        "the file goes out byte for byte, BOM included"
    );
    assert_auth_headers(&http);
}

#[test]
fn extf_import_without_a_usable_location_is_ambiguous() {
    let w = World::new();
    for location in [
        None,
        Some("/clients/455148-1/other/abc"),
        Some("/clients/455148-1/extf-files/jobs/a%2Fb"),
    ] {
        let mut resp = HttpResponse::new(202, Vec::new());
        if let Some(l) = location {
            resp = resp.header("Location", l);
        }
        let http = Scripted::queue(vec![Ok(resp)]);
        let api = DatevApi::new(&w.config, w.ports(&http));
        let err = api.import_extf(&token(), &client(), &upload()).unwrap_err();
        assert!(matches!(
            err,
            ApiError::UnexpectedResponse {
                operation: Operation::ImportExtfFile,
                status: 202,
                ..
            }
        ));
        assert_eq!(err.retryability(), Retryability::Ambiguous, "{location:?}");
    }
}

#[test]
fn extf_import_errors_keep_datev_bodies_and_classify() {
    let w = World::new();
    let problem = r#"{"type":"http://www.datev.de/hilfe/1008832","title":"Invalid filename","detail":"Filename does not match","affected_elements":[{"name":"Filename","reason":"must match EXTF_.{0,51}\\.csv"}],"request_id":"rq-1","status":400}"#;
    let http = Scripted::queue(vec![
        Ok(json(400, problem)),
        Ok(json(429, r#"{"title":"Too Many Requests"}"#).header("Retry-After", "30")),
        Ok(json(
            503,
            r#"{"type":"http://www.datev.de/hilfe/1008837","title":"Try again","request_id":"rq-2","status":503}"#,
        )),
        Ok(json(
            500,
            r#"{"title":"Internal Server Error","request_id":"rq-3","status":500}"#,
        )),
        Err(HttpError::Timeout),
        Err(HttpError::Connect("connection refused".into())),
        Ok(HttpResponse::new(
            401,
            format!("token {BEARER} rejected").into_bytes(),
        )),
    ]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let call = || api.import_extf(&token(), &client(), &upload()).unwrap_err();

    let e = call();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.retryability(), Retryability::Permanent);
    match e.body() {
        Some(DatevErrorBody::ProblemDetails(p)) => {
            assert_eq!(p.code(), Some("1008832"));
            assert_eq!(p.affected_elements[0].name.as_deref(), Some("Filename"));
            assert_eq!(p.request_id.as_deref(), Some("rq-1"));
        }
        other => panic!("{other:?}"),
    }
    let e = call();
    assert_eq!(
        (e.status(), e.retry_after_s(), e.retryability()),
        (Some(429), Some(30), Retryability::Retryable)
    );
    let e = call();
    assert_eq!(
        (e.body().and_then(DatevErrorBody::code), e.retryability()),
        (Some("1008837"), Retryability::Retryable)
    );
    assert_eq!(
        call().retryability(),
        Retryability::Ambiguous,
        "500 on a POST: do not retry blindly"
    );
    assert_eq!(
        call().retryability(),
        Retryability::Ambiguous,
        "timeout after sending a POST"
    );
    assert_eq!(
        call().retryability(),
        Retryability::Retryable,
        "connect failure: nothing was sent"
    );
    let e = call();
    assert!(e.is_unauthorized());
    assert_eq!(
        e.body(),
        Some(&DatevErrorBody::Text("token [redacted] rejected".into()))
    );
    assert!(!format!("{e} {e:?}").contains(BEARER));
    assert_auth_headers(&http);
}

#[test]
fn extf_job_states() {
    let w = World::new();
    let http = Scripted::queue(vec![
        Ok(json(
            200,
            r#"{"id":"job-1","result":"pending","filename":"EXTF_BS_20240101_1.csv"}"#,
        )),
        Ok(json(
            200,
            r#"{"id":"job-1","result":"succeeded","number_of_accounting_records":2,"data_category_id":21}"#,
        )),
        Ok(json(
            200,
            r#"{"id":"job-1","result":"failed","validation_details":{"type":"http://www.datev.de/hilfe/1008834","title":"Invalid EXTF-header","detail":"Fields with error","affected_elements":[{"name":"DATEV Format Identifier","reason":"must be 'EXTF'"}]}}"#,
        )),
        Ok(json(200, r#"{"id":"job-1","result":"exploded"}"#)),
        Ok(json(
            500,
            r#"{"title":"Internal Server Error","status":500}"#,
        )),
    ]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let job = ExtfJobId::parse("job-1").unwrap();
    let a = api.extf_job(&token(), &client(), &job).unwrap();
    assert_eq!(
        (a.result, a.progress()),
        (ExtfJobResult::Pending, JobProgress::Pending)
    );
    let b = api.extf_job(&token(), &client(), &job).unwrap();
    assert_eq!(
        (b.progress(), b.number_of_accounting_records),
        (JobProgress::Succeeded, Some(2))
    );
    let c = api.extf_job(&token(), &client(), &job).unwrap();
    assert_eq!(c.progress(), JobProgress::Failed);
    let details = c.validation_details.unwrap();
    assert_eq!(details.code(), Some("1008834"));
    assert_eq!(details.title.as_deref(), Some("Invalid EXTF-header"));
    assert_eq!(
        details.affected_elements[0].reason.as_deref(),
        Some("must be 'EXTF'")
    );
    let d = api.extf_job(&token(), &client(), &job).unwrap_err();
    assert!(matches!(
        d,
        ApiError::UnexpectedResponse {
            operation: Operation::GetExtfJob,
            status: 200,
            ..
        }
    ));
    assert_eq!(d.retryability(), Retryability::Permanent);
    let e = api.extf_job(&token(), &client(), &job).unwrap_err();
    assert_eq!(
        e.retryability(),
        Retryability::Retryable,
        "a GET may be repeated after 500"
    );
    golden("extf_job.http", &render(&http.requests()[0], &subs()));
    assert_auth_headers(&http);
}

#[test]
fn clients_list_with_filter_and_paging() {
    let w = World::new();
    let body = r#"[{"client_number":1,"consultant_number":455148,"id":"455148-1","name":"Muster GmbH 1","services":[{"name":"Buchungsdatenservice","scopes":["datev:accounting:extf-files-import"]}]}]"#;
    let http = Scripted::queue(vec![
        Ok(json(200, body).header("Total-Items", "248").header(
            "Link",
            r#"<?skip=0&top=100>;rel="prev", <?skip=200&top=100>;rel="next""#,
        )),
        Ok(json(200, "[]")),
    ]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let page = api
        .list_clients(
            &token(),
            &ClientsQuery {
                only: Some(client()),
                skip: 100,
                top: Some(100),
            },
        )
        .unwrap();
    assert_eq!(page.total_items, Some(248));
    assert_eq!(page.next_skip, Some(200));
    assert_eq!(page.clients.len(), 1);
    assert_eq!(page.clients[0].client_id().unwrap(), client());
    assert!(page.clients[0].has_buchungsdatenservice());
    let empty = api
        .list_clients(&token(), &ClientsQuery::default())
        .unwrap();
    assert_eq!(
        (empty.clients.len(), empty.total_items, empty.next_skip),
        (0, None, None)
    );
    let sent = http.requests();
    golden("clients_filtered.http", &render(&sent[0], &subs()));
    assert_eq!(
        sent[1].url,
        "https://accounting-clients.api.datev.de/platform-sandbox/v2/clients"
    );
    assert_auth_headers(&http);
}

#[test]
fn dxso_job_lifecycle_requests() {
    let w = World::new();
    let created = r#"{"id":"CDD8BCFAD7034008AD143D330084FC22","account_length":4,"ledger_folder_names":["Ausgangsrechnungen"]}"#;
    let http = Scripted::queue(vec![
        Ok(json(201, created)),
        Ok(json(
            201,
            r#"{"id":"74C73D12-A0E8-65DB-68FE-D7481FF44D72"}"#,
        )),
        Ok(json(201, "{}")),
        Ok(HttpResponse::new(204, Vec::new())),
        Ok(json(
            200,
            r#"{"id":"CDD8BCFAD7034008AD143D330084FC22","status":1}"#,
        )),
        Ok(json(
            200,
            r#"{"id":"CDD8BCFAD7034008AD143D330084FC22","status":4}"#,
        )),
        Ok(json(
            200,
            r#"[{"time":"2023-02-01T13:03:46+01:00","text":"wurde empfangen!","context":"Beleg-ID Nr. A7C39D3C0D44BDBF54B6F4E2A41B550C","type":"information","filename":"AR-2015-0001.xml"}]"#,
        )),
        Ok(HttpResponse::new(204, Vec::new())),
    ]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let params = DxsoJobParams {
        import_type: DxsoImportType::AccountsReceivableLedger,
        accounting_month: AccountingMonth::parse("2025-05").unwrap(),
    };
    let job = api
        .create_dxso_job(&token(), &client(), Some(&params))
        .unwrap();
    assert_eq!(
        job.job_id,
        DxsoJobId::parse("CDD8BCFAD7034008AD143D330084FC22").unwrap()
    );
    assert_eq!(job.account_length, Some(4));
    assert_eq!(
        job.ledger_folder_names,
        vec!["Ausgangsrechnungen".to_owned()]
    );
    let plain = api.create_dxso_job(&token(), &client(), None).unwrap();
    assert_eq!(
        plain.job_id.as_str(),
        "74C73D12-A0E8-65DB-68FE-D7481FF44D72"
    );
    let file = DxsoFile::from_extension(
        DxsoFilename::parse("AR-2015-0001.xml").unwrap(),
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><LedgerImport/>".to_vec(),
    )
    .unwrap();
    api.upload_dxso_file(&token(), &client(), &job.job_id, &file)
        .unwrap();
    api.start_dxso_job(&token(), &client(), &job.job_id)
        .unwrap();
    let s1 = api
        .dxso_job_status(&token(), &client(), &job.job_id)
        .unwrap();
    assert_eq!(
        (s1.status, s1.status.progress()),
        (DxsoJobStatus::Processing, JobProgress::Running)
    );
    let s2 = api
        .dxso_job_status(&token(), &client(), &job.job_id)
        .unwrap();
    assert_eq!(s2.status.progress(), JobProgress::PartiallySucceeded);
    let protocol = api.dxso_protocol(&token(), &client(), &job.job_id).unwrap();
    assert_eq!(protocol[0].entry_type.as_deref(), Some("information"));
    assert_eq!(protocol[0].filename.as_deref(), Some("AR-2015-0001.xml"));
    api.delete_dxso_job(&token(), &client(), &job.job_id)
        .unwrap();

    let sent = http.requests();
    let names = [
        "dxso_create.http",
        "dxso_create_empty.http",
        "dxso_upload.http",
        "dxso_start.http",
        "dxso_status.http",
        "dxso_status.http",
        "dxso_protocol.http",
        "dxso_delete.http",
    ];
    for (req, name) in sent.iter().zip(names) {
        golden(name, &render(req, &subs()));
    }
    assert_auth_headers(&http);
}

#[test]
fn dxso_errors_keep_the_error_message() {
    let w = World::new();
    let http = Scripted::queue(vec![
        Ok(json(
            400,
            r##"{"error_uri":"https://apps.datev.de/knowledge/help/search?q=DCO01007","request_id":"0a13","error":"#DCO01007","error_description":"restapi.InvalidDxsoJobStateFault"}"##,
        )),
        Ok(json(404, r#"{"request_id":"0b14"}"#)),
        Ok(json(201, r#"{"id":"not-a-guid"}"#)),
    ]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let job = DxsoJobId::parse("CDD8BCFAD7034008AD143D330084FC22").unwrap();
    let e = api.start_dxso_job(&token(), &client(), &job).unwrap_err();
    assert_eq!(e.body().and_then(DatevErrorBody::code), Some("#DCO01007"));
    assert_eq!(
        e.to_string(),
        "PUT dxso-jobs/{job-id}: DATEV answered HTTP 400: #DCO01007 restapi.InvalidDxsoJobStateFault"
    );
    let e = api.dxso_job_status(&token(), &client(), &job).unwrap_err();
    match e.body() {
        Some(DatevErrorBody::ErrorMessage(m)) => assert_eq!(m.request_id.as_deref(), Some("0b14")),
        other => panic!("{other:?}"),
    }
    let e = api.create_dxso_job(&token(), &client(), None).unwrap_err();
    assert!(matches!(
        e,
        ApiError::UnexpectedResponse {
            operation: Operation::CreateDxsoJob,
            status: 201,
            ..
        }
    ));
    assert_eq!(e.retryability(), Retryability::Ambiguous);
}

#[test]
fn client_id_goes_into_paths_canonically() {
    let w = World::new();
    let http = Scripted::queue(vec![Ok(json(200, r#"{"id":"j","result":"pending"}"#))]);
    let api = DatevApi::new(&w.config, w.ports(&http));
    let c = DatevClientId::new(29098, 55003).unwrap();
    api.extf_job(&token(), &c, &ExtfJobId::parse("j").unwrap())
        .unwrap();
    assert_eq!(
        http.requests()[0].url,
        "https://accounting-extf-files.api.datev.de/platform-sandbox/v3/clients/29098-55003/extf-files/jobs/j"
    );
}
