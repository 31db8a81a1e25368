//! Runs the independent edge-case table `tests/data/vectors.json` (written by
//! `tests/data/gen_vectors.py` with Python's `hmac`/`hashlib`/`base64`) against the native library:
//! every expected signature and every validation outcome must match exactly.

mod common;

use common::{VECTOR_COUNT, outcome, vectors};
use signature::{compute_signature, validate_form, validate_json};

#[test]
fn every_vector_matches_python() {
    let vectors = vectors();
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
    let vectors = vectors();
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
