//! Spin glue: variables, key-value store, clock and outbound HTTP for the simulator.

use crate::{BODY_LIMIT, STATE_KEY, SandboxConfig};
use connector::{HttpRequest, HttpResponse, Method};
use sim::sandbox::Rewrite;
use sim::{InKeyValue, Sim};
use spin_glue::{IncomingBodyError, SpinHttp, SpinStore, WasiClock};
use spin_sdk::http::{IncomingRequest, Response};

fn text(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .header("Content-Type", "text/plain;charset=utf-8")
}

/// The `wasi:http/incoming-handler` export. `http_component` expands to wit-bindgen's
/// canonical-ABI glue (`export_name`, `unsafe` lifting) inside this module, which the
/// workspace's `unsafe_code = "deny"` would otherwise reject; no hand-written unsafe code.
#[allow(unsafe_code)]
mod export {
    use super::{IncomingRequest, Response, serve};

    #[spin_sdk::http_component]
    fn handle(req: IncomingRequest) -> Response {
        spin_glue::to_spin_response(serve(&req))
    }
}

fn serve(req: &IncomingRequest) -> HttpResponse {
    match crate::sandbox_enabled(spin_glue::variable) {
        Ok(true) => {}
        Ok(false) => return text(404, "not found"),
        Err(e) => {
            eprintln!("sandbox: configuration error: {e}");
            return text(500, &format!("sandbox misconfigured: {e}"));
        }
    }
    let config = match SandboxConfig::from_variables(spin_glue::variable) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sandbox: configuration error: {e}");
            return text(500, &format!("sandbox misconfigured: {e}"));
        }
    };
    let parts = spin_glue::from_incoming_request(req);
    let method = match parts.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => return text(405, "method not allowed").header("Allow", "GET, POST, PUT, DELETE"),
    };
    let body = match spin_glue::read_incoming_body(req, BODY_LIMIT) {
        Ok(b) => b,
        Err(IncomingBodyError::TooLarge(n)) => {
            return text(413, &format!("request body exceeds {n} bytes"));
        }
        Err(e) => return text(400, &format!("request body: {e}")),
    };
    let store = match SpinStore::open_default() {
        Ok(s) => s,
        Err(e) => return text(503, &format!("sandbox state unavailable, retry: {e}")),
    };
    // Routing uses only the path; the host part is a placeholder.
    let request = HttpRequest {
        method,
        url: format!("http://sandbox{}", parts.path_with_query),
        headers: parts.headers,
        body,
    };
    let outbound = Rewrite::new(
        config.public_base_url.clone(),
        config.webhook_url.clone(),
        SpinHttp::new(),
    );
    let simulator = Sim::new(
        config.sim,
        InKeyValue::new(store, STATE_KEY),
        WasiClock,
        outbound,
    );
    sim::sandbox::handle(&simulator, &config.settings, request)
}
