//! The component export: `ml-connector:twilio-signature/validate@0.1.0`, world `signature`
//! (`wit/twilio-signature/signature.wit`). Built for `wasm32-unknown-unknown` and encoded with
//! `cargo xtask componentize signature`, so it imports nothing.

use crate::bindings::exports::ml_connector::twilio_signature::validate::{
    Guest, Param, SignatureError as WitError,
};

/// The exported implementation; every function forwards to the native library.
struct Component;

impl Guest for Component {
    fn compute_signature(auth_token: String, url: String, params: Vec<Param>) -> String {
        crate::compute_signature(&auth_token, &url, &into_pairs(params))
    }

    fn validate_form(
        auth_token: String,
        url: String,
        params: Vec<Param>,
        signature: String,
    ) -> Result<(), WitError> {
        crate::validate_form(&auth_token, &url, &into_pairs(params), &signature).map_err(to_wit)
    }

    fn validate_json(
        auth_token: String,
        url: String,
        body: Vec<u8>,
        signature: String,
    ) -> Result<(), WitError> {
        crate::validate_json(&auth_token, &url, &body, &signature).map_err(to_wit)
    }
}

/// Moves the strings; no copies.
fn into_pairs(params: Vec<Param>) -> Vec<(String, String)> {
    params.into_iter().map(|p| (p.name, p.value)).collect()
}

fn to_wit(err: crate::SignatureError) -> WitError {
    use crate::SignatureError as E;
    match err {
        E::MissingSignature => WitError::MissingSignature,
        E::MalformedSignature => WitError::MalformedSignature,
        E::Mismatch => WitError::Mismatch,
        E::InvalidUrl(why) => WitError::InvalidUrl(why),
        E::MissingBodyHash => WitError::MissingBodyHash,
        E::BodyHashMismatch => WitError::BodyHashMismatch,
    }
}

/// The canonical-ABI entry points. wit-bindgen's `export!` is a macro defined in this crate by
/// `generate!`, so its `#[unsafe(export_name)]` functions and `unsafe` lifting code count as ours
/// for the workspace's `unsafe_code` lint; they are allowed here and nowhere else.
#[allow(unsafe_code)]
mod export {
    use super::Component;
    crate::bindings::export!(Component with_types_in crate::bindings);
}
