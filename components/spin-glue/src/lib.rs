//! The ml-connector ports implemented over Spin's imports, shared by every app component.
//!
//! `crates/*` never depend on `spin-sdk` (`ARCHITECTURE.md`, "Ports, not globals"); this crate is
//! the one place where the ports meet the host:
//!
//! | port | here | Spin import |
//! |---|---|---|
//! | [`connector::KeyValue`] | [`SpinStore`] | `fermyon:spin/key-value@2.0.0` + `wasi:keyvalue/atomics@0.2.0-draft2` |
//! | [`connector::HttpClient`] | [`SpinHttp`] | `wasi:http/outgoing-handler` |
//! | [`connector::Clock`] | [`WasiClock`] | `wasi:clocks/wall-clock` |
//! | [`connector::Rng`] | [`WasiRng`] | `wasi:random/random` |
//! | configuration | [`variable`] | `fermyon:spin/variables@2.0.0` |
//!
//! It compiles natively too (so `cargo clippy --workspace` covers it), but every function here
//! calls a Wasm import and only works inside a component.

mod http;
mod store;
mod system;
mod variables;

pub use http::{
    IncomingBodyError, IncomingParts, SpinHttp, from_incoming_request, map_error_code,
    read_incoming_body, to_spin_response,
};
pub use store::SpinStore;
pub use system::{WasiClock, WasiRng};
pub use variables::{VariableError, variable};
