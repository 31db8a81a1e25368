//! The built `signature` component (target/components/signature.wasm) in plain wasmtime with an
//! empty linker: it imports nothing (checked on its component type and on its decoded WIT), and on
//! every row of the edge-case table (components/signature/tests/data/vectors.json) it returns
//! exactly what the native library returns, for `compute-signature` and for validation.
//!
//! Build it first: `cargo build --release --target wasm32-unknown-unknown -p signature && cargo
//! xtask componentize signature` (the build command in spin.toml).

#[path = "../../../components/signature/tests/common/mod.rs"]
mod common;

use signature::SignatureError;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

wasmtime::component::bindgen!({
    path: "../wit/twilio-signature",
    world: "signature",
});

use exports::ml_connector::twilio_signature::validate as w;

const EXPORT: &str = "ml-connector:twilio-signature/validate@0.1.0";

fn component_bytes() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/components/signature.wasm"
    );
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{path}: {e}. Run `cargo build --release --target wasm32-unknown-unknown -p signature && cargo xtask componentize signature` first"
        )
    })
}

fn engine() -> Engine {
    Engine::new(&Config::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn from_wit(err: w::SignatureError) -> SignatureError {
    match err {
        w::SignatureError::MissingSignature => SignatureError::MissingSignature,
        w::SignatureError::MalformedSignature => SignatureError::MalformedSignature,
        w::SignatureError::Mismatch => SignatureError::Mismatch,
        w::SignatureError::InvalidUrl(why) => SignatureError::InvalidUrl(why),
        w::SignatureError::MissingBodyHash => SignatureError::MissingBodyHash,
        w::SignatureError::BodyHashMismatch => SignatureError::BodyHashMismatch,
    }
}

#[test]
fn component_type_has_no_imports() {
    let engine = engine();
    let component = Component::new(&engine, component_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let ty = component.component_type();
    let imports: Vec<&str> = ty.imports(&engine).map(|(name, _)| name).collect();
    assert_eq!(
        imports,
        Vec::<&str>::new(),
        "the component must import nothing"
    );
    let exports: Vec<&str> = ty.exports(&engine).map(|(name, _)| name).collect();
    assert_eq!(exports, [EXPORT]);
}

#[test]
fn decoded_wit_world_has_no_imports() {
    let decoded = wit_component::decode(&component_bytes()).unwrap_or_else(|e| panic!("{e:#}"));
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        panic!("signature.wasm decodes as a WIT package, not a component");
    };
    let world = &resolve.worlds[world];
    let imports: Vec<String> = world
        .imports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect();
    let exports: Vec<String> = world
        .exports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect();
    assert_eq!(
        imports,
        Vec::<String>::new(),
        "the WIT world must import nothing"
    );
    assert_eq!(exports, [EXPORT]);
}

#[test]
fn component_matches_native_library_on_every_vector() {
    let engine = engine();
    let component = Component::new(&engine, component_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let linker: Linker<()> = Linker::new(&engine);
    let mut store = Store::new(&engine, ());
    let bindings = Signature::instantiate(&mut store, &component, &linker)
        .unwrap_or_else(|e| panic!("instantiating with an empty linker: {e}"));
    let api = bindings.ml_connector_twilio_signature_validate();

    let vectors = common::vectors();
    assert_eq!(vectors.len(), common::VECTOR_COUNT);
    let mut failures = Vec::new();
    for v in &vectors {
        let params: Vec<w::Param> = v
            .params
            .iter()
            .map(|(name, value)| w::Param {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();

        let native_sig = signature::compute_signature(&v.auth_token, &v.url, &v.params);
        let wasm_sig = api
            .call_compute_signature(&mut store, &v.auth_token, &v.url, &params)
            .unwrap_or_else(|e| panic!("{}: compute-signature trapped: {e}", v.name));
        if wasm_sig != native_sig || wasm_sig != v.expected_signature {
            failures.push(format!(
                "{}: compute-signature wasm {wasm_sig}, native {native_sig}, Python {}",
                v.name, v.expected_signature
            ));
        }

        let (native, wasm) = match v.kind.as_str() {
            "form" => (
                signature::validate_form(&v.auth_token, &v.url, &v.params, &v.signature),
                api.call_validate_form(&mut store, &v.auth_token, &v.url, &params, &v.signature),
            ),
            "json" => (
                signature::validate_json(&v.auth_token, &v.url, v.body.as_bytes(), &v.signature),
                api.call_validate_json(
                    &mut store,
                    &v.auth_token,
                    &v.url,
                    v.body.as_bytes(),
                    &v.signature,
                ),
            ),
            other => panic!("{}: unknown kind {other:?}", v.name),
        };
        let wasm = wasm
            .unwrap_or_else(|e| panic!("{}: validate trapped: {e}", v.name))
            .map_err(from_wit);
        // Identical results, error payloads (the invalid-url reason) included.
        if wasm != native || common::outcome(&wasm) != v.expected {
            failures.push(format!(
                "{}: wasm {wasm:?}, native {native:?}, expected {}",
                v.name, v.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
