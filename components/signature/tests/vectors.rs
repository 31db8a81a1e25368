//! Runs the independent edge-case table `tests/data/vectors.json` (written by
//! `tests/data/gen_vectors.py` with Python's `hmac`/`hashlib`/`base64`) against the native library:
//! every expected signature and every validation outcome must match exactly.

use serde::Deserialize;
use signature::{SignatureError, compute_signature, validate_form, validate_json};

/// Rows in the table; a change here means `gen_vectors.py` changed and this count must follow.
const VECTOR_COUNT: usize = 75;

#[derive(Debug, Deserialize)]
struct Table {
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    kind: String,
    auth_token: String,
    url: String,
    #[serde(default)]
    params: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    signature: String,
    expected: String,
    expected_signature: String,
}

fn table() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let table: Table =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    table.vectors
}

/// The WIT `signature-error` case names, as the table spells outcomes.
fn outcome(result: &Result<(), SignatureError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(SignatureError::MissingSignature) => "missing-signature",
        Err(SignatureError::MalformedSignature) => "malformed-signature",
        Err(SignatureError::Mismatch) => "mismatch",
        Err(SignatureError::InvalidUrl(_)) => "invalid-url",
        Err(SignatureError::MissingBodyHash) => "missing-body-hash",
        Err(SignatureError::BodyHashMismatch) => "body-hash-mismatch",
    }
}

#[test]
fn every_vector_matches_python() {
    let vectors = table();
    assert_eq!(vectors.len(), VECTOR_COUNT);
    let mut failures = Vec::new();
    for v in &vectors {
        let computed = compute_signature(&v.auth_token, &v.url, &v.params);
        if computed != v.expected_signature {
            failures.push(format!(
                "{}: compute_signature {computed}, Python {}",
                v.name, v.expected_signature
            ));
        }
        let result = match v.kind.as_str() {
            "form" => validate_form(&v.auth_token, &v.url, &v.params, &v.signature),
            "json" => validate_json(&v.auth_token, &v.url, v.body.as_bytes(), &v.signature),
            other => panic!("{}: unknown kind {other:?}", v.name),
        };
        if outcome(&result) != v.expected {
            failures.push(format!(
                "{}: got {result:?}, expected {}",
                v.name, v.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn table_covers_every_outcome() {
    let vectors = table();
    for wanted in [
        "ok",
        "missing-signature",
        "malformed-signature",
        "mismatch",
        "invalid-url",
        "missing-body-hash",
        "body-hash-mismatch",
    ] {
        assert!(
            vectors.iter().any(|v| v.expected == wanted),
            "no vector expects {wanted}"
        );
    }
}
