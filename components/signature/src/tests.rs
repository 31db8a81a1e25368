//! Twilio's published example and the official libraries' own vectors (twilio.md §8.2, §8.6),
//! plus the parsing rules. The edge-case table lives in `tests/data/vectors.json`.

use super::*;

const TOKEN: &str = "12345";
const LIB_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The parameters of the libraries' tests (twilio-python `test_request_validator.py`,
/// twilio-node `spec/validation.spec.js`, twilio-java `RequestValidatorTest.java`).
fn lib_params() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

/// https://www.twilio.com/docs/usage/security#validating-requests (twilio.md §8.2).
#[test]
fn twilio_docs_example() {
    let url = "https://example.com/myapp.php?foo=1&bar=2";
    // Deliberately out of order: the algorithm sorts.
    let params = pairs(&[
        ("To", "+18005551212"),
        ("Digits", "1234"),
        ("CallSid", "CA1234567890ABCDE"),
        ("From", "+14158675310"),
        ("Caller", "+14158675310"),
    ]);
    let expected = "L/OH5YylLD5NRKLltdqwSvS0BnU=";
    assert_eq!(compute_signature(TOKEN, url, &params), expected);
    assert_eq!(validate_form(TOKEN, url, &params, expected), Ok(()));
    assert_eq!(
        validate_form("54321", url, &params, expected),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn library_vector_plain() {
    let expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    assert_eq!(compute_signature(TOKEN, LIB_URL, &lib_params()), expected);
    assert_eq!(
        validate_form(TOKEN, LIB_URL, &lib_params(), expected),
        Ok(())
    );
}

#[test]
fn library_vector_https_default_port() {
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    let expected = "kvajT1Ptam85bY51eRf/AJRuM3w=";
    assert_eq!(compute_signature(TOKEN, with_port, &lib_params()), expected);
    // Signed with :443, received without it (and the other way round).
    assert_eq!(
        validate_form(TOKEN, LIB_URL, &lib_params(), expected),
        Ok(())
    );
    assert_eq!(
        validate_form(
            TOKEN,
            with_port,
            &lib_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ),
        Ok(())
    );
}

#[test]
fn library_vector_http_default_port() {
    let with_port = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
    let without = "http://mycompany.com/myapp.php?foo=1&bar=2";
    let expected = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
    assert_eq!(compute_signature(TOKEN, with_port, &lib_params()), expected);
    assert_eq!(
        validate_form(TOKEN, without, &lib_params(), expected),
        Ok(())
    );
    assert_eq!(
        validate_form(TOKEN, with_port, &lib_params(), expected),
        Ok(())
    );
}

#[test]
fn library_vector_non_default_port() {
    let with_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    let without = "http://mycompany.com/myapp.php?foo=1&bar=2";
    let expected = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
    assert_eq!(compute_signature(TOKEN, with_port, &lib_params()), expected);
    assert_eq!(
        validate_form(TOKEN, with_port, &lib_params(), expected),
        Ok(())
    );
    // A non-default port is never invented: without it in the URL, only :80 is tried.
    assert_eq!(
        validate_form(TOKEN, without, &lib_params(), expected),
        Err(SignatureError::Mismatch)
    );
    // ...but a signature made without the port is accepted on a URL that has one.
    let unported = compute_signature(TOKEN, without, &lib_params());
    assert_eq!(
        validate_form(TOKEN, with_port, &lib_params(), &unported),
        Ok(())
    );
}

#[test]
fn library_vector_json_body() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    let expected = "a9nBmqA0ju/hNViExpshrM61xv4=";
    assert_eq!(compute_signature(TOKEN, url, &[]), expected);
    assert_eq!(validate_json(TOKEN, url, body, expected), Ok(()));
    assert_eq!(
        validate_json(
            TOKEN,
            url,
            br#"{"property": "value", "boolean": false}"#,
            expected
        ),
        Err(SignatureError::BodyHashMismatch)
    );
    assert_eq!(
        validate_json(TOKEN, LIB_URL, body, expected),
        Err(SignatureError::MissingBodyHash)
    );
    let upper = url.replace(
        "0a1ff7634d9ab3b95db5c9a2dfe9416e",
        "0A1FF7634D9AB3B95DB5C9A2DFE9416E",
    );
    let upper_sig = compute_signature(TOKEN, &upper, &[]);
    assert_eq!(validate_json(TOKEN, &upper, body, &upper_sig), Ok(()));
}

#[test]
fn library_vector_repeated_keys() {
    let params = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]);
    let expected = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
    assert_eq!(compute_signature(TOKEN, LIB_URL, &params), expected);
    assert_eq!(validate_form(TOKEN, LIB_URL, &params, expected), Ok(()));
}

