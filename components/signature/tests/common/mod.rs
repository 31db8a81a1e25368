//! The edge-case table `tests/data/vectors.json` (written by `tests/data/gen_vectors.py`), shared by
//! the native test (`tests/vectors.rs`) and the component test in the `integration-tests` crate
//! (`tests/tests/host/signature_component.rs`, via `#[path]`).

use serde::Deserialize;
use signature::SignatureError;

/// Rows in the table; a change here means `gen_vectors.py` changed and this count must follow.
pub const VECTOR_COUNT: usize = 75;

/// The table, embedded at compile time (the path is relative to this file, whoever includes it).
const VECTORS_JSON: &str = include_str!("../data/vectors.json");

#[derive(Debug, Deserialize)]
struct Table {
    vectors: Vec<Vector>,
}

/// One delivery: what the validator is handed and what Python says must come out.
#[derive(Debug, Deserialize)]
pub struct Vector {
    pub name: String,
    /// `form` or `json`.
    pub kind: String,
    pub auth_token: String,
    pub url: String,
    #[serde(default)]
    pub params: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
    /// The `X-Twilio-Signature` header presented.
    pub signature: String,
    /// `ok` or a `signature-error` case name from the WIT.
    pub expected: String,
    /// `compute-signature(auth_token, url, params)` as Python computes it.
    pub expected_signature: String,
}

/// All rows, in file order.
pub fn vectors() -> Vec<Vector> {
    match serde_json::from_str::<Table>(VECTORS_JSON) {
        Ok(table) => table.vectors,
        Err(err) => panic!("tests/data/vectors.json: {err}"),
    }
}

/// The table's spelling of an outcome (the WIT `signature-error` case names).
pub fn outcome(result: &Result<(), SignatureError>) -> &'static str {
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
