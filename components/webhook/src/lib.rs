//! Spin HTTP component for Twilio callbacks (`POST /twilio/status`, `POST /twilio/inbound`).
//!
//! Thin glue: read the request (body capped at [`MAX_BODY_BYTES`]), the two variables and the
//! ports, and hand everything to [`connector::webhook::Webhook`], which decides, enqueues and
//! audits. Signatures are checked by the signature *component* through its imported WIT interface
//! `ml-connector:twilio-signature/validate@0.1.0`; Spin composes it in from `spin.toml`
//! (`[component.webhook.dependencies]`, `spin.md` §9), so no copy of that code is linked here.

use connector::Secret;
use connector::webhook::{
    MAX_BODY_BYTES, RequestBody, SignatureCheck, SignatureRejection, VAR_AUTH_TOKEN,
    VAR_PUBLIC_BASE_URL, Webhook, WebhookConfig, WebhookRequest, declared_too_large,
};
use spin_glue::{IncomingBodyError, SpinStore, WasiClock, variable};
use spin_sdk::http::{IncomingRequest, Response};

/// Bindings for the imported signature interface.
///
/// `generate_all` because the world's package refers to another package and the Spin SDK
/// generates its own bindings next to these (`spin.md` §4.3). The generated lifting code is
/// `unsafe`; it is allowed in this module only.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "ml-connector:webhook/webhook",
        path: ["../../wit/twilio-signature", "wit"],
        generate_all,
    });
}

use bindings::ml_connector::twilio_signature::validate::{self as wit, Param, SignatureError};

/// [`SignatureCheck`] over the imported component.
struct ComponentSignatures;

fn params(list: &[(String, String)]) -> Vec<Param> {
    list.iter()
        .map(|(name, value)| Param {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn rejection(e: SignatureError) -> SignatureRejection {
    match e {
        SignatureError::MissingSignature => SignatureRejection::MissingSignature,
        SignatureError::MalformedSignature => SignatureRejection::MalformedSignature,
        SignatureError::Mismatch => SignatureRejection::Mismatch,
        SignatureError::InvalidUrl(why) => SignatureRejection::InvalidUrl(why),
        SignatureError::MissingBodyHash => SignatureRejection::MissingBodyHash,
        SignatureError::BodyHashMismatch => SignatureRejection::BodyHashMismatch,
    }
}

impl SignatureCheck for ComponentSignatures {
    fn validate_form(
        &self,
        auth_token: &Secret,
        url: &str,
        list: &[(String, String)],
        signature: &str,
    ) -> Result<(), SignatureRejection> {
        wit::validate_form(auth_token.expose(), url, &params(list), signature).map_err(rejection)
    }

    fn validate_json(
        &self,
        auth_token: &Secret,
        url: &str,
        body: &[u8],
        signature: &str,
    ) -> Result<(), SignatureRejection> {
        wit::validate_json(auth_token.expose(), url, body, signature).map_err(rejection)
    }
}

/// The HTTP export. `#[http_component]` expands to the `wasi:http/incoming-handler` export with
/// `#[export_name]` and `unsafe` handle conversions, inside this module; `unsafe_code` is allowed
/// here for that reason only.
#[allow(unsafe_code)]
mod entry {
    use super::*;

    /// The HTTP entry point (`wasi:http/incoming-handler`). Never panics: every failure becomes a
    /// response.
    #[spin_sdk::http_component]
    fn handle(req: IncomingRequest) -> Response {
        let parts = spin_glue::from_incoming_request(&req);
        let body = if declared_too_large(&parts.headers) {
            RequestBody::TooLarge
        } else {
            match spin_glue::read_incoming_body(&req, MAX_BODY_BYTES) {
                Ok(bytes) => RequestBody::Complete(bytes),
                Err(IncomingBodyError::TooLarge(_)) => RequestBody::TooLarge,
                Err(IncomingBodyError::Stream(why)) => RequestBody::Unreadable(why),
            }
        };
        let config = WebhookConfig::from_variables(
            variable(VAR_PUBLIC_BASE_URL).map_err(|e| e.to_string()),
            variable(VAR_AUTH_TOKEN).map_err(|e| e.to_string()),
        );
        let store = match SpinStore::open_default() {
            Ok(store) => store,
            Err(e) => {
                // Without a store there is nowhere to queue or audit: say so in the log and let
                // Twilio retry.
                eprintln!("webhook: key-value store `default` unavailable: {e}");
                return Response::builder()
                    .status(503)
                    .header("content-type", "text/plain; charset=utf-8")
                    .header("retry-after", "5")
                    .body("temporarily unavailable, retry\n")
                    .build();
            }
        };
        let request = WebhookRequest {
            method: parts.method,
            path_with_query: parts.path_with_query,
            headers: parts.headers,
            body,
        };
        let webhook = Webhook {
            store: &store,
            clock: &WasiClock,
            signatures: &ComponentSignatures,
        };
        spin_glue::to_spin_response(webhook.handle(config.as_ref(), &request))
    }
}