#[test]
fn signature_header_shapes() {
    let params = lib_params();
    let validate = |sig: &str| validate_form(TOKEN, LIB_URL, &params, sig);
    assert_eq!(validate(""), Err(SignatureError::MissingSignature));
    assert_eq!(validate("   "), Err(SignatureError::MissingSignature));
    // 16 bytes, valid Base64.
    assert_eq!(
        validate("AAAAAAAAAAAAAAAAAAAAAA=="),
        Err(SignatureError::MalformedSignature)
    );
    // Right length, not Base64.
    assert_eq!(
        validate("RSOYDt4T1cUTdK1PDd93/VVr8B8!"),
        Err(SignatureError::MalformedSignature)
    );
    // Non-canonical trailing bits ('9' instead of '8' before '=').
    assert_eq!(
        validate("RSOYDt4T1cUTdK1PDd93/VVr8B9="),
        Err(SignatureError::MalformedSignature)
    );
    // URL-safe alphabet is not what Twilio sends.
    assert_eq!(
        validate("RSOYDt4T1cUTdK1PDd93_VVr8B8="),
        Err(SignatureError::MalformedSignature)
    );
    // Unpadded.
    assert_eq!(
        validate("RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        Err(SignatureError::MalformedSignature)
    );
    assert_eq!(
        validate("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn invalid_urls_are_typed_errors() {
    let cases = [
        ("/myapp.php", "not absolute (no `scheme://`)"),
        ("ftp://mycompany.com/x", "scheme must be http or https"),
        ("https:///x", "missing host"),
        ("https://user:pw@/x", "missing host"),
        ("https://mycompany.com:/x", "empty port after `:`"),
        (
            "https://mycompany.com:44x3/x",
            "port is not a decimal number",
        ),
        (
            "https://mycompany.com:65536/x",
            "port is greater than 65535",
        ),
        (
            "https://mycompany.com:0000443/x",
            "port has more than 5 digits",
        ),
        ("https://[::1/x", "IPv6 host has no closing `]`"),
        (
            "https://[::1]x/x",
            "unexpected characters after the IPv6 host",
        ),
        (
            "https://mycompany.com/a b",
            "contains whitespace or a control character at byte 23",
        ),
        (
            "https://mycompany.com/\n",
            "contains whitespace or a control character at byte 22",
        ),
    ];
    for (url, why) in cases {
        let err = Err(SignatureError::InvalidUrl(why.to_owned()));
        assert_eq!(
            validate_form(TOKEN, url, &[], "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            err,
            "{url}"
        );
        assert_eq!(validate_json(TOKEN, url, b"{}", ""), err, "{url}");
    }
}

#[test]
fn invalid_url_error_does_not_echo_credentials() {
    let err = validate_form(TOKEN, "ftp://admin:hunter2@host/x", &[], "").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn userinfo_and_fragment_are_not_signed() {
    let clean = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let dirty = "https://user:p%40ss@mycompany.com/myapp.php?foo=1&bar=2#ct=3000&rc=3";
    let sig = compute_signature(TOKEN, clean, &lib_params());
    assert_eq!(compute_signature(TOKEN, dirty, &lib_params()), sig);
    assert_eq!(validate_form(TOKEN, dirty, &lib_params(), &sig), Ok(()));
}

#[test]
fn ipv6_hosts_keep_their_brackets_and_get_port_variants() {
    let given = "https://[2001:db8::1]/cb";
    let signed = compute_signature(TOKEN, "https://[2001:db8::1]:443/cb", &[]);
    assert_eq!(validate_form(TOKEN, given, &[], &signed), Ok(()));
}

#[test]
fn compute_signs_unparseable_urls_verbatim() {
    // HMAC is defined for any bytes; only validation insists on a URL.
    assert_eq!(
        compute_signature(TOKEN, "not a url", &[]),
        compute_signature(TOKEN, "not a url", &pairs(&[]))
    );
    assert_ne!(
        compute_signature(TOKEN, "not a url", &[]),
        compute_signature(TOKEN, "not a url#x", &[])
    );
}

#[test]
fn parse_form_keeps_order_repeats_and_decodes() {
    let body = b"To=%2B4915112345678&Body=Gr%C3%BC%C3%9Fe+%F0%9F%91%8B&Digits=1&Digits=1&Empty=&Bare&&Name+With+Space=a%2Bb";
    assert_eq!(
        parse_form(body),
        Ok(pairs(&[
            ("To", "+4915112345678"),
            ("Body", "Grüße 👋"),
            ("Digits", "1"),
            ("Digits", "1"),
            ("Empty", ""),
            ("Bare", ""),
            ("Name With Space", "a+b"),
        ]))
    );
    assert_eq!(parse_form(b""), Ok(vec![]));
    assert_eq!(parse_form(b"a=b=c"), Ok(pairs(&[("a", "b=c")])));
}

#[test]
fn parse_form_names_the_problem() {
    assert_eq!(
        parse_form(b"A=1&B%2=2"),
        Err(FormError::NamePercentEncoding {
            position: 2,
            offset: 5
        })
    );
    assert_eq!(
        parse_form(b"A=1&&Body=ab%zz"),
        Err(FormError::ValuePercentEncoding {
            position: 2,
            name: "Body".to_owned(),
            offset: 12
        })
    );
    assert_eq!(
        parse_form(b"Body=%"),
        Err(FormError::ValuePercentEncoding {
            position: 1,
            name: "Body".to_owned(),
            offset: 5
        })
    );
    assert_eq!(
        parse_form(b"%FF=1"),
        Err(FormError::NameUtf8 { position: 1 })
    );
    assert_eq!(
        parse_form(b"Body=%C3%28"),
        Err(FormError::ValueUtf8 {
            position: 1,
            name: "Body".to_owned()
        })
    );
    assert_eq!(
        FormError::ValueUtf8 {
            position: 3,
            name: "Bo\ndy".to_owned()
        }
        .to_string(),
        "form parameter 3 (\"Bo\\ndy\"): the value is not valid UTF-8 after percent-decoding"
    );
}

#[test]
fn parsed_form_validates() {
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let params = parse_form(body).expect("valid form");
    assert_eq!(
        validate_form(TOKEN, LIB_URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        Ok(())
    );
}

#[test]
fn body_hash_query_param_forms() {
    let body = b"{}";
    let hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    // First occurrence wins, percent-decoding applies to the name.
    for url in [
        format!("https://h/cb?bodySHA256={hash}&bodySHA256=00"),
        format!("https://h/cb?body%53HA256={hash}"),
    ] {
        let sig = compute_signature(TOKEN, &url, &[]);
        assert_eq!(validate_json(TOKEN, &url, body, &sig), Ok(()), "{url}");
    }
    for url in [
        "https://h/cb?bodySHA256=00&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "https://h/cb?bodySHA256=",
        "https://h/cb?bodySHA256=%zz",
        "https://h/cb?bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8g",
    ] {
        let sig = compute_signature(TOKEN, url, &[]);
        assert_eq!(
            validate_json(TOKEN, url, body, &sig),
            Err(SignatureError::BodyHashMismatch),
            "{url}"
        );
    }
    // The name is case-sensitive; the fragment is not part of the query.
    for url in [
        format!("https://h/cb?bodysha256={hash}"),
        format!("https://h/cb#bodySHA256={hash}"),
    ] {
        let sig = compute_signature(TOKEN, &url, &[]);
        assert_eq!(
            validate_json(TOKEN, &url, body, &sig),
            Err(SignatureError::MissingBodyHash),
            "{url}"
        );
    }
}

#[test]
fn json_checks_signature_before_body() {
    let url = "https://h/cb?bodySHA256=00";
    assert_eq!(
        validate_json(TOKEN, url, b"{}", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn pieces_of_every_length_sign_like_one_buffer() {
    // Exercises the update coalescing around its 256-byte buffer: pieces that fit, fill it
    // exactly, overflow it, and exceed it on their own.
    for len in [0, 1, 63, 64, 65, 200, 255, 256, 257, 1000] {
        let long = "x".repeat(len);
        let params = pairs(&[("A", "1"), ("Body", &long), ("C", &long), ("D", "2")]);
        let mut mac = HmacSha1::new_from_slice(TOKEN.as_bytes()).expect("any key length");
        mac.update(format!("{LIB_URL}A1Body{long}C{long}D2").as_bytes());
        let expected = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(
            compute_signature(TOKEN, LIB_URL, &params),
            expected,
            "{len}"
        );
        assert_eq!(
            validate_form(TOKEN, LIB_URL, &params, &expected),
            Ok(()),
            "{len}"
        );
    }
}
